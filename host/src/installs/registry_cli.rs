//! `hutong registry …` and `hutong publish`: publisher keys, publishing and
//! yanking, serving a directory registry over HTTP, and the publisher keys
//! a district trusts.
//!
//! Keygen, publish, yank, index and serve work on a registry, not on this
//! host, so they run without opening the host's database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::PlatformError;
use crate::cases::format_ms;
use crate::server::Opened;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use hutong_registry::{DirRegistry, KeyPair, LogEvent, PublishRequest, YankRequest};

#[derive(Subcommand)]
pub enum RegistryCommandLine {
    /// Make a publisher key pair in a new file; prints the public key to
    /// give to the districts that will trust it.
    Keygen {
        /// Where to write the key pair (never overwritten; keep it secret).
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve a directory registry over HTTP (created if absent).
    Serve {
        /// The registry directory.
        #[arg(long)]
        dir: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
    },
    /// Yank a release: hosts no longer pick it unless pinned exactly.
    Yank {
        /// The registry: an http:// or https:// URL, or a directory.
        #[arg(long, env = "HUTONG_REGISTRY")]
        registry: String,
        /// The publisher key file (one that signed the package's releases).
        #[arg(long)]
        key: PathBuf,
        /// The release, `name@version`.
        release: String,
        /// Why, shown to administrators.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Show a package's releases: version, host API, yanked, key, digest.
    Index {
        /// The registry: an http:// or https:// URL, or a directory.
        #[arg(long, env = "HUTONG_REGISTRY")]
        registry: String,
        /// The package.
        name: String,
    },
    /// Trust a publisher's key in a district.
    Trust {
        #[arg(long)]
        district: String,
        /// The public key (64 hex digits, as `keygen` printed it).
        #[arg(long)]
        key: String,
        /// Who it belongs to.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List a district's publisher keys, trusted and revoked.
    Keys {
        #[arg(long)]
        district: String,
    },
    /// Stop trusting a publisher key in a district.
    Revoke {
        #[arg(long)]
        district: String,
        /// The key's id (as `keys` lists it).
        key_id: String,
    },
}

impl RegistryCommandLine {
    /// Whether the command works on a registry only, not on this host.
    pub fn is_offline(&self) -> bool {
        matches!(
            self,
            RegistryCommandLine::Keygen { .. }
                | RegistryCommandLine::Serve { .. }
                | RegistryCommandLine::Yank { .. }
                | RegistryCommandLine::Index { .. }
        )
    }
}

/// Run a command that needs no host.
pub async fn run_offline(command: RegistryCommandLine) -> Result<()> {
    match command {
        RegistryCommandLine::Keygen { out } => {
            let pair = KeyPair::generate()?;
            pair.save(&out)?;
            println!("wrote a new key pair to {}; keep it secret", out.display());
            println!("public key: {}", pair.public().to_hex());
            println!("key id:     {}", pair.public().id());
            println!(
                "a district trusts it with: hutong registry trust --district <district> --key {}",
                pair.public().to_hex()
            );
            Ok(())
        }
        RegistryCommandLine::Serve { dir, listen } => {
            let registry = DirRegistry::create(&dir)?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("could not listen on {listen}"))?;
            tracing::info!(%listen, dir = %registry.root().display(), "serving the registry");
            axum::serve(listener, hutong_registry::serve::router(registry))
                .with_graceful_shutdown(crate::server::shutdown_signal())
                .await?;
            Ok(())
        }
        RegistryCommandLine::Yank {
            registry,
            key,
            release,
            reason,
        } => {
            let (name, version) = release
                .split_once('@')
                .map(|(n, v)| (n, v.trim_start_matches('=')))
                .context("give the release as name@version, like smart-care@1.2.5")?;
            let version = semver::Version::parse(version)
                .with_context(|| format!("`{version}` is not a version like 1.2.5"))?;
            let key = KeyPair::load(&key)?;
            let registry = hutong_registry::open(&registry, false)?;
            let entry = registry
                .yank(YankRequest::sign(name, &version, &reason, &key))
                .await?;
            println!(
                "yanked {name}@{version} (log entry {}, head {})",
                entry.index, entry.hash
            );
            Ok(())
        }
        RegistryCommandLine::Index { registry, name } => {
            let registry = hutong_registry::open(&registry, false)?;
            let index = registry.index(&name).await?;
            println!("VERSION\tHOST-API\tYANKED\tKEY\tLOG\tCOMPONENT");
            for r in index.releases.iter().rev() {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    r.version,
                    r.host_api,
                    match &r.yank_reason {
                        Some(reason) if r.yanked && !reason.is_empty() =>
                            format!("yanked ({reason})"),
                        _ if r.yanked => "yanked".to_owned(),
                        _ => "-".to_owned(),
                    },
                    r.key_id,
                    r.log_index,
                    r.component_sha256.get(..12).unwrap_or(&r.component_sha256)
                );
            }
            Ok(())
        }
        other => bail!(
            "`hutong registry {}` needs the host's database",
            match other {
                RegistryCommandLine::Trust { .. } => "trust",
                RegistryCommandLine::Keys { .. } => "keys",
                _ => "revoke",
            }
        ),
    }
}

/// Run a command on this host's trusted keys.
pub async fn run(opened: &Opened, command: RegistryCommandLine) -> Result<()> {
    let platform = &opened.platform;
    match command {
        RegistryCommandLine::Trust {
            district,
            key,
            name,
        } => {
            let row = platform.trust_key(&district, &key, &name).await?;
            println!(
                "district {district} now trusts key {} ({})",
                row.key_id,
                if row.name.is_empty() {
                    "unnamed"
                } else {
                    &row.name
                }
            );
            Ok(())
        }
        RegistryCommandLine::Keys { district } => {
            println!("KEY-ID\tNAME\tTRUSTED-SINCE\tREVOKED\tPUBLIC-KEY");
            for k in platform.trusted_keys(&district).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    k.key_id,
                    if k.name.is_empty() { "-" } else { &k.name },
                    format_ms(k.added_at),
                    k.revoked_at.map_or_else(|| "-".to_owned(), format_ms),
                    k.public_key
                );
            }
            Ok(())
        }
        RegistryCommandLine::Revoke { district, key_id } => {
            platform.revoke_key(&district, &key_id).await?;
            println!("district {district} no longer trusts key {key_id}");
            Ok(())
        }
        offline => run_offline(offline).await,
    }
}

