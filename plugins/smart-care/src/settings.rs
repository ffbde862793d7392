//! The install's settings, from its configuration (`hutong install
//! --config`), each with a default so an install without configuration
//! works.

use hutong_sdk::{Error, config};
use serde::{Deserialize, Serialize};

use crate::time::parse_hhmm;

/// What a district may set. Times of day are local `HH:MM` at
/// `utc_offset_minutes`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Residents carrying any of these tags are watched.
    pub monitored_tags: Vec<String>,
    /// No door activity for this many hours is an inactivity alert (长久不出).
    pub inactivity_hours: u32,
    /// A door event during the night followed by this many hours without
    /// another is a night-absence alert (久出不归).
    pub night_absence_hours: u32,
    /// When the night starts.
    pub night_start: String,
    /// When the night ends.
    pub night_end: String,
    /// The district's offset from UTC, in minutes (480 for China).
    pub utc_offset_minutes: i32,
    /// How long a worker has to acknowledge an alert before it becomes a
    /// case.
    pub ack_window_minutes: u32,
    /// The case category of escalated alerts and alarms.
    pub case_category: String,
    /// When the daily check-in calls go out.
    pub check_in_time: String,
    /// How long a resident has to answer a check-in call.
    pub check_in_answer_minutes: u32,
    /// How often the watch list is read again from the community data.
    pub roster_refresh_minutes: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            monitored_tags: vec!["living-alone".into(), "elderly".into(), "disabled".into()],
            inactivity_hours: 24,
            night_absence_hours: 3,
            night_start: "22:00".into(),
            night_end: "06:00".into(),
            utc_offset_minutes: 480,
            ack_window_minutes: 30,
            case_category: "elderly-care".into(),
            check_in_time: "09:00".into(),
            check_in_answer_minutes: 120,
            roster_refresh_minutes: 60,
        }
    }
}

/// Settings with their times of day parsed.
#[derive(Clone, Debug)]
pub struct Checked {
    /// As configured.
    pub settings: Settings,
    /// Night start, minutes after midnight.
    pub night_start: u32,
    /// Night end.
    pub night_end: u32,
    /// Check-in time.
    pub check_in: u32,
}

impl Settings {
    /// The install's settings, checked; [`Error::InvalidArgument`] names the
    /// setting to fix.
    pub fn load() -> Result<Checked, Error> {
        config::get::<Settings>()?.check()
    }

    /// Check ranges and parse the times of day.
    pub fn check(self) -> Result<Checked, Error> {
        let time = |name: &str, value: &str| {
            parse_hhmm(value).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "setting `{name}` is `{value}`; give a local time of day as HH:MM (00:00 to 23:59)"
                ))
            })
        };
        let positive = |name: &str, value: u32, max: u32| {
            if (1..=max).contains(&value) {
                Ok(())
            } else {
                Err(Error::InvalidArgument(format!(
                    "setting `{name}` is {value}; give 1 to {max}"
                )))
            }
        };
        positive("inactivity_hours", self.inactivity_hours, 24 * 14)?;
        positive("night_absence_hours", self.night_absence_hours, 24)?;
        positive("ack_window_minutes", self.ack_window_minutes, 24 * 60)?;
        positive(
            "check_in_answer_minutes",
            self.check_in_answer_minutes,
            12 * 60,
        )?;
        positive(
            "roster_refresh_minutes",
            self.roster_refresh_minutes,
            7 * 24 * 60,
        )?;
        if !(-12 * 60..=14 * 60).contains(&self.utc_offset_minutes) {
            return Err(Error::InvalidArgument(format!(
                "setting `utc_offset_minutes` is {}; give -720 to 840",
                self.utc_offset_minutes
            )));
        }
        if self.monitored_tags.is_empty() {
            return Err(Error::InvalidArgument(
                "setting `monitored_tags` is empty; name at least one tag (for example \"living-alone\")".into(),
            ));
        }
        if self.case_category.trim().is_empty() {
            return Err(Error::InvalidArgument(
                "setting `case_category` is empty; give one of the district's case category codes"
                    .into(),
            ));
        }
        let check_in = time("check_in_time", &self.check_in_time)?;
        // The calls of a day are answered the same local day.
        if check_in + self.check_in_answer_minutes > 24 * 60 {
            return Err(Error::InvalidArgument(format!(
                "settings `check_in_time` {} and `check_in_answer_minutes` {} run past midnight; answers must be due the same day",
                self.check_in_time, self.check_in_answer_minutes
            )));
        }
        Ok(Checked {
            night_start: time("night_start", &self.night_start)?,
            night_end: time("night_end", &self.night_end)?,
            check_in,
            settings: self,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_check_and_bad_settings_name_themselves() {
        let ok = Settings::default().check().expect("defaults are valid");
        assert_eq!(ok.night_start, 22 * 60);
        let bad = Settings {
            night_end: "6am".into(),
            ..Settings::default()
        };
        let err = bad.check().expect_err("6am is not HH:MM");
        assert!(err.to_string().contains("night_end"), "{err}");
        let bad = Settings {
            inactivity_hours: 0,
            ..Settings::default()
        };
        assert!(bad.check().is_err());
        let parsed: Result<Settings, _> = config::parse(r#"{"inactivity_hour": 3}"#);
        assert!(parsed.is_err(), "a misspelt setting is refused");
    }
}
