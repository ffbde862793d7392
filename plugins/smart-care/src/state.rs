//! What the app keeps in its kv store, and the one place each key is named.
//!
//! The design decision to know: every record has one writer, so no update
//! is lost to a concurrent one. Door events write `act/` (a device's events
//! arrive in order), the watch writes the roster and silence alerts, device
//! events write their own alarm and fault state, and what two callers may
//! race on (an acknowledgement, a check-in answer, an alert's creation) is
//! written with `insert-if-absent`, whose one winner decides.
//!
//! | key | value | written by |
//! |---|---|---|
//! | `roster/<resident>` | [`Watched`] | the watch (from the community data) |
//! | `home/<household>/<resident>` | empty: who lives where | the watch |
//! | `roster-meta` | [`RosterMeta`] | the watch |
//! | `act/<resident>` | [`Activity`]: the last door event | door events |
//! | `out/<resident>` | [`SensorState`]: the door sensor's fault state | `device.offline` / `device.online` |
//! | `alarm/<device>` | [`AlarmEpisode`]: the alarm going on | smoke and gas events |
//! | `fault/<device>` | the alert id of the device's fault | `device.offline` / `device.online` |
//! | `alert/<id>` | [`Alert`] | whoever raises it, once (`insert-if-absent`) |
//! | `open/<id>` | the alert's grid: alerts not yet resolved | the alert's raiser; removed on resolution |
//! | `ack/<id>` | [`Ack`] | a worker, once (`insert-if-absent`) |
//! | `resolved/<id>` | [`Resolution`] | whoever resolves it |
//! | `case/<id>` | the case id of an alert (`opening` while it is opened) | the watch (escalation) or the alarm |
//! | `case-alert/<case>` | the alert id of a case | same |
//! | `case-state/<id>` | the case's latest state | the case watcher |
//! | `check-in/<resident>` | [`OptIn`] | the resident or a worker |
//! | `call/<date>/<resident>` | [`Call`]: today's call | the watch |
//! | `answer/<date>/<resident>` | [`Ack`]: the answer | the resident, a worker or the IVR (`insert-if-absent`) |
//! | `visit/<resident>/<ms>-<n>` | [`Visit`] | a worker (`insert-if-absent`) |

use hutong_sdk::{Error, kv};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A watched resident, as the community data describes them (masked).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Watched {
    /// Their grid.
    pub grid: String,
    /// Their household, if registered to one.
    pub household: Option<String>,
    /// Their name as the host shows it to this app: masked (`张*`).
    pub name: String,
    /// Their tags.
    pub tags: Vec<String>,
}

/// When the watch list was last read from the community data.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct RosterMeta {
    /// When the last complete read finished.
    pub synced_at: i64,
    /// Whether writes were left for the next tick (a large first load).
    pub pending: bool,
}

/// The last door activity of a resident.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Activity {
    /// When it happened.
    pub at: i64,
    /// The event.
    pub event: String,
}

/// A door sensor's fault state, for the residents it watches.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct SensorState {
    /// The device.
    pub device: String,
    /// Whether it is offline now.
    pub offline: bool,
    /// When it was reported offline.
    pub offline_since: i64,
    /// When it came back, if it did: silence is counted from then.
    pub back_at: Option<i64>,
}

/// A smoke or gas alarm going on at one device.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct AlarmEpisode {
    /// The event that started it.
    pub event: String,
    /// Its alert.
    pub alert: String,
}

/// What an alert is about.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// No door activity for N hours (长久不出).
    Inactivity,
    /// A night-time door event and no return within M hours (久出不归).
    NightAbsence,
    /// Smoke or gas.
    Alarm,
    /// A device went silent: a fault, not news about the resident.
    DeviceOffline,
    /// A daily check-in call was not answered.
    MissedCheckIn,
}

impl Kind {
    /// How workers read it.
    pub fn title(self) -> &'static str {
        match self {
            Kind::Inactivity => "No door activity (长久不出)",
            Kind::NightAbsence => "Went out at night and not back (久出不归)",
            Kind::Alarm => "Smoke or gas alarm",
            Kind::DeviceOffline => "Device fault: sensor offline",
            Kind::MissedCheckIn => "Missed daily check-in",
        }
    }

    /// Whether an unacknowledged alert of this kind becomes a case.
    pub fn escalates(self) -> bool {
        matches!(
            self,
            Kind::Inactivity | Kind::NightAbsence | Kind::MissedCheckIn
        )
    }
}

