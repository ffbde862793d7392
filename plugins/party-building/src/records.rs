//! What the app keeps in `kv`, and the keys it keeps it under.
//!
//! Records live under their id (`act/{id}`, `task/{id}`, `vol/{id}`,
//! `svc/{account}`). Beside them sit index keys that carry, in the key
//! itself, everything a report counts: which branch, which month, which
//! activity kind, whose attendance and how it went, how many hours, how many
//! points. A report is therefore a scan of keys (1,000 a page), never a read
//! of each record; see `report.rs`. Ids never contain `/` (the data model's
//! ids are `A-Z a-z 0-9 _ . : -`, the app's own are base 36), so `/` separates
//! the parts of a key.
//!
//! | key | holds |
//! |---|---|
//! | `act/{activity}` | the [`Activity`] |
//! | `bact/{branch}/{month}/{start}/{activity}/{kind}` | index: the branch's activities by month |
//! | `due/{start}/{activity}` | index: activities by start, for reminders |
//! | `rem/{activity}` | the activity's reminder was sent |
//! | `att/{branch}/{month}/{activity}/{member}/{mark}` | one attendance mark (see [`Mark`]) |
//! | `svc/{account}` | an in-service member's [`InService`] registration |
//! | `bsvc/{branch}/{account}` | the same, listed by branch |
//! | `task/{task}`, `btask/{branch}/{task}` | a community [`Task`] and its index |
//! | `vol/{log}`, `bvol/{branch}/{month}/{log}` | a [`HoursLog`] and its index |
//! | `vold/{log}` | the secretary's [`Decision`] on it (written once) |
//! | `bvolc/{branch}/{month}/{log}/{member}/{tenths}` | index: confirmed hours |
//! | `pts/{branch}/{month}/{member}/{entry}/{points}` | one ledger entry ([`LedgerEntry`]) |
//!
//! `{month}` is `YYYYMM` at the install's UTC offset, `{start}` the start in
//! ms since the epoch, 13 digits, and `{points}` a signed number of tenths
//! of a point (`+20`, `-20`).

use std::hash::{BuildHasher, Hasher};

use serde::{Deserialize, Serialize};

/// The kinds of activity: the four of 三会一课 plus themed days and volunteer
/// activities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// 支部党员大会: the branch general meeting, for every member.
    GeneralMeeting,
    /// 支部委员会: the branch committee meeting, for members holding a role.
    CommitteeMeeting,
    /// 党小组会: the party group meeting, for every member.
    GroupMeeting,
    /// 党课: the party lecture, for every member.
    Lecture,
    /// 主题党日: the themed party day, for members and in-service members.
    ThemedDay,
    /// 志愿服务: a volunteer activity, for members and in-service members.
    Volunteer,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 6] = [
        Kind::GeneralMeeting,
        Kind::CommitteeMeeting,
        Kind::GroupMeeting,
        Kind::Lecture,
        Kind::ThemedDay,
        Kind::Volunteer,
    ];

    /// Its name in the API, the configuration and keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::GeneralMeeting => "general-meeting",
            Kind::CommitteeMeeting => "committee-meeting",
            Kind::GroupMeeting => "group-meeting",
            Kind::Lecture => "lecture",
            Kind::ThemedDay => "themed-day",
            Kind::Volunteer => "volunteer",
        }
    }

    /// Whether in-service members (who keep their organisational life at
    /// their work unit) take part: only in themed days and volunteer
    /// activities, the service they report to the community for.
    pub fn open_to_in_service(self) -> bool {
        matches!(self, Kind::ThemedDay | Kind::Volunteer)
    }

    /// Whether only members holding a role in the branch (secretary,
    /// committee members) are expected.
    pub fn committee_only(self) -> bool {
        self == Kind::CommitteeMeeting
    }
}

impl std::str::FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown activity kind `{s}`; kinds: {}", names.join(", "))
            })
    }
}

/// A member as the app names them: `r.{resident id}` for a branch member
/// (a resident in the branch's membership), `a.{account id}` for an
/// in-service member (identified by their Hutong account).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MemberId(pub String);

impl MemberId {
    /// A branch member.
    pub fn resident(id: &str) -> MemberId {
        MemberId(format!("r.{id}"))
    }

