//! `hutong`: serve the host, manage districts and installs, run the demo.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use hutong_host::manifest::{Manifest, Permission};
use hutong_host::server::{self, Opened, Settings};
use hutong_host::store::{Install, InstallStatus};
use hutong_host::{InstallRequest, PlatformError};

#[derive(Parser)]
#[command(
    name = "hutong",
    version,
    about = "A WebAssembly app host for smart communities"
)]
struct Cli {
    /// Data directory: the SQLite database and the precompiled-component cache.
    #[arg(
        long,
        global = true,
        env = "HUTONG_DATA_DIR",
        default_value = "hutong-data"
    )]
    data_dir: PathBuf,
    /// Database URL (postgres://…); SQLite in the data directory when absent.
    #[arg(long, global = true, env = "HUTONG_DATABASE_URL")]
    database_url: Option<String>,
    /// Log format.
    #[arg(long, global = true, env = "HUTONG_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the installed apps over HTTP.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Manage districts.
    #[command(subcommand)]
    District(DistrictCommand),
    /// Install an app into a district from a local component and manifest.
    Install {
        /// Target district.
        #[arg(long)]
        district: String,
        /// The app's hutong.toml.
        #[arg(long)]
        manifest: PathBuf,
        /// The app's component (.wasm).
        #[arg(long)]
        component: PathBuf,
        /// Grant a permission the manifest declares (repeatable).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// Grant every permission the manifest declares.
        #[arg(long, conflicts_with = "grants")]
        grant_all: bool,
        /// Install configuration: a JSON file holding an object.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// List installs.
    List {
        /// Only this district.
        #[arg(long)]
        district: Option<String>,
    },
    /// Show one install as JSON.
    Show {
        #[arg(long)]
        district: String,
        app: String,
    },
    /// Remove an install and its data.
    Uninstall {
        #[arg(long)]
        district: String,
        app: String,
        /// Keep the app's data for a later reinstall.
        #[arg(long)]
        keep_data: bool,
    },
    /// Stop an install from answering until resumed.
    Suspend {
        #[arg(long)]
        district: String,
        app: String,
        #[arg(long, default_value = "suspended by an administrator")]
        reason: String,
    },
    /// Let a suspended install answer again.
    Resume {
        #[arg(long)]
        district: String,
        app: String,
    },
    /// Set up a demo district with the example app and serve it.
    Demo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// The example app's component.
        #[arg(long, default_value = "target/guests/wasm32-wasip2/release/hello.wasm")]
        component: PathBuf,
        /// The example app's manifest.
        #[arg(long, default_value = "examples/hello/hutong.toml")]
        manifest: PathBuf,
    },
}

#[derive(Subcommand)]
enum DistrictCommand {
    /// Create a district.
    Create {
        /// Identifier used in URLs (a-z, 0-9, '-').
        id: String,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List districts.
    List,
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HUTONG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let settings = Settings {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
    };
    let opened = server::open(&settings, None)
        .await
        .context("could not open the host's storage")?;
    match cli.command {
        Command::Serve { listen } => serve(&opened, listen).await,
        Command::District(DistrictCommand::Create { id, name }) => {
            let d = opened.platform.create_district(&id, &name).await?;
            println!("created district {} ({})", d.id, d.name);
            Ok(())
        }
        Command::District(DistrictCommand::List) => {
            for d in opened
                .platform
                .store()
                .list_districts()
                .await
                .map_err(PlatformError::from)?
            {
                println!("{}\t{}", d.id, d.name);
            }
            Ok(())
        }
        Command::Install {
            district,
            manifest,
            component,
            grants,
            grant_all,
            config,
        } => {
            let install = install(
                &opened, &district, &manifest, &component, grants, grant_all, config,
            )
            .await?;
            print_install_summary(&install);
            Ok(())
        }
        Command::List { district } => {
            let installs = opened
                .platform
                .store()
                .list_installs(district.as_deref())
                .await
                .map_err(PlatformError::from)?;
            println!("DISTRICT\tAPP\tVERSION\tSTATUS\tGRANTED\tDIGEST");
            for i in installs {
                let granted: Vec<&str> = i.granted.iter().map(|p| p.name()).collect();
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    i.district,
                    i.app,
                    i.version,
                    match (i.status, &i.status_reason) {
                        (InstallStatus::Suspended, Some(r)) => format!("suspended ({r})"),
                        (InstallStatus::Suspended, None) => "suspended".to_owned(),
                        (InstallStatus::Active, _) => "active".to_owned(),
                    },
                    if granted.is_empty() {
                        "-".to_owned()
                    } else {
                        granted.join(",")
                    },
                    i.digest.get(..12).unwrap_or(&i.digest)
                );
            }
            Ok(())
        }
        Command::Show { district, app } => {
            let i = opened
                .platform
                .store()
                .get_install(&district, &app)
                .await
                .map_err(PlatformError::from)?;
            println!("{}", serde_json::to_string_pretty(&i)?);
            Ok(())
        }
        Command::Uninstall {
            district,
            app,
            keep_data,
        } => {
            opened
                .platform
                .uninstall(&district, &app, keep_data)
                .await?;
            println!(
                "uninstalled {app} from {district}{}",
                if keep_data {
                    " (data kept)"
                } else {
                    " (data removed)"
                }
            );
            Ok(())
        }
        Command::Suspend {
            district,
            app,
            reason,
        } => {
            opened.platform.suspend(&district, &app, &reason).await?;
            println!("suspended {app} in {district}");
            Ok(())
        }
        Command::Resume { district, app } => {
            opened.platform.resume(&district, &app).await?;
            println!("resumed {app} in {district}");
            Ok(())
        }
        Command::Demo {
            listen,
            component,
            manifest,
        } => demo(&opened, listen, &component, &manifest).await,
    }
}

