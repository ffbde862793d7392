//! A package's index (every release with its digests, publisher key and
//! yanked flag) and resolution of a requirement like `smart-care@^1.2`
//! against it.

use semver::{Op, Version, VersionReq};
use serde::{Deserialize, Serialize};

use crate::log::{LogEntry, LogEvent};
use crate::{RegistryError, is_valid_name};

/// One release in a package's index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The version.
    pub version: Version,
    /// Its host-API requirement.
    pub host_api: String,
    /// sha256 of the component, hex.
    pub component_sha256: String,
    /// sha256 of the manifest, hex.
    pub manifest_sha256: String,
    /// The component's size in bytes.
    pub component_size: u64,
    /// The id of the key that signed it.
    pub key_id: String,
    /// Whether it was yanked.
    pub yanked: bool,
    /// Why, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yank_reason: Option<String>,
    /// The log entry that published it.
    pub log_index: u64,
}

/// Every release of one package, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// The package.
    pub name: String,
    /// Its releases, in log order.
    pub releases: Vec<IndexEntry>,
}

impl Index {
    /// The index of `name` as the log records it.
    pub fn from_log<'a>(name: &str, log: impl IntoIterator<Item = &'a LogEntry>) -> Self {
        let mut releases: Vec<IndexEntry> = Vec::new();
        // Where each version sits, so a yank finds its release at once.
        let mut at: std::collections::HashMap<Version, usize> = std::collections::HashMap::new();
        for entry in log {
            match &entry.event {
                LogEvent::Publish(r) if r.name == name => {
                    at.insert(r.version.clone(), releases.len());
                    releases.push(IndexEntry {
                        version: r.version.clone(),
                        host_api: r.host_api.clone(),
                        component_sha256: r.component_sha256.clone(),
                        manifest_sha256: r.manifest_sha256.clone(),
                        component_size: r.component_size,
                        key_id: r.key_id.clone(),
                        yanked: false,
                        yank_reason: None,
                        log_index: entry.index,
                    });
                }
                LogEvent::Yank(y) if y.name == name => {
                    if let Some(r) = at.get(&y.version).and_then(|i| releases.get_mut(*i)) {
                        r.yanked = true;
                        r.yank_reason = Some(y.reason.clone());
                    }
                }
                _ => {}
            }
        }
        Index {
            name: name.to_owned(),
            releases,
        }
    }

    /// The release of exactly `version`.
    pub fn get(&self, version: &Version) -> Option<&IndexEntry> {
        self.releases.iter().find(|r| r.version == *version)
    }
}

/// What to install: a package name and a version requirement,
/// written `name@requirement` (`smart-care@^1.2`, `smart-care@=1.2.3`) or
/// just `name` for the newest release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageRequest {
    /// The package.
    pub name: String,
    /// The versions that will do.
    pub requirement: VersionReq,
}

impl PackageRequest {
    /// Parse `name@requirement` or `name`.
    pub fn parse(text: &str) -> Result<Self, RegistryError> {
        let (name, requirement) = text.split_once('@').unwrap_or((text, "*"));
        if !is_valid_name(name) {
            return Err(RegistryError::Invalid(format!(
                "`{text}` does not name a package: write name@requirement, like smart-care@^1.2 (names are 1 to 63 characters of a-z, 0-9 and '-')"
            )));
        }
        let requirement = VersionReq::parse(requirement).map_err(|e| {
            RegistryError::Invalid(format!(
                "`{requirement}` is not a version requirement ({e}): use ^1.2, ~1.2.3, >=1.0, <2 or =1.2.3"
            ))
        })?;
        Ok(PackageRequest {
            name: name.to_owned(),
            requirement,
        })
    }

    /// The version the requirement pins exactly (`=1.2.3`), if it does: only
    /// then may a yanked release be installed.
    pub fn exact(&self) -> Option<Version> {
        match self.requirement.comparators.as_slice() {
            [c] if c.op == Op::Exact => Some(Version {
                major: c.major,
                minor: c.minor?,
                patch: c.patch?,
                pre: c.pre.clone(),
                build: semver::BuildMetadata::EMPTY,
            }),
            _ => None,
        }
    }
}

impl std::fmt::Display for PackageRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.requirement)
    }
}

