//! Paging shared by every list the simulator serves (Calls, Alerts, Notifications): reading
//! `PageSize`, `Page` and `PageToken`, scanning for a page's records, and the links of the
//! envelope, so the three lists page alike and a fix lands in all of them.
//!
//! Paging is a keyset cursor like Twilio's (`PageToken=PA<sid of the last record served>`,
//! notes §1.4): a page starts just after the token's record, found by the caller's own
//! sid → index lookup, so it stays correct while callers page concurrently and never needs
//! a page number. `Page` is only echoed ("simply for client state", notes §1.2).

use super::Faults;

/// Twilio's default and largest `PageSize` (notes §1.2).
pub(super) const DEFAULT_PAGE_SIZE: usize = 50;
pub(super) const MAX_PAGE_SIZE: usize = 1000;

/// `PageSize`, `Page` and `PageToken`, read the same way by every list.
#[derive(Debug)]
pub(super) struct Paging {
    pub page_size: usize,
    pub page: u64,
    /// The SID inside `PageToken`, without the `PA`.
    pub after_sid: Option<String>,
}

impl Default for Paging {
    fn default() -> Paging {
        Paging {
            page_size: DEFAULT_PAGE_SIZE,
            page: 0,
            after_sid: None,
        }
    }
}

impl Paging {
    /// Reads `key` if it is a paging parameter: `Ok(true)` when it was one, `Ok(false)` when
    /// it is something else, and the message of a 400 / 20001 when its value is bad.
    pub fn read(&mut self, key: &str, value: &str) -> Result<bool, String> {
        match key {
            "PageSize" => {
                self.page_size = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                    .ok_or_else(|| {
                        format!("PageSize '{value}' must be a number from 1 to {MAX_PAGE_SIZE}")
                    })?;
            }
            "Page" => {
                self.page = value
                    .parse()
                    .map_err(|_| format!("Page '{value}' must be a number of 0 or more"))?;
            }
            "PageToken" => {
                let sid = value.strip_prefix("PA").ok_or("Invalid PageToken")?;
                self.after_sid = Some(sid.to_owned());
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Records this page may hold: `--short-page-every` cuts some pages to half.
    pub fn limit(&self, faults: &Faults) -> usize {
        if faults.short_page(self.page) {
            (self.page_size / 2).max(1)
        } else {
            self.page_size
        }
    }

    /// Where the scan starts: just after the token's record, found by `position`.
    pub fn begin(&self, position: impl Fn(&str) -> Option<usize>) -> Result<usize, String> {
        match &self.after_sid {
            Some(sid) => Ok(position(sid).ok_or("Invalid PageToken")? + 1),
            None => Ok(0),
        }
    }

    /// The envelope's links for a page served from `sel`: `base` is the list's path (2010,
    /// relative URIs) or its absolute URL (v1), and `sid_at` names the record at an index,
    /// for the next page's token.
    pub fn links<'a>(
        &self,
        base: &str,
        echo: &[(String, String)],
        sel: &Selection,
        sid_at: impl Fn(usize) -> &'a str,
    ) -> PageLinks {
        let token = self.after_sid.as_ref().map(|sid| format!("PA{sid}"));
        let next_token = sel
            .indices
            .last()
            .filter(|_| sel.more)
            .map(|&i| format!("PA{}", sid_at(i)));
        let start = self.page.saturating_mul(self.page_size as u64);
        PageLinks {
            first: self.uri(base, echo, 0, None),
            this: self.uri(base, echo, self.page, token.as_deref()),
            next: next_token
                .as_deref()
                .map(|t| self.uri(base, echo, self.page + 1, Some(t))),
            start: start as i64,
            end: (start + (sel.indices.len() as u64).saturating_sub(1)) as i64,
        }
    }

    /// A page URI as Twilio writes it: every filter, then `PageSize`, `Page` and
    /// `PageToken`, percent-encoded (`StartTime%3E=…`, `To=%2B1…`).
    fn uri(&self, base: &str, echo: &[(String, String)], page: u64, token: Option<&str>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in echo {
            query.append_pair(key, value);
        }
        query.append_pair("PageSize", &self.page_size.to_string());
        query.append_pair("Page", &page.to_string());
        if let Some(token) = token {
            query.append_pair("PageToken", token);
        }
        format!("{base}?{}", query.finish())
    }
}

/// The paging part of a list envelope, for the 2010 (`*_uri`) and v1 (`meta.*_url`) shapes.
pub(super) struct PageLinks {
    pub first: String,
    pub this: String,
    pub next: Option<String>,
    /// Index of the page's first and last record over the whole listing (2010 envelope).
    pub start: i64,
    pub end: i64,
}

/// The calls of one page, by index, and whether a matching record remains after it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Selection {
    pub indices: Vec<usize>,
    pub more: bool,
}

/// What a scan does with one record.
pub(super) enum Step {
    Take,
    Skip,
    /// No record from here on can match: end the scan.
    Stop,
}

/// Takes up to `limit` records from index `begin` on, as `step` says, and notes whether
/// another record would have been taken after them.
pub(super) fn scan(
    len: usize,
    begin: usize,
    limit: usize,
    mut step: impl FnMut(usize) -> Step,
) -> Selection {
    let mut sel = Selection {
        indices: Vec::with_capacity(limit.min(len.saturating_sub(begin))),
        more: false,
    };
    for i in begin..len {
        match step(i) {
            Step::Stop => break,
            Step::Skip => continue,
            Step::Take if sel.indices.len() == limit => {
                sel.more = true;
                break;
            }
            Step::Take => sel.indices.push(i),
        }
    }
    sel
}

/// The parameters of a raw query string, decoded; a repeated parameter keeps its first
/// value (Twilio's behaviour is unverified).
pub(super) fn first_values(raw: Option<&str>) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = Vec::new();
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if !params.iter().any(|(k, _)| *k == key) {
            params.push((key.into_owned(), value.into_owned()));
        }
    }
    params
}
