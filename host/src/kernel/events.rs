//! Device events' vocabulary: the kinds of device a district may register,
//! the event types each kind may report, and the checks an incoming event
//! must pass before anything is stored.
//!
//! The design decision to know: the catalogue is fixed and per kind. An
//! event type is *unknown* when it is not in [`KINDS`] for the kind of the
//! device that reports it: a door sensor may report `door.open` but not
//! `smoke.alarm`. Every kind may also report the [`COMMON_TYPES`]
//! (`heartbeat`, `battery.low`, `tamper`). A fixed list keeps apps and
//! devices of different vendors talking about the same things, and lets the
//! host refuse a typo at ingest instead of storing events no app will ever
//! subscribe to.
//!
//! The host reports [`HOST_TYPES`] itself (`device.offline` when a device
//! stays silent past its heartbeat interval, `device.online` when it posts
//! again); apps subscribe to them, devices cannot post them.

use serde::Serialize;

/// One kind of device and the event types it reports (besides
/// [`COMMON_TYPES`]).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct DeviceKind {
    /// The kind's name, as devices are registered with it.
    pub name: &'static str,
    /// What it is.
    pub description: &'static str,
    /// The event types of this kind.
    pub types: &'static [&'static str],
}

/// Event types every kind may report.
pub const COMMON_TYPES: &[&str] = &["heartbeat", "battery.low", "tamper"];

/// The host reports that a device has been silent for longer than its
/// heartbeat interval: a fault of the device, which an app should not read
/// as anything about the people it watches.
pub const DEVICE_OFFLINE: &str = "device.offline";

/// The host reports that a device it reported offline posted again.
pub const DEVICE_ONLINE: &str = "device.online";

/// Event types the host reports about a device of any kind, and no device
/// may post itself: apps subscribe to them like to any other type.
pub const HOST_TYPES: &[&str] = &[DEVICE_OFFLINE, DEVICE_ONLINE];

/// The catalogue of device kinds.
pub const KINDS: &[DeviceKind] = &[
    DeviceKind {
        name: "door-sensor",
        description: "door contact (门磁): a door opened or closed",
        types: &["door.open", "door.close"],
    },
    DeviceKind {
        name: "smoke-detector",
        description: "smoke alarm",
        types: &["smoke.alarm", "smoke.clear"],
    },
    DeviceKind {
        name: "gas-detector",
        description: "combustible gas alarm",
        types: &["gas.alarm", "gas.clear"],
    },
    DeviceKind {
        name: "water-leak-sensor",
        description: "water leak under a sink or heater",
        types: &["water.leak", "water.clear"],
    },
    DeviceKind {
        name: "motion-sensor",
        description: "movement in a room",
        types: &["motion.detected", "motion.idle"],
    },
    DeviceKind {
        name: "emergency-button",
        description: "a button a resident presses for help",
        types: &["button.press"],
    },
    DeviceKind {
        name: "gateway",
        description: "an IoT gateway posting for the devices of its district",
        types: &[],
    },
];

/// The kind that may post events on behalf of other devices.
pub const GATEWAY: &str = "gateway";

/// Most events one request may carry.
pub const MAX_BATCH: usize = 1000;

/// Largest payload of one event, as JSON text: a device reports a reading,
/// not a file, and the payload is stored and handed to every subscribed app.
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// How far in the future an event's time may be (device clocks drift);
/// anything later is refused as a broken clock.
pub const FUTURE_TOLERANCE_MS: i64 = 5 * 60_000;

/// Shortest and longest heartbeat interval a device may be registered with.
pub const MIN_HEARTBEAT_SECS: i64 = 10;
/// See [`MIN_HEARTBEAT_SECS`].
pub const MAX_HEARTBEAT_SECS: i64 = 7 * 24 * 3600;
/// Heartbeat interval when registration names none.
pub const DEFAULT_HEARTBEAT_SECS: i64 = 3600;

/// The kind named `name`.
pub fn kind(name: &str) -> Option<&'static DeviceKind> {
    KINDS.iter().find(|k| k.name == name)
}

/// The names of every kind, for error messages.
pub fn kind_names() -> String {
    KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
}

impl DeviceKind {
    /// Whether a device of this kind may report `event_type`.
    pub fn reports(&self, event_type: &str) -> bool {
        self.types.contains(&event_type) || COMMON_TYPES.contains(&event_type)
    }

    /// Every type this kind may report, for error messages.
    pub fn allowed(&self) -> String {
        self.types
            .iter()
            .chain(COMMON_TYPES)
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Whether `event_type` is reported by any kind, or by the host.
pub fn is_known_type(event_type: &str) -> bool {
    KINDS.iter().any(|k| k.reports(event_type)) || HOST_TYPES.contains(&event_type)
}

/// Every event type some kind reports, once each, for error messages.
pub fn known_types() -> String {
    let mut all: Vec<&str> = KINDS
        .iter()
        .flat_map(|k| k.types.iter().copied())
        .chain(COMMON_TYPES.iter().copied())
        .chain(HOST_TYPES.iter().copied())
        .collect();
    all.sort_unstable();
    all.dedup();
    all.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_door_sensor_reports_door_and_common_types_only() {
        let door = kind("door-sensor").expect("door-sensor");
        assert!(door.reports("door.open"));
        assert!(door.reports("heartbeat"));
        assert!(!door.reports("smoke.alarm"));
        assert!(!door.reports("door.opened"));
        assert_eq!(
            door.allowed(),
            "door.open, door.close, heartbeat, battery.low, tamper"
        );
    }

    #[test]
    fn every_type_in_the_catalogue_is_a_valid_manifest_event_type() {
        for k in KINDS {
            for t in k.types.iter().chain(COMMON_TYPES) {
                assert!(crate::kernel::manifest::is_valid_event_type(t), "{t}");
            }
            assert!(crate::kernel::ids::is_slug(k.name), "{}", k.name);
        }
        for t in HOST_TYPES {
            assert!(crate::kernel::manifest::is_valid_event_type(t), "{t}");
            assert!(is_known_type(t), "{t}");
            assert!(
                KINDS.iter().all(|k| !k.reports(t)),
                "a device may not post {t}"
            );
        }
        assert!(kind("toaster").is_none());
        assert!(!is_known_type("door.opened"));
    }
}
