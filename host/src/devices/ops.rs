//! Devices and the events they post: registration (bound to a household or
//! resident of the district's community data), tokens, the online/offline
//! view, and ingest.
//!
//! Ingest checks a whole request before it stores anything: the token, the
//! body's shape, every event's device, type, time and payload. One bad event
//! refuses the request with an error naming it (`events[3].type: …`) and
//! nothing is stored, so a device or gateway can fix and resend the batch
//! without creating duplicates of the good part.
//!
//! Who may post what: a device's token posts that device's own events (an
//! event may name the device, and must then name itself). A device of kind
//! `gateway` posts for any device of its district, each event naming its
//! device. Either way the token's device counts as seen.
//!
//! Offline devices: [`Platform::sweep_offline_devices`] (every
//! [`crate::server::DEVICE_SWEEP_INTERVAL`] in a serving host) reports each
//! device silent past its heartbeat interval once, as a `device.offline`
//! event from the device; the device's next post reports `device.online`
//! first. Subscribed apps learn of a fault without watching heartbeats.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::devices::store::{Device, NewDevice, NewEvent};
use crate::error::PlatformError;
use crate::kernel::events;
use crate::kernel::events::{FUTURE_TOLERANCE_MS, GATEWAY, MAX_BATCH, MAX_PAYLOAD_BYTES};
use crate::kernel::grant;
use crate::kernel::manifest::Permission;
use crate::kernel::store::StoreError;
use crate::platform::Platform;

/// How a device token starts: `hdv_` and 64 hex characters.
pub const DEVICE_TOKEN_PREFIX: &str = "hdv_";

/// The largest page of a device listing.
pub const MAX_DEVICE_PAGE: u32 = 500;

/// Devices one offline sweep reports per round: a sweep after a gateway
/// outage may find thousands, written in rounds of this many.
const OFFLINE_SWEEP_BATCH: u32 = 500;

/// Rounds per sweep, so one sweep ends; the next takes up the rest.
const OFFLINE_SWEEP_ROUNDS: usize = 20;

/// A device to register.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRegistration {
    /// Its id, unique in the district.
    pub id: String,
    /// Its kind, from the catalogue ([`crate::kernel::events::KINDS`]).
    pub kind: String,
    /// The household it is bound to.
    #[serde(default)]
    pub household_id: Option<String>,
    /// The resident it is bound to.
    #[serde(default)]
    pub resident_id: Option<String>,
    /// How often it reports at least a heartbeat, in seconds.
    #[serde(default)]
    pub heartbeat_secs: Option<i64>,
}

/// Whether a device reported within its heartbeat interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceStatus {
    /// It reported within its interval (or was registered within it).
    Online,
    /// It has been silent for longer than its interval.
    Offline,
}

/// A device as the API shows it: never its token.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceView {
    /// The device.
    #[serde(flatten)]
    pub device: Device,
    /// Online or offline, now.
    pub status: DeviceStatus,
}

/// A registered device (or a rotated token): the token is shown this once.
#[derive(Clone, Debug, Serialize)]
pub struct IssuedDevice {
    /// The device.
    #[serde(flatten)]
    pub device: DeviceView,
    /// Its token, `hdv_…`; only its SHA-256 is kept.
    pub token: String,
}

/// Events a district has stored and their deliveries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EventCounts {
    /// Events stored.
    pub stored: i64,
    /// Deliveries waiting or being retried.
    pub pending: i64,
    /// Deliveries given up on (the dead-letter list).
    pub dead: i64,
}

/// Why a post of events was refused. Nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// No token, or not a device's.
    #[error("{0}")]
    Unauthenticated(String),
    /// A device's token, but not for this.
    #[error("{0}")]
    Forbidden(String),
    /// The body is not JSON of the expected shape.
    #[error("{0}")]
    Malformed(String),
    /// Well-formed, but an event is refused.
    #[error("{0}")]
    Invalid(String),
    /// The host failed.
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        IngestError::Platform(e.into())
    }
}

/// One event as posted.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostedEvent {
    #[serde(default)]
    device: Option<String>,
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    occurred_at_ms: Option<i64>,
    #[serde(default)]
    payload: Option<Value>,
    /// The poster's key for the event, to post it again safely.
    #[serde(default)]
    key: Option<String>,
}

/// Longest event key, in characters.
pub const MAX_EVENT_KEY: usize = 128;

