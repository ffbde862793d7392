//! The install lifecycle, shared by the CLI and the HTTP API: districts,
//! install, uninstall, suspend and resume (from a registry also upgrade and
//! rollback, in [`registry`](crate::installs::registry)). Installing needs
//! the runtime as well as the store, to compile and check the component, so
//! these are operations on [`Platform`].
//!
//! An install is validated completely before anything is written, so a
//! refused install changes nothing.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::error::HTTP_EXPORT;
use crate::error::PlatformError;
use crate::error::RuntimeError;
use crate::installs::store::{Install, InstallSource, InstallStatus, NewInstall};
use crate::kernel::districts::District;
use crate::kernel::limits::Limits;
use crate::kernel::manifest::{HOST_API_VERSION, Manifest, Permission};
use crate::kernel::store::StoreError;
use crate::platform::Platform;

/// The package namespace of Hutong's own interfaces.
const PLATFORM_PACKAGE: &str = "hutong:platform/";

/// Interfaces of `hutong:platform` an app may import, with whether using
/// one needs a permission (`types`, `log` and `config` need none, nor `case-types`,
/// which every component built against the current WIT imports because its
/// `case-watcher` export uses it). Which permissions belong to an interface
/// is [`Permission::interface`].
const IMPORTABLE: &[(&str, bool)] = &[
    ("types", false),
    ("case-types", false),
    ("log", false),
    ("config", false),
    ("kv", true),
    ("data", true),
    ("cases", true),
    ("notify", true),
];

/// The WASI 0.2 packages the host links, each without ambient authority.
const WASI_PROVIDED: &[&str] = &[
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:cli/",
    "wasi:filesystem/",
    "wasi:sockets/",
];

/// Why a `wasi:http` import is refused, and what to do instead. JavaScript
/// components import it unless told not to.
const WASI_HTTP_ADVICE: &str = "apps neither serve nor fetch through wasi:http: the host hands each request to the app's hutong:platform/http-handler export. A JavaScript app built with componentize-js imports wasi:http unless the feature is turned off: build it with `componentize-js app.js --wit wit --world-name WORLD --disable http --disable fetch-event -o app.wasm` (the same flags for `jco componentize`)";

/// What to install.
#[derive(Clone, Debug)]
pub struct InstallRequest {
    /// Target district.
    pub district: String,
    /// The manifest.
    pub manifest: Manifest,
    /// The component's bytes.
    pub component: Vec<u8>,
    /// Permissions to grant; each must be declared by the manifest.
    pub grant: BTreeSet<Permission>,
    /// Install configuration (a JSON object).
    pub config: serde_json::Value,
    /// Narrow the install's view of community data to these communities;
    /// none for the whole district.
    pub communities: Option<Vec<String>>,
}

impl Platform {
    /// Create a district.
    pub async fn create_district(&self, id: &str, name: &str) -> Result<District, PlatformError> {
        if !crate::kernel::ids::is_slug(id) {
            return Err(PlatformError::InvalidDistrictId(id.to_owned()));
        }
        let name = if name.trim().is_empty() { id } else { name };
        Ok(self.store.create_district(id, name).await?)
    }

    /// Set the most calls of `district`'s apps alive at once (none: the
    /// host's default share); every host process applies it within seconds.
    pub async fn set_district_calls(
        &self,
        district: &str,
        calls: Option<u32>,
    ) -> Result<District, PlatformError> {
        crate::error::require_district(&self.store, district).await?;
        let pool = self.runtime.max_instances();
        if let Some(calls) = calls
            && !(1..=pool).contains(&calls)
        {
            return Err(PlatformError::Invalid(format!(
                "a district's share is 1 to {pool} calls at once (the host's whole pool), not {calls}"
            )));
        }
        let updated = self
            .store
            .set_district_calls(district, calls.map(i64::from))
            .await?;
        self.runtime.set_district_calls(district, updated.max_calls);
        tracing::info!(district, calls = ?calls, "district share set");
        Ok(updated)
    }

    /// Validate and install an app; see the module docs.
    pub async fn install(&self, req: InstallRequest) -> Result<Install, PlatformError> {
        self.install_from(req, None).await
    }