/// `hutong publish`: sign a component and its manifest and publish them.
pub async fn publish(registry: &str, key: &Path, manifest: &Path, component: &Path) -> Result<()> {
    let key = KeyPair::load(key)?;
    let manifest_bytes = std::fs::read(manifest)
        .with_context(|| format!("could not read manifest {}", manifest.display()))?;
    // Refuse locally what every host would refuse: a manifest the host
    // cannot read is not worth a permanent log entry.
    let text = String::from_utf8(manifest_bytes.clone())
        .with_context(|| format!("manifest {} is not UTF-8", manifest.display()))?;
    crate::kernel::manifest::Manifest::from_toml(&text).map_err(PlatformError::from)?;
    let component_bytes = std::fs::read(component)
        .with_context(|| format!("could not read component {}", component.display()))?;
    let request = PublishRequest::sign(manifest_bytes, component_bytes, &key)?;
    let registry = hutong_registry::open(registry, true)?;
    let entry = registry.publish(request).await?;
    if let LogEvent::Publish(r) = &entry.event {
        println!(
            "published {}@{} to {} (log entry {}, component sha256 {}, signed by key {})",
            r.name,
            r.version,
            registry.location(),
            entry.index,
            r.component_sha256,
            r.key_id
        );
    }
    Ok(())
}
