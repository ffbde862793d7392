//! Cases (案件, community work orders): one lifecycle for every app, worker
//! and outside system, so a district sees all its cases in one place.
//!
//! ```text
//! reported ─accept─▶ accepted ─dispatch─▶ dispatched ─start─▶ in-progress ─handle─▶ handled
//!    │                  ▲                     │  ▲                 ▲                  │
//!  reject               │                  reassign              fail-verification ◀──┤
//!    ▼                reopen                                                       verify
//! rejected              │                                                             ▼
//!                     closed ◀───────────────────────close──────────────────────── verified
//! ```
//!
//! A case also sits at a [`Tier`] (grid → community → street → district →
//! city); `escalate` moves it one tier up (the 一线呼叫 call-up) and hands it
//! back to acceptance there, so the higher tier dispatches it to any
//! department under it.
//!
//! The design decision to know: **the transition table in [`Action`] is the
//! only place that says what may follow what.** The store applies a
//! transition with a compare-and-set on the case's version, so two workers
//! acting on one case at the same moment cannot both win, on one process or
//! several.

pub mod api;
pub mod cli;
pub(crate) mod host;
pub mod intake;
pub mod notices;
pub mod open311;
pub mod ops;
pub mod photos;
pub mod published;
pub mod store;
mod wit;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A state in the case lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[derive(strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "kebab-case")]
pub enum CaseState {
    /// Reported, waiting to be accepted (受理立案).
    Reported,
    /// Refused at acceptance, with a reason. Final.
    Rejected,
    /// Accepted and registered; waiting to be dispatched.
    Accepted,
    /// Dispatched to a department or worker (批转派遣).
    Dispatched,
    /// Being worked on.
    InProgress,
    /// Handled, with feedback (办理反馈); waiting for verification.
    Handled,
    /// Verified (核查); waiting to be closed.
    Verified,
    /// Closed (办结). The reporter may evaluate it, and it may be reopened
    /// within the district's window.
    Closed,
}

impl CaseState {
    /// Every state, in lifecycle order.
    pub const ALL: &'static [CaseState] = <CaseState as strum::VariantArray>::VARIANTS;

    /// The states of a case still being worked on.
    pub const OPEN: &'static [CaseState] = &[
        CaseState::Reported,
        CaseState::Accepted,
        CaseState::Dispatched,
        CaseState::InProgress,
        CaseState::Handled,
        CaseState::Verified,
    ];

    /// The name in the API, CLI and database.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the case is finished (closed or rejected).
    pub fn is_final(self) -> bool {
        matches!(self, CaseState::Closed | CaseState::Rejected)
    }

    /// Which deadline runs while a case is in this state.
    pub fn phase(self) -> Option<Phase> {
        match self {
            CaseState::Reported => Some(Phase::Accept),
            CaseState::Accepted | CaseState::Dispatched | CaseState::InProgress => {
                Some(Phase::Handle)
            }
            CaseState::Handled | CaseState::Verified => Some(Phase::Verify),
            CaseState::Rejected | CaseState::Closed => None,
        }
    }
}

/// The tiers a case can sit at, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[derive(strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "kebab-case")]
pub enum Tier {
    /// A grid (网格), served by its grid workers.
    Grid,
    /// A community (社区).
    Community,
    /// A street (街道).
    Street,
    /// The district (区).
    District,
    /// The city (市), the top.
    City,
}

impl Tier {
    /// Every tier, lowest first.
    pub const ALL: &'static [Tier] = <Tier as strum::VariantArray>::VARIANTS;

    /// The name in the API, CLI and database.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The tier above, if any.
    pub fn up(self) -> Option<Tier> {
        match self {
            Tier::Grid => Some(Tier::Community),
            Tier::Community => Some(Tier::Street),
            Tier::Street => Some(Tier::District),
            Tier::District => Some(Tier::City),
            Tier::City => None,
        }
    }

    /// Whether a unit of this tier is named by an id (grids, communities and
    /// streets are; the district and the city are implied).
    pub fn has_unit(self) -> bool {
        matches!(self, Tier::Grid | Tier::Community | Tier::Street)
    }
}

/// How urgent a case is; deadlines are set per priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[derive(strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "kebab-case")]
pub enum Priority {
    /// Can wait.
    Low,
    /// The default.
    Normal,
    /// Needs attention soon.
    High,
    /// Danger to people or property.
    Urgent,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: &'static [Priority] = <Priority as strum::VariantArray>::VARIANTS;

    /// The name in the API, CLI and database.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The deadline that runs in a state: acceptance, handling or verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// From report to acceptance.
    Accept,
    /// From acceptance to handled.
    Handle,
    /// From handled to closed.
    Verify,
}

impl Phase {
    /// The name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Accept => "acceptance",
            Phase::Handle => "handling",
            Phase::Verify => "verification",
        }
    }
}