    /// Validate and install an app, recording where it came from.
    pub(crate) async fn install_from(
        &self,
        req: InstallRequest,
        source: Option<InstallSource>,
    ) -> Result<Install, PlatformError> {
        match self.store.get_district(&req.district).await {
            Ok(_) => {}
            Err(StoreError::NotFound(_)) => {
                return Err(PlatformError::UnknownDistrict(req.district));
            }
            Err(e) => return Err(e.into()),
        }
        let manifest = &req.manifest;
        let limits = self.check_request(&req)?;
        if let Some(communities) = &req.communities {
            if communities.is_empty() {
                return Err(PlatformError::Invalid(
                    "an install narrowed to communities needs at least one; leave them out for the whole district".into(),
                ));
            }
            let known = self.store.existing_ids(&req.district).await?.communities;
            if let Some(unknown) = communities.iter().find(|c| !known.contains(*c)) {
                return Err(PlatformError::Invalid(format!(
                    "community `{unknown}` is not in district `{}`; import the district's data first or pick one of its communities",
                    req.district
                )));
            }
        }
        if let Ok(existing) = self.store.get_install(&req.district, &manifest.name).await {
            return Err(PlatformError::Conflict(format!(
                "app `{}` is already installed in district `{}` (version {}); to replace it, upgrade it from a registry, or uninstall it first (`hutong uninstall --keep-data` keeps its data; without it the data is deleted). While developing, `hutong dev` swaps new builds in place",
                existing.app, existing.district, existing.version
            )));
        }

        let digest = self.prepare_component(&req.component, manifest).await?;

        let install = self
            .store
            .create_install(NewInstall {
                district: &req.district,
                manifest,
                digest: &digest,
                component: &req.component,
                granted: &req.grant,
                limits,
                config: &req.config,
                scope: req.communities.as_deref(),
                source: source.as_ref(),
            })
            .await;
        let install = self.load_recorded(install, &digest).await?;
        tracing::info!(
            district = %install.district,
            app = %install.app,
            version = %install.version,
            digest = %install.digest,
            granted = %install.granted.iter().map(|p| p.name()).collect::<Vec<_>>().join(","),
            "installed app"
        );
        Ok(install)
    }

    /// Replace an install with a local build, keeping its data: the new
    /// component and manifest, every permission the manifest declares
    /// granted, and `req.config` as its configuration. The version before
    /// is kept in its history (so `rollback` returns to it). An app not yet
    /// installed is installed. This is the swap of `hutong dev` and of
    /// `hutong install --replace`; validation is an install's, and a refused
    /// build changes nothing, so the version before keeps serving.
    pub async fn replace(&self, req: InstallRequest) -> Result<Install, PlatformError> {
        let manifest = &req.manifest;
        let current = match self.store.get_install(&req.district, &manifest.name).await {
            Ok(current) => current,
            Err(StoreError::NotFound(_)) => return self.install(req).await,
            Err(e) => return Err(e.into()),
        };
        let limits = self.check_request(&req)?;
        let digest = self.prepare_component(&req.component, manifest).await?;
        let install = self
            .store
            .replace_install(crate::installs::store::Replacement {
                district: &current.district,
                from_version: &current.version,
                from_digest: &current.digest,
                manifest,
                digest: &digest,
                component: &req.component,
                granted: &req.grant,
                limits,
                source: None,
                config: Some(&req.config),
            })
            .await;
        let install = self.load_recorded(install, &digest).await?;
        tracing::info!(
            district = %install.district,
            app = %install.app,
            from = %current.version,
            to = %install.version,
            digest = %install.digest,
            "replaced app with a local build"
        );
        Ok(install)
    }

    /// What an install and a replacement check of the request alone: the
    /// host API the manifest needs, its limits (the effective ones are
    /// returned), the grants against its permissions and the configuration
    /// against its schema.
    fn check_request(&self, req: &InstallRequest) -> Result<Limits, PlatformError> {
        let manifest = &req.manifest;
        if !manifest.host_api_compatible() {
            return Err(PlatformError::IncompatibleHostApi {
                required: manifest.host_api.to_string(),
                host: HOST_API_VERSION.to_string(),
            });
        }
        let limits = manifest.effective_limits(self.runtime.limits())?;
        check_grants_declared(&req.grant, manifest)?;
        check_config(manifest, &req.config)?;
        Ok(limits)
    }

