//! Calendar arithmetic at the install's UTC offset: which month or quarter an
//! instant falls in, the bounds of a reporting period, and readable times.
//!
//! Months and quarters are civil periods where the branches are (China keeps
//! +08:00 all year), not UTC ones: a meeting on the evening of 31 March is a
//! March meeting.

use std::fmt;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard
/// Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// (year, month, day) → days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (days_from_civil(ny, nm, 1) - days_from_civil(y, m, 1)) as u32
}

/// A UTC offset, in minutes east of UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offset(pub i64);

impl Offset {
    /// `+08:00`, `-05:30` or `Z`.
    pub fn parse(text: &str) -> Option<Offset> {
        if text == "Z" {
            return Some(Offset(0));
        }
        let (sign, rest) = match text.as_bytes().first()? {
            b'+' => (1, &text[1..]),
            b'-' => (-1, &text[1..]),
            _ => return None,
        };
        let (h, m) = rest.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
        (h <= 14 && m < 60).then_some(Offset(sign * (h * 60 + m)))
    }

    fn ms(self) -> i64 {
        self.0 * 60_000
    }

    /// The local (year, month, day) of an instant.
    pub fn date(self, at_ms: i64) -> (i64, u32, u32) {
        civil_from_days((at_ms + self.ms()).div_euclid(DAY_MS))
    }

    /// The local month of an instant.
    pub fn month(self, at_ms: i64) -> Month {
        let (year, month, _) = self.date(at_ms);
        Month { year, month }
    }

    /// The instant local midnight starts `date`.
    pub fn midnight(self, (y, m, d): (i64, u32, u32)) -> i64 {
        days_from_civil(y, m, d) * DAY_MS - self.ms()
    }

    /// `2026-03-05 14:00` in local time, for people to read.
    pub fn show(self, at_ms: i64) -> String {
        let local = at_ms + self.ms();
        let (y, m, d) = civil_from_days(local.div_euclid(DAY_MS));
        let minutes = local.rem_euclid(DAY_MS) / 60_000;
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}",
            minutes / 60,
            minutes % 60
        )
    }
}

/// A calendar month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    /// The year.
    pub year: i64,
    /// 1..=12.
    pub month: u32,
}

impl Month {
    /// `202603`: the form keys use, which sorts by time.
    pub fn key(self) -> String {
        format!("{:04}{:02}", self.year, self.month)
    }

    /// 1..=4.
    pub fn quarter(self) -> u32 {
        (self.month - 1) / 3 + 1
    }

    /// The month after this one.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A reporting period: a month, a quarter or a year.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// `2026-03`.
    Month(Month),
    /// `2026-Q1`.
    Quarter(i64, u32),
    /// `2026`.
    Year(i64),
}

impl Period {
    /// `2026-03`, `2026-Q1` or `2026`; what was wrong otherwise.
    pub fn parse(text: &str) -> Result<Period, String> {
        let bad = || {
            format!(
                "period `{text}` is not a month (`2026-03`), a quarter (`2026-Q1`) or a year (`2026`)"
            )
        };
        let year = |y: &str| -> Result<i64, String> {
            if y.len() != 4 || !y.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            y.parse::<i64>().ok().filter(|y| *y >= 1970).ok_or_else(bad)
        };
        match text.split_once('-') {
            None if text.len() == 4 => Ok(Period::Year(year(text)?)),
            Some((y, rest)) if y.len() == 4 => {
                let y = year(y)?;
                if let Some(digits) = rest.strip_prefix('Q') {
                    match digits.parse::<u32>() {
                        Ok(q) if (1..=4).contains(&q) && digits.len() == 1 => {
                            Ok(Period::Quarter(y, q))
                        }
                        _ => Err(bad()),
                    }
                } else {
                    match rest.parse::<u32>() {
                        Ok(m) if (1..=12).contains(&m) && rest.len() == 2 => {
                            Ok(Period::Month(Month { year: y, month: m }))
                        }
                        _ => Err(bad()),
                    }
                }
            }
            _ => Err(bad()),
        }
    }

