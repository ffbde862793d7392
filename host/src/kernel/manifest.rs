//! The app manifest (`hutong.toml`): who the app is, which host API it needs,
//! the permissions it asks for (each with the reason shown to the district
//! administrator) and the limits it wants.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

use crate::kernel::limits::{Limits, PlatformLimits};

/// The version of the `hutong:platform` WIT package this host implements.
pub const HOST_API_VERSION: Version = Version::new(0, 1, 0);

/// A capability an install may be granted. Deny by default: an app can use a
/// capability only if its manifest declares the permission and the district
/// granted it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[derive(strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "kebab-case")]
pub enum Permission {
    /// Private key-value storage (`hutong:platform/kv`).
    Kv,
    /// Read residents of the install's scope, personal fields masked
    /// (`hutong:platform/data`).
    ReadResidents,
    /// See residents' personal fields unmasked (with `read-residents`).
    ReadPersonalFields,
    /// Read households.
    ReadHouseholds,
    /// Read buildings.
    ReadBuildings,
    /// Read organisations and their members.
    ReadOrganisations,
    /// Open cases (work orders) reported by the app
    /// (`hutong:platform/cases`).
    OpenCases,
    /// Read the cases the app opened, and be told about their changes
    /// through `case-watcher`.
    ReadOwnCases,
    /// Comment on the cases the app opened.
    CommentCases,
    /// Send messages to in-app inboxes (`hutong:platform/notify`).
    NotifyInbox,
    /// Send text messages through the district's SMS gateway.
    NotifySms,
    /// Place voice calls (智能外呼) through the district's voice gateway.
    NotifyVoice,
    /// Post to the district's webhook.
    NotifyWebhook,
    /// Be handed the device events the manifest's `[events]` subscribes to
    /// (the `event-handler` export).
    ReceiveEvents,
    /// Be called on the schedules the manifest's `[[schedules]]` declares
    /// (the `tick-handler` export).
    Schedules,
}

impl Permission {
    /// Every permission this host knows, in a stable order.
    pub const ALL: &'static [Permission] = <Permission as strum::VariantArray>::VARIANTS;

    /// The name used in manifests, grants and denials.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The WIT interface (without package and version) whose use this
    /// permission governs: an import the app calls, or (see
    /// [`Permission::is_import`]) an export the host calls.
    pub fn interface(self) -> &'static str {
        match self {
            Permission::Kv => "kv",
            Permission::ReadResidents
            | Permission::ReadPersonalFields
            | Permission::ReadHouseholds
            | Permission::ReadBuildings
            | Permission::ReadOrganisations => "data",
            Permission::OpenCases | Permission::ReadOwnCases | Permission::CommentCases => "cases",
            Permission::NotifyInbox
            | Permission::NotifySms
            | Permission::NotifyVoice
            | Permission::NotifyWebhook => "notify",
            Permission::ReceiveEvents => "event-handler",
            Permission::Schedules => "tick-handler",
        }
    }

    /// Whether the permission governs an import the app calls (most do).
    /// The others govern an export, which the host calls only for installs
    /// granted the permission: a component whose manifest declares one must
    /// export that interface.
    pub fn is_import(self) -> bool {
        !matches!(self, Permission::ReceiveEvents | Permission::Schedules)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Permission {
    type Err = ManifestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .iter()
            .copied()
            .find(|p| p.name() == s)
            .ok_or_else(|| ManifestError::UnknownPermission(s.to_owned()))
    }
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    /// The TOML did not parse or has the wrong shape.
    #[error("manifest does not parse: {0}")]
    Parse(String),
    /// The app name is not a valid identifier.
    #[error(
        "manifest name `{0}` is invalid: use 1 to 63 characters of a-z, 0-9 and '-', starting with a letter"
    )]
    InvalidName(String),
    /// The version is not semver.
    #[error("manifest version `{0}` is not a semantic version (for example 1.2.0)")]
    InvalidVersion(String),
    /// The host-api requirement is not a semver requirement.
    #[error("manifest host-api `{0}` is not a semver requirement (for example ^0.1)")]
    InvalidHostApi(String),
    /// A permission the host does not know.
    #[error("manifest names unknown permission `{0}`; known permissions: {known}", known = known_permissions())]
    UnknownPermission(String),
    /// A permission declared without a reason.
    #[error("permission `{0}` needs a reason: the district administrator sees it before granting")]
    MissingReason(String),
    /// A public route pattern is malformed.
    #[error(
        "public route `{0}` is invalid: a route starts with '/', may end in '*' to match everything below it, and has at most 256 characters"
    )]
    InvalidPublicRoute(String),
    /// The `[events]` section is malformed or disagrees with the permissions.
    #[error("manifest [events]: {0}")]
    Events(String),
    /// A `[[schedules]]` entry is malformed.
    #[error("manifest schedule `{name}`: {why}")]
    InvalidSchedule {
        /// The schedule's name.
        name: String,
        /// What is wrong and what is allowed.
        why: String,
    },
    /// The `[config]` schema cannot be used.
    #[error("manifest [config] schema: {0}")]
    ConfigSchema(String),
    /// A limit outside the platform's maxima.
    #[error("limit {name} = {value} is out of range: allowed 1..={max}")]
    LimitOutOfRange {
        /// The limit's manifest key.
        name: &'static str,
        /// The value asked for.
        value: u64,
        /// The platform's maximum.
        max: u64,
    },
}