    /// An in-service member.
    pub fn account(id: &str) -> MemberId {
        MemberId(format!("a.{id}"))
    }

    /// The resident id, for a branch member.
    pub fn resident_id(&self) -> Option<&str> {
        self.0.strip_prefix("r.")
    }

    /// The account id, for an in-service member.
    pub fn account_id(&self) -> Option<&str> {
        self.0.strip_prefix("a.")
    }

    /// A member id from a request: `r.` or `a.` and an id.
    pub fn parse(text: &str) -> Result<MemberId, String> {
        let ok = (text.starts_with("r.") || text.starts_with("a."))
            && text.len() > 2
            && text.len() <= 130
            && text[2..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
        if ok {
            Ok(MemberId(text.to_owned()))
        } else {
            Err(format!(
                "member `{text}` is not a member id: `r.` and a resident id for a branch member, or `a.` and an account id for an in-service member"
            ))
        }
    }
}

impl std::fmt::Display for MemberId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A meeting or activity of a branch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Activity {
    /// Its id.
    pub id: String,
    /// The branch holding it.
    pub branch: String,
    /// Its kind.
    pub kind: Kind,
    /// Its title.
    pub title: String,
    /// Where it is held.
    pub place: String,
    /// The agenda.
    pub agenda: String,
    /// When it starts, ms since the epoch.
    pub starts_at_ms: i64,
    /// When it ends.
    pub ends_at_ms: i64,
    /// The account that scheduled it.
    pub created_by: String,
    /// When.
    pub created_at_ms: i64,
}

/// One attendance mark of a member for an activity: the last part of an
/// `att/` key. How a member's marks resolve is [`resolve`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    /// `c`: the member checked in.
    CheckIn,
    /// `l`: the member asked for leave.
    LeaveRequested,
    /// `la` / `lr`: the secretary approved or refused the leave.
    LeaveDecided(bool),
    /// `m{ms:13}{p|l|x}`: the secretary recorded the member by hand as
    /// present, on leave or absent; the latest such record counts.
    Manual(i64, Status),
    /// `ld`: the claim that makes a leave decision happen once (not a mark
    /// of its own).
    DecisionClaim,
}

impl Mark {
    /// The key suffix.
    pub fn suffix(&self) -> String {
        match self {
            Mark::CheckIn => "c".into(),
            Mark::LeaveRequested => "l".into(),
            Mark::LeaveDecided(true) => "la".into(),
            Mark::LeaveDecided(false) => "lr".into(),
            Mark::Manual(at, status) => format!("m{at:013}{}", status.code()),
            Mark::DecisionClaim => "ld".into(),
        }
    }

    /// The mark a key suffix stands for.
    pub fn parse(suffix: &str) -> Option<Mark> {
        Some(match suffix {
            "c" => Mark::CheckIn,
            "l" => Mark::LeaveRequested,
            "la" => Mark::LeaveDecided(true),
            "lr" => Mark::LeaveDecided(false),
            "ld" => Mark::DecisionClaim,
            _ => {
                let rest = suffix.strip_prefix('m')?;
                if rest.len() != 14 {
                    return None;
                }
                let at = rest[..13].parse().ok()?;
                Mark::Manual(at, Status::from_code(&rest[13..])?)
            }
        })
    }
}

/// How a member stands for an activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// There.
    Present,
    /// Excused: leave approved, or recorded as leave by the secretary.
    Leave,
    /// Neither: no check-in, and no approved leave.
    Absent,
}

impl Status {
    fn code(self) -> &'static str {
        match self {
            Status::Present => "p",
            Status::Leave => "l",
            Status::Absent => "x",
        }
    }

    fn from_code(code: &str) -> Option<Status> {
        match code {
            "p" => Some(Status::Present),
            "l" => Some(Status::Leave),
            "x" => Some(Status::Absent),
            _ => None,
        }
    }

    /// Its name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Present => "present",
            Status::Leave => "leave",
            Status::Absent => "absent",
        }
    }
}

