//! Twilio's hostnames for a region and an edge (reference notes §2.5).
//!
//! Twilio serves each product at `{product}.{edge}.{region}.twilio.com`: the 2010 API at
//! `api.dublin.ie1.twilio.com`, for instance. The older `api.{region}.twilio.com` form is
//! being retired, so a region given without an edge gets that region's default edge, and a
//! region whose default edge callrecon does not know is refused rather than guessed. An edge
//! without a region means `us1`, as in Twilio's own SDKs. Monitor's regional host is
//! assumed to follow the same pattern (`monitor.{edge}.{region}.twilio.com`); Twilio does not
//! document it (UNVERIFIED in the notes), which the README says.

use url::Url;

/// Regions whose default edge is known: `(region, edge)`.
pub const DEFAULT_EDGES: [(&str, &str); 3] =
    [("us1", "ashburn"), ("ie1", "dublin"), ("au1", "sydney")];

/// A setting's value and the name it was given under (`TWILIO_REGION`, `--edge`,
/// `twilio.region in ./callrecon.toml`…), so that an error names what to change.
#[derive(Debug, Clone, Copy)]
pub struct Named<'a> {
    pub value: &'a str,
    pub name: &'a str,
}

/// The API origin for a region and an edge; `Ok(None)` when neither is set (Twilio's
/// global `api.twilio.com`).
pub fn api_origin(region: Option<Named>, edge: Option<Named>) -> Result<Option<Url>, String> {
    for n in region.iter().chain(edge.iter()) {
        check_label(*n)?;
    }
    let (region, edge) = match (region, edge) {
        (None, None) => return Ok(None),
        (Some(r), Some(e)) => (r.value.to_owned(), e.value.to_owned()),
        (None, Some(e)) => ("us1".to_owned(), e.value.to_owned()),
        (Some(r), None) => {
            let edge = DEFAULT_EDGES
                .iter()
                .find(|(known, _)| known.eq_ignore_ascii_case(r.value))
                .map(|(_, edge)| (*edge).to_owned())
                .ok_or_else(|| {
                    format!(
                        "{} is '{}', a region without a known default edge ({}); set an edge \
                         too (TWILIO_EDGE, --edge, or edge in the config)",
                        r.name,
                        r.value,
                        known_edges()
                    )
                })?;
            (r.value.to_owned(), edge)
        }
    };
    let host = format!(
        "https://api.{}.{}.twilio.com",
        edge.to_ascii_lowercase(),
        region.to_ascii_lowercase()
    );
    Url::parse(&host)
        .map(Some)
        .map_err(|e| format!("{host} is not a URL: {e}"))
}

/// `us1 → ashburn, ie1 → dublin, au1 → sydney`.
pub fn known_edges() -> String {
    DEFAULT_EDGES
        .iter()
        .map(|(r, e)| format!("{r} → {e}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Region and edge names are single DNS labels: letters and digits.
pub fn check_label(n: Named) -> Result<(), String> {
    let ok = !n.value.is_empty() && n.value.chars().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is '{}'; a region or edge is one word of letters and digits, like ie1 or dublin",
            n.name, n.value
        ))
    }
}

/// Monitor's origin for an API origin: `monitor.twilio.com` beside `api.twilio.com`,
/// `monitor.{edge}.{region}.twilio.com` beside a regional API host, and the API origin itself
/// for anything else (a simulator or a proxy: `--base-url` sends every request to one origin).
pub fn monitor_origin(api: &Url) -> Url {
    let host = api.host_str().unwrap_or_default().to_ascii_lowercase();
    let twilio = |h: &str| {
        let mut url = api.clone();
        url.set_host(Some(h)).ok().map(|()| url)
    };
    if api.scheme() == "https" && api.port().is_none() {
        if host == "api.twilio.com" {
            return twilio("monitor.twilio.com").unwrap_or_else(|| api.clone());
        }
        if let Some(rest) = host.strip_prefix("api.")
            && rest.ends_with(".twilio.com")
            && rest.split('.').count() == 4
        {
            return twilio(&format!("monitor.{rest}")).unwrap_or_else(|| api.clone());
        }
    }
    api.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n<'a>(value: &'a str, name: &'a str) -> Option<Named<'a>> {
        Some(Named { value, name })
    }

    fn origin(region: Option<Named>, edge: Option<Named>) -> Result<Option<String>, String> {
        api_origin(region, edge).map(|u| u.map(|u| u.host_str().unwrap().to_owned()))
    }

    #[test]
    fn regions_and_edges_make_hosts() {
        assert_eq!(origin(None, None), Ok(None));
        assert_eq!(
            origin(n("ie1", "r"), n("dublin", "e")).unwrap().as_deref(),
            Some("api.dublin.ie1.twilio.com")
        );
        assert_eq!(
            origin(n("au1", "r"), None).unwrap().as_deref(),
            Some("api.sydney.au1.twilio.com")
        );
        assert_eq!(
            origin(None, n("tokyo", "e")).unwrap().as_deref(),
            Some("api.tokyo.us1.twilio.com")
        );
        let err = origin(n("jp1", "TWILIO_REGION"), None).unwrap_err();
        assert!(
            err.contains("TWILIO_REGION") && err.contains("ie1 → dublin"),
            "{err}"
        );
        let err = origin(n("ie1", "r"), n("dub.lin", "--edge")).unwrap_err();
        assert!(err.starts_with("--edge"), "{err}");
    }

    #[test]
    fn monitor_follows_the_api_host_or_stays_on_a_custom_origin() {
        let m = |s: &str| monitor_origin(&Url::parse(s).unwrap()).to_string();
        assert_eq!(m("https://api.twilio.com"), "https://monitor.twilio.com/");
        assert_eq!(
            m("https://api.dublin.ie1.twilio.com"),
            "https://monitor.dublin.ie1.twilio.com/"
        );
        assert_eq!(m("http://127.0.0.1:8080"), "http://127.0.0.1:8080/");
        assert_eq!(m("https://proxy.example.com"), "https://proxy.example.com/");
    }
}