/// Whether `s` is an event type: 1 to 64 of a-z, 0-9, '.', '-' and '_',
/// starting with a letter or digit.
pub fn is_valid_event_type(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
        })
}

fn check_events(
    events: &EventSettings,
    permissions: &BTreeMap<Permission, String>,
) -> Result<(), ManifestError> {
    let declared = permissions.contains_key(&Permission::ReceiveEvents);
    if events.types.is_empty() && declared {
        return Err(ManifestError::Events(
            "the manifest declares `receive-events` but subscribes to no event types; list them under [events] types".into(),
        ));
    }
    if !events.types.is_empty() && !declared {
        return Err(ManifestError::Events(
            "[events] subscribes to event types, which needs the `receive-events` permission with a reason".into(),
        ));
    }
    if events.types.len() > MAX_EVENT_TYPES {
        return Err(ManifestError::Events(format!(
            "{} event types; at most {MAX_EVENT_TYPES}",
            events.types.len()
        )));
    }
    if let Some(t) = events.types.iter().find(|t| !is_valid_event_type(t)) {
        return Err(ManifestError::Events(format!(
            "event type `{t}` is invalid: use 1 to 64 characters of a-z, 0-9, '.', '-' and '_'"
        )));
    }
    // A subscription no device can ever satisfy is a mistake the app's
    // developer should hear about at install, not silence in production.
    if let Some(t) = events
        .types
        .iter()
        .find(|t| !crate::kernel::events::is_known_type(t))
    {
        return Err(ManifestError::Events(format!(
            "no kind of device reports event type `{t}`; the known types are: {}",
            crate::kernel::events::known_types()
        )));
    }
    Ok(())
}

fn check_schedules(
    schedules: &[Schedule],
    permissions: &BTreeMap<Permission, String>,
) -> Result<(), ManifestError> {
    let declared = permissions.contains_key(&Permission::Schedules);
    if schedules.is_empty() && declared {
        return Err(ManifestError::InvalidSchedule {
            name: String::new(),
            why: "the manifest declares `schedules` but no [[schedules]]".into(),
        });
    }
    if !schedules.is_empty() && !declared {
        return Err(ManifestError::InvalidSchedule {
            name: schedules[0].name.clone(),
            why: "[[schedules]] needs the `schedules` permission with a reason".into(),
        });
    }
    if schedules.len() > MAX_SCHEDULES {
        return Err(ManifestError::InvalidSchedule {
            name: String::new(),
            why: format!("{} schedules; at most {MAX_SCHEDULES}", schedules.len()),
        });
    }
    let mut names = std::collections::BTreeSet::new();
    for s in schedules {
        if !crate::kernel::ids::is_slug(&s.name) {
            return Err(ManifestError::InvalidSchedule {
                name: s.name.clone(),
                why: "the name must be 1 to 63 characters of a-z, 0-9 and '-', starting with a letter".into(),
            });
        }
        if !names.insert(&s.name) {
            return Err(ManifestError::InvalidSchedule {
                name: s.name.clone(),
                why: "two schedules have this name".into(),
            });
        }
        s.timing()?;
    }
    Ok(())
}

