//! The `hutong` command line: serve the host, manage districts, accounts,
//! installs and data, and run the demo.
//!
//! `main.rs` only parses the arguments and calls [`run`]; each group of
//! commands lives in its own module here. The commands speak to people, so
//! their errors are `anyhow` chains of the platform's refusals, printed
//! without a backtrace.

pub mod demo;
pub mod dev;
pub mod new;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::PlatformError;
use crate::api::app_origin::AppsDomain;
use crate::installs::registry::UpgradeRequest;
use crate::installs::store::InstallStatus;
use crate::server::{self, Opened, Settings};

#[derive(Parser)]
#[command(
    name = "hutong",
    version,
    about = "A WebAssembly app host for smart communities"
)]
pub struct Cli {
    /// Data directory: the SQLite database, the precompiled-component cache
    /// and verified registry packages.
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
    pub log_format: LogFormat,
    /// A PEM file of extra root certificates to trust for https gateways and
    /// registries (a city's private CA), besides the built-in public roots.
    #[arg(long, global = true, env = "HUTONG_CA_FILE")]
    ca_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written.
#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the API and the installed apps over HTTP.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// The host name under which browsers get each app on an origin of
        /// its own (`{app}.{district}.{domain}`): its names must reach this
        /// host. `none` serves apps on the console's origin only, sandboxed
        /// and without the person's session.
        #[arg(long, default_value = AppsDomain::LOCAL)]
        apps_domain: String,
    },
    /// Manage districts.
    #[command(subcommand)]
    District(DistrictCommand),
    /// Manage accounts.
    #[command(subcommand)]
    Account(crate::accounts::cli::AccountCommand),
    /// Issue, list and revoke API tokens.
    #[command(subcommand)]
    Token(crate::accounts::cli::TokenCommand),
    /// Import and export a district's community data.
    #[command(subcommand)]
    Data(crate::community::cli::DataCommand),
    /// What apps may do and what they did.
    #[command(subcommand)]
    Audit(crate::community::cli::AuditCommand),
    /// Cases (work orders): list, view, report, act; categories,
    /// departments, time limits and policy.
    #[command(subcommand)]
    Case(crate::cases::cli::CaseCommandLine),
    /// Notifications: a district's gateways, its outbox and dead letters.
    #[command(subcommand)]
    Notify(crate::notify::cli::NotifyCommandLine),
    /// Devices (door sensors, smoke and gas detectors, gateways): register,
    /// list (or the offline ones), rotate tokens, remove; dead letters.
    #[command(subcommand)]
    Device(crate::devices::cli::DeviceCommandLine),
    /// Install an app into a district: a release from a registry
    /// (`smart-care@^1.2 --registry URL`), or a local component and manifest.
    Install {
        /// Target district.
        #[arg(long)]
        district: String,
        /// From a registry: `name@requirement` (`smart-care@^1.2`; `=1.2.3`
        /// pins exactly and may install a yanked release).
        package: Option<String>,
        /// The registry: an http:// or https:// URL, or a directory.
        #[arg(long, env = "HUTONG_REGISTRY")]
        registry: Option<String>,
        /// The app's hutong.toml (a local install).
        #[arg(long, conflicts_with = "package", required_unless_present = "package")]
        manifest: Option<PathBuf>,
        /// The app's component (.wasm) (a local install).
        #[arg(long, conflicts_with = "package", required_unless_present = "package")]
        component: Option<PathBuf>,
        /// Grant a permission the manifest declares (repeatable).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// Grant every permission the manifest declares.
        #[arg(long, conflicts_with = "grants")]
        grant_all: bool,
        /// Install configuration: a JSON file holding an object.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Narrow the app's view of community data to this community
        /// (repeatable); the whole district when absent.
        #[arg(long = "community")]
        communities: Vec<String>,
        /// From a registry: resolve and verify the release and show the
        /// permissions it asks for, with reasons; install nothing.
        #[arg(long, requires = "package")]
        dry_run: bool,
    },
    /// Upgrade an install to the newest release from a registry matching
    /// `app@requirement`. Shows the permission diff; while the new version
    /// adds permissions not granted here, nothing changes. Permissions it
    /// drops are revoked. The version before is kept for `rollback`.
    Upgrade {
        #[arg(long)]
        district: String,
        /// `app@requirement`, like `smart-care@^1.3`.
        package: String,
        /// The registry: an http:// or https:// URL, or a directory.
        #[arg(long, env = "HUTONG_REGISTRY")]
        registry: String,
        /// Grant a permission the new version adds (repeatable).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// Accept a release signed by another publisher key than the
        /// installed version's (it takes over the app's data).
        #[arg(long)]
        allow_new_publisher: bool,
        /// Resolve and verify the release and show the permission diff;
        /// change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Put an install back to the version before its last upgrade, with that
    /// version's grants; the app's data stays.
    Rollback {
        #[arg(long)]
        district: String,
        app: String,
    },
    /// The versions an install ran before, newest first.
    History {
        #[arg(long)]
        district: String,
        app: String,
    },
    /// Sign a component and its manifest with a publisher key and publish
    /// them to a registry (a directory is created if absent).
    Publish {
        /// The registry: an http:// or https:// URL, or a directory.
        #[arg(long, env = "HUTONG_REGISTRY")]
        registry: String,
        /// The publisher key file from `hutong registry keygen`.
        #[arg(long)]
        key: PathBuf,
        /// The app's hutong.toml.
        #[arg(long)]
        manifest: PathBuf,
        /// The app's component (.wasm).
        #[arg(long)]
        component: PathBuf,
    },
    /// Registries: publisher keys, yanking, serving a directory registry,
    /// and the keys a district trusts.
    #[command(subcommand)]
    Registry(crate::installs::registry_cli::RegistryCommandLine),
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
    /// Start a new app in a new folder NAME: a manifest with reasons, a
    /// route, tests and a README; in Rust with the SDK (and its WIT) this
    /// `hutong` carries beside it, so it builds with nothing else checked
    /// out; in Python or JavaScript with the pinned toolchain's build script
    /// and the WIT.
    New {
        /// The app's name: 1 to 63 characters of a-z, 0-9 and '-'.
        name: String,
        /// The folder to make it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The language: rust (with the SDK), python (componentize-py) or
        /// js (componentize-js).
        #[arg(long, value_enum, default_value = "rust")]
        lang: new::Lang,
    },
    /// Develop the app in a folder: build it, install it in the sample
    /// district `demo` (an account per role) with every permission its
    /// manifest declares and the folder's config.json, serve it, and on
    /// each change rebuild it and swap it in place, keeping its data.
    Dev {
        /// The app's folder (with hutong.toml, and Cargo.toml or build.sh).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// As for `serve`.
        #[arg(long, default_value = AppsDomain::LOCAL)]
        apps_domain: String,
    },
    /// Set up a demo district with the example app and serve it.
    Demo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// As for `serve`.
        #[arg(long, default_value = AppsDomain::LOCAL)]
        apps_domain: String,
        /// The example app's component.
        #[arg(long, default_value = "target/guests/wasm32-wasip2/release/hello.wasm")]
        component: PathBuf,
        /// The example app's manifest.
        #[arg(long, default_value = "examples/hello/hutong.toml")]
        manifest: PathBuf,
        /// Where the district apps of `plugins/` were built; each one found
        /// there is installed too, with its manifest from `plugins/`.
        #[arg(long, default_value = "target/guests/wasm32-wasip2/release")]
        apps_dir: PathBuf,
        /// An app of your own to build and install too, from its folder
        /// (hutong.toml, and Cargo.toml or build.sh; config.json if it has
        /// one), with every permission its manifest declares (repeatable).
        #[arg(long = "app")]
        apps: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum DistrictCommand {
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
    /// Set how many calls of a district's apps may be alive at once.
    Shares {
        /// The district.
        #[arg(long)]
        district: String,
        /// The most calls at once (1 to the host's pool).
        #[arg(long, conflicts_with = "default", required_unless_present = "default")]
        calls: Option<u32>,
        /// Back to the host's default share.
        #[arg(long)]
        default: bool,
    },
}

impl Cli {
    /// What is logged when `HUTONG_LOG` does not say: everything from
    /// `info` up, but for `hutong dev`, where the terminal shows the app's
    /// own lines and its calls, and only the host's warnings.
    pub fn default_log_filter(&self) -> &'static str {
        match self.command {
            Command::Dev { .. } => "warn,hutong::app=info,hutong_host::runtime::call=debug",
            _ => "info",
        }
    }
}

