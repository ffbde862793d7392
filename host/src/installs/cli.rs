//! `hutong install` and the commands around an install: what an
//! administrator is shown and asked before an app gets its permissions.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::installs::registry::{PackagePlan, RegistryInstall};
use crate::installs::store::Install;
use crate::kernel::grant;
use crate::kernel::manifest::{Manifest, Permission};
use crate::server::Opened;
use crate::{InstallRequest, PlatformError};

/// The files an install is made from.
pub(crate) struct InstallFiles<'a> {
    pub(crate) manifest: &'a Path,
    pub(crate) component: &'a Path,
    pub(crate) config: Option<PathBuf>,
}

/// What the administrator grants an install.
pub(crate) struct Grants {
    pub(crate) grants: Vec<String>,
    pub(crate) grant_all: bool,
    pub(crate) communities: Option<Vec<String>>,
}

pub(crate) async fn install(
    opened: &Opened,
    district: &str,
    files: InstallFiles<'_>,
    grants: Grants,
) -> Result<Install> {
    let InstallFiles {
        manifest,
        component,
        config,
    } = files;
    let Grants {
        grants,
        grant_all,
        communities,
    } = grants;
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("could not read manifest {}", manifest.display()))?;
    let manifest = Manifest::from_toml(&text).map_err(PlatformError::from)?;
    let bytes = std::fs::read(component)
        .with_context(|| format!("could not read component {}", component.display()))?;
    let grant: BTreeSet<Permission> = if grant_all {
        manifest.permissions.keys().copied().collect()
    } else {
        parse_grants(&grants)?
    };
    let config = read_config(config)?;
    Ok(opened
        .platform
        .install(InstallRequest {
            district: district.to_owned(),
            manifest,
            component: bytes,
            grant,
            config,
            communities,
        })
        .await?)
}

pub(crate) fn parse_grants(grants: &[String]) -> Result<BTreeSet<Permission>> {
    Ok(grants
        .iter()
        .map(|g| g.parse())
        .collect::<Result<_, _>>()
        .map_err(PlatformError::from)?)
}

pub(crate) fn read_config(config: Option<PathBuf>) -> Result<serde_json::Value> {
    match config {
        None => Ok(serde_json::json!({})),
        Some(path) => {
            let value: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(&path)
                    .with_context(|| format!("could not read config {}", path.display()))?,
            )
            .with_context(|| format!("config {} is not JSON", path.display()))?;
            if !value.is_object() {
                bail!("config {} must hold a JSON object", path.display());
            }
            Ok(value)
        }
    }
}

pub(crate) async fn install_from_registry(
    opened: &Opened,
    district: &str,
    package: &str,
    registry: &str,
    config: Option<PathBuf>,
    grants: Grants,
) -> Result<Install> {
    Ok(opened
        .platform
        .install_from_registry(RegistryInstall {
            district: district.to_owned(),
            registry: registry.to_owned(),
            package: package.to_owned(),
            grant: parse_grants(&grants.grants)?,
            grant_all: grants.grant_all,
            config: read_config(config)?,
            communities: grants.communities,
        })
        .await?)
}

pub(crate) fn print_plan(plan: &PackagePlan) {
    let s = &plan.source;
    match &plan.installed {
        Some(v) => println!(
            "{} {v} would be upgraded to {} (nothing changed yet)",
            plan.name, plan.version
        ),
        None => println!(
            "{}@{} would be installed (nothing changed yet)",
            plan.name, plan.version
        ),
    }
    println!(
        "  from {} (log entry {} of {}), signed by trusted key {}{}",
        s.registry,
        s.log_index,
        s.log_size,
        s.key_id,
        if s.yanked {
            "; this release is YANKED"
        } else {
            ""
        }
    );
    if plan.permissions.is_empty() {
        println!("  asks for no permissions");
    }
    for (permission, reason) in &plan.permissions {
        let new = plan.added.iter().any(|(p, _)| p == permission);
        let mark = match (&plan.installed, new) {
            (Some(_), true) => "NEW, grant with --grant",
            (Some(_), false) => "kept",
            (None, _) => "grant with --grant",
        };
        println!("  {permission} ({mark}): {reason}");
    }
    for permission in &plan.removed {
        println!("  {permission}: no longer asked for; would be revoked");
    }
}

pub(crate) fn print_source(i: &Install) {
    if let Some(s) = &i.source {
        println!(
            "  from {} (log entry {} of {}, head {}), signed by key {}{}",
            s.registry,
            s.log_index,
            s.log_size,
            s.log_head.get(..16).unwrap_or(&s.log_head),
            s.key_id,
            if s.yanked {
                "; this release is YANKED (installed by exact pin)"
            } else {
                ""
            }
        );
    }
}

pub(crate) fn print_install_summary(i: &Install) {
    println!(
        "installed {}@{} into {} (digest {})",
        i.app, i.version, i.district, i.digest
    );
    if i.manifest.permissions.is_empty() {
        println!("  asks for no permissions");
    }
    for (permission, reason) in &i.manifest.permissions {
        let mark = if grant::holds(&i.granted, *permission) {
            "granted"
        } else {
            "NOT granted"
        };
        println!("  {permission}: {mark} — {reason}");
    }
    print_source(i);
    println!(
        "  limits: {} MiB memory, {} ms per call, {} byte responses",
        i.limits.memory_bytes >> 20,
        i.limits.deadline_ms,
        i.limits.response_bytes
    );
}
