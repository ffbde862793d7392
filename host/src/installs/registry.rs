//! Installs from a registry: trusted publisher keys per district, install
//! of a resolved and verified release, upgrade gated on new permissions,
//! and rollback to the version before.
//!
//! Every package goes through [`hutong_registry::fetch`], which checks the
//! registry's log against the head this host remembers, the proof that the
//! release is logged, the publisher's key and signature, and the digests;
//! only then does the usual install validation run. A refusal at any step
//! changes nothing but, once the log checked out, the remembered head (it
//! only ever moves forward).

use std::collections::BTreeSet;

use hutong_registry::{
    Fetch, Fetched, PackageRequest, PublicKey, RegistryError, TrustedKey, fetch,
};
use serde::Serialize;

use crate::error::PlatformError;
use crate::installs::ops::{InstallRequest, check_config, check_grants_declared};
use crate::installs::registry_store::{DistrictRegistry, TrustedKeyRow};
use crate::installs::store::{Install, InstallSource, PreviousVersion, Replacement};
use crate::kernel::manifest::{HOST_API_VERSION, Manifest, Permission};
use crate::kernel::store::StoreError;
use crate::platform::Platform;

/// How often a fetch is checked again when another host process moved the
/// remembered log head at the same moment.
const HEAD_RACE_RETRIES: usize = 3;

/// What to install from a registry.
#[derive(Clone, Debug)]
pub struct RegistryInstall {
    /// Target district.
    pub district: String,
    /// The registry: an `http://` URL or a directory.
    pub registry: String,
    /// `name@requirement`, like `smart-care@^1.2`.
    pub package: String,
    /// Permissions to grant; each must be declared by the manifest.
    pub grant: BTreeSet<Permission>,
    /// Grant every permission the manifest declares instead.
    pub grant_all: bool,
    /// Install configuration (a JSON object).
    pub config: serde_json::Value,
    /// Narrow the install to these communities; none for the whole district.
    pub communities: Option<Vec<String>>,
}

/// What to upgrade to.
#[derive(Clone, Debug)]
pub struct UpgradeRequest {
    /// The district.
    pub district: String,
    /// The registry: an `http://` URL or a directory.
    pub registry: String,
    /// `app@requirement`, like `smart-care@^1.3`.
    pub package: String,
    /// Permissions to grant now: every permission the new version adds must
    /// be among them.
    pub grant: BTreeSet<Permission>,
    /// Accept a release signed by another publisher key than the installed
    /// version's. Without it such an upgrade is refused: the new publisher
    /// would take over the app's data, so the administrator must say so.
    pub allow_new_publisher: bool,
}

/// What an upgrade changed.
#[derive(Clone, Debug, Serialize)]
pub struct UpgradeReport {
    /// The version before.
    pub from: String,
    /// The version now.
    pub to: String,
    /// Permissions the new version declares that the old one did not, with
    /// their reasons (all granted: an upgrade waits until they are).
    pub added: Vec<(Permission, String)>,
    /// Permissions the new version no longer declares (revoked).
    pub removed: Vec<Permission>,
    /// The install as it is now.
    pub install: Install,
}

/// What installing or upgrading from a registry would do: the release it
/// resolves to, verified, and the permissions it asks for; nothing applied.
#[derive(Clone, Debug, Serialize)]
pub struct PackagePlan {
    /// The package.
    pub name: String,
    /// The version the request resolves to.
    pub version: String,
    /// Where it comes from and what it was checked against.
    pub source: InstallSource,
    /// Every permission it declares, with the reason it gives.
    pub permissions: Vec<(Permission, String)>,
    /// The version installed in the district now, if any.
    pub installed: Option<String>,
    /// The publisher key that signed the installed version, if it came
    /// from a registry.
    pub installed_key_id: Option<String>,
    /// Permissions it declares that the installed version does not (all of
    /// them when nothing is installed).
    pub added: Vec<(Permission, String)>,
    /// Permissions the installed version declares that it does not.
    pub removed: Vec<Permission>,
}

