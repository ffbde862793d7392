//! Local time of day and dates at the install's UTC offset, from the host's
//! clock in milliseconds: night hours and the daily check-in are local.

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
    let local = ms + i64::from(offset_minutes) * MINUTE_MS;
    // rem_euclid of a positive modulus is in 0..1440.
    u32::try_from(local.rem_euclid(DAY_MS) / MINUTE_MS).unwrap_or(0)
}

/// The start of the local day containing `ms`, as UTC milliseconds.
pub fn local_midnight(ms: i64, offset_minutes: i32) -> i64 {
    let offset = i64::from(offset_minutes) * MINUTE_MS;
    (ms + offset).div_euclid(DAY_MS) * DAY_MS - offset
}

/// The local date at `ms` as `YYYY-MM-DD`.
pub fn local_date(ms: i64, offset_minutes: i32) -> String {
    let days = (ms + i64::from(offset_minutes) * MINUTE_MS).div_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
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

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's
/// `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
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