fn known_permissions() -> String {
    Permission::ALL
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Limits an app asks for; each must lie within the platform's maxima.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WantedLimits {
    /// Linear memory cap, in MiB.
    pub memory_mib: Option<u64>,
    /// Per-call deadline, in milliseconds.
    pub deadline_ms: Option<u64>,
    /// Largest response (body and headers), in bytes.
    pub response_bytes: Option<u64>,
    /// Most MiB (keys and values) kept in kv.
    pub kv_mib: Option<u64>,
    /// Most keys kept in kv.
    pub kv_keys: Option<u64>,
}

/// How the app's HTTP entry point is exposed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Routes an anonymous request may reach: exact paths, or prefixes
    /// ending in `*` (`/public/*`). Every other route needs a signed-in
    /// caller of the install's district.
    #[serde(default)]
    pub public: Vec<String>,
}

impl HttpSettings {
    /// Whether `path` (below the app's mount) is public.
    pub fn is_public(&self, path: &str) -> bool {
        self.public
            .iter()
            .any(|route| match route.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => path == route,
            })
    }
}

/// The device events an app subscribes to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    /// Event types (`door.open`, `smoke.alarm`, `heartbeat`, ...) the host
    /// hands to the app's `event-handler`, with the `receive-events`
    /// permission.
    #[serde(default)]
    pub types: Vec<String>,
}

/// The manifest's `[config]`: a JSON Schema the install configuration an
/// administrator gives must match, written in the manifest as TOML
/// (`schema = { type = "object", required = ["greeting"], ... }`) or, in
/// a JSON manifest, as JSON. Install and upgrade refuse a configuration
/// that does not match, naming the field, so a bad one never reaches a
/// resident. Without a schema any JSON object is accepted.
///
/// References resolve only within the schema itself: the host fetches no
/// remote or file `$ref`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSettings {
    /// The JSON Schema (draft 2020-12 unless its `$schema` names another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
}

/// Largest configuration schema, as JSON.
const MAX_CONFIG_SCHEMA_BYTES: usize = 64 * 1024;

/// Most mismatches a refused configuration lists.
const MAX_CONFIG_ERRORS: usize = 5;

impl ConfigSettings {
    fn is_empty(&self) -> bool {
        self.schema.is_none()
    }

    /// The schema is a JSON Schema the host can apply.
    fn check(&self) -> Result<(), ManifestError> {
        let Some(schema) = &self.schema else {
            return Ok(());
        };
        let size = schema.to_string().len();
        if size > MAX_CONFIG_SCHEMA_BYTES {
            return Err(ManifestError::ConfigSchema(format!(
                "it is {size} bytes as JSON; the most is {MAX_CONFIG_SCHEMA_BYTES}"
            )));
        }
        if let Err(e) = jsonschema::meta::validate(schema) {
            return Err(ManifestError::ConfigSchema(format!(
                "it is not a valid JSON Schema: {e}"
            )));
        }
        jsonschema::validator_for(schema)
            .map(|_| ())
            .map_err(|e| ManifestError::ConfigSchema(e.to_string()))
    }