/// Refuse a registry named over HTTP (the API and the console) that is
/// not an `http://` or `https://` URL: a directory on the host is for the
/// command line, run on the host itself, and must not let a remote caller
/// probe the host's files.
pub fn check_remote_registry(registry: &str) -> Result<(), PlatformError> {
    if registry.starts_with("http://") || registry.starts_with("https://") {
        Ok(())
    } else {
        Err(PlatformError::Invalid(format!(
            "`registry` must be an http:// or https:// URL (got `{registry}`); registry directories are installed from with the hutong CLI on the host"
        )))
    }
}

/// A package in a district's catalogue: what one of its registries holds
/// under a name.
#[derive(Clone, Debug, Serialize)]
pub struct CatalogueEntry {
    /// The registry.
    pub registry: String,
    /// The package.
    pub name: String,
    /// The newest release's description, from its manifest.
    pub description: String,
    /// The versions published and not yanked, newest first.
    pub versions: Vec<String>,
    /// The publisher key that signed the newest release.
    pub key_id: String,
    /// Whether the district trusts that key (an install is refused
    /// otherwise).
    pub trusted: bool,
    /// Whether this host runs the newest release (its `host-api`).
    pub host_api_compatible: bool,
    /// The version installed in the district, if any.
    pub installed: Option<String>,
}

/// A district's catalogue: the packages of its registries, and the
/// registries that could not be read, with why.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Catalogue {
    /// The packages, by registry and name.
    pub entries: Vec<CatalogueEntry>,
    /// (registry, why) for each registry that could not be read or whose
    /// log does not check out.
    pub unreadable: Vec<(String, String)>,
}

/// A fetched and verified package, ready for the install checks.
struct Verified {
    fetched: Fetched,
    manifest: Manifest,
    source: InstallSource,
}

impl Platform {
    /// Trust a publisher key (64 hex digits) in a district.
    pub async fn trust_key(
        &self,
        district: &str,
        public_key: &str,
        name: &str,
    ) -> Result<TrustedKeyRow, PlatformError> {
        self.require_district(district).await?;
        let key = PublicKey::parse(public_key)?;
        Ok(self
            .store()
            .trust_key(district, &key.id(), &key.to_hex(), name.trim())
            .await?)
    }

    /// A district's publisher keys, trusted and revoked.
    pub async fn trusted_keys(&self, district: &str) -> Result<Vec<TrustedKeyRow>, PlatformError> {
        self.require_district(district).await?;
        Ok(self.store().trusted_keys(district).await?)
    }

    /// Stop trusting a key: releases it signed are refused from now on
    /// (installed ones keep running until upgraded or removed).
    pub async fn revoke_key(&self, district: &str, key_id: &str) -> Result<(), PlatformError> {
        self.require_district(district).await?;
        self.store().revoke_key(district, key_id).await?;
        tracing::info!(district, key_id, "revoked publisher key");
        Ok(())
    }