const EVENT_EXAMPLE: &str = r#"{"type": "door.open", "occurred_at_ms": 1767225600000, "payload": {"battery": 87}, "key": "door-1:8812"} (key optional; or {"events": [...]}; a gateway adds "device": "<id>" to each)"#;

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn new_token() -> Result<String, StoreError> {
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Corrupt {
        what: "random source",
        detail: e.to_string(),
    })?;
    Ok(format!("{DEVICE_TOKEN_PREFIX}{}", hex::encode(buf)))
}

fn view(device: Device, now: i64) -> DeviceView {
    let since = device.last_seen_at.unwrap_or(device.created_at);
    let status = if since.saturating_add(device.heartbeat_secs.saturating_mul(1000)) < now {
        DeviceStatus::Offline
    } else {
        DeviceStatus::Online
    };
    DeviceView { device, status }
}

/// The events of a body: one event object, or `{"events": [...]}`.
fn split_body(body: &[u8]) -> Result<Vec<Value>, IngestError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        IngestError::Malformed(format!(
            "the body is not JSON ({e}); expected an event like {EVENT_EXAMPLE}"
        ))
    })?;
    let Value::Object(mut object) = value else {
        return Err(IngestError::Malformed(format!(
            "the body must be a JSON object: an event like {EVENT_EXAMPLE}"
        )));
    };
    if !object.contains_key("events") {
        return Ok(vec![Value::Object(object)]);
    }
    if object.len() > 1 {
        return Err(IngestError::Malformed(
            "a batch is {\"events\": [...]} with no other fields".into(),
        ));
    }
    match object.remove("events") {
        Some(Value::Array(events)) if events.is_empty() => Err(IngestError::Malformed(
            "`events` is empty; send 1 to 1000 events".into(),
        )),
        Some(Value::Array(events)) if events.len() > MAX_BATCH => {
            Err(IngestError::Invalid(format!(
                "{} events in one request; send at most {MAX_BATCH} and post the rest separately",
                events.len()
            )))
        }
        Some(Value::Array(events)) => Ok(events),
        _ => Err(IngestError::Malformed(
            "`events` must be a list of event objects".into(),
        )),
    }
}

impl Platform {
    /// Register a device; its token is returned this once.
    pub async fn register_device(
        &self,
        district: &str,
        reg: DeviceRegistration,
    ) -> Result<IssuedDevice, PlatformError> {
        self.require_district(district).await?;
        if let Some(problem) = crate::kernel::ids::record_id_problem("device id", &reg.id) {
            return Err(PlatformError::Invalid(problem));
        }
        if events::kind(&reg.kind).is_none() {
            return Err(PlatformError::Invalid(format!(
                "device kind `{}` is unknown; kinds are: {}",
                reg.kind,
                events::kind_names()
            )));
        }
        let heartbeat_secs = reg.heartbeat_secs.unwrap_or(events::DEFAULT_HEARTBEAT_SECS);
        if !(events::MIN_HEARTBEAT_SECS..=events::MAX_HEARTBEAT_SECS).contains(&heartbeat_secs) {
            return Err(PlatformError::Invalid(format!(
                "heartbeat_secs {heartbeat_secs} is out of range: use {} to {} seconds",
                events::MIN_HEARTBEAT_SECS,
                events::MAX_HEARTBEAT_SECS
            )));
        }
        let community_id = self
            .binding_community(
                district,
                reg.household_id.as_deref(),
                reg.resident_id.as_deref(),
            )
            .await?;
        let token = new_token()?;
        let now = self.store.clock().now_ms();
        let device = self
            .store
            .create_device(NewDevice {
                district,
                id: &reg.id,
                kind: &reg.kind,
                household_id: reg.household_id.as_deref(),
                resident_id: reg.resident_id.as_deref(),
                community_id: community_id.as_deref(),
                token_sha256: &sha256_hex(&token),
                heartbeat_secs,
                now,
            })
            .await?;
        Ok(IssuedDevice {
            device: view(device, now),
            token,
        })
    }

    /// Check a binding against the community data; its community.
    async fn binding_community(
        &self,
        district: &str,
        household: Option<&str>,
        resident: Option<&str>,
    ) -> Result<Option<String>, PlatformError> {
        let mut community = None;
        if let Some(household) = household {
            community = Some(
                self.store
                    .household_community(district, household)
                    .await?
                    .ok_or_else(|| {
                        PlatformError::Invalid(format!(
                            "household `{household}` does not exist in district `{district}`; import it first or bind the device to an existing household"
                        ))
                    })?,
            );
        }
        if let Some(resident) = resident {
            let row = self
                .store
                .get_resident(district, resident)
                .await?
                .ok_or_else(|| {
                    PlatformError::Invalid(format!(
                        "resident `{resident}` does not exist in district `{district}`"
                    ))
                })?;
            if let Some(household) = household
                && row.resident.household_id.as_deref() != Some(household)
            {
                return Err(PlatformError::Invalid(format!(
                    "resident `{resident}` does not live in household `{household}`; bind the device to one of them, or to the resident and their own household"
                )));
            }
            community = Some(row.community_id);
        }
        Ok(community)
    }