    /// Check an install configuration against the schema: `Err` lists
    /// where it does not match (a JSON pointer to the field) and why.
    pub fn check_config(&self, config: &serde_json::Value) -> Result<(), String> {
        let Some(schema) = &self.schema else {
            return Ok(());
        };
        let validator = jsonschema::validator_for(schema)
            .map_err(|e| format!("the app's configuration schema cannot be applied: {e}"))?;
        let errors: Vec<String> = validator
            .iter_errors(config)
            .take(MAX_CONFIG_ERRORS)
            .map(|e| {
                let at = e.instance_path().to_string();
                let at = if at.is_empty() {
                    "the top level".to_owned()
                } else {
                    format!("`{at}`")
                };
                format!("at {at}: {e}")
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// One schedule: the host calls the app's `tick-handler` with its name, once
/// per period across every host process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Schedule {
    /// The schedule's name, unique in the manifest (a slug).
    pub name: String,
    /// A fixed interval: a number and a unit, `30s`, `15m`, `2h` or `1d`
    /// (at least 10 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// A five-field cron expression (`0 8 * * *`: minute, hour, day of
    /// month, month, day of week).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// The UTC offset the cron expression is read in (`+08:00`); UTC when
    /// left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset: Option<String>,
}

/// The shortest interval a schedule may have, in milliseconds.
pub const MIN_SCHEDULE_INTERVAL_MS: i64 = 10_000;

/// Most schedules a manifest may declare.
const MAX_SCHEDULES: usize = 16;

/// Most event types a manifest may subscribe to.
const MAX_EVENT_TYPES: usize = 64;

/// A schedule's timing, parsed.
#[derive(Clone, Debug)]
pub enum Timing {
    /// Every so many milliseconds, counted from the Unix epoch (so every
    /// process agrees on the periods).
    Every(i64),
    /// A cron expression read at a fixed UTC offset.
    Cron(Box<croner::Cron>, chrono::FixedOffset),
}

impl Timing {
    /// The start of the latest period at or before `now_ms` (when the tick
    /// for that period was due), if any.
    pub fn latest_due(&self, now_ms: i64) -> Option<i64> {
        match self {
            Timing::Every(ms) => Some(now_ms - now_ms.rem_euclid(*ms)),
            Timing::Cron(cron, offset) => {
                let now = chrono::DateTime::from_timestamp_millis(now_ms)?.with_timezone(offset);
                cron.find_previous_occurrence(&now, true)
                    .ok()
                    .map(|t| t.timestamp_millis())
            }
        }
    }

    /// When the next tick after `now_ms` is due.
    pub fn next_due(&self, now_ms: i64) -> Option<i64> {
        match self {
            Timing::Every(ms) => Some(now_ms - now_ms.rem_euclid(*ms) + ms),
            Timing::Cron(cron, offset) => {
                let now = chrono::DateTime::from_timestamp_millis(now_ms)?.with_timezone(offset);
                cron.find_next_occurrence(&now, false)
                    .ok()
                    .map(|t| t.timestamp_millis())
            }
        }
    }
}

impl Schedule {
    /// The schedule's timing, or why it is invalid.
    pub fn timing(&self) -> Result<Timing, ManifestError> {
        let bad = |why: String| ManifestError::InvalidSchedule {
            name: self.name.clone(),
            why,
        };
        match (&self.every, &self.cron) {
            (Some(every), None) => {
                if self.utc_offset.is_some() {
                    return Err(bad("utc-offset applies to cron only".into()));
                }
                parse_interval(every).map(Timing::Every).map_err(bad)
            }
            (None, Some(cron)) => {
                let parsed = cron
                    .parse::<croner::Cron>()
                    .map_err(|e| bad(format!("cron `{cron}` does not parse: {e}")))?;
                let offset = match &self.utc_offset {
                    None => chrono::FixedOffset::east_opt(0),
                    Some(o) => parse_offset(o),
                }
                .ok_or_else(|| {
                    bad(format!(
                        "utc-offset `{}` is invalid: write it like +08:00",
                        self.utc_offset.as_deref().unwrap_or_default()
                    ))
                })?;
                Ok(Timing::Cron(Box::new(parsed), offset))
            }
            _ => Err(bad(
                "give exactly one of `every` (like \"15m\") or `cron` (like \"0 8 * * *\")".into(),
            )),
        }
    }
}

/// `30s`, `15m`, `2h`, `1d` in milliseconds.
fn parse_interval(text: &str) -> Result<i64, String> {
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let scale = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => 0,
    };
    let n: i64 = number.parse().unwrap_or(0);
    match n.checked_mul(scale) {
        Some(ms) if (MIN_SCHEDULE_INTERVAL_MS..=366 * 86_400_000).contains(&ms) => Ok(ms),
        _ => Err(format!(
            "every = `{text}` is invalid: write a number and a unit (s, m, h or d), from 10s up to 366d"
        )),
    }
}

/// `+08:00` or `-05:30`.
fn parse_offset(text: &str) -> Option<chrono::FixedOffset> {
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = text.get(1..)?.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 14 || m > 59 || text.len() != 6 {
        return None;
    }
    chrono::FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// A parsed and validated manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Manifest {
    /// The app's name, unique within a district.
    pub name: String,
    /// The app's version.
    pub version: Version,
    /// What the app is for, shown to administrators.
    #[serde(default)]
    pub description: String,
    /// The `hutong:platform` versions the app works with.
    pub host_api: VersionReq,
    /// The permissions the app asks for, each with its reason.
    #[serde(default)]
    pub permissions: BTreeMap<Permission, String>,
    /// The limits the app asks for.
    #[serde(default)]
    pub limits: WantedLimits,
    /// How its HTTP entry point is exposed.
    #[serde(default)]
    pub http: HttpSettings,
    /// The device events it subscribes to.
    #[serde(default)]
    pub events: EventSettings,
    /// Its schedules.
    #[serde(default)]
    pub schedules: Vec<Schedule>,
    /// What its install configuration must look like.
    #[serde(default, skip_serializing_if = "ConfigSettings::is_empty")]
    pub config: ConfigSettings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawManifest {
    name: String,
    version: String,
    #[serde(default)]
    description: String,
    host_api: String,
    #[serde(default)]
    permissions: BTreeMap<String, String>,
    #[serde(default)]
    limits: WantedLimits,
    #[serde(default)]
    http: HttpSettings,
    #[serde(default)]
    events: EventSettings,
    #[serde(default)]
    schedules: Vec<Schedule>,
    #[serde(default)]
    config: ConfigSettings,
}

/// Most public route patterns a manifest may list.
const MAX_PUBLIC_ROUTES: usize = 64;

impl Manifest {
    /// Parse and validate a `hutong.toml`.
    pub fn from_toml(text: &str) -> Result<Self, ManifestError> {
        let raw: RawManifest =
            toml::from_str(text).map_err(|e| ManifestError::Parse(e.message().to_owned()))?;
        Self::from_raw(raw)
    }

    /// Parse and validate a manifest given as JSON (the API's form).
    pub fn from_json(value: serde_json::Value) -> Result<Self, ManifestError> {
        let raw: RawManifest =
            serde_json::from_value(value).map_err(|e| ManifestError::Parse(e.to_string()))?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: RawManifest) -> Result<Self, ManifestError> {
        if !crate::kernel::ids::is_slug(&raw.name) {
            return Err(ManifestError::InvalidName(raw.name));
        }
        let version = Version::parse(&raw.version)
            .map_err(|_| ManifestError::InvalidVersion(raw.version.clone()))?;
        let host_api = VersionReq::parse(&raw.host_api)
            .map_err(|_| ManifestError::InvalidHostApi(raw.host_api.clone()))?;
        let mut permissions = BTreeMap::new();
        for (name, reason) in raw.permissions {
            let permission: Permission = name.parse()?;
            if reason.trim().is_empty() {
                return Err(ManifestError::MissingReason(name));
            }
            permissions.insert(permission, reason);
        }
        if raw.http.public.len() > MAX_PUBLIC_ROUTES {
            return Err(ManifestError::InvalidPublicRoute(format!(
                "{} routes (the most is {MAX_PUBLIC_ROUTES})",
                raw.http.public.len()
            )));
        }
        for route in &raw.http.public {
            let body = route.strip_suffix('*').unwrap_or(route);
            if !route.starts_with('/') || body.contains('*') || route.len() > 256 {
                return Err(ManifestError::InvalidPublicRoute(route.clone()));
            }
        }
        check_events(&raw.events, &permissions)?;
        check_schedules(&raw.schedules, &permissions)?;
        raw.config.check()?;
        Ok(Manifest {
            name: raw.name,
            version,
            description: raw.description,
            host_api,
            permissions,
            limits: raw.limits,
            http: raw.http,
            events: raw.events,
            schedules: raw.schedules,
            config: raw.config,
        })
    }

    /// The manifest's schedules with their parsed timing (checked when the
    /// manifest was read, so a stored manifest always parses).
    pub fn timings(&self) -> Vec<(&Schedule, Timing)> {
        self.schedules
            .iter()
            .filter_map(|s| s.timing().ok().map(|t| (s, t)))
            .collect()
    }

    /// Whether this host's API version satisfies the manifest's requirement.
    pub fn host_api_compatible(&self) -> bool {
        self.host_api.matches(&HOST_API_VERSION)
    }

    /// The effective limits for an install: the app's wishes, or the
    /// platform defaults, each checked against the platform maxima.
    pub fn effective_limits(&self, platform: &PlatformLimits) -> Result<Limits, ManifestError> {
        let pick = |name: &'static str, wanted: Option<u64>, default: u64, max: u64| match wanted {
            None => Ok(default),
            Some(v) if v >= 1 && v <= max => Ok(v),
            Some(value) => Err(ManifestError::LimitOutOfRange { name, value, max }),
        };
        Ok(Limits {
            memory_bytes: pick(
                "memory-mib",
                self.limits.memory_mib,
                platform.default.memory_bytes >> 20,
                platform.max.memory_bytes >> 20,
            )? << 20,
            deadline_ms: pick(
                "deadline-ms",
                self.limits.deadline_ms,
                platform.default.deadline_ms,
                platform.max.deadline_ms,
            )?,
            response_bytes: pick(
                "response-bytes",
                self.limits.response_bytes,
                platform.default.response_bytes,
                platform.max.response_bytes,
            )?,
            kv_bytes: pick(
                "kv-mib",
                self.limits.kv_mib,
                platform.default.kv_bytes >> 20,
                platform.max.kv_bytes >> 20,
            )? << 20,
            kv_keys: pick(
                "kv-keys",
                self.limits.kv_keys,
                platform.default.kv_keys,
                platform.max.kv_keys,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WITH_SCHEMA: &str = r#"
name = "greeter"
version = "0.1.0"
host-api = "^0.1"

[config.schema]
type = "object"
required = ["greeting"]
additionalProperties = false

[config.schema.properties.greeting]
type = "string"
maxLength = 20

[config.schema.properties.repeat]
type = "integer"
minimum = 1
"#;

    #[test]
    fn a_config_schema_in_toml_checks_the_configuration_naming_the_field() {
        let manifest = Manifest::from_toml(WITH_SCHEMA).expect("parses");
        let config = &manifest.config;
        assert_eq!(
            config.check_config(&serde_json::json!({ "greeting": "你好", "repeat": 2 })),
            Ok(())
        );
        let missing = config
            .check_config(&serde_json::json!({}))
            .expect_err("missing");
        assert!(missing.contains("the top level"), "{missing}");
        assert!(
            missing.contains("\"greeting\" is a required property"),
            "{missing}"
        );
        let wrong = config
            .check_config(&serde_json::json!({ "greeting": 5, "repeat": 0, "colour": "red" }))
            .expect_err("wrong");
        assert!(wrong.contains("`/greeting`"), "{wrong}");
        assert!(wrong.contains("`/repeat`"), "{wrong}");
        assert!(wrong.contains("colour"), "{wrong}");
        // Without a schema, any object goes.
        let plain = Manifest::from_toml(&WITH_SCHEMA[..WITH_SCHEMA.find("[config").unwrap_or(0)])
            .expect("parses");
        assert_eq!(
            plain.config.check_config(&serde_json::json!({ "x": 1 })),
            Ok(())
        );
        // The schema survives the trip through the database's JSON.
        let stored: Manifest =
            serde_json::from_value(serde_json::to_value(&manifest).expect("json")).expect("back");
        assert_eq!(stored, manifest);
    }

    #[test]
    fn a_schema_that_is_not_a_json_schema_is_refused() {
        let bad = WITH_SCHEMA.replace("type = \"integer\"", "type = \"whole number\"");
        let err = Manifest::from_toml(&bad).expect_err("refused").to_string();
        assert!(
            err.starts_with("manifest [config] schema: it is not a valid JSON Schema"),
            "{err}"
        );
        let remote = format!(
            "{WITH_SCHEMA}\n[config.schema.properties.other]\n\"$ref\" = \"https://example.com/s.json\"\n"
        );
        let err = Manifest::from_toml(&remote)
            .expect_err("refused")
            .to_string();
        assert!(err.starts_with("manifest [config] schema:"), "{err}");
    }

    #[test]
    fn permission_names_are_the_manifest_words_in_serde_too() {
        let names: Vec<&str> = Permission::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(
            names,
            [
                "kv",
                "read-residents",
                "read-personal-fields",
                "read-households",
                "read-buildings",
                "read-organisations",
                "open-cases",
                "read-own-cases",
                "comment-cases",
                "notify-inbox",
                "notify-sms",
                "notify-voice",
                "notify-webhook",
                "receive-events",
                "schedules",
            ]
        );
        for p in Permission::ALL {
            assert_eq!(serde_json::to_value(p).ok(), Some(p.name().into()));
            assert_eq!(p.name().parse::<Permission>().ok(), Some(*p));
        }
    }

    const GOOD: &str = r#"
        name = "hello"
        version = "1.2.3"
        description = "greets"
        host-api = "^0.1"
        [permissions]
        kv = "remembers visits"
        [limits]
        memory-mib = 16
    "#;

    #[test]
    fn parses_a_complete_manifest() {
        let m = Manifest::from_toml(GOOD).unwrap();
        assert_eq!(m.name, "hello");
        assert_eq!(m.version, Version::new(1, 2, 3));
        assert_eq!(m.permissions[&Permission::Kv], "remembers visits");
        assert!(m.host_api_compatible());
        let limits = m.effective_limits(&PlatformLimits::default()).unwrap();
        assert_eq!(limits.memory_bytes, 16 << 20);
        assert_eq!(
            limits.deadline_ms,
            PlatformLimits::default().default.deadline_ms
        );
    }

    #[test]
    fn rejects_unknown_permission_naming_the_known_ones() {
        let err = Manifest::from_toml(&GOOD.replace("kv =", "camera =")).unwrap_err();
        assert_eq!(err, ManifestError::UnknownPermission("camera".into()));
        assert!(
            err.to_string()
                .contains("known permissions: kv, read-residents")
        );
    }

    #[test]
    fn case_permissions_belong_to_the_cases_interface() {
        for name in ["open-cases", "read-own-cases", "comment-cases"] {
            let permission: Permission = name.parse().unwrap();
            assert_eq!(permission.name(), name);
            assert_eq!(permission.interface(), "cases");
        }
    }

    #[test]
    fn rejects_permission_without_reason() {
        let err = Manifest::from_toml(&GOOD.replace("\"remembers visits\"", "\"  \"")).unwrap_err();
        assert_eq!(err, ManifestError::MissingReason("kv".into()));
    }

    #[test]
    fn rejects_bad_names_versions_and_requirements() {
        assert!(matches!(
            Manifest::from_toml(&GOOD.replace("\"hello\"", "\"Hello World\"")),
            Err(ManifestError::InvalidName(_))
        ));
        assert!(matches!(
            Manifest::from_toml(&GOOD.replace("\"1.2.3\"", "\"one\"")),
            Err(ManifestError::InvalidVersion(_))
        ));
        assert!(matches!(
            Manifest::from_toml(&GOOD.replace("\"^0.1\"", "\"latest\"")),
            Err(ManifestError::InvalidHostApi(_))
        ));
        assert!(matches!(
            Manifest::from_toml("name = "),
            Err(ManifestError::Parse(_))
        ));
    }

    #[test]
    fn incompatible_host_api_is_detected() {
        let m = Manifest::from_toml(&GOOD.replace("\"^0.1\"", "\"^2\"")).unwrap();
        assert!(!m.host_api_compatible());
    }

    #[test]
    fn limits_beyond_platform_maxima_are_refused() {
        let m =
            Manifest::from_toml(&GOOD.replace("memory-mib = 16", "memory-mib = 100000")).unwrap();
        let err = m.effective_limits(&PlatformLimits::default()).unwrap_err();
        assert!(matches!(
            err,
            ManifestError::LimitOutOfRange {
                name: "memory-mib",
                ..
            }
        ));
    }

    #[test]
    fn public_routes_match_exactly_or_by_prefix() {
        let m =
            Manifest::from_toml(&format!("{GOOD}\n[http]\npublic = [\"/\", \"/open/*\"]")).unwrap();
        assert!(m.http.is_public("/"));
        assert!(m.http.is_public("/open/a/b"));
        assert!(!m.http.is_public("/openly"));
        assert!(!m.http.is_public("/private"));
        for bad in ["open", "/a*/b", "/**"] {
            let text = format!("{GOOD}\n[http]\npublic = [\"{bad}\"]");
            assert!(
                matches!(
                    Manifest::from_toml(&text),
                    Err(ManifestError::InvalidPublicRoute(_))
                ),
                "{bad}"
            );
        }
    }

    fn with(extra: &str) -> Result<Manifest, ManifestError> {
        Manifest::from_toml(&format!(
            "name = \"care\"\nversion = \"1.0.0\"\nhost-api = \"^0.1\"\n{extra}"
        ))
    }

    #[test]
    fn schedules_need_their_permission_and_one_valid_timing() {
        let ok = with(
            "[permissions]\nschedules = \"rounds\"\n[[schedules]]\nname = \"rounds\"\nevery = \"15m\"\n[[schedules]]\nname = \"morning\"\ncron = \"0 8 * * *\"\nutc-offset = \"+08:00\"",
        )
        .expect("valid");
        assert_eq!(ok.timings().len(), 2);
        for (extra, needle) in [
            (
                "[[schedules]]\nname = \"a\"\nevery = \"1m\"",
                "needs the `schedules` permission",
            ),
            ("[permissions]\nschedules = \"x\"", "no [[schedules]]"),
            (
                "[permissions]\nschedules = \"x\"\n[[schedules]]\nname = \"a\"\nevery = \"5s\"",
                "from 10s up to 366d",
            ),
            (
                "[permissions]\nschedules = \"x\"\n[[schedules]]\nname = \"a\"\nevery = \"1m\"\ncron = \"* * * * *\"",
                "exactly one of",
            ),
            (
                "[permissions]\nschedules = \"x\"\n[[schedules]]\nname = \"a\"\ncron = \"61 * * * *\"",
                "does not parse",
            ),
            (
                "[permissions]\nschedules = \"x\"\n[[schedules]]\nname = \"a\"\ncron = \"0 8 * * *\"\nutc-offset = \"8\"",
                "like +08:00",
            ),
            (
                "[permissions]\nschedules = \"x\"\n[[schedules]]\nname = \"a\"\nevery = \"1m\"\n[[schedules]]\nname = \"a\"\nevery = \"2m\"",
                "two schedules",
            ),
        ] {
            let err = with(extra).expect_err(extra).to_string();
            assert!(err.contains(needle), "{extra}: {err}");
        }
    }

    #[test]
    fn periods_are_aligned_so_every_process_agrees() {
        let every = Timing::Every(15 * 60_000);
        let due = every.latest_due(1_000_000).unwrap_or_default();
        assert_eq!(due, 900_000);
        assert_eq!(every.next_due(1_000_000), Some(1_800_000));
        // 08:00 at +08:00 is 00:00 UTC.
        let m = with("[permissions]\nschedules = \"x\"\n[[schedules]]\nname = \"m\"\ncron = \"0 8 * * *\"\nutc-offset = \"+08:00\"").expect("valid");
        let (_, timing) = &m.timings()[0];
        let day = 86_400_000;
        assert_eq!(
            timing.latest_due(20_000 * day + 3_600_000),
            Some(20_000 * day)
        );
        assert_eq!(timing.next_due(20_000 * day), Some(20_001 * day));
    }

    #[test]
    fn events_need_receive_events_and_valid_types() {
        assert!(with("[permissions]\nreceive-events = \"alerts\"\n[events]\ntypes = [\"door.open\", \"heartbeat\"]").is_ok());
        for (extra, needle) in [
            (
                "[events]\ntypes = [\"door.open\"]",
                "needs the `receive-events` permission",
            ),
            (
                "[permissions]\nreceive-events = \"x\"",
                "subscribes to no event types",
            ),
            (
                "[permissions]\nreceive-events = \"x\"\n[events]\ntypes = [\"Door Open\"]",
                "is invalid",
            ),
            (
                "[permissions]\nreceive-events = \"x\"\n[events]\ntypes = [\"door.opne\"]",
                "no kind of device reports event type `door.opne`; the known types are: battery.low, button.press",
            ),
        ] {
            let err = with(extra).expect_err(extra).to_string();
            assert!(err.contains(needle), "{extra}: {err}");
        }
    }
}