    /// Resolve, fetch and verify a package for `district`; remember the
    /// registry's new log head.
    async fn fetch_verified(
        &self,
        district: &str,
        registry: &str,
        request: &PackageRequest,
    ) -> Result<Verified, PlatformError> {
        self.require_district(district).await?;
        let registry = hutong_registry::open(registry, false)?;
        let location = registry.location().to_owned();
        let trusted: Vec<TrustedKey> = self
            .store()
            .trusted_keys(district)
            .await?
            .into_iter()
            .map(|k| TrustedKey {
                key_id: k.key_id,
                public_key: k.public_key,
                revoked: k.revoked_at.is_some(),
            })
            .collect();
        let mut attempt = 0;
        let fetched = loop {
            let seen = self.store().registry_head(&location).await?;
            let remembered = seen.as_ref().map(|(size, hash)| hutong_registry::LogHead {
                size: *size,
                hash: hash.clone(),
            });
            let fetched = fetch(
                registry.as_ref(),
                Fetch {
                    district,
                    request,
                    host_api: &HOST_API_VERSION,
                    remembered: remembered.as_ref(),
                    trusted: &trusted,
                    cache: self.packages.as_ref(),
                },
            )
            .await?;
            if remembered.as_ref() == Some(&fetched.head) {
                break fetched;
            }
            let advanced = self
                .store()
                .advance_registry_head(
                    &location,
                    seen.as_ref().map(|(s, h)| (*s, h.as_str())),
                    (fetched.head.size, &fetched.head.hash),
                )
                .await?;
            if advanced {
                break fetched;
            }
            // The package was checked against a head another process has
            // since replaced: installing it would skip the check that the
            // registry shows every host one history.
            attempt += 1;
            if attempt >= HEAD_RACE_RETRIES {
                tracing::warn!(registry = %location, "other processes kept moving the remembered log head; refused the fetch");
                return Err(PlatformError::Conflict(format!(
                    "registry {location}: other host processes kept moving the log head this host remembers while the package was checked, so it could not be checked against the newest one; nothing was installed, try again"
                )));
            }
        };
        tracing::info!(
            district,
            registry = %registry.location(),
            package = %fetched.release.name,
            version = %fetched.release.version,
            log_index = fetched.log_index,
            log_size = fetched.head.size,
            key_id = %fetched.release.key_id,
            from_cache = !fetched.downloaded,
            "verified a registry package"
        );
        let text = String::from_utf8(fetched.manifest.clone()).map_err(|_| {
            PlatformError::Invalid(format!(
                "the manifest of {}@{} is not UTF-8 text",
                fetched.release.name, fetched.release.version
            ))
        })?;
        let manifest = Manifest::from_toml(&text)?;
        let source = InstallSource {
            registry: location,
            log_index: fetched.log_index,
            log_size: fetched.head.size,
            log_head: fetched.head.hash.clone(),
            key_id: fetched.release.key_id.clone(),
            yanked: fetched.yanked,
        };
        Ok(Verified {
            fetched,
            manifest,
            source,
        })
    }

    /// Add a registry (an `http://` or `https://` URL) to the district's
    /// list, by `added_by`.
    pub async fn add_district_registry(
        &self,
        district: &str,
        location: &str,
        added_by: &str,
    ) -> Result<DistrictRegistry, PlatformError> {
        self.require_district(district).await?;
        let location = location.trim().trim_end_matches('/');
        check_remote_registry(location)?;
        hutong_registry::open(location, false)?;
        Ok(self
            .store()
            .add_district_registry(district, location, added_by)
            .await?)
    }

    /// The registries the district installs from.
    pub async fn district_registries(
        &self,
        district: &str,
    ) -> Result<Vec<DistrictRegistry>, PlatformError> {
        self.require_district(district).await?;
        Ok(self.store().district_registries(district).await?)
    }

    /// Take a registry off the district's list (installs from it stay).
    pub async fn remove_district_registry(
        &self,
        district: &str,
        location: &str,
    ) -> Result<(), PlatformError> {
        Ok(self
            .store()
            .remove_district_registry(district, location)
            .await?)
    }

    /// What the district's registries hold: each package's versions, its
    /// newest release's description and publisher key, whether the
    /// district trusts that key, and what is installed. Each registry's log
    /// is checked whole, and against the head this host last saw from it;
    /// one that does not check out is listed as unreadable, not shown.
    /// Installing still verifies the release itself.
    pub async fn catalogue(&self, district: &str) -> Result<Catalogue, PlatformError> {
        let registries = self.district_registries(district).await?;
        let trusted: BTreeSet<String> = self
            .store()
            .trusted_keys(district)
            .await?
            .into_iter()
            .filter(|k| k.revoked_at.is_none())
            .map(|k| k.key_id)
            .collect();
        let installed: std::collections::BTreeMap<String, String> = self
            .store()
            .list_installs(Some(district))
            .await?
            .into_iter()
            .map(|i| (i.app, i.version))
            .collect();
        let mut catalogue = Catalogue::default();
        for registry in registries {
            match self.read_registry(&registry.location).await {
                Ok(packages) => {
                    for mut entry in packages {
                        entry.trusted = trusted.contains(&entry.key_id);
                        entry.installed = installed.get(&entry.name).cloned();
                        catalogue.entries.push(entry);
                    }
                }
                Err(why) => {
                    tracing::warn!(registry = %registry.location, error = %why, "a registry of the catalogue could not be read");
                    catalogue
                        .unreadable
                        .push((registry.location, why.to_string()));
                }
            }
        }
        Ok(catalogue)
    }