    /// Serve what the store recorded; when it refused, nothing was
    /// recorded, so the compiled component is dropped unless another
    /// install uses it.
    async fn load_recorded(
        &self,
        recorded: Result<Install, StoreError>,
        digest: &str,
    ) -> Result<Install, PlatformError> {
        match recorded {
            Ok(install) => {
                self.runtime.load(install.clone()).await?;
                Ok(install)
            }
            Err(err) => {
                self.runtime.discard_unused(digest).await;
                Err(err.into())
            }
        }
    }

    /// Validate a component against its manifest, compile and
    /// pre-instantiate it; its digest.
    pub(crate) async fn prepare_component(
        &self,
        bytes: &[u8],
        manifest: &Manifest,
    ) -> Result<String, PlatformError> {
        let digest = hex::encode(Sha256::digest(bytes));
        let prepared = async {
            let component = self.validate_component(bytes, &digest, manifest)?;
            // Pre-instantiation checks every import is satisfiable and every
            // export has the type the host expects.
            self.runtime
                .pre_for(&digest, Some(&component))
                .await
                .map_err(|e| match e {
                    RuntimeError::Load { detail, .. } => {
                        PlatformError::IncompatibleComponent(detail)
                    }
                    other => other.into(),
                })
        };
        if let Err(refused) = prepared.await {
            // A refused component leaves nothing behind in the cache.
            self.runtime.discard_unused(&digest).await;
            return Err(refused);
        }
        Ok(digest)
    }

    /// Check the bytes are a component for the app world whose imports
    /// match the manifest; compile it (keeping the artifact).
    fn validate_component(
        &self,
        bytes: &[u8],
        digest: &str,
        manifest: &Manifest,
    ) -> Result<wasmtime::component::Component, PlatformError> {
        if bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0] {
            return Err(PlatformError::NotAComponent(
                "this is a core WebAssembly module; build for wasm32-wasip2 (or wrap it with `wasm-tools component new`)".into(),
            ));
        }
        if bytes.len() < 4 || bytes[..4] != *b"\0asm" {
            return Err(PlatformError::NotAComponent(
                "the file does not start with the WebAssembly magic bytes".into(),
            ));
        }
        // Everything the manifest is checked against is read from the
        // component's own sections, before the (long, for a big component)
        // compile: a mismatch is refused in milliseconds.
        check_names(&read_names(bytes)?, manifest)?;
        self.runtime
            .compile(digest, bytes)
            .map_err(|e| PlatformError::NotAComponent(format!("{e:#}")))
    }

    /// Remove an install and, unless `keep_data`, its data.
    pub async fn uninstall(
        &self,
        district: &str,
        app: &str,
        keep_data: bool,
    ) -> Result<(), PlatformError> {
        self.store.delete_install(district, app, keep_data).await?;
        self.runtime.unload(district, app);
        tracing::info!(district, app, keep_data, "uninstalled app");
        Ok(())
    }

    /// Stop an install from answering until resumed.
    pub async fn suspend(
        &self,
        district: &str,
        app: &str,
        reason: &str,
    ) -> Result<Install, PlatformError> {
        let install = self
            .store
            .set_install_status(district, app, InstallStatus::Suspended, Some(reason))
            .await?;
        self.runtime.set_status(&install);
        tracing::info!(district, app, reason, "suspended app");
        Ok(install)
    }

    /// Let a suspended install answer again, with a clean failure record.
    pub async fn resume(&self, district: &str, app: &str) -> Result<Install, PlatformError> {
        let install = self
            .store
            .set_install_status(district, app, InstallStatus::Active, None)
            .await?;
        self.runtime.set_status(&install);
        tracing::info!(district, app, "resumed app");
        Ok(install)
    }
}

/// Every grant must be a permission the manifest declares.
pub(crate) fn check_grants_declared(
    grant: &BTreeSet<Permission>,
    manifest: &Manifest,
) -> Result<(), PlatformError> {
    match grant.iter().find(|p| !manifest.permissions.contains_key(p)) {
        Some(permission) => Err(PlatformError::GrantNotDeclared {
            permission: *permission,
            declared: list_or_none(manifest.permissions.keys().map(|p| p.name())),
        }),
        None => Ok(()),
    }
}

/// The install configuration must match the manifest's schema, if it has
/// one.
pub(crate) fn check_config(
    manifest: &Manifest,
    config: &serde_json::Value,
) -> Result<(), PlatformError> {
    manifest.config.check_config(config).map_err(|why| {
        PlatformError::Invalid(format!(
            "the configuration does not match the schema in {}@{}'s manifest: {why}; give a configuration that matches it",
            manifest.name, manifest.version
        ))
    })
}