/// A member's standing for one activity, from their marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Standing {
    /// How they stand.
    pub status: Status,
    /// Whether the secretary recorded it by hand.
    pub recorded_by_hand: bool,
    /// `pending`, `approved` or `refused` when they asked for leave.
    pub leave: Option<&'static str>,
}

/// How a member's marks resolve: the secretary's latest record by hand wins;
/// otherwise a check-in is present; otherwise approved leave is leave;
/// otherwise (no check-in, leave pending or refused, or nothing) absent.
pub fn resolve<'a>(marks: impl IntoIterator<Item = &'a Mark>) -> Standing {
    let mut manual: Option<(i64, Status)> = None;
    let (mut checked_in, mut requested, mut decided) = (false, false, None);
    for mark in marks {
        match mark {
            Mark::CheckIn => checked_in = true,
            Mark::LeaveRequested => requested = true,
            Mark::LeaveDecided(approved) => decided = Some(*approved),
            Mark::Manual(at, status) => {
                if manual.is_none_or(|(latest, _)| *at >= latest) {
                    manual = Some((*at, *status));
                }
            }
            Mark::DecisionClaim => {}
        }
    }
    let leave = match (requested, decided) {
        (_, Some(true)) => Some("approved"),
        (_, Some(false)) => Some("refused"),
        (true, None) => Some("pending"),
        (false, None) => None,
    };
    let (status, recorded_by_hand) = match manual {
        Some((_, status)) => (status, true),
        None if checked_in => (Status::Present, false),
        None if decided == Some(true) => (Status::Leave, false),
        None => (Status::Absent, false),
    };
    Standing {
        status,
        recorded_by_hand,
        leave,
    }
}

/// An in-service member (在职党员) who reports to a community for service,
/// registered by themselves with the branch of that community.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InService {
    /// Their Hutong account: how the app knows them.
    pub account: String,
    /// The branch they report to.
    pub branch: String,
    /// Their name, as they gave it.
    pub name: String,
    /// Their work unit (工作单位), where their party membership is kept.
    pub work_unit: String,
    /// Their resident record in this district, if their account has one
    /// (for inbox reminders).
    pub resident_id: Option<String>,
    /// When they registered.
    pub registered_at_ms: i64,
}

/// A community task volunteers log hours against.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Task {
    /// Its id.
    pub id: String,
    /// The branch that organises it.
    pub branch: String,
    /// What it is.
    pub title: String,
    /// Details.
    pub description: String,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at_ms: i64,
}

/// Hours of volunteer service a member logged.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HoursLog {
    /// Its id.
    pub id: String,
    /// The task's branch.
    pub branch: String,
    /// The task.
    pub task: String,
    /// Who served.
    pub member: MemberId,
    /// How long, in tenths of an hour.
    pub hours_tenths: i64,
    /// The day of service, `YYYY-MM-DD`.
    pub date: String,
    /// What they did.
    pub note: String,
    /// When they logged it.
    pub logged_at_ms: i64,
}

/// The secretary's confirmation or refusal of logged hours.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Decision {
    /// Confirmed (or refused).
    pub confirmed: bool,
    /// Who decided.
    pub by: String,
    /// When.
    pub at_ms: i64,
    /// Why, if they said.
    pub note: String,
}

/// One entry of the points ledger. Entries are only ever added: a mistake is
/// put right by a correcting entry, never by changing or removing one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The entry's id within the member's month: `att.{activity}` (first
    /// award for an attendance), `att.{activity}.{ms}` (an award changed by a
    /// record by hand), `vol.{log}` (confirmed hours) or `cor.{ms}{random}`
    /// (a correction by the secretary).
    pub entry: String,
    /// Whose points.
    pub member: MemberId,
    /// The month it counts in, `YYYY-MM`.
    pub month: String,
    /// Signed points, in tenths.
    pub points_tenths: i64,
    /// Why.
    pub reason: String,
    /// The entry this one corrects, if it is a correction.
    pub corrects: Option<String>,
    /// Who caused it (an account).
    pub by: String,
    /// When it was written.
    pub at_ms: i64,
}

/// Keys, built in one place.
pub mod key {
    use super::{Mark, MemberId};