    /// The packages of one registry, from its whole log, checked.
    async fn read_registry(&self, location: &str) -> Result<Vec<CatalogueEntry>, PlatformError> {
        let registry = hutong_registry::open(location, false)?;
        let slice = registry.log(0).await?;
        hutong_registry::log::check_extends(&hutong_registry::LogHead::empty(), &slice)
            .map_err(|e| {
                PlatformError::Invalid(match e {
                    hutong_registry::log::ChainError::Broken(why) => {
                        format!("the registry's log does not check out: {why}")
                    }
                    hutong_registry::log::ChainError::Shorter { expected, actual } => format!(
                        "the registry's log does not check out: {actual} entries where {expected} were expected"
                    ),
                })
            })?;
        if let Some((size, hash)) = self.store().registry_head(registry.location()).await?
            && size > 0
        {
            let seen = slice
                .entries
                .get(size as usize - 1)
                .map(|e| e.hash.as_str());
            if seen != Some(hash.as_str()) {
                return Err(PlatformError::Invalid(format!(
                    "the registry's log no longer holds the head this host saw ({size} entries, hash {hash}): it was rewound or rewritten"
                )));
            }
        }
        let mut releases: std::collections::BTreeMap<String, Vec<hutong_registry::ReleaseRecord>> =
            Default::default();
        let mut yanked: BTreeSet<(String, semver::Version)> = BTreeSet::new();
        for entry in &slice.entries {
            match &entry.event {
                hutong_registry::LogEvent::Publish(r) => {
                    releases.entry(r.name.clone()).or_default().push(r.clone())
                }
                hutong_registry::LogEvent::Yank(y) => {
                    yanked.insert((y.name.clone(), y.version.clone()));
                }
            }
        }
        let mut out = Vec::new();
        for (name, mut published) in releases {
            published.retain(|r| !yanked.contains(&(r.name.clone(), r.version.clone())));
            published.sort_by(|a, b| b.version.cmp(&a.version));
            let Some(newest) = published.first() else {
                continue;
            };
            let manifest = registry.blob(&newest.manifest_sha256).await?;
            let (description, compatible) = match (hutong_registry::sha256_hex(&manifest)
                == newest.manifest_sha256)
                .then(|| std::str::from_utf8(&manifest).ok())
                .flatten()
                .map(Manifest::from_toml)
            {
                Some(Ok(m)) => (m.description.clone(), m.host_api_compatible()),
                _ => (String::new(), false),
            };
            out.push(CatalogueEntry {
                registry: registry.location().to_owned(),
                name,
                description,
                versions: published.iter().map(|r| r.version.to_string()).collect(),
                key_id: newest.key_id.clone(),
                trusted: false,
                host_api_compatible: compatible,
                installed: None,
            });
        }
        Ok(out)
    }

