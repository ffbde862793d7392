//! Reading Open311 query strings and forms the way clients send them.
//!
//! Lenient where clients are: a parameter Hutong does not know is ignored
//! (clients add their own, such as FixMyStreet's cobrand fields), an empty
//! value counts as absent (HTML forms send them, and `three` always sends
//! `api_key=`), `media_url` and `attribute[…]` may repeat. Strict where a
//! guess would store the wrong thing: a known field given twice with
//! different values, a malformed date, status, number or page is refused
//! with what is allowed.

use std::collections::HashMap;

use crate::cases::intake::AttributeAnswer;
use crate::cases::parse_time;

use super::wire::Fail;

/// Most service requests one answer returns, as GeoReport v2 suggests.
pub(super) const MAX_RESULTS: usize = 1000;
/// How deep `page` and `page_size` may reach into a listing, newest first.
pub(super) const MAX_DEPTH: usize = 10_000;
/// The date window of a listing when none is given, and the widest one
/// allowed, as GeoReport v2 suggests: 90 days.
pub(super) const WINDOW_MS: i64 = 90 * 24 * 60 * 60 * 1000;

/// Query or form fields that were sent, by name; empty values count as
/// absent.
#[derive(Debug, Default)]
pub(super) struct Params {
    values: HashMap<String, String>,
    /// Every `media_url`, in order.
    pub(super) media: Vec<String>,
    /// `attribute[code]` and `attribute[code][]` answers, in order.
    pub(super) attributes: Vec<AttributeAnswer>,
    /// Names that were sent but mean nothing here (logged, not refused).
    pub(super) ignored: Vec<String>,
}