/// Log to standard error, as `HUTONG_LOG` filters (default `default`).
pub fn init_tracing(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HUTONG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only for a person at a terminal who did not turn them off
    // (`NO_COLOR`): escape codes in a log file or a journal are noise to
    // read and cost time to write.
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Run one parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    if let Some(path) = &cli.ca_file {
        let what = path.display().to_string();
        let pem = std::fs::read(path).with_context(|| format!("reading {what}"))?;
        let count =
            hutong_registry::tls::trust_extra_roots(&what, &pem).map_err(anyhow::Error::msg)?;
        tracing::info!(file = %what, count, "trusting extra root certificates");
    }
    // Commands on a registry alone, and `new`, never open (or create) the host's data.
    let offline = match &cli.command {
        Command::Publish { .. } | Command::New { .. } => true,
        Command::Registry(c) => c.is_offline(),
        _ => false,
    };
    if offline {
        return match cli.command {
            Command::Publish {
                registry,
                key,
                manifest,
                component,
            } => {
                crate::installs::registry_cli::publish(&registry, &key, &manifest, &component).await
            }
            Command::Registry(c) => crate::installs::registry_cli::run_offline(c).await,
            Command::New { name, dir, lang } => {
                let made = new::new_app(&dir, &name, lang)?;
                let folder = made.dir.display();
                println!("made the app `{name}` in {folder}");
                println!();
                println!("  cd {folder}");
                match lang {
                    new::Lang::Rust => {
                        println!("  cargo test");
                        println!("  cargo build --release --target wasm32-wasip2");
                    }
                    new::Lang::Python => {
                        println!("  pip install -r requirements.txt");
                        println!("  sh test.sh");
                        println!("  sh build.sh");
                    }
                    new::Lang::Js => {
                        println!("  npm ci");
                        println!("  npm test");
                        println!("  sh build.sh");
                    }
                }
                println!("  hutong dev        # serve it locally; rebuild and swap on each change");
                println!(
                    "  hutong install --district DISTRICT --manifest hutong.toml --component {} --grant-all",
                    made.component.display()
                );
                Ok(())
            }
            _ => Ok(()),
        };
    }
    let settings = Settings {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
    };
    let opened = server::open(&settings, None)
        .await
        .context("could not open the host's storage")?;
    match cli.command {
        Command::Serve {
            listen,
            apps_domain,
        } => serve(&opened, listen, apps_domain_arg(&apps_domain)?).await,
        Command::District(DistrictCommand::Create { id, name }) => {
            let d = opened.platform.create_district(&id, &name).await?;
            println!("created district {} ({})", d.id, d.name);
            Ok(())
        }
        Command::District(DistrictCommand::Shares {
            district, calls, ..
        }) => {
            let d = opened.platform.set_district_calls(&district, calls).await?;
            match d.max_calls {
                Some(n) => println!("district {} may have {n} calls alive at once", d.id),
                None => println!("district {} has the host's default share", d.id),
            }
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
        Command::Account(command) => crate::accounts::cli::account(&opened, command).await,
        Command::Data(command) => crate::community::cli::data(&opened, command).await,
        Command::Audit(command) => crate::community::cli::audit(&opened, command).await,
        Command::Token(command) => crate::accounts::cli::token(&opened, command).await,
        Command::Case(command) => crate::cases::cli::run(&opened, command).await,
        Command::Notify(command) => crate::notify::cli::run(&opened, command).await,
        Command::Device(command) => crate::devices::cli::run(&opened, command).await,
        Command::Install {
            district,
            package,
            registry,
            manifest,
            component,
            grants,
            grant_all,
            config,
            communities,
            dry_run,
        } => {
            if let (true, Some(package), Some(registry)) = (dry_run, &package, &registry) {
                let plan = opened
                    .platform
                    .plan_from_registry(&district, registry, package)
                    .await?;
                crate::installs::cli::print_plan(&plan);
                return Ok(());
            }
            let grants = crate::installs::cli::Grants {
                grants,
                grant_all,
                communities: (!communities.is_empty()).then_some(communities),
            };
            let install = match (package, manifest, component) {
                (Some(package), _, _) => {
                    let Some(registry) = registry else {
                        bail!(
                            "installing {package} needs --registry (an http:// or https:// URL, or a registry directory)"
                        );
                    };
                    crate::installs::cli::install_from_registry(
                        &opened, &district, &package, &registry, config, grants,
                    )
                    .await?
                }
                (None, Some(manifest), Some(component)) => {
                    crate::installs::cli::install(
                        &opened,
                        &district,
                        crate::installs::cli::InstallFiles {
                            manifest: &manifest,
                            component: &component,
                            config,
                        },
                        grants,
                    )
                    .await?
                }
                _ => bail!(
                    "give either a package (name@requirement with --registry) or both --manifest and --component"
                ),
            };
            crate::installs::cli::print_install_summary(&install);
            Ok(())
        }
        Command::Upgrade {
            district,
            package,
            registry,
            grants,
            allow_new_publisher,
            dry_run,
        } => {
            if dry_run {
                let plan = opened
                    .platform
                    .plan_from_registry(&district, &registry, &package)
                    .await?;
                crate::installs::cli::print_plan(&plan);
                return Ok(());
            }
            let report = opened
                .platform
                .upgrade(UpgradeRequest {
                    district,
                    registry,
                    package,
                    grant: crate::installs::cli::parse_grants(&grants)?,
                    allow_new_publisher,
                })
                .await?;
            let i = &report.install;
            println!(
                "upgraded {} in {}: {} -> {} (digest {})",
                i.app, i.district, report.from, report.to, i.digest
            );
            if report.added.is_empty() && report.removed.is_empty() {
                println!("  permissions unchanged");
            }
            for (permission, reason) in &report.added {
                println!("  + {permission}: granted — {reason}");
            }
            for permission in &report.removed {
                println!("  - {permission}: no longer asked for; revoked");
            }
            crate::installs::cli::print_source(i);
            println!(
                "  `hutong rollback --district {} {}` goes back to {}",
                i.district, i.app, report.from
            );
            Ok(())
        }
        Command::Rollback { district, app } => {
            let (from, i) = opened.platform.rollback(&district, &app).await?;
            println!(
                "rolled {app} in {district} back: {from} -> {} (digest {}); its data is kept",
                i.version, i.digest
            );
            let granted: Vec<&str> = i.granted.iter().map(|p| p.name()).collect();
            println!(
                "  granted again: {}",
                if granted.is_empty() {
                    "none".to_owned()
                } else {
                    granted.join(", ")
                }
            );
            Ok(())
        }
        Command::History { district, app } => {
            println!("VERSION\tINSTALLED\tREPLACED\tGRANTED\tREGISTRY\tDIGEST");
            for v in opened.platform.install_history(&district, &app).await? {
                let granted: Vec<&str> = v.granted.iter().map(|p| p.name()).collect();
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    v.version,
                    crate::cases::format_ms(v.installed_at),
                    crate::cases::format_ms(v.replaced_at),
                    if granted.is_empty() {
                        "-".to_owned()
                    } else {
                        granted.join(",")
                    },
                    v.source.as_ref().map_or("-", |s| s.registry.as_str()),
                    v.digest.get(..12).unwrap_or(&v.digest)
                );
            }
            Ok(())
        }
        Command::Registry(command) => crate::installs::registry_cli::run(&opened, command).await,
        Command::Publish { .. } | Command::New { .. } => Ok(()),
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
        Command::Dev {
            dir,
            listen,
            apps_domain,
        } => dev::dev(&opened, &dir, listen, apps_domain_arg(&apps_domain)?).await,
        Command::Demo {
            listen,
            apps_domain,
            component,
            manifest,
            apps_dir,
            apps,
        } => {
            let apps_domain = apps_domain_arg(&apps_domain)?;
            demo::demo(
                &opened,
                listen,
                apps_domain,
                &component,
                &manifest,
                &apps_dir,
                &apps,
            )
            .await
        }
    }
}

/// `--apps-domain`: a host name, or `none`.
fn apps_domain_arg(value: &str) -> Result<Option<AppsDomain>> {
    if value.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    AppsDomain::parse(value)
        .map(Some)
        .map_err(|why| anyhow::anyhow!("--apps-domain: {why}; or `none`"))
}

pub(crate) async fn serve(
    opened: &Opened,
    listen: SocketAddr,
    apps_domain: Option<AppsDomain>,
) -> Result<()> {
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
    match &apps_domain {
        Some(domain) => tracing::info!(%domain, "apps reach browsers on origins of their own"),
        None => tracing::warn!(
            "no apps domain: app pages reach browsers only sandboxed, without the person's session"
        ),
    }
    server::serve(opened, listener, apps_domain, server::shutdown_signal()).await?;
    Ok(())
}
