//! Dates and times at an install's UTC offset, through chrono.
//!
//! The host's clock counts milliseconds since the Unix epoch in UTC; people
//! read local dates and times. An install's offset is a fixed number of
//! minutes east of UTC (China keeps +08:00 all year), so no time-zone
//! database rides along in the component. These few functions are the one
//! copy of the calendar arithmetic apps share; [`chrono`] is re-exported for
//! anything further.

pub use chrono;
pub use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

/// The current time, in milliseconds since the Unix epoch: the host's
/// clock in an app; in `cargo test`, the test host's once a test set it
/// ([`crate::testing::set_now_ms`], [`crate::testing::advance_ms`]). Read
/// the time through this, rather than `SystemTime`, so a test can move it.
pub fn now_ms() -> i64 {
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(ms) = crate::testing::now_ms() {
        return ms;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Milliseconds in a minute.
const MINUTE_MS: i64 = 60_000;

/// The local date and time at `ms` (since the Unix epoch),
/// `offset_minutes` east of UTC. An instant beyond chrono's range (about
/// 262,000 years away) reads as the epoch.
pub fn local(ms: i64, offset_minutes: i32) -> NaiveDateTime {
    let local_ms = ms.saturating_add(i64::from(offset_minutes) * MINUTE_MS);
    chrono::DateTime::from_timestamp_millis(local_ms)
        .unwrap_or_default()
        .naive_utc()
}

/// The local date at `ms`, `offset_minutes` east of UTC.
pub fn local_date(ms: i64, offset_minutes: i32) -> NaiveDate {
    local(ms, offset_minutes).date()
}

/// The instant (ms since the Unix epoch) local midnight starts `date`,
/// `offset_minutes` east of UTC.
pub fn midnight_ms(date: NaiveDate, offset_minutes: i32) -> i64 {
    date.and_time(chrono::NaiveTime::MIN)
        .and_utc()
        .timestamp_millis()
        - i64::from(offset_minutes) * MINUTE_MS
}

/// `YYYY-MM-DD` (four-digit year, two-digit month and day), if it is a real
/// date: `2026-02-29` is not.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// `date` as `YYYY-MM-DD`.
pub fn format_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-01T00:00:00Z.
    const NEW_YEAR: i64 = 1_767_225_600_000;

    #[test]
    fn local_dates_follow_the_offset() {
        assert_eq!(format_date(local_date(NEW_YEAR, 0)), "2026-01-01");
        assert_eq!(format_date(local_date(NEW_YEAR - 1, 0)), "2025-12-31");
        assert_eq!(format_date(local_date(NEW_YEAR - 1, 480)), "2026-01-01");
        assert_eq!(format_date(local_date(NEW_YEAR, -300)), "2025-12-31");
        assert_eq!(local(NEW_YEAR, 480).hour(), 8);
        assert_eq!(format_date(local_date(951_782_400_000, 0)), "2000-02-29");
        assert_eq!(format_date(local_date(-1, 0)), "1969-12-31");
    }

    #[test]
    fn midnight_is_the_start_of_the_local_day() {
        let day = local_date(NEW_YEAR, 480);
        assert_eq!(midnight_ms(day, 480), NEW_YEAR - 8 * 3_600_000);
        assert_eq!(midnight_ms(day, 0), NEW_YEAR);
    }

    #[test]
    fn only_real_dates_parse() {
        assert_eq!(
            parse_date("2024-02-29").map(format_date),
            Some("2024-02-29".into())
        );
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-1-01",
            "26-01-01",
            "2026-01-01x",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