/// The component's imports and exports against its manifest: every import
/// one the host provides, `http-handler` exported, each permission calling
/// into the app with its export, and each declared import permission's
/// interface imported.
fn check_names(names: &Names, manifest: &Manifest) -> Result<(), PlatformError> {
    if !names
        .exports
        .iter()
        .any(|e| unversioned(e) == HTTP_EXPORT && platform_version_ok(e))
    {
        return Err(PlatformError::WrongWorld {
            exports: list_or_none(names.exports.iter().map(String::as_str)),
        });
    }

    let mut used: BTreeSet<&str> = BTreeSet::new();
    for (name, is_instance) in &names.imports {
        if let Some(interface) = unversioned(name).strip_prefix(PLATFORM_PACKAGE) {
            if !platform_version_ok(name) {
                return Err(PlatformError::UnsatisfiableImport {
                    import: name.to_owned(),
                    allowed: allowed_imports(),
                });
            }
            match IMPORTABLE.iter().find(|(i, _)| *i == interface) {
                Some((i, true)) => {
                    used.insert(i);
                }
                Some((_, false)) => {}
                None => {
                    return Err(PlatformError::UnsatisfiableImport {
                        import: name.to_owned(),
                        allowed: allowed_imports(),
                    });
                }
            }
        } else if unversioned(name).starts_with("wasi:http/") {
            return Err(PlatformError::UnsatisfiableImport {
                import: name.to_owned(),
                allowed: WASI_HTTP_ADVICE.to_owned(),
            });
        } else if !is_instance || !WASI_PROVIDED.iter().any(|p| name.starts_with(p)) {
            return Err(PlatformError::UnsatisfiableImport {
                import: name.to_owned(),
                allowed: allowed_imports(),
            });
        }
    }
    // A permission that is a call into the app needs the export that
    // takes it; the other handlers are optional.
    for permission in manifest.permissions.keys().filter(|p| !p.is_import()) {
        let export = format!("{PLATFORM_PACKAGE}{}", permission.interface());
        if !names
            .exports
            .iter()
            .any(|e| unversioned(e) == export && platform_version_ok(e))
        {
            return Err(PlatformError::ManifestMismatch(format!(
                "the manifest declares the `{permission}` permission but the component does not export {export}@{HOST_API_VERSION}, so the host could never call it; add it to the world the app is built for (hutong-sdk's `export_app!` always exports it) or remove the permission"
            )));
        }
    }
    for permission in manifest.permissions.keys().filter(|p| p.is_import()) {
        if !used.contains(permission.interface()) {
            return Err(PlatformError::ManifestMismatch(format!(
                "the manifest declares the `{permission}` permission but the component never imports hutong:platform/{}; remove it so administrators are not asked to grant what the app cannot use",
                permission.interface()
            )));
        }
    }
    Ok(())
}

/// What a component imports (each name, and whether it is an instance of
/// an interface) and exports at its top level.
struct Names {
    imports: Vec<(String, bool)>,
    exports: Vec<String>,
}

/// Read the top-level imports and exports from the component's sections,
/// without compiling it; the components and modules nested inside are
/// skipped.
fn read_names(bytes: &[u8]) -> Result<Names, PlatformError> {
    use wasmparser::{ComponentTypeRef, Parser, Payload};
    let unreadable = |e: wasmparser::BinaryReaderError| {
        PlatformError::NotAComponent(format!("the component cannot be read: {e}"))
    };
    let mut names = Names {
        imports: Vec::new(),
        exports: Vec::new(),
    };
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(unreadable)? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(unreadable)?;
                    let instance = matches!(import.ty, ComponentTypeRef::Instance(_));
                    names.imports.push((import.name.name.to_owned(), instance));
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(unreadable)?;
                    names.exports.push(export.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

/// Whether `name@version` names a hutong:platform version this host
/// implements: the same release line (same major, and same minor while the
/// major is 0) and not newer than this host.
fn platform_version_ok(name: &str) -> bool {
    let Some(version) = name
        .split_once('@')
        .and_then(|(_, v)| semver::Version::parse(v).ok())
    else {
        return false;
    };
    let host = HOST_API_VERSION;
    version.major == host.major
        && (host.major > 0 || version.minor == host.minor)
        && version <= host
}

/// `hutong:platform/kv@0.1.0` → `hutong:platform/kv`.
fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(n, _)| n)
}

