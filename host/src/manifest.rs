//! The app manifest (`hutong.toml`): who the app is, which host API it needs,
//! the permissions it asks for (each with the reason shown to the district
//! administrator) and the limits it wants.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

use crate::limits::{Limits, PlatformLimits};

/// The version of the `hutong:platform` WIT package this host implements.
pub const HOST_API_VERSION: Version = Version::new(0, 1, 0);

/// A capability an install may be granted. Deny by default: an app can use a
/// capability only if its manifest declares the permission and the district
/// granted it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Permission {
    /// Private key-value storage (`hutong:platform/kv`).
    #[serde(rename = "kv")]
    Kv,
    /// Read residents of the install's scope, personal fields masked
    /// (`hutong:platform/data`).
    #[serde(rename = "read-residents")]
    ReadResidents,
    /// See residents' personal fields unmasked (with `read-residents`).
    #[serde(rename = "read-personal-fields")]
    ReadPersonalFields,
    /// Read households.
    #[serde(rename = "read-households")]
    ReadHouseholds,
    /// Read buildings.
    #[serde(rename = "read-buildings")]
    ReadBuildings,
    /// Read organisations and their members.
    #[serde(rename = "read-organisations")]
    ReadOrganisations,
    /// Open cases (work orders) reported by the app
    /// (`hutong:platform/cases`).
    #[serde(rename = "open-cases")]
    OpenCases,
    /// Read the cases the app opened, and be told about their changes
    /// through `case-watcher`.
    #[serde(rename = "read-own-cases")]
    ReadOwnCases,
    /// Comment on the cases the app opened.
    #[serde(rename = "comment-cases")]
    CommentCases,
}

impl Permission {
    /// Every permission this host knows, in a stable order.
    pub const ALL: &'static [Permission] = &[
        Permission::Kv,
        Permission::ReadResidents,
        Permission::ReadPersonalFields,
        Permission::ReadHouseholds,
        Permission::ReadBuildings,
        Permission::ReadOrganisations,
        Permission::OpenCases,
        Permission::ReadOwnCases,
        Permission::CommentCases,
    ];

    /// The name used in manifests, grants and denials.
    pub fn name(self) -> &'static str {
        match self {
            Permission::Kv => "kv",
            Permission::ReadResidents => "read-residents",
            Permission::ReadPersonalFields => "read-personal-fields",
            Permission::ReadHouseholds => "read-households",
            Permission::ReadBuildings => "read-buildings",
            Permission::ReadOrganisations => "read-organisations",
            Permission::OpenCases => "open-cases",
            Permission::ReadOwnCases => "read-own-cases",
            Permission::CommentCases => "comment-cases",
        }
    }

    /// The WIT interface (without package and version) whose use this
    /// permission governs.
    pub fn interface(self) -> &'static str {
        match self {
            Permission::Kv => "kv",
            Permission::ReadResidents
            | Permission::ReadPersonalFields
            | Permission::ReadHouseholds
            | Permission::ReadBuildings
            | Permission::ReadOrganisations => "data",
            Permission::OpenCases | Permission::ReadOwnCases | Permission::CommentCases => "cases",
        }
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
    /// Largest response body, in bytes.
    pub response_bytes: Option<u64>,
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
        if !is_valid_slug(&raw.name) {
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
        Ok(Manifest {
            name: raw.name,
            version,
            description: raw.description,
            host_api,
            permissions,
            limits: raw.limits,
            http: raw.http,
        })
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
        })
    }
}

/// District ids and app names: 1 to 63 characters of `a-z`, `0-9` and `-`,
/// starting with a letter, so they are safe in URLs, logs and metric labels.
pub fn is_valid_slug(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.len() <= 63
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn slugs() {
        assert!(is_valid_slug("east-1"));
        assert!(!is_valid_slug("1east"));
        assert!(!is_valid_slug(""));
        assert!(!is_valid_slug("East"));
        assert!(!is_valid_slug(&"a".repeat(64)));
    }
}