    /// One device with its status.
    pub async fn device(&self, district: &str, id: &str) -> Result<DeviceView, PlatformError> {
        self.require_district(district).await?;
        let device = self.store.get_device(district, id).await?.ok_or_else(|| {
            PlatformError::NotFound(format!("device `{id}` in district `{district}`"))
        })?;
        Ok(view(device, self.store.clock().now_ms()))
    }

    /// A district's devices by id (a page after `after`), or only those
    /// offline now.
    pub async fn list_devices(
        &self,
        district: &str,
        offline_only: bool,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DeviceView>, PlatformError> {
        self.require_district(district).await?;
        if !(1..=MAX_DEVICE_PAGE).contains(&limit) {
            return Err(PlatformError::Invalid(format!(
                "limit {limit} is out of range: use 1 to {MAX_DEVICE_PAGE}"
            )));
        }
        let now = self.store.clock().now_ms();
        let devices = self
            .store
            .list_devices(district, after, limit, offline_only.then_some(now))
            .await?;
        Ok(devices.into_iter().map(|d| view(d, now)).collect())
    }

    /// Give a device a new token; the old one stops working at once.
    pub async fn rotate_device_token(
        &self,
        district: &str,
        id: &str,
    ) -> Result<IssuedDevice, PlatformError> {
        self.require_district(district).await?;
        let token = new_token()?;
        let now = self.store.clock().now_ms();
        self.store
            .set_device_token(district, id, &sha256_hex(&token), now)
            .await?;
        Ok(IssuedDevice {
            device: self.device(district, id).await?,
            token,
        })
    }

    /// Remove a device; its token stops working. Its events stay, and those
    /// not yet delivered are still delivered.
    pub async fn remove_device(&self, district: &str, id: &str) -> Result<(), PlatformError> {
        self.require_district(district).await?;
        Ok(self.store.delete_device(district, id).await?)
    }

    /// Accept a post of events to `district` with a device `token` (see the
    /// module docs); the stored events' ids, in order.
    pub async fn ingest_events(
        &self,
        district: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<i64>, IngestError> {
        let token = token.ok_or_else(|| {
            IngestError::Unauthenticated(
                "posting events needs the device's token: `Authorization: Bearer hdv_…` (`hutong device register` issues one)".into(),
            )
        })?;
        let well_formed = token.len() == DEVICE_TOKEN_PREFIX.len() + 64
            && token.starts_with(DEVICE_TOKEN_PREFIX)
            && token[DEVICE_TOKEN_PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            return Err(IngestError::Unauthenticated(
                "not a device token: a device token reads hdv_ followed by 64 hex characters"
                    .into(),
            ));
        }
        let poster = self
            .store
            .device_by_token(&sha256_hex(token))
            .await?
            .ok_or_else(|| {
                IngestError::Unauthenticated(
                    "unknown device token: it was rotated, or its device was removed".into(),
                )
            })?;
        if poster.district != district {
            return Err(IngestError::Forbidden(format!(
                "this token belongs to a device of district `{}`, not `{district}`; post to /d/{}/events",
                poster.district, poster.district
            )));
        }
        let posted = split_body(body)?;
        let now = self.store.clock().now_ms();
        let is_gateway = poster.kind == GATEWAY;

        // Parse every event first, so the devices they name can be looked up
        // in one query.
        let mut parsed = Vec::with_capacity(posted.len());
        for (i, value) in posted.into_iter().enumerate() {
            let at = |field: &str| format!("events[{i}]{field}");
            let event: PostedEvent = serde_json::from_value(value).map_err(|e| {
                IngestError::Malformed(format!(
                    "{}: {e}; expected an event like {EVENT_EXAMPLE}",
                    at("")
                ))
            })?;
            let device = match (&event.device, is_gateway) {
                (Some(named), false) if *named != poster.id => {
                    return Err(IngestError::Forbidden(format!(
                        "{}: the token of device `{}` posts only its own events, not `{named}`'s; post through a gateway device to report for others",
                        at(".device"),
                        poster.id
                    )));
                }
                (None, true) => {
                    return Err(IngestError::Invalid(format!(
                        "{}: missing; a gateway's events each name their device",
                        at(".device")
                    )));
                }
                (Some(named), true) => named.clone(),
                (_, false) => poster.id.clone(),
            };
            parsed.push((device, event));
        }
        let named: BTreeSet<String> = parsed.iter().map(|(d, _)| d.clone()).collect();
        let mut devices: HashMap<String, Device> = HashMap::new();
        devices.insert(poster.id.clone(), poster.clone());
        let lookup: Vec<&str> = named
            .iter()
            .map(String::as_str)
            .filter(|d| *d != poster.id)
            .collect();
        for d in self.store.devices_by_ids(district, &lookup).await? {
            devices.insert(d.id.clone(), d);
        }

        let installs = self.store.list_installs(Some(district)).await?;
        let subscribers = |event_type: &str| -> Vec<String> {
            installs
                .iter()
                .filter(|i| {
                    grant::holds(&i.granted, Permission::ReceiveEvents)
                        && i.manifest.events.types.iter().any(|t| t == event_type)
                })
                .map(|i| i.app.clone())
                .collect()
        };

        let mut accepted = Vec::with_capacity(parsed.len());
        for (i, (device_id, event)) in parsed.into_iter().enumerate() {
            let at = |field: &str| format!("events[{i}].{field}");
            let device = devices.get(&device_id).ok_or_else(|| {
                IngestError::Invalid(format!(
                    "{}: device `{device_id}` is not registered in district `{district}`",
                    at("device")
                ))
            })?;
            let kind = events::kind(&device.kind).ok_or_else(|| {
                IngestError::Invalid(format!(
                    "{}: device `{device_id}` has kind `{}`, which this host no longer knows",
                    at("device"),
                    device.kind
                ))
            })?;
            if !kind.reports(&event.event_type) {
                return Err(IngestError::Invalid(format!(
                    "{}: `{}` is not an event type of a {} (device `{device_id}`); it reports: {}",
                    at("type"),
                    event.event_type,
                    kind.name,
                    kind.allowed()
                )));
            }
            let occurred_at = event.occurred_at_ms.unwrap_or(now);
            if occurred_at <= 0 {
                return Err(IngestError::Invalid(format!(
                    "{}: {occurred_at} is not a time; send milliseconds since the Unix epoch (UTC)",
                    at("occurred_at_ms")
                )));
            }
            if occurred_at > now.saturating_add(FUTURE_TOLERANCE_MS) {
                return Err(IngestError::Invalid(format!(
                    "{}: {occurred_at} is {} s in the future; at most {} s ahead of the host's clock is accepted (check the device's clock)",
                    at("occurred_at_ms"),
                    (occurred_at - now) / 1000,
                    FUTURE_TOLERANCE_MS / 1000
                )));
            }
            let payload = match event.payload {
                None => "{}".to_owned(),
                Some(Value::Object(map)) => Value::Object(map).to_string(),
                Some(_) => {
                    return Err(IngestError::Invalid(format!(
                        "{}: must be a JSON object",
                        at("payload")
                    )));
                }
            };
            if payload.len() > MAX_PAYLOAD_BYTES {
                return Err(IngestError::Invalid(format!(
                    "{}: {} bytes as JSON; at most {MAX_PAYLOAD_BYTES}",
                    at("payload"),
                    payload.len()
                )));
            }
            if let Some(key) = &event.key
                && (key.is_empty()
                    || key.len() > MAX_EVENT_KEY
                    || !key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)))
            {
                return Err(IngestError::Invalid(format!(
                    "{}: `{}` is not a key; use 1 to {MAX_EVENT_KEY} characters of a-z, A-Z, 0-9, '-', '_', '.' and ':'",
                    at("key"),
                    key.chars().take(40).collect::<String>()
                )));
            }
            accepted.push(NewEvent {
                device: device.clone(),
                apps: subscribers(&event.event_type),
                event_type: event.event_type,
                occurred_at,
                payload,
                key: event.key,
            });
        }
        let mut seen: Vec<&str> = named.iter().map(String::as_str).collect();
        if !seen.contains(&poster.id.as_str()) {
            seen.push(&poster.id);
        }
        // Every seen device may have been reported offline, even after it
        // was read above; the store keeps the `device.online` of those whose
        // mark it clears.
        let online: Vec<NewEvent> = seen
            .iter()
            .filter_map(|id| devices.get(*id))
            .map(|device| NewEvent {
                device: device.clone(),
                apps: subscribers(events::DEVICE_ONLINE),
                event_type: events::DEVICE_ONLINE.to_owned(),
                occurred_at: now,
                payload: serde_json::json!({ "offline_since_ms": device.offline_since })
                    .to_string(),
                key: None,
            })
            .collect();
        match self
            .store
            .store_events(district, &accepted, &online, &seen, now)
            .await
        {
            // Another post of a keyed event won the race to store it; this
            // post now finds it and answers its id.
            Err(StoreError::Database(e)) if crate::kernel::store::is_unique_violation(&e) => {
                Ok(self
                    .store
                    .store_events(district, &accepted, &online, &seen, now)
                    .await?)
            }
            other => Ok(other?),
        }
    }

