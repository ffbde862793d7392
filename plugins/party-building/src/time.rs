//! Calendar arithmetic at the install's UTC offset: which month or quarter an
//! instant falls in, the bounds of a reporting period, and readable times.
//!
//! Months and quarters are civil periods where the branches are (China keeps
//! +08:00 all year), not UTC ones: a meeting on the evening of 31 March is a
//! March meeting. The calendar itself is the SDK's ([`hutong_sdk::time`]).

use std::fmt;

use hutong_sdk::time::{self as sdk_time, Datelike, NaiveDate};

pub use hutong_sdk::time::parse_date;

/// A UTC offset, in minutes east of UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offset(pub i32);

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
        let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
        (h <= 14 && m < 60).then_some(Offset(sign * (h * 60 + m)))
    }

    /// The local month of an instant.
    pub fn month(self, at_ms: i64) -> Month {
        Month::of(sdk_time::local_date(at_ms, self.0))
    }

    /// The instant local midnight starts `date`.
    pub fn midnight(self, date: NaiveDate) -> i64 {
        sdk_time::midnight_ms(date, self.0)
    }

    /// `2026-03-05 14:00` in local time, for people to read.
    pub fn show(self, at_ms: i64) -> String {
        sdk_time::local(at_ms, self.0)
            .format("%Y-%m-%d %H:%M")
            .to_string()
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
    /// The month `date` falls in.
    pub fn of(date: NaiveDate) -> Month {
        Month {
            year: i64::from(date.year()),
            month: date.month(),
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    const CST: Offset = Offset(480);

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn an_evening_on_the_last_day_of_march_is_march_at_plus_eight() {
        // 2026-03-31 20:00 +08:00 is 12:00 UTC; 2026-03-31 16:30 UTC is April there.
        let march = CST.midnight(day(2026, 3, 31)) + 20 * 3_600_000;
        assert_eq!(CST.month(march).key(), "202603");
        let april = CST.midnight(day(2026, 4, 1)) + 30 * 60_000;
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
        assert_eq!(parse_date("2024-02-29"), Some(day(2024, 2, 29)));
        assert_eq!(parse_date("2026-02-29"), None);
        assert_eq!(parse_date("2026-2-01"), None);
    }
}
