//! The install's configuration (`hutong install --config FILE`): what a
//! district may set differently from the defaults. Every field is optional.
//!
//! ```json
//! {
//!   "utc_offset": "+08:00",
//!   "check_in_opens_minutes_before": 30,
//!   "check_in_closes_minutes_after_end": 0,
//!   "reminder_minutes_before": 60,
//!   "points": { "attendance": 2, "volunteer_hour": 1 },
//!   "required": { "lecture": { "per": "month", "count": 1 } }
//! }
//! ```
//!
//! `required` overrides the defaults kind by kind (general meeting once a
//! quarter, committee and group meetings once a month, a lecture once a
//! quarter; themed days and volunteer activities are not required); a count
//! of 0 makes a kind not required.

use std::collections::BTreeMap;

use hutong_sdk::Error;
use serde::{Deserialize, Serialize};

use crate::records::Kind;
use crate::time::{Offset, Unit};

/// The longest a check-in may open before the start or close after the end,
/// and the longest lead time of a reminder: a week.
const MAX_MINUTES: u32 = 7 * 24 * 60;

/// The most points per attendance or per hour.
const MAX_POINTS: u32 = 1000;

/// The configuration as the administrator wrote it.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Raw {
    utc_offset: String,
    check_in_opens_minutes_before: u32,
    check_in_closes_minutes_after_end: u32,
    reminder_minutes_before: u32,
    points: Points,
    required: BTreeMap<String, Requirement>,
}

impl Default for Raw {
    fn default() -> Self {
        Raw {
            utc_offset: "+08:00".into(),
            check_in_opens_minutes_before: 30,
            check_in_closes_minutes_after_end: 0,
            reminder_minutes_before: 60,
            points: Points::default(),
            required: BTreeMap::new(),
        }
    }
}

/// Points awarded, in whole points.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Points {
    /// For each activity attended.
    pub attendance: u32,
    /// For each confirmed hour of volunteer service (pro rata to the tenth
    /// of an hour).
    pub volunteer_hour: u32,
}

impl Default for Points {
    fn default() -> Self {
        Points {
            attendance: 2,
            volunteer_hour: 1,
        }
    }
}

/// How many activities of a kind a branch must hold per unit of time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// The unit: `month`, `quarter` or `year`.
    pub per: Unit,
    /// How many per unit; 0: not required.
    pub count: u32,
}

/// The settings the app runs with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where months and quarters begin.
    pub offset: Offset,
    /// How long before the start check-in opens, in ms.
    pub opens_before_ms: i64,
    /// How long after the end check-in stays open, in ms.
    pub closes_after_ms: i64,
    /// How long before the start members are reminded, in ms.
    pub remind_before_ms: i64,
    /// Points per attendance and per hour.
    pub points: Points,
    /// What each kind requires; kinds not listed are not required.
    pub required: BTreeMap<Kind, Requirement>,
}

impl Settings {
    /// The install's settings, or what is wrong with its configuration.
    pub fn load() -> Result<Settings, Error> {
        Settings::from_raw(hutong_sdk::config::get()?)
    }

    /// The settings of a configuration given as JSON text.
    #[cfg(test)]
    pub fn parse(text: &str) -> Result<Settings, Error> {
        Settings::from_raw(hutong_sdk::config::parse(text)?)
    }