impl Params {
    /// Read `pairs`; names outside `known` are ignored.
    pub(super) fn parse(pairs: Vec<(String, String)>, known: &[&[&str]]) -> Result<Self, Fail> {
        let mut params = Params::default();
        for (name, value) in pairs {
            let value = value.trim().to_owned();
            if let Some(code) = attribute_code(&name) {
                if !value.is_empty() {
                    match params.attributes.iter_mut().find(|a| a.code == code) {
                        Some(a) => a.values.push(value),
                        None => params.attributes.push(AttributeAnswer {
                            code: code.to_owned(),
                            values: vec![value],
                        }),
                    }
                }
                continue;
            }
            if name == "media_url" {
                if !value.is_empty() && !params.media.contains(&value) {
                    params.media.push(value);
                }
                continue;
            }
            if !known.iter().any(|k| k.contains(&name.as_str())) {
                if !params.ignored.contains(&name) {
                    params.ignored.push(name);
                }
                continue;
            }
            if value.is_empty() {
                continue;
            }
            match params.values.get(&name) {
                Some(v) if *v != value => {
                    return Err(Fail::bad_request(format!(
                        "`{name}` is given twice with different values; give it once (lists are comma-separated)"
                    )));
                }
                _ => {
                    params.values.insert(name, value);
                }
            }
        }
        Ok(params)
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Add `other`'s values; a name given in both must have the same value.
    pub(super) fn merge(&mut self, other: Params) -> Result<(), Fail> {
        for (name, value) in other.values {
            match self.values.get(&name) {
                Some(v) if *v != value => {
                    return Err(Fail::bad_request(format!(
                        "`{name}` is given in both the query and the body with different values; give it once"
                    )));
                }
                _ => {
                    self.values.insert(name, value);
                }
            }
        }
        Ok(())
    }

    /// A given `jurisdiction_id` must name this endpoint's district.
    pub(super) fn check_jurisdiction(&self, district: &str) -> Result<(), Fail> {
        match self.get("jurisdiction_id") {
            Some(j) if j != district => Err(Fail::not_found(format!(
                "jurisdiction_id `{j}` is not served here: this endpoint serves district `{district}`; send jurisdiction_id={district} or leave it out"
            ))),
            _ => Ok(()),
        }
    }
}

/// `code` of `attribute[code]` or `attribute[code][]`.
fn attribute_code(name: &str) -> Option<&str> {
    let inner = name.strip_prefix("attribute[")?;
    let inner = inner.strip_suffix("[]").unwrap_or(inner);
    inner.strip_suffix(']').filter(|c| !c.is_empty())
}

/// Comma-separated values, trimmed, empty ones dropped.
pub(super) fn comma_list(text: &str) -> Vec<&str> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// `status=open`, `closed` or `open,closed`: whether to list only finished
/// (closed or rejected) or unfinished cases.
pub(super) fn finished_filter(status: Option<&str>) -> Result<Option<bool>, Fail> {
    let Some(text) = status else {
        return Ok(None);
    };
    let (mut open, mut closed) = (false, false);
    for s in comma_list(text) {
        match s.to_ascii_lowercase().as_str() {
            "open" => open = true,
            "closed" => closed = true,
            _ => {
                return Err(Fail::bad_request(format!(
                    "status `{s}` is not an Open311 status; use open, closed or open,closed (status_notes has the detailed state)"
                )));
            }
        }
    }
    Ok(match (open, closed) {
        (true, false) => Some(false),
        (false, true) => Some(true),
        _ => None,
    })
}

/// The start of the second `ms` falls in.
fn second_of(ms: i64) -> i64 {
    ms.div_euclid(1000) * 1000
}

/// The reporting-time window of a listing, `[from, to)` in milliseconds.
/// Times are shown to the second, so both ends are whole seconds and
/// inclusive: `end_date` equal to a request's `requested_datetime` includes
/// it. The last 90 days by default, 90 days from `start_date` or up to
/// `end_date` when one is given, and never wider than 90 days.
pub(super) fn window(start: Option<&str>, end: Option<&str>, now: i64) -> Result<(i64, i64), Fail> {
    let parse = |name: &str, text: Option<&str>| {
        text.map(|t| parse_time(t).map_err(|e| Fail::bad_request(format!("{name}: {e}"))))
            .transpose()
    };
    let start = parse("start_date", start)?.map(second_of);
    let end = parse("end_date", end)?.map(second_of);
    let (from, last) = match (start, end) {
        (None, None) => (second_of(now) - WINDOW_MS, second_of(now)),
        (Some(s), None) => (s, s.saturating_add(WINDOW_MS)),
        (None, Some(e)) => (e.saturating_sub(WINDOW_MS), e),
        (Some(s), Some(e)) => {
            if e < s {
                return Err(Fail::bad_request(
                    "end_date is before start_date; give the earlier time as start_date",
                ));
            }
            if e - s > WINDOW_MS {
                return Err(Fail::bad_request(
                    "start_date to end_date spans more than 90 days; ask for 90 days or less at a time",
                ));
            }
            (s, e)
        }
    };
    // The whole of the last second is in.
    Ok((from, last.saturating_add(1000)))
}

/// Which slice of a listing, newest first: `(skip, take)` from `page`
/// (from 1) and `page_size` (1 to [`MAX_RESULTS`]; [`MAX_RESULTS`] when
/// left out).
pub(super) fn paging(page: Option<&str>, page_size: Option<&str>) -> Result<(usize, usize), Fail> {
    let number = |name: &str, text: &str, max: usize| {
        text.parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                Fail::bad_request(format!(
                    "{name} `{text}` is out of range: give a whole number from 1 to {max}"
                ))
            })
    };
    let size = page_size
        .map(|t| number("page_size", t, MAX_RESULTS))
        .transpose()?
        .unwrap_or(MAX_RESULTS);
    let page = page
        .map(|t| number("page", t, MAX_DEPTH))
        .transpose()?
        .unwrap_or(1);
    let skip = (page - 1).saturating_mul(size);
    if skip.saturating_add(size) > MAX_DEPTH {
        return Err(Fail::bad_request(format!(
            "page {page} of {size} reaches past the newest {MAX_DEPTH} requests; narrow start_date and end_date instead"
        )));
    }
    Ok((skip, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn unknown_names_are_ignored_and_lists_collected() {
        let p = Params::parse(
            pairs(&[
                ("description", "  "),
                ("report_url", "https://fms.example/1"),
                ("attribute[kind]", "lamp"),
                ("attribute[floors][]", "1"),
                ("attribute[floors][]", "2"),
                ("attribute[]", "x"),
                ("media_url", "https://a.example/1.jpg"),
                ("media_url", "https://a.example/2.jpg"),
                ("service_code", "lamp"),
                ("service_code", "lamp"),
            ]),
            &[&["description", "service_code"]],
        );
        let p = p.ok().unwrap_or_default();
        assert_eq!(p.get("description"), None);
        assert_eq!(p.get("service_code"), Some("lamp"));
        assert_eq!(p.ignored, ["report_url", "attribute[]"]);
        assert_eq!(p.media.len(), 2);
        let attributes: Vec<(&str, usize)> = p
            .attributes
            .iter()
            .map(|a| (a.code.as_str(), a.values.len()))
            .collect();
        assert_eq!(attributes, [("kind", 1), ("floors", 2)]);
    }

    #[test]
    fn a_known_name_twice_with_different_values_is_refused() {
        let p = Params::parse(pairs(&[("lat", "1"), ("lat", "2")]), &[&["lat"]]);
        assert!(p.is_err_and(|f| f.description.contains("twice")));
    }

    #[test]
    fn status_accepts_open_closed_and_both() {
        assert_eq!(finished_filter(Some("open")).ok(), Some(Some(false)));
        assert_eq!(finished_filter(Some("Closed")).ok(), Some(Some(true)));
        assert_eq!(finished_filter(Some("open,closed")).ok(), Some(None));
        assert_eq!(finished_filter(None).ok(), Some(None));
        assert!(finished_filter(Some("in-progress")).is_err());
    }

    #[test]
    fn the_window_is_whole_seconds_inclusive_and_at_most_90_days() {
        let now = 200 * 24 * 60 * 60 * 1000 + 400;
        assert_eq!(
            window(None, None, now).ok(),
            Some((now - 400 - WINDOW_MS, now - 400 + 1000))
        );
        let day = parse_time("1970-01-02T00:00:00Z").unwrap_or_default();
        assert_eq!(
            window(
                Some("1970-01-02T00:00:00Z"),
                Some("1970-01-02T00:00:00Z"),
                now
            )
            .ok(),
            Some((day, day + 1000))
        );
        assert_eq!(
            window(Some("1970-01-02T00:00:00.750Z"), None, now).ok(),
            Some((day, day + WINDOW_MS + 1000))
        );
        assert!(
            window(
                Some("1970-01-02T00:00:00Z"),
                Some("1970-06-02T00:00:00Z"),
                now
            )
            .is_err()
        );
        assert!(
            window(
                Some("1970-01-03T00:00:00Z"),
                Some("1970-01-02T00:00:00Z"),
                now
            )
            .is_err()
        );
        assert!(window(Some("yesterday"), None, now).is_err());
    }

    #[test]
    fn pages_count_from_one_and_stay_within_reach() {
        assert_eq!(paging(None, None).ok(), Some((0, MAX_RESULTS)));
        assert_eq!(paging(Some("3"), Some("20")).ok(), Some((40, 20)));
        assert!(paging(Some("0"), None).is_err());
        assert!(paging(None, Some("1001")).is_err());
        assert!(paging(Some("two"), None).is_err());
        assert!(paging(Some("11"), Some("1000")).is_err_and(|f| f.description.contains("narrow")));
    }
}
