//! The simulator's identities: fictional phone numbers, caller IDs and SIDs.
//!
//! Numbers are US fictional ones (NPA 555-0100…0199, reserved for fiction by the NANPA) that
//! `phonenumber` still accepts as valid, so callrecon's normaliser treats them like real ones
//! while generated data can never ring a real person. SIDs come from the generator's stream,
//! so they are reproducible too.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// US area codes whose 555-0100…0199 lines `phonenumber` accepts as valid (checked by a
/// test); 64 of them give 6,400 fictional numbers.
const NPAS: [u16; 64] = [
    201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224, 225,
    228, 229, 231, 234, 239, 240, 248, 251, 252, 253, 254, 256, 260, 262, 267, 269, 270, 276, 281,
    301, 302, 303, 304, 305, 307, 308, 309, 310, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321,
    323, 330, 334, 336, 337, 339, 347,
];

/// The account's caller IDs and how often outbound calls use each (percent).
pub(super) const CALLER_IDS: [(&str, u32); 4] = [
    ("+12125550100", 40),
    ("+13125550100", 30),
    ("+12135550100", 20),
    ("+13055550100", 10),
];

/// An index into `weights`, drawn in proportion to them.
pub(super) fn weighted(rng: &mut ChaCha8Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut x = rng.random_range(0..total);
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// A Twilio SID: two letters and 32 lowercase hex digits.
pub(super) fn sid(rng: &mut ChaCha8Rng, prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    let mut text = String::with_capacity(34);
    text.push_str(prefix);
    for b in bytes {
        text.push_str(&format!("{b:02x}"));
    }
    text
}

fn number(npa: u16, line: u16) -> String {
    format!("+1{npa}555{line:04}")
}

/// Every fictional number except the caller IDs.
fn is_caller_id(number: &str) -> bool {
    CALLER_IDS.iter().any(|(c, _)| *c == number)
}

/// About calls/3 distinct destinations, so most numbers are called several times; capped by
/// the 6,400 fictional numbers there are.
pub(super) fn destination_pool(rng: &mut ChaCha8Rng, calls: usize) -> Vec<String> {
    let mut all: Vec<String> = NPAS
        .iter()
        .flat_map(|&npa| (100..200).map(move |line| number(npa, line)))
        .filter(|n| !is_caller_id(n))
        .collect();
    let want = (calls / 3).clamp(1, all.len());
    // A partial Fisher-Yates shuffle: only the first `want` places are drawn.
    for i in 0..want {
        let j = rng.random_range(i..all.len());
        all.swap(i, j);
    }
    all.truncate(want);
    all
}

/// A fictional number that is not one of the caller IDs.
pub(super) fn random_number(rng: &mut ChaCha8Rng) -> String {
    loop {
        let n = number(
            NPAS[rng.random_range(0..NPAS.len())],
            rng.random_range(100..200),
        );
        if !is_caller_id(&n) {
            return n;
        }
    }
}

/// NANP display format, "(201) 555-0123", as Twilio's `*_formatted` and US applications
/// write it; other text is returned unchanged.
pub(super) fn national(e164: &str) -> String {
    match e164.strip_prefix("+1") {
        Some(d) if d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit()) => {
            format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..])
        }
        _ => e164.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn assert_valid(number: &str) {
        let parsed = phonenumber::parse(None, number).unwrap();
        assert!(phonenumber::is_valid(&parsed), "{number}");
        let shown = parsed
            .format()
            .mode(phonenumber::Mode::National)
            .to_string();
        assert_eq!(national(number), shown);
    }

    #[test]
    fn every_number_the_simulator_can_generate_is_valid() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let pool = destination_pool(&mut rng, usize::MAX);
        assert_eq!(pool.len(), NPAS.len() * 100 - CALLER_IDS.len());
        for number in pool
            .iter()
            .map(String::as_str)
            .chain(CALLER_IDS.map(|c| c.0))
        {
            assert_valid(number);
        }
    }

    #[test]
    fn every_number_in_a_dataset_is_valid() {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let data = super::super::Dataset::generate(&super::super::SimConfig::new(300, 1, day, 1));
        let mut agents = 0;
        for call in &data.calls {
            let to = call.to.as_deref().unwrap();
            // Agents reached through the Voice SDK have a Client address, not a number.
            if to.starts_with("client:") {
                agents += 1;
            } else {
                assert_valid(to);
            }
            assert_valid(call.from.as_deref().unwrap());
            assert_eq!(call.to_formatted, call.to.as_deref().map(national));
        }
        assert!(agents > 0);
    }

    #[test]
    fn the_pool_repeats_destinations() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(destination_pool(&mut rng, 3000).len(), 1000);
        assert_eq!(national("client:alice"), "client:alice");
    }
}