    /// Resolve and verify a package for `district` and say what installing
    /// or upgrading to it would change; installs nothing.
    pub async fn plan_from_registry(
        &self,
        district: &str,
        registry: &str,
        package: &str,
    ) -> Result<PackagePlan, PlatformError> {
        let request = PackageRequest::parse(package)?;
        let verified = self.fetch_verified(district, registry, &request).await?;
        let manifest = &verified.manifest;
        let installed = match self.store().get_install(district, &request.name).await {
            Ok(install) => Some(install),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let old = installed
            .as_ref()
            .map(|i| i.manifest.permissions.clone())
            .unwrap_or_default();
        Ok(PackagePlan {
            name: manifest.name.clone(),
            version: manifest.version.to_string(),
            permissions: manifest
                .permissions
                .iter()
                .map(|(p, r)| (*p, r.clone()))
                .collect(),
            added: manifest
                .permissions
                .iter()
                .filter(|(p, _)| !old.contains_key(p))
                .map(|(p, r)| (*p, r.clone()))
                .collect(),
            removed: old
                .keys()
                .filter(|p| !manifest.permissions.contains_key(p))
                .copied()
                .collect(),
            installed_key_id: installed
                .as_ref()
                .and_then(|i| i.source.as_ref())
                .map(|s| s.key_id.clone()),
            installed: installed.map(|i| i.version),
            source: verified.source,
        })
    }

    /// Install the best release of a package from a registry; see the module
    /// docs.
    pub async fn install_from_registry(
        &self,
        req: RegistryInstall,
    ) -> Result<Install, PlatformError> {
        let request = PackageRequest::parse(&req.package)?;
        let verified = self
            .fetch_verified(&req.district, &req.registry, &request)
            .await?;
        let grant = if req.grant_all {
            verified.manifest.permissions.keys().copied().collect()
        } else {
            req.grant
        };
        let install = self
            .install_from(
                InstallRequest {
                    district: req.district,
                    manifest: verified.manifest,
                    component: verified.fetched.component,
                    grant,
                    config: req.config,
                    communities: req.communities,
                },
                Some(verified.source),
            )
            .await?;
        Ok(install)
    }

    /// Upgrade an install to the best newer release matching the request;
    /// see the module docs. Refused, changing nothing, while the new version
    /// adds permissions `grant` does not include.
    pub async fn upgrade(&self, req: UpgradeRequest) -> Result<UpgradeReport, PlatformError> {
        let request = PackageRequest::parse(&req.package)?;
        let current = self
            .store()
            .get_install(&req.district, &request.name)
            .await?;
        let verified = self
            .fetch_verified(&req.district, &req.registry, &request)
            .await?;
        let manifest = &verified.manifest;
        if let Some(was) = &current.source
            && was.key_id != verified.source.key_id
            && !req.allow_new_publisher
        {
            return Err(PlatformError::Conflict(format!(
                "{}@{} is signed by publisher key {}, but the installed {} was signed by key {}: \
                 upgrading would hand this app and its data to another publisher. Check that the \
                 new publisher should have it, then upgrade with --allow-new-publisher \
                 (in the API: \"allow_new_publisher\": true)",
                current.app, manifest.version, verified.source.key_id, current.version, was.key_id
            )));
        }
        let from = semver::Version::parse(&current.version).ok();
        if from.as_ref().is_some_and(|v| manifest.version <= *v) {
            return Err(PlatformError::Conflict(format!(
                "{} in district `{}` is at {} and the best release matching {} is {}: nothing newer to upgrade to (use rollback to go back)",
                current.app,
                current.district,
                current.version,
                request.requirement,
                manifest.version
            )));
        }
        if !manifest.host_api_compatible() {
            return Err(PlatformError::IncompatibleHostApi {
                required: manifest.host_api.to_string(),
                host: HOST_API_VERSION.to_string(),
            });
        }
        check_grants_declared(&req.grant, manifest)?;
        check_config(manifest, &current.config)?;
        let old = &current.manifest.permissions;
        let added: Vec<(Permission, String)> = manifest
            .permissions
            .iter()
            .filter(|(p, _)| !old.contains_key(p))
            .map(|(p, r)| (*p, r.clone()))
            .collect();
        let removed: Vec<Permission> = old
            .keys()
            .filter(|p| !manifest.permissions.contains_key(p))
            .copied()
            .collect();
        let needed: Vec<&(Permission, String)> = added
            .iter()
            .filter(|(p, _)| !req.grant.contains(p))
            .collect();
        if !needed.is_empty() {
            return Err(PlatformError::PermissionsNeeded {
                app: current.app.clone(),
                version: manifest.version.to_string(),
                flags: needed
                    .iter()
                    .map(|(p, _)| format!("--grant {p}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                reasons: needed
                    .iter()
                    .map(|(p, r)| format!("{p}: {r}"))
                    .collect::<Vec<_>>()
                    .join("; "),
                needed: needed.iter().map(|(p, _)| *p).collect(),
            });
        }
        let granted: BTreeSet<Permission> = current
            .granted
            .iter()
            .filter(|p| manifest.permissions.contains_key(p))
            .chain(req.grant.iter())
            .copied()
            .collect();
        let limits = manifest.effective_limits(self.runtime().limits())?;
        let component = &verified.fetched.component;
        let digest = self.prepare_component(component, manifest).await?;
        let install = self
            .store()
            .replace_install(Replacement {
                district: &current.district,
                from_version: &current.version,
                from_digest: &current.digest,
                manifest,
                digest: &digest,
                component,
                granted: &granted,
                limits,
                source: Some(&verified.source),
                config: None,
            })
            .await;
        let install = match install {
            Ok(install) => install,
            Err(err) => {
                // Nothing was recorded; don't keep an instance nobody uses.
                if self.runtime().installs_of(&digest) == 0 {
                    self.runtime().forget_component(&digest);
                }
                return Err(err.into());
            }
        };
        self.runtime().load(install.clone()).await?;
        tracing::info!(
            district = %install.district,
            app = %install.app,
            from = %current.version,
            to = %install.version,
            added = %added.iter().map(|(p, _)| p.name()).collect::<Vec<_>>().join(","),
            removed = %removed.iter().map(|p| p.name()).collect::<Vec<_>>().join(","),
            "upgraded app"
        );
        Ok(UpgradeReport {
            from: current.version,
            to: install.version.clone(),
            added,
            removed,
            install,
        })
    }

    /// Put an install back to the version before its last upgrade, with
    /// that version's grants; its data stays. Returns the version it left
    /// and the install now. Refused, changing nothing, when that version came
    /// from a registry signed by a key the district has since revoked: a
    /// revocation refuses the key's releases from then on, and a rollback
    /// would start one again.
    pub async fn rollback(
        &self,
        district: &str,
        app: &str,
    ) -> Result<(String, Install), PlatformError> {
        let current = self.store().get_install(district, app).await?;
        let history = self.store().install_history(district, app).await?;
        if let Some(previous) = history.first()
            && let Some(source) = &previous.source
        {
            let key = self
                .store()
                .trusted_keys(district)
                .await?
                .into_iter()
                .find(|k| k.key_id == source.key_id);
            let (district, name, version, key_id) = (
                district.to_owned(),
                app.to_owned(),
                previous.version.clone(),
                source.key_id.clone(),
            );
            match key {
                Some(k) if k.revoked_at.is_none() => {}
                Some(_) => {
                    return Err(PlatformError::Registry(RegistryError::RevokedKey {
                        district,
                        name,
                        version,
                        key_id,
                    }));
                }
                None => {
                    return Err(PlatformError::Registry(RegistryError::UntrustedKey {
                        district,
                        name,
                        version,
                        key_id,
                    }));
                }
            }
        }
        let restored = self.store().rollback_install(district, app).await?;
        self.runtime().load(restored.clone()).await?;
        tracing::info!(
            district,
            app,
            from = %current.version,
            to = %restored.version,
            "rolled app back"
        );
        Ok((current.version, restored))
    }

    /// The versions an install ran before, newest first.
    pub async fn install_history(
        &self,
        district: &str,
        app: &str,
    ) -> Result<Vec<PreviousVersion>, PlatformError> {
        self.store().get_install(district, app).await?;
        Ok(self.store().install_history(district, app).await?)
    }
}

impl From<hutong_registry::Refusal> for PlatformError {
    fn from(r: hutong_registry::Refusal) -> Self {
        PlatformError::Registry(RegistryError::Refused(r))
    }
}
