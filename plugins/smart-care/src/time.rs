//! Local time of day and dates at the install's UTC offset, from the host's
//! clock in milliseconds: night hours and the daily check-in are local. The
//! calendar is the SDK's ([`hutong_sdk::time`]).

use hutong_sdk::time::{self as sdk_time, Timelike};

/// Milliseconds in a minute, an hour and a day.
pub const MINUTE_MS: i64 = 60_000;
/// See [`MINUTE_MS`].
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
/// See [`MINUTE_MS`].
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// A time of day as minutes after midnight, from `HH:MM`.
pub fn parse_hhmm(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Local minutes after midnight at `ms`, `offset_minutes` east of UTC.
pub fn minute_of_day(ms: i64, offset_minutes: i32) -> u32 {
    sdk_time::local(ms, offset_minutes).num_seconds_from_midnight() / 60
}

/// The start of the local day containing `ms`, as UTC milliseconds.
pub fn local_midnight(ms: i64, offset_minutes: i32) -> i64 {
    sdk_time::midnight_ms(sdk_time::local_date(ms, offset_minutes), offset_minutes)
}

/// The local date at `ms` as `YYYY-MM-DD`.
pub fn local_date(ms: i64, offset_minutes: i32) -> String {
    sdk_time::format_date(sdk_time::local_date(ms, offset_minutes))
}

/// Whether the local time of day `minute` lies in `[start, end)`, a span
/// that may wrap past midnight (22:00–06:00).
pub fn within(minute: u32, start: u32, end: u32) -> bool {
    if start <= end {
        start <= minute && minute < end
    } else {
        minute >= start || minute < end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day_parse_and_nights_wrap() {
        assert_eq!(parse_hhmm("22:30"), Some(22 * 60 + 30));
        assert_eq!(parse_hhmm("24:00"), None);
        assert_eq!(parse_hhmm("7:00"), None);
        let (start, end) = (22 * 60, 6 * 60);
        assert!(within(23 * 60, start, end));
        assert!(within(60, start, end));
        assert!(!within(6 * 60, start, end));
        assert!(!within(12 * 60, start, end));
        assert!(within(10 * 60, 9 * 60, 11 * 60));
    }

    #[test]
    fn local_dates_and_minutes_follow_the_offset() {
        // 2026-01-01T00:00:00Z is 08:00 in Beijing.
        let ms = 1_767_225_600_000;
        assert_eq!(local_date(ms, 0), "2026-01-01");
        assert_eq!(minute_of_day(ms, 480), 8 * 60);
        assert_eq!(local_date(ms - HOUR_MS, 0), "2025-12-31");
        assert_eq!(local_date(ms - HOUR_MS, 480), "2026-01-01");
        assert_eq!(local_midnight(ms, 480), ms - 8 * HOUR_MS);
        assert_eq!(local_date(951_782_400_000, 0), "2000-02-29");
    }
}