async fn serve(opened: &Opened, listen: SocketAddr) -> Result<()> {
    let started = std::time::Instant::now();
    let loaded = opened.platform.runtime().load_all().await?;
    tracing::info!(
        installs = loaded,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "installs loaded"
    );
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("could not listen on {listen}"))?;
    tracing::info!(%listen, "serving");
    server::serve(opened, listener, server::shutdown_signal()).await?;
    Ok(())
}

async fn install(
    opened: &Opened,
    district: &str,
    manifest: &Path,
    component: &Path,
    grants: Vec<String>,
    grant_all: bool,
    config: Option<PathBuf>,
) -> Result<Install> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("could not read manifest {}", manifest.display()))?;
    let manifest = Manifest::from_toml(&text).map_err(PlatformError::from)?;
    let bytes = std::fs::read(component)
        .with_context(|| format!("could not read component {}", component.display()))?;
    let grant: BTreeSet<Permission> = if grant_all {
        manifest.permissions.keys().copied().collect()
    } else {
        grants
            .iter()
            .map(|g| g.parse())
            .collect::<Result<_, _>>()
            .map_err(PlatformError::from)?
    };
    let config = match config {
        None => serde_json::json!({}),
        Some(path) => {
            let value: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(&path)
                    .with_context(|| format!("could not read config {}", path.display()))?,
            )
            .with_context(|| format!("config {} is not JSON", path.display()))?;
            if !value.is_object() {
                bail!("config {} must hold a JSON object", path.display());
            }
            value
        }
    };
    Ok(opened
        .platform
        .install(InstallRequest {
            district: district.to_owned(),
            manifest,
            component: bytes,
            grant,
            config,
        })
        .await?)
}

fn print_install_summary(i: &Install) {
    println!(
        "installed {}@{} into {} (digest {})",
        i.app, i.version, i.district, i.digest
    );
    if i.manifest.permissions.is_empty() {
        println!("  asks for no permissions");
    }
    for (permission, reason) in &i.manifest.permissions {
        let mark = if i.granted.contains(permission) {
            "granted"
        } else {
            "NOT granted"
        };
        println!("  {permission}: {mark} — {reason}");
    }
    println!(
        "  limits: {} MiB memory, {} ms per call, {} byte responses",
        i.limits.memory_bytes >> 20,
        i.limits.deadline_ms,
        i.limits.response_bytes
    );
}

async fn demo(
    opened: &Opened,
    listen: SocketAddr,
    component: &Path,
    manifest: &Path,
) -> Result<()> {
    if !component.exists() {
        bail!(
            "the example app is not built ({} is missing); run `bash scripts/build-apps` first",
            component.display()
        );
    }
    let platform = &opened.platform;
    match platform.create_district("demo", "Demo District").await {
        Ok(_) | Err(PlatformError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    // Start from the example as it is now built.
    match platform.uninstall("demo", "hello", false).await {
        Ok(()) | Err(PlatformError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let installed = install(opened, "demo", manifest, component, vec![], true, None).await?;
    print_install_summary(&installed);
    let base = format!("http://{listen}");
    println!();
    println!("Hutong demo is serving on {base}. Try:");
    println!("  curl {base}/d/demo/apps/hello/");
    println!("  curl {base}/d/demo/apps/hello/greet/ana");
    println!("  curl {base}/d/demo/apps/hello/greet/ana   # visits go up: kept in the app's kv");
    println!("  curl {base}/d/demo/apps/hello/visits");
    println!("  curl {base}/api/v1/districts/demo/installs");
    println!("  curl {base}/metrics");
    println!("Ctrl-C stops it.");
    serve(opened, listen).await
}