/// The release to install for `request` on a host implementing `host_api`:
/// the highest version that matches, is not yanked (unless pinned exactly)
/// and whose host-API requirement the host satisfies. When there is none,
/// the error says why (nothing matches, only yanked ones, or only ones for
/// another host API).
pub fn resolve<'a>(
    index: &'a Index,
    request: &PackageRequest,
    host_api: &Version,
) -> Result<&'a IndexEntry, RegistryError> {
    let exact = request.exact();
    let mut candidates: Vec<&IndexEntry> = Vec::new();
    let mut yanked: Vec<&Version> = Vec::new();
    for release in &index.releases {
        if !request.requirement.matches(&release.version) {
            continue;
        }
        if release.yanked && exact.as_ref() != Some(&release.version) {
            yanked.push(&release.version);
            continue;
        }
        candidates.push(release);
    }
    // Newest first, then the first one this host can run: only the
    // host-API requirements of releases newer than it are parsed.
    candidates.sort_unstable_by(|a, b| b.version.cmp(&a.version));
    if let Some(best) = candidates
        .iter()
        .find(|r| VersionReq::parse(&r.host_api).is_ok_and(|req| req.matches(host_api)))
    {
        return Ok(best);
    }
    if let Some(best) = candidates.first() {
        return Err(RegistryError::IncompatibleHostApi {
            name: index.name.clone(),
            version: best.version.to_string(),
            required: best.host_api.clone(),
            host: host_api.to_string(),
        });
    }
    if !yanked.is_empty() {
        yanked.sort();
        return Err(RegistryError::Yanked {
            name: index.name.clone(),
            requirement: request.requirement.to_string(),
            yanked: join(yanked.iter().rev()),
        });
    }
    let mut published: Vec<&Version> = index.releases.iter().map(|r| &r.version).collect();
    published.sort();
    Err(RegistryError::NoMatch {
        name: index.name.clone(),
        requirement: request.requirement.to_string(),
        published: if published.is_empty() {
            "none".into()
        } else {
            join(published.iter().rev().take(20))
        },
    })
}

fn join<'a>(versions: impl Iterator<Item = &'a &'a Version>) -> String {
    versions
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: &str, host_api: &str, yanked: bool) -> IndexEntry {
        IndexEntry {
            version: Version::parse(version).unwrap_or_else(|e| panic!("{e}")),
            host_api: host_api.into(),
            component_sha256: String::new(),
            manifest_sha256: String::new(),
            component_size: 0,
            key_id: String::new(),
            yanked,
            yank_reason: None,
            log_index: 0,
        }
    }

    fn index() -> Index {
        Index {
            name: "care".into(),
            releases: vec![
                entry("1.2.0", "^0.1", false),
                entry("1.2.4", "^0.1", false),
                entry("1.2.5", "^0.1", true),
                entry("1.3.0", "^0.2", false),
                entry("1.1.9", "^0.1", false),
                entry("2.0.0", "^0.1", false),
            ],
        }
    }

    fn pick(req: &str) -> Result<String, RegistryError> {
        let request = PackageRequest::parse(req)?;
        resolve(&index(), &request, &Version::new(0, 1, 0)).map(|e| e.version.to_string())
    }

    #[test]
    fn the_highest_installable_match_wins() {
        assert_eq!(pick("care@^1.2").ok().as_deref(), Some("1.2.4"));
        assert_eq!(pick("care@^1").ok().as_deref(), Some("1.2.4"));
        assert_eq!(pick("care").ok().as_deref(), Some("2.0.0"));
        assert_eq!(pick("care@~1.1").ok().as_deref(), Some("1.1.9"));
    }

    #[test]
    fn a_yanked_release_needs_an_exact_pin() {
        assert_eq!(pick("care@=1.2.5").ok().as_deref(), Some("1.2.5"));
        assert!(matches!(
            pick("care@~1.2.5"),
            Err(RegistryError::Yanked { .. })
        ));
        assert!(matches!(
            pick("care@>=1.2.5, <1.3"),
            Err(RegistryError::Yanked { .. })
        ));
    }

    #[test]
    fn a_release_for_another_host_api_is_never_picked() {
        assert!(matches!(
            pick("care@^1.3"),
            Err(RegistryError::IncompatibleHostApi { version, .. }) if version == "1.3.0"
        ));
        assert!(matches!(
            pick("care@=1.3.0"),
            Err(RegistryError::IncompatibleHostApi { .. })
        ));
    }

    #[test]
    fn no_match_lists_what_there_is() {
        let err = pick("care@^3")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("2.0.0, 1.3.0"), "{err}");
        assert!(matches!(pick("Care@^1"), Err(RegistryError::Invalid(_))));
        assert!(matches!(pick("care@one"), Err(RegistryError::Invalid(_))));
    }

    #[test]
    fn only_a_full_equals_pin_is_exact() {
        let exact = |r: &str| PackageRequest::parse(r).ok().and_then(|p| p.exact());
        assert_eq!(exact("a@=1.2.3"), Some(Version::new(1, 2, 3)));
        assert_eq!(exact("a@=1.2"), None);
        assert_eq!(exact("a@1.2.3"), None, "a bare version means ^1.2.3");
        assert_eq!(exact("a@^1.2.3"), None);
    }
}