    fn from_raw(raw: Raw) -> Result<Settings, Error> {
        let bad = |what: String| {
            Error::InvalidArgument(format!(
                "the install's configuration is invalid: {what}; ask the district administrator to install the app again with a corrected configuration"
            ))
        };
        let offset = Offset::parse(&raw.utc_offset).ok_or_else(|| {
            bad(format!(
                "utc_offset `{}` is not an offset like `+08:00`",
                raw.utc_offset
            ))
        })?;
        for (name, minutes) in [
            (
                "check_in_opens_minutes_before",
                raw.check_in_opens_minutes_before,
            ),
            (
                "check_in_closes_minutes_after_end",
                raw.check_in_closes_minutes_after_end,
            ),
            ("reminder_minutes_before", raw.reminder_minutes_before),
        ] {
            if minutes > MAX_MINUTES {
                return Err(bad(format!(
                    "{name} is {minutes}; at most {MAX_MINUTES} (a week)"
                )));
            }
        }
        if raw.points.attendance > MAX_POINTS || raw.points.volunteer_hour > MAX_POINTS {
            return Err(bad(format!("points are at most {MAX_POINTS} each")));
        }
        let mut required = default_requirements();
        for (name, requirement) in raw.required {
            let kind: Kind = name.parse().map_err(bad)?;
            required.insert(kind, requirement);
        }
        required.retain(|_, r| r.count > 0);
        Ok(Settings {
            offset,
            opens_before_ms: i64::from(raw.check_in_opens_minutes_before) * 60_000,
            closes_after_ms: i64::from(raw.check_in_closes_minutes_after_end) * 60_000,
            remind_before_ms: i64::from(raw.reminder_minutes_before) * 60_000,
            points: raw.points,
            required,
        })
    }

    /// Points, in tenths, for one attendance.
    pub fn attendance_tenths(&self) -> i64 {
        i64::from(self.points.attendance) * 10
    }

    /// Points, in tenths, for `hours_tenths` tenths of an hour of service.
    pub fn volunteer_tenths(&self, hours_tenths: i64) -> i64 {
        hours_tenths * i64::from(self.points.volunteer_hour)
    }
}

/// 三会一课: the general meeting once a quarter, committee and group meetings
/// once a month, a party lecture once a quarter.
fn default_requirements() -> BTreeMap<Kind, Requirement> {
    BTreeMap::from([
        (
            Kind::GeneralMeeting,
            Requirement {
                per: Unit::Quarter,
                count: 1,
            },
        ),
        (
            Kind::CommitteeMeeting,
            Requirement {
                per: Unit::Month,
                count: 1,
            },
        ),
        (
            Kind::GroupMeeting,
            Requirement {
                per: Unit::Month,
                count: 1,
            },
        ),
        (
            Kind::Lecture,
            Requirement {
                per: Unit::Quarter,
                count: 1,
            },
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_configuration_is_the_defaults() {
        let s = Settings::parse("{}").unwrap();
        assert_eq!(s.offset, Offset(480));
        assert_eq!(s.opens_before_ms, 30 * 60_000);
        assert_eq!(s.required.len(), 4);
        assert_eq!(s.required[&Kind::CommitteeMeeting].per, Unit::Month);
        assert_eq!(s.attendance_tenths(), 20);
        assert_eq!(s.volunteer_tenths(25), 25);
    }

    #[test]
    fn requirements_are_overridden_kind_by_kind() {
        let s = Settings::parse(
            r#"{"required":{"lecture":{"per":"month","count":2},"group-meeting":{"per":"month","count":0}}}"#,
        )
        .unwrap();
        assert_eq!(
            s.required[&Kind::Lecture],
            Requirement {
                per: Unit::Month,
                count: 2
            }
        );
        assert!(!s.required.contains_key(&Kind::GroupMeeting));
        assert!(s.required.contains_key(&Kind::GeneralMeeting));
    }

    #[test]
    fn a_bad_configuration_says_what_is_wrong() {
        for (text, needle) in [
            (r#"{"utc_offset":"8"}"#, "utc_offset"),
            (
                r#"{"reminder_minutes_before":99999}"#,
                "reminder_minutes_before",
            ),
            (
                r#"{"required":{"picnic":{"per":"month","count":1}}}"#,
                "picnic",
            ),
            (r#"{"colour":"red"}"#, "colour"),
        ] {
            let error = Settings::parse(text).unwrap_err();
            assert!(error.to_string().contains(needle), "{text}: {error}");
        }
    }
}