/// Something a person, app or the host does to a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[derive(strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "kebab-case")]
pub enum Action {
    /// reported → accepted (受理立案).
    Accept,
    /// reported → rejected; needs a reason.
    Reject,
    /// accepted → dispatched to a department or worker (批转派遣).
    Dispatch,
    /// dispatched or in-progress → dispatched to someone else.
    Reassign,
    /// dispatched → in-progress; by the assignee.
    Start,
    /// in-progress → handled, with feedback (办理反馈); by the assignee.
    Handle,
    /// handled → verified (核查).
    Verify,
    /// handled → in-progress, with the reason verification failed.
    FailVerification,
    /// verified → closed (办结).
    Close,
    /// closed → accepted, within the district's reopen window; needs a reason.
    Reopen,
    /// Move the case one tier up, with a reason (一线呼叫). A reported case
    /// stays reported; an accepted or dispatched one goes back to accepted
    /// at the new tier.
    Escalate,
    /// Add a note to the history; the state does not change.
    Comment,
    /// The reporter rates a closed case (1–5) with a comment.
    Evaluate,
}

impl Action {
    /// Every action.
    pub const ALL: &'static [Action] = <Action as strum::VariantArray>::VARIANTS;

    /// The name in the API, CLI and history.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The state this action leads to from `from`, or `None` if it is not
    /// allowed there. This is the lifecycle's one transition table.
    pub fn next(self, from: CaseState) -> Option<CaseState> {
        use CaseState as S;
        match (self, from) {
            (Action::Accept, S::Reported) => Some(S::Accepted),
            (Action::Reject, S::Reported) => Some(S::Rejected),
            (Action::Dispatch, S::Accepted) => Some(S::Dispatched),
            (Action::Reassign, S::Dispatched | S::InProgress) => Some(S::Dispatched),
            (Action::Start, S::Dispatched) => Some(S::InProgress),
            (Action::Handle, S::InProgress) => Some(S::Handled),
            (Action::Verify, S::Handled) => Some(S::Verified),
            (Action::FailVerification, S::Handled) => Some(S::InProgress),
            (Action::Close, S::Verified) => Some(S::Closed),
            (Action::Reopen, S::Closed) => Some(S::Accepted),
            (Action::Escalate, S::Reported) => Some(S::Reported),
            (Action::Escalate, S::Accepted | S::Dispatched | S::InProgress) => Some(S::Accepted),
            (Action::Comment, state) => Some(state),
            (Action::Evaluate, S::Closed) => Some(S::Closed),
            _ => None,
        }
    }

    /// The actions allowed from `state`.
    pub fn allowed_from(state: CaseState) -> Vec<Action> {
        Action::ALL
            .iter()
            .copied()
            .filter(|a| a.next(state).is_some())
            .collect()
    }

    /// Whether the action needs a note (a reason or feedback).
    pub fn needs_note(self) -> bool {
        matches!(
            self,
            Action::Reject
                | Action::Handle
                | Action::FailVerification
                | Action::Reopen
                | Action::Escalate
                | Action::Comment
        )
    }

    /// Whether the action names who gets the case.
    pub fn needs_assignee(self) -> bool {
        matches!(self, Action::Dispatch | Action::Reassign)
    }

    /// Whether the action changes the case (anything but a comment or an
    /// evaluation); apps that opened the case hear about these.
    pub fn is_transition(self) -> bool {
        !matches!(self, Action::Comment | Action::Evaluate)
    }
}

macro_rules! names {
    ($ty:ident, $what:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                $ty::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        format!(
                            concat!("unknown ", $what, " `{}`; use one of: {}"),
                            s,
                            $ty::ALL
                                .iter()
                                .map(|v| v.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
            }
        }
    };
}

names!(CaseState, "case state");
names!(Tier, "tier");
names!(Priority, "priority");
names!(Action, "action");

/// Who or what a case is assigned to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum Assignee {
    /// A department of the district.
    Department(String),
    /// A worker's account.
    Worker(String),
}

impl Assignee {
    /// `department:<id>` or `worker:<id>`.
    pub fn label(&self) -> String {
        match self {
            Assignee::Department(id) => format!("department:{id}"),
            Assignee::Worker(id) => format!("worker:{id}"),
        }
    }
}

impl FromStr for Assignee {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some(("department", id)) if !id.is_empty() => Ok(Assignee::Department(id.to_owned())),
            Some(("worker", id)) if !id.is_empty() => Ok(Assignee::Worker(id.to_owned())),
            _ => Err(format!(
                "assignee `{s}` is invalid: write `department:<id>` or `worker:<account-id>`"
            )),
        }
    }
}

/// Who reported a case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum Reporter {
    /// A signed-in account (resident, worker, administrator, or an intake
    /// system's account through Open311).
    Account(String),
    /// An installed app, by name.
    App(String),
}