    /// Report every device that has been silent for longer than its
    /// heartbeat interval, once per silence, as a `device.offline` event to
    /// the installs that subscribe to it (see [`crate::kernel::events::HOST_TYPES`]).
    /// Safe to run from several host processes at once: marking the device
    /// is the claim. Returns how many devices were reported.
    pub async fn sweep_offline_devices(&self) -> Result<u64, PlatformError> {
        let mut reported = 0;
        for _round in 0..OFFLINE_SWEEP_ROUNDS {
            let now = self.store.clock().now_ms();
            let silent = self
                .store
                .newly_silent_devices(now, OFFLINE_SWEEP_BATCH)
                .await?;
            if silent.is_empty() {
                break;
            }
            let full = silent.len() == OFFLINE_SWEEP_BATCH as usize;
            let mut subscribers: HashMap<String, Vec<String>> = HashMap::new();
            let mut reports = Vec::with_capacity(silent.len());
            for device in silent {
                if !subscribers.contains_key(&device.district) {
                    let apps = self
                        .store
                        .list_installs(Some(&device.district))
                        .await?
                        .into_iter()
                        .filter(|i| {
                            grant::holds(&i.granted, Permission::ReceiveEvents)
                                && i.manifest
                                    .events
                                    .types
                                    .iter()
                                    .any(|t| t == events::DEVICE_OFFLINE)
                        })
                        .map(|i| i.app)
                        .collect();
                    subscribers.insert(device.district.clone(), apps);
                }
                let apps = subscribers
                    .get(&device.district)
                    .cloned()
                    .unwrap_or_default();
                let payload = serde_json::json!({
                    "last_seen_at_ms": device.last_seen_at,
                    "heartbeat_secs": device.heartbeat_secs,
                })
                .to_string();
                reports.push(NewEvent {
                    device,
                    apps,
                    event_type: events::DEVICE_OFFLINE.to_owned(),
                    occurred_at: now,
                    payload,
                    key: None,
                });
            }
            let done = self.store.report_offline(&reports, now).await?;
            if done > 0 {
                tracing::info!(
                    devices = done,
                    "devices silent past their heartbeat interval reported offline"
                );
            }
            reported += done;
            if !full {
                break;
            }
        }
        Ok(reported)
    }