/// One alert.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Alert {
    /// Its id (also its key).
    pub id: String,
    /// What it is about.
    pub kind: Kind,
    /// The resident, when known.
    pub resident: Option<String>,
    /// The grid whose workers it goes to.
    pub grid: Option<String>,
    /// The device, for alarms and faults.
    pub device: Option<String>,
    /// When the episode began (the last activity, the alarm, the silence).
    pub since: i64,
    /// When the alert was raised.
    pub raised_at: i64,
    /// What happened, in words.
    pub detail: String,
    /// Whether the workers were told (set after the sends succeed, so a
    /// failed send is tried again, under the same idempotency keys).
    pub notified: bool,
}

/// An acknowledgement (or a check-in answer).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Ack {
    /// The account.
    pub by: String,
    /// When.
    pub at: i64,
}

/// Why an alert is over.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Resolution {
    /// When.
    pub at: i64,
    /// Why.
    pub why: String,
}

/// A resident's consent to daily check-in calls.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct OptIn {
    /// Who recorded it (the resident's or a worker's account).
    pub by: String,
    /// When.
    pub at: i64,
}

/// Today's check-in call to a resident.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Call {
    /// When it was placed.
    pub called_at: i64,
}

/// A worker's visit.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Visit {
    /// The worker.
    pub by: String,
    /// When.
    pub at: i64,
    /// What they found.
    pub note: String,
}

/// Key of a watched resident.
pub fn roster(resident: &str) -> String {
    format!("roster/{resident}")
}
/// Key of a household's resident.
pub fn home(household: &str, resident: &str) -> String {
    format!("home/{household}/{resident}")
}
/// Key of a resident's last activity.
pub fn act(resident: &str) -> String {
    format!("act/{resident}")
}
/// Key of a resident's door-sensor state.
pub fn out(resident: &str) -> String {
    format!("out/{resident}")
}
/// Key of a device's alarm episode.
pub fn alarm(device: &str) -> String {
    format!("alarm/{device}")
}
/// Key of a device's fault alert.
pub fn fault(device: &str) -> String {
    format!("fault/{device}")
}
/// Key of an alert.
pub fn alert(id: &str) -> String {
    format!("alert/{id}")
}
/// Key of an open alert.
pub fn open(id: &str) -> String {
    format!("open/{id}")
}
/// Key of an alert's acknowledgement.
pub fn ack(id: &str) -> String {
    format!("ack/{id}")
}
/// Key of an alert's resolution.
pub fn resolved(id: &str) -> String {
    format!("resolved/{id}")
}
/// Key of an alert's case.
pub fn case(id: &str) -> String {
    format!("case/{id}")
}
/// Key of a case's alert.
pub fn case_alert(case: &str) -> String {
    format!("case-alert/{case}")
}
/// Key of an alert's case state.
pub fn case_state(id: &str) -> String {
    format!("case-state/{id}")
}
/// Key of a resident's check-in consent.
pub fn check_in(resident: &str) -> String {
    format!("check-in/{resident}")
}
/// Key of a day's call to a resident.
pub fn call(date: &str, resident: &str) -> String {
    format!("call/{date}/{resident}")
}
/// Key of a day's answer of a resident.
pub fn answer(date: &str, resident: &str) -> String {
    format!("answer/{date}/{resident}")
}
/// Key of a visit: by time, then a sequence number for visits logged in
/// the same millisecond.
pub fn visit(resident: &str, at: i64, seq: u32) -> String {
    format!("visit/{resident}/{at:015}-{seq:03}")
}

/// Every entry under `prefix`, its key without the prefix and its value
/// parsed; entries that do not parse are skipped and logged (the app's own
/// data, from an older version perhaps, must not stop the watch).
pub fn scan<T: DeserializeOwned>(prefix: &str) -> Result<Vec<(String, T)>, Error> {
    let mut out = Vec::new();
    for entry in kv::entries(prefix) {
        let (key, value) = entry?;
        let rest = key.get(prefix.len()..).unwrap_or_default().to_owned();
        match serde_json::from_slice(&value) {
            Ok(parsed) => out.push((rest, parsed)),
            Err(error) => hutong_sdk::log::warn(
                "skipping a kv entry that does not parse",
                &[("key", &key), ("error", &error.to_string())],
            ),
        }
    }
    Ok(out)
}

/// Store `value` as JSON under `key` unless the key exists; whether this
/// call stored it.
pub fn insert_json<T: Serialize>(key: &str, value: &T) -> Result<bool, Error> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| Error::Internal(format!("could not encode {key}: {e}")))?;
    kv::insert_if_absent(key, &bytes)
}
