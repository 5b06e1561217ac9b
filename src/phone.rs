//! One phone-number normaliser for everything that compares numbers: the ledger's `to_number`
//! and `from_number`, and Twilio's `to`/`from`.
//!
//! Numbers become E.164 with the `phonenumber` crate (libphonenumber's metadata), national
//! formats read in a default region. SIP addresses and `client:` identifiers are not numbers
//! and are compared as text. A number that does not parse, or parses but cannot be a valid
//! number, keeps a comparison key (so a call Twilio did place to it still matches) and is
//! flagged invalid: the report gives it category `invalid_format`.

use phonenumber::Mode;
use phonenumber::country::Id as Region;
use std::collections::HashMap;

/// What a number normalises to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The comparison key: E.164 for phone numbers, the trimmed text otherwise.
    pub key: String,
    /// False for text that cannot be a valid phone number.
    pub valid: bool,
}

/// Normalises numbers, remembering the ones already seen: a ledger dials the same numbers
/// again and again, and libphonenumber's parse is the expensive part of landing.
pub struct Normalizer {
    region: Option<Region>,
    cache: HashMap<String, Normalized>,
}

/// Caps the cache so that a ledger of a million distinct numbers cannot grow it without bound.
const CACHE_LIMIT: usize = 200_000;

impl Normalizer {
    /// `region`: ISO 3166 code (`US`, `GB`…) used to read national formats; `None` accepts
    /// only international (`+…`) numbers.
    pub fn new(region: Option<&str>) -> Result<Normalizer, String> {
        let region = match region {
            None => None,
            Some(text) => Some(text.trim().to_ascii_uppercase().parse::<Region>().map_err(
                |_| {
                    format!("default region '{text}' is not an ISO 3166 country code like US or GB")
                },
            )?),
        };
        Ok(Normalizer {
            region,
            cache: HashMap::new(),
        })
    }

    /// The comparison key alone. Text already in E.164 shape (`+` and 7 to 15 digits, what
    /// Twilio returns) is its own key, without libphonenumber's parse: landing a million
    /// calls must not parse a million numbers. Whether such a number can be valid is asked
    /// separately, only where it matters ([`Normalizer::normalize`]).
    pub fn key(&mut self, raw: &str) -> String {
        let text = raw.trim();
        if is_e164_shaped(text) {
            return text.to_owned();
        }
        self.normalize(raw).key
    }

    pub fn normalize(&mut self, raw: &str) -> Normalized {
        if let Some(hit) = self.cache.get(raw) {
            return hit.clone();
        }
        let result = normalize_with(self.region, raw);
        if self.cache.len() < CACHE_LIMIT {
            self.cache.insert(raw.to_owned(), result.clone());
        }
        result
    }
}

fn normalize_with(region: Option<Region>, raw: &str) -> Normalized {
    let text = raw.trim();
    if is_address(text) {
        return Normalized {
            key: text.to_owned(),
            valid: true,
        };
    }
    match phonenumber::parse(region, text) {
        Ok(number) => Normalized {
            key: number.format().mode(Mode::E164).to_string(),
            valid: phonenumber::is_valid(&number),
        },
        Err(_) => Normalized {
            key: text.to_owned(),
            valid: false,
        },
    }
}

/// `+`, a non-zero digit, then 6 to 14 more digits: E.164's shape (not its validity).
pub fn is_e164_shaped(text: &str) -> bool {
    let Some(digits) = text.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// SIP URIs, `client:` and `sim:` identifiers: Twilio reports them verbatim.
fn is_address(text: &str) -> bool {
    let lower = text.get(..7).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("sip:")
        || lower.starts_with("client:")
        || lower.starts_with("sim:")
        || text.contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_and_international_forms_meet_in_e164() {
        let mut n = Normalizer::new(Some("US")).unwrap();
        for text in [
            "+1 201-555-0123",
            "(201) 555-0123",
            "201.555.0123",
            "+12015550123",
            " 12015550123 ",
        ] {
            let got = n.normalize(text);
            assert_eq!(got.key, "+12015550123", "{text}");
            assert!(got.valid, "{text}");
        }
        let uk = n.normalize("+44 20 7946 0958");
        assert_eq!(
            uk,
            Normalized {
                key: "+442079460958".into(),
                valid: true
            }
        );
    }

    #[test]
    fn without_a_region_only_international_numbers_parse() {
        let mut n = Normalizer::new(None).unwrap();
        assert!(n.normalize("+12015550123").valid);
        let national = n.normalize("(201) 555-0123");
        assert!(!national.valid);
        assert_eq!(national.key, "(201) 555-0123");
    }

    #[test]
    fn impossible_numbers_are_flagged_and_addresses_kept_as_text() {
        let mut n = Normalizer::new(Some("US")).unwrap();
        assert!(!n.normalize("+1 000 000 0000").valid);
        assert!(!n.normalize("12").valid);
        assert!(!n.normalize("not a number").valid);
        let sip = n.normalize("sip:alice@example.com");
        assert!(sip.valid);
        assert_eq!(sip.key, "sip:alice@example.com");
        assert_eq!(n.normalize("client:agent7").key, "client:agent7");
    }

    #[test]
    fn e164_text_is_its_own_key_and_the_rest_is_parsed() {
        let mut n = Normalizer::new(Some("US")).unwrap();
        assert_eq!(n.key("+12015550123"), "+12015550123");
        assert_eq!(n.key(" +12015550123 "), "+12015550123");
        assert_eq!(n.key("(201) 555-0123"), "+12015550123");
        assert!(is_e164_shaped("+442079460958"));
        assert!(!is_e164_shaped("+0123456789"));
        assert!(!is_e164_shaped("+1201"));
        assert!(!is_e164_shaped("12015550123"));
    }

    #[test]
    fn unknown_regions_are_refused() {
        assert!(Normalizer::new(Some("XX")).is_err());
        assert!(Normalizer::new(Some("gb")).is_ok());
    }
}