    /// How many events a district stored, and how many deliveries wait or
    /// were given up on.
    pub async fn event_counts(&self, district: &str) -> Result<EventCounts, PlatformError> {
        self.require_district(district).await?;
        let stored = self.store.count_events(district).await?;
        let (pending, dead) = self.store.event_delivery_counts(district).await?;
        Ok(EventCounts {
            stored,
            pending,
            dead,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_one_event_or_a_batch() {
        assert_eq!(
            split_body(br#"{"type": "door.open"}"#)
                .map(|v| v.len())
                .ok(),
            Some(1)
        );
        assert_eq!(
            split_body(br#"{"events": [{"type": "a"}, {"type": "b"}]}"#)
                .map(|v| v.len())
                .ok(),
            Some(2)
        );
        assert!(matches!(split_body(b"[1]"), Err(IngestError::Malformed(_))));
        assert!(matches!(
            split_body(b"not json"),
            Err(IngestError::Malformed(_))
        ));
        assert!(matches!(
            split_body(br#"{"events": []}"#),
            Err(IngestError::Malformed(_))
        ));
        let many = format!(
            r#"{{"events": [{}]}}"#,
            vec![r#"{"type": "heartbeat"}"#; MAX_BATCH + 1].join(",")
        );
        assert!(matches!(
            split_body(many.as_bytes()),
            Err(IngestError::Invalid(m)) if m.contains("at most 1000")
        ));
    }

    #[test]
    fn a_device_is_offline_once_silent_past_its_interval() {
        let device = Device {
            district: "east".into(),
            id: "d1".into(),
            kind: "door-sensor".into(),
            household_id: None,
            resident_id: None,
            community_id: None,
            heartbeat_secs: 60,
            last_seen_at: Some(1_000),
            offline_since: None,
            created_at: 0,
            updated_at: 0,
        };
        assert_eq!(view(device.clone(), 61_000).status, DeviceStatus::Online);
        assert_eq!(view(device, 61_001).status, DeviceStatus::Offline);
    }
}