impl Reporter {
    /// The kind as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Reporter::Account(_) => "account",
            Reporter::App(_) => "app",
        }
    }

    /// The id as stored.
    pub fn id(&self) -> &str {
        match self {
            Reporter::Account(id) | Reporter::App(id) => id,
        }
    }
}

/// The longest description, note or comment, in characters (Unicode
/// scalar values: 4000 Chinese characters are as welcome as 4000 Latin ones).
pub const MAX_TEXT: usize = 4000;
/// The most attachments a case may reference.
pub const MAX_ATTACHMENTS: usize = 20;
/// The longest attachment reference (a URL or a storage key), in bytes.
pub const MAX_ATTACHMENT: usize = 1000;

/// `ms` (since the Unix epoch) as an RFC 3339 time in UTC, to the second
/// (`2026-11-22T08:30:00Z`), as Open311 and the API show times.
pub fn format_ms(ms: i64) -> String {
    use chrono::Datelike as _;
    chrono::DateTime::from_timestamp(ms.div_euclid(1000), 0)
        // RFC 3339 has four-digit years only.
        .filter(|t| (0..=9999).contains(&t.year()))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

/// An RFC 3339 time (`2026-11-22T08:30:00Z`, `2026-11-22T16:30:00+08:00`)
/// as milliseconds since the Unix epoch.
pub fn parse_time(s: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            format!("`{s}` is not an RFC 3339 date-time like 2026-11-22T08:30:00+08:00 ({e})")
        })
}

/// Whether `s` works as a category code or department id: 1 to 63 of
/// a-z, 0-9, '-' and '_', starting with a letter or digit.
pub fn is_valid_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_api_words_in_serde_too() {
        let states: Vec<&str> = CaseState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            states,
            [
                "reported",
                "rejected",
                "accepted",
                "dispatched",
                "in-progress",
                "handled",
                "verified",
                "closed"
            ]
        );
        assert_eq!(Action::FailVerification.as_str(), "fail-verification");
        assert_eq!(Action::ALL.len(), 13);
        assert_eq!(Tier::ALL.last().map(|t| t.as_str()), Some("city"));
        assert_eq!(Priority::ALL.first().map(|p| p.as_str()), Some("low"));
        for s in CaseState::ALL {
            assert_eq!(serde_json::to_value(s).ok(), Some(s.as_str().into()));
        }
        for a in Action::ALL {
            assert_eq!(serde_json::to_value(a).ok(), Some(a.as_str().into()));
            assert_eq!(a.as_str().parse::<Action>(), Ok(*a));
        }
    }

    #[test]
    fn every_state_can_be_commented() {
        for &s in CaseState::ALL {
            assert_eq!(Action::Comment.next(s), Some(s));
        }
    }

    #[test]
    fn the_happy_path_reaches_closed() {
        let mut s = CaseState::Reported;
        for a in [
            Action::Accept,
            Action::Dispatch,
            Action::Start,
            Action::Handle,
            Action::Verify,
            Action::Close,
        ] {
            s = a.next(s).unwrap_or_else(|| panic!("{a} from {s}"));
        }
        assert_eq!(s, CaseState::Closed);
    }

    #[test]
    fn failed_verification_goes_back_to_in_progress() {
        assert_eq!(
            Action::FailVerification.next(CaseState::Handled),
            Some(CaseState::InProgress)
        );
    }

    #[test]
    fn final_states_allow_only_what_the_lifecycle_says() {
        assert_eq!(
            Action::allowed_from(CaseState::Rejected),
            vec![Action::Comment]
        );
        assert_eq!(
            Action::allowed_from(CaseState::Closed),
            vec![Action::Reopen, Action::Comment, Action::Evaluate]
        );
    }

    #[test]
    fn tiers_go_up_to_the_city_and_stop() {
        let mut t = Tier::Grid;
        let mut seen = vec![t];
        while let Some(up) = t.up() {
            t = up;
            seen.push(t);
        }
        assert_eq!(seen, Tier::ALL);
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_allowed() {
        for &a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>(), Ok(a));
        }
        let err = "finish".parse::<Action>().unwrap_err();
        assert!(err.contains("accept, reject"), "{err}");
        assert_eq!(
            "department:roads".parse::<Assignee>(),
            Ok(Assignee::Department("roads".into()))
        );
        assert!("roads".parse::<Assignee>().is_err());
    }

    #[test]
    fn times_format_and_parse_as_rfc3339() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            parse_time("2026-11-22T16:30:00+08:00"),
            Ok(1_795_336_200_000)
        );
        assert_eq!(
            parse_time(&format_ms(1_795_336_200_000)),
            Ok(1_795_336_200_000)
        );
        assert!(parse_time("yesterday").is_err());
    }
}