    /// The period of the given unit that holds `month`.
    pub fn of(unit: Unit, month: Month) -> Period {
        match unit {
            Unit::Month => Period::Month(month),
            Unit::Quarter => Period::Quarter(month.year, month.quarter()),
            Unit::Year => Period::Year(month.year),
        }
    }

    /// The unit this period is one of.
    pub fn unit(self) -> Unit {
        match self {
            Period::Month(_) => Unit::Month,
            Period::Quarter(..) => Unit::Quarter,
            Period::Year(_) => Unit::Year,
        }
    }

    /// Its months, in order.
    pub fn months(self) -> Vec<Month> {
        let (first, count) = match self {
            Period::Month(m) => (m, 1),
            Period::Quarter(year, q) => (
                Month {
                    year,
                    month: (q - 1) * 3 + 1,
                },
                3,
            ),
            Period::Year(year) => (Month { year, month: 1 }, 12),
        };
        std::iter::successors(Some(first), |m| Some(m.next()))
            .take(count)
            .collect()
    }

    /// The periods of `unit` this period splits into (itself when `unit` is
    /// its own); empty when `unit` is coarser.
    pub fn split(self, unit: Unit) -> Vec<Period> {
        if unit > self.unit() {
            return Vec::new();
        }
        let mut out: Vec<Period> = Vec::new();
        for month in self.months() {
            let p = Period::of(unit, month);
            if out.last() != Some(&p) {
                out.push(p);
            }
        }
        out
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Month(m) => m.fmt(f),
            Period::Quarter(y, q) => write!(f, "{y:04}-Q{q}"),
            Period::Year(y) => write!(f, "{y:04}"),
        }
    }
}

/// How often a kind of activity is required.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// Every month.
    Month,
    /// Every quarter.
    Quarter,
    /// Every year.
    Year,
}

/// `YYYY-MM-DD` → (year, month, day), if it is a real date.
pub fn parse_date(text: &str) -> Option<(i64, u32, u32)> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    ((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)).then_some((y, m, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CST: Offset = Offset(480);

    #[test]
    fn civil_days_round_trip() {
        for days in [-1, 0, 59, 365, 11_016, 20_513, 20_878] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn an_evening_on_the_last_day_of_march_is_march_at_plus_eight() {
        // 2026-03-31 20:00 +08:00 is 12:00 UTC; 2026-03-31 16:30 UTC is April there.
        let march = CST.midnight((2026, 3, 31)) + 20 * 3_600_000;
        assert_eq!(CST.month(march).key(), "202603");
        let april = CST.midnight((2026, 4, 1)) + 30 * 60_000;
        assert_eq!(CST.month(april).key(), "202604");
        assert_eq!(Offset(0).month(april).key(), "202603");
        assert_eq!(CST.show(march), "2026-03-31 20:00");
    }

    #[test]
    fn periods_parse_and_split() {
        assert_eq!(
            Period::parse("2026-03").map(|p| p.to_string()),
            Ok("2026-03".into())
        );
        assert_eq!(Period::parse("2026-Q2").map(|p| p.months().len()), Ok(3));
        assert_eq!(Period::parse("2026").map(|p| p.unit()), Ok(Unit::Year));
        for bad in [
            "2026-13",
            "2026-3",
            "2026-Q5",
            "2026-Q01",
            "26-03",
            "",
            "2026-03-01",
            "0999",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
        let q1 = Period::Quarter(2026, 1);
        assert_eq!(q1.split(Unit::Month).len(), 3);
        assert_eq!(q1.split(Unit::Quarter), vec![q1]);
        assert!(q1.split(Unit::Year).is_empty());
    }

    #[test]
    fn offsets_and_dates_are_checked() {
        assert_eq!(Offset::parse("+08:00"), Some(Offset(480)));
        assert_eq!(Offset::parse("-05:30"), Some(Offset(-330)));
        assert_eq!(Offset::parse("Z"), Some(Offset(0)));
        assert_eq!(Offset::parse("8"), None);
        assert_eq!(parse_date("2024-02-29"), Some((2024, 2, 29)));
        assert_eq!(parse_date("2026-02-29"), None);
        assert_eq!(parse_date("2026-2-01"), None);
    }
}