    /// `att/{branch}/{month}/{activity}/{member}/` and a mark.
    pub fn mark(
        branch: &str,
        month: &str,
        activity: &str,
        member: &MemberId,
        mark: &Mark,
    ) -> String {
        format!(
            "{}{}",
            marks(branch, month, activity, member),
            mark.suffix()
        )
    }

    /// The prefix of one member's marks for an activity.
    pub fn marks(branch: &str, month: &str, activity: &str, member: &MemberId) -> String {
        format!("att/{branch}/{month}/{activity}/{member}/")
    }

    /// The prefix of one ledger entry (its points follow).
    pub fn entry(branch: &str, month: &str, member: &MemberId, entry: &str) -> String {
        format!("pts/{branch}/{month}/{member}/{entry}/")
    }

    /// A whole ledger key.
    pub fn ledger(
        branch: &str,
        month: &str,
        member: &MemberId,
        entry: &str,
        tenths: i64,
    ) -> String {
        format!("{}{tenths:+}", self::entry(branch, month, member, entry))
    }

    /// A branch's activity index entry.
    pub fn activity_index(branch: &str, month: &str, start: i64, id: &str, kind: &str) -> String {
        format!("bact/{branch}/{month}/{start:013}/{id}/{kind}")
    }
}

/// A fresh id: the time in base 36 (so ids sort by creation) and 40 random
/// bits, 16 characters of `0-9a-z` in all. Callers store under it with
/// insert-if-absent, so the rare collision is retried, never overwritten.
pub fn new_id(now_ms: i64) -> String {
    let mut out = base36(u64::try_from(now_ms).unwrap_or(0), 8);
    // RandomState draws its keys from the host's randomness (wasi:random).
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    out.push_str(&base36(random % 36u64.pow(8), 8));
    out
}

fn base36(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip_through_their_suffix() {
        for mark in [
            Mark::CheckIn,
            Mark::LeaveRequested,
            Mark::LeaveDecided(true),
            Mark::LeaveDecided(false),
            Mark::DecisionClaim,
            Mark::Manual(1_772_000_000_000, Status::Leave),
        ] {
            assert_eq!(Mark::parse(&mark.suffix()), Some(mark));
        }
        assert_eq!(Mark::parse("m12"), None);
    }

    #[test]
    fn the_latest_record_by_hand_wins_then_check_in_then_approved_leave() {
        let standing = |marks: &[Mark]| resolve(marks);
        assert_eq!(standing(&[]).status, Status::Absent);
        assert_eq!(standing(&[Mark::CheckIn]).status, Status::Present);
        let pending = standing(&[Mark::LeaveRequested]);
        assert_eq!(
            (pending.status, pending.leave),
            (Status::Absent, Some("pending"))
        );
        let refused = standing(&[Mark::LeaveRequested, Mark::LeaveDecided(false)]);
        assert_eq!(
            (refused.status, refused.leave),
            (Status::Absent, Some("refused"))
        );
        let approved = standing(&[Mark::LeaveRequested, Mark::LeaveDecided(true)]);
        assert_eq!(approved.status, Status::Leave);
        assert_eq!(
            standing(&[
                Mark::LeaveRequested,
                Mark::LeaveDecided(true),
                Mark::CheckIn
            ])
            .status,
            Status::Present
        );
        let by_hand = standing(&[
            Mark::CheckIn,
            Mark::Manual(2, Status::Absent),
            Mark::Manual(1, Status::Present),
        ]);
        assert_eq!(
            (by_hand.status, by_hand.recorded_by_hand),
            (Status::Absent, true)
        );
    }

    #[test]
    fn ids_are_sixteen_base36_characters_in_time_order() {
        let a = new_id(1_772_000_000_000);
        let b = new_id(1_772_000_000_001);
        assert_eq!(a.len(), 16);
        assert!(a[..8] < b[..8]);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        );
    }

    #[test]
    fn ledger_keys_carry_signed_tenths() {
        let m = MemberId::resident("r1");
        assert_eq!(
            key::ledger("b1", "202603", &m, "att.x", 20),
            "pts/b1/202603/r.r1/att.x/+20"
        );
        assert_eq!(
            key::ledger("b1", "202603", &m, "cor.y", -5),
            "pts/b1/202603/r.r1/cor.y/-5"
        );
    }
}