fn allowed_imports() -> String {
    let ours: Vec<String> = IMPORTABLE
        .iter()
        .map(|(i, _)| format!("{PLATFORM_PACKAGE}{i}@{HOST_API_VERSION}"))
        .collect();
    format!(
        "apps may import {} and the WASI 0.2 interfaces wasi:io, wasi:clocks, wasi:random, wasi:cli, wasi:filesystem and wasi:sockets (which grant no access)",
        ours.join(", ")
    )
}

fn list_or_none<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(imports: &[&str], exports: &[&str]) -> Names {
        Names {
            imports: imports.iter().map(|i| ((*i).to_owned(), true)).collect(),
            exports: exports.iter().map(|e| (*e).to_owned()).collect(),
        }
    }

    fn manifest(permissions: &str) -> Manifest {
        Manifest::from_toml(&format!(
            "name = \"a\"\nversion = \"0.1.0\"\nhost-api = \"^0.1\"\n[permissions]\n{permissions}"
        ))
        .expect("manifest")
    }

    const HTTP: &str = "hutong:platform/http-handler@0.1.0";

    #[test]
    fn wasi_http_is_refused_with_how_to_build_without_it() {
        let err = check_names(
            &names(&["wasi:http/types@0.2.3", "wasi:io/streams@0.2.3"], &[HTTP]),
            &manifest(""),
        )
        .expect_err("refused")
        .to_string();
        assert!(err.contains("`wasi:http/types@0.2.3`"), "{err}");
        assert!(
            err.contains("--disable http --disable fetch-event"),
            "{err}"
        );
        assert!(!err.contains("rebuild it against"), "{err}");
    }

    #[test]
    fn only_the_wasi_packages_the_host_links_are_accepted() {
        let provided = [
            "wasi:io/streams@0.2.3",
            "wasi:clocks/wall-clock@0.2.3",
            "wasi:random/random@0.2.3",
            "wasi:cli/environment@0.2.3",
            "wasi:filesystem/types@0.2.3",
            "wasi:sockets/tcp@0.2.3",
        ];
        check_names(&names(&provided, &[HTTP]), &manifest("")).expect("accepted");
        let err = check_names(
            &names(&["wasi:keyvalue/store@0.2.0"], &[HTTP]),
            &manifest(""),
        )
        .expect_err("refused")
        .to_string();
        assert!(err.contains("wasi:keyvalue/store"), "{err}");
        assert!(err.contains("wasi:sockets"), "{err}");
    }

    #[test]
    fn a_permission_that_calls_the_app_needs_its_export() {
        let events = "receive-events = \"hears doors\"\n[events]\ntypes = [\"door.open\"]";
        let err = check_names(&names(&[], &[HTTP]), &manifest(events))
            .expect_err("refused")
            .to_string();
        assert!(err.contains("hutong:platform/event-handler@0.1.0"), "{err}");
        check_names(
            &names(&[], &[HTTP, "hutong:platform/event-handler@0.1.0"]),
            &manifest(events),
        )
        .expect("accepted with the export");
        // Reading its own cases does not need a watcher.
        check_names(
            &names(&["hutong:platform/cases@0.1.0"], &[HTTP]),
            &manifest("read-own-cases = \"reads them\""),
        )
        .expect("accepted without a case-watcher");
    }

    #[test]
    fn every_permission_governs_an_importable_interface() {
        for permission in Permission::ALL.iter().filter(|p| p.is_import()) {
            assert!(
                IMPORTABLE.contains(&(permission.interface(), true)),
                "{permission} governs `{}`, which apps cannot import with a permission",
                permission.interface()
            );
        }
        for (interface, needs) in IMPORTABLE {
            let governed = Permission::ALL.iter().any(|p| p.interface() == *interface);
            assert_eq!(*needs, governed, "{interface}");
        }
    }

    #[test]
    fn only_this_release_line_of_the_platform_is_accepted() {
        assert!(platform_version_ok("hutong:platform/cases@0.1.0"));
        assert!(!platform_version_ok("hutong:platform/cases@0.2.0"));
        assert!(!platform_version_ok("hutong:platform/cases"));
    }
}
