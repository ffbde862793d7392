//! `hutong`: serve the host, manage districts and installs, run the demo.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use hutong_host::community::import::{self, Format, RecordKind};
use hutong_host::community::sample;
use hutong_host::identity::Role;
use hutong_host::manifest::{Manifest, Permission};
use hutong_host::platform::DEFAULT_TOKEN_DAYS;
use hutong_host::platform::{PackagePlan, RegistryInstall, UpgradeRequest};
use hutong_host::server::{self, Opened, Settings};
use hutong_host::store::{Install, InstallStatus};
use hutong_host::{AccountRequest, InstallRequest, PlatformError};

mod cli;

#[derive(Parser)]
#[command(
    name = "hutong",
    version,
    about = "A WebAssembly app host for smart communities"
)]
struct Cli {
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
    log_format: LogFormat,
    /// A PEM file of extra root certificates to trust for https gateways and
    /// registries (a city's private CA), besides the built-in public roots.
    #[arg(long, global = true, env = "HUTONG_CA_FILE")]
    ca_file: Option<PathBuf>,
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
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Issue, list and revoke API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Import and export a district's community data.
    #[command(subcommand)]
    Data(DataCommand),
    /// What apps may do and what they did.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Cases (work orders): list, view, report, act; categories,
    /// departments, time limits and policy.
    #[command(subcommand)]
    Case(cli::cases::CaseCommandLine),
    /// Notifications: a district's gateways, its outbox and dead letters.
    #[command(subcommand)]
    Notify(cli::notify::NotifyCommandLine),
    /// Devices (door sensors, smoke and gas detectors, gateways): register,
    /// list (or the offline ones), rotate tokens, remove; dead letters.
    #[command(subcommand)]
    Device(cli::devices::DeviceCommandLine),
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
    Registry(cli::registry::RegistryCommandLine),
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
        /// Where the district apps of `plugins/` were built; each one found
        /// there is installed too, with its manifest from `plugins/`.
        #[arg(long, default_value = "target/guests/wasm32-wasip2/release")]
        apps_dir: PathBuf,
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

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account.
    Create {
        /// Id (a-z, 0-9, '-').
        id: String,
        /// platform-admin, district-admin, auditor, worker or resident.
        #[arg(long)]
        role: Role,
        /// The account's district (every role but platform-admin).
        #[arg(long)]
        district: Option<String>,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
        /// The resident record of a resident account.
        #[arg(long)]
        resident: Option<String>,
        /// A grid a worker serves (repeatable).
        #[arg(long = "grid")]
        grids: Vec<String>,
        /// A phone number for SMS and voice notifications (workers).
        #[arg(long)]
        phone: Option<String>,
    },
    /// Set or clear an account's phone number for notifications.
    Phone {
        /// The account.
        id: String,
        /// The number (digits, optionally after `+`); clears it when absent.
        #[arg(long)]
        phone: Option<String>,
    },
    /// List accounts.
    List {
        /// Only this district.
        #[arg(long)]
        district: Option<String>,
    },
    /// Disable an account: its tokens stop working.
    Disable {
        /// The account.
        id: String,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Import a CSV or JSON Lines file: all rows are checked first, and one
    /// bad row refuses the whole file. Records with a known id are updated.
    Import {
        #[arg(long)]
        district: String,
        /// The file (`.csv`, or `.jsonl`/`.json` with one record per line).
        file: PathBuf,
        /// For CSV: the kind of record in it (default: from the file name,
        /// e.g. `residents.csv`).
        #[arg(long)]
        kind: Option<String>,
    },
    /// Export every record of a district to standard output.
    Export {
        #[arg(long)]
        district: String,
        /// CSV of one kind of record instead of JSON Lines.
        #[arg(long)]
        csv: Option<String>,
    },
    /// Import generated sample data (invented people) for trying things out.
    Sample {
        #[arg(long)]
        district: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Every data call apps made: which records, which field class, and
    /// every denial.
    Access {
        #[arg(long)]
        district: String,
        /// Only this app.
        #[arg(long)]
        app: Option<String>,
        /// Only since this time: ms since the Unix epoch, or YYYY-MM-DD (UTC).
        #[arg(long)]
        since: Option<String>,
    },
    /// For each install: its permissions with reasons, grants, last use, and
    /// grants never used.
    Grants {
        #[arg(long)]
        district: String,
    },
    /// Check the access log's hash chain: exits non-zero if an entry was
    /// changed, removed or inserted after it was written.
    Verify {
        #[arg(long)]
        district: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue a token; it is printed once and never stored.
    Issue {
        /// The account it signs in as.
        #[arg(long)]
        account: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        label: String,
        /// Days until it expires (1 to 365).
        #[arg(long, default_value_t = DEFAULT_TOKEN_DAYS)]
        days: u32,
    },
    /// List an account's tokens.
    List {
        /// The account.
        #[arg(long)]
        account: String,
    },
    /// Revoke a token by its id.
    Revoke {
        /// The token's id (the part after `htk_`, before the secret).
        id: String,
    },
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
    if let Some(path) = &cli.ca_file {
        let what = path.display().to_string();
        let pem = std::fs::read(path).with_context(|| format!("reading {what}"))?;
        let count =
            hutong_registry::tls::trust_extra_roots(&what, &pem).map_err(anyhow::Error::msg)?;
        tracing::info!(file = %what, count, "trusting extra root certificates");
    }
    // Commands on a registry alone never open (or create) the host's data.
    let offline = match &cli.command {
        Command::Publish { .. } => true,
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
            } => cli::registry::publish(&registry, &key, &manifest, &component).await,
            Command::Registry(c) => cli::registry::run_offline(c).await,
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
        Command::Account(command) => account(&opened, command).await,
        Command::Data(command) => data(&opened, command).await,
        Command::Audit(command) => audit(&opened, command).await,
        Command::Token(command) => token(&opened, command).await,
        Command::Case(command) => cli::cases::run(&opened, command).await,
        Command::Notify(command) => cli::notify::run(&opened, command).await,
        Command::Device(command) => cli::devices::run(&opened, command).await,
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
                print_plan(&plan);
                return Ok(());
            }
            let grants = Grants {
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
                    install_from_registry(&opened, &district, &package, &registry, config, grants)
                        .await?
                }
                (None, Some(manifest), Some(component)) => {
                    install(
                        &opened,
                        &district,
                        InstallFiles {
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
            print_install_summary(&install);
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
                print_plan(&plan);
                return Ok(());
            }
            let report = opened
                .platform
                .upgrade(UpgradeRequest {
                    district,
                    registry,
                    package,
                    grant: parse_grants(&grants)?,
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
            print_source(i);
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
                    hutong_host::cases::format_ms(v.installed_at),
                    hutong_host::cases::format_ms(v.replaced_at),
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
        Command::Registry(command) => cli::registry::run(&opened, command).await,
        Command::Publish { .. } => Ok(()),
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
            apps_dir,
        } => demo(&opened, listen, &component, &manifest, &apps_dir).await,
    }
}

async fn account(opened: &Opened, command: AccountCommand) -> Result<()> {
    let platform = &opened.platform;
    match command {
        AccountCommand::Create {
            id,
            role,
            district,
            name,
            resident,
            grids,
            phone,
        } => {
            let a = platform
                .create_account(AccountRequest {
                    id,
                    role,
                    district,
                    display_name: name,
                    resident_id: resident,
                    grids,
                    phone,
                })
                .await?;
            println!(
                "created {} account {} ({}){}",
                a.role,
                a.id,
                a.display_name,
                a.district
                    .map(|d| format!(" in district {d}"))
                    .unwrap_or_default()
            );
        }
        AccountCommand::List { district } => {
            println!("ID\tROLE\tDISTRICT\tNAME\tSTATUS");
            for a in platform
                .store()
                .list_accounts(district.as_deref())
                .await
                .map_err(PlatformError::from)?
            {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    a.id,
                    a.role,
                    a.district.as_deref().unwrap_or("-"),
                    a.display_name,
                    if a.disabled_at.is_some() {
                        "disabled"
                    } else {
                        "active"
                    }
                );
            }
        }
        AccountCommand::Phone { id, phone } => {
            platform.set_account_phone(&id, phone.as_deref()).await?;
            match phone {
                Some(_) => println!("set the phone number of account {id}"),
                None => println!("cleared the phone number of account {id}"),
            }
        }
        AccountCommand::Disable { id } => {
            platform.disable_account(&id).await?;
            println!("disabled account {id}: its tokens no longer work");
        }
    }
    Ok(())
}

async fn token(opened: &Opened, command: TokenCommand) -> Result<()> {
    let platform = &opened.platform;
    match command {
        TokenCommand::Issue {
            account,
            label,
            days,
        } => {
            let issued = platform.issue_token(&account, &label, days).await?;
            eprintln!(
                "token {} for {account}, valid {days} days; it is shown only now:",
                issued.record.id
            );
            println!("{}", issued.token);
        }
        TokenCommand::List { account } => {
            println!("ID\tLABEL\tEXPIRES_AT_MS\tSTATUS");
            let now = hutong_host::store::now_ms();
            for t in platform
                .store()
                .list_tokens(&account)
                .await
                .map_err(PlatformError::from)?
            {
                let status = if t.revoked_at.is_some() {
                    "revoked"
                } else if t.expires_at <= now {
                    "expired"
                } else {
                    "active"
                };
                println!("{}\t{}\t{}\t{status}", t.id, t.label, t.expires_at);
            }
        }
        TokenCommand::Revoke { id } => {
            platform.revoke_token(&id).await?;
            println!("revoked token {id}");
        }
    }
    Ok(())
}

/// One account per role in the demo district, each with a fresh token.
async fn demo_accounts(opened: &Opened) -> Result<Vec<(Role, String)>> {
    let platform = &opened.platform;
    let accounts = [
        (
            "demo-platform-admin",
            Role::PlatformAdmin,
            None,
            "平台管理员",
            vec![],
            None,
        ),
        (
            "demo-district-admin",
            Role::DistrictAdmin,
            Some("demo"),
            "区管理员",
            vec![],
            None,
        ),
        (
            "demo-auditor",
            Role::Auditor,
            Some("demo"),
            "审计员",
            vec![],
            None,
        ),
        (
            "demo-worker",
            Role::Worker,
            Some("demo"),
            "网格员 王丽",
            vec!["c-xingfu-g1".to_owned()],
            None,
        ),
        (
            "demo-resident",
            Role::Resident,
            Some("demo"),
            "居民 张三",
            vec![],
            Some("r-0001"),
        ),
    ];
    let mut tokens = Vec::new();
    for (id, role, district, name, grids, resident) in accounts {
        match platform
            .create_account(AccountRequest {
                id: id.to_owned(),
                role,
                district: district.map(str::to_owned),
                display_name: name.to_owned(),
                resident_id: resident.map(str::to_owned),
                grids,
                phone: None,
            })
            .await
        {
            Ok(_) | Err(PlatformError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
        tokens.push((role, platform.issue_token(id, "demo", 7).await?.token));
    }
    Ok(tokens)
}

async fn data(opened: &Opened, command: DataCommand) -> Result<()> {
    let platform = &opened.platform;
    match command {
        DataCommand::Import {
            district,
            file,
            kind,
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("could not read {}", file.display()))?;
            let is_csv = file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
            let format = if is_csv {
                let kind = match kind {
                    Some(k) => k,
                    None => file
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .map(singular)
                        .unwrap_or_default(),
                };
                Format::Csv(kind.parse().map_err(|e: String| {
                    anyhow::anyhow!(
                        "{e}; name the kind with --kind or in the file name (residents.csv)"
                    )
                })?)
            } else {
                Format::JsonLines
            };
            let summary = platform.import_data(&district, &text, format).await?;
            println!(
                "imported {}: {} created, {} updated",
                file.display(),
                summary.created,
                summary.updated
            );
        }
        DataCommand::Export { district, csv } => {
            let records = platform.export_data(&district).await?;
            match csv {
                Some(kind) => {
                    let kind: RecordKind = kind.parse().map_err(anyhow::Error::msg)?;
                    print!("{}", import::to_csv(kind, &records));
                }
                None => print!("{}", import::to_json_lines(&records)),
            }
        }
        DataCommand::Sample { district } => {
            let text = import::to_json_lines(&sample::sample_district(1));
            let summary = platform
                .import_data(&district, &text, Format::JsonLines)
                .await?;
            println!(
                "imported sample data into {district}: {} created, {} updated",
                summary.created, summary.updated
            );
        }
    }
    Ok(())
}

/// `residents` → `resident`, `communities` → `community`: the kind a CSV
/// file's name stands for.
fn singular(name: &str) -> String {
    if let Some(stem) = name.strip_suffix("ies") {
        format!("{stem}y")
    } else {
        name.strip_suffix('s').unwrap_or(name).to_owned()
    }
}

/// `--since`: ms since the Unix epoch, or a `YYYY-MM-DD` date (UTC).
fn parse_since(since: &str) -> Result<i64> {
    if let Ok(ms) = since.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(since, "%Y-%m-%d") {
        return Ok(date
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_millis());
    }
    bail!("--since `{since}` is neither ms since the Unix epoch nor a YYYY-MM-DD date")
}

async fn audit(opened: &Opened, command: AuditCommand) -> Result<()> {
    let platform = &opened.platform;
    match command {
        AuditCommand::Access {
            district,
            app,
            since,
        } => {
            let since = since.as_deref().map(parse_since).transpose()?;
            println!(
                "AT_MS\tAPP\tVERSION\tREQUEST\tOPERATION\tPERMISSION\tOUTCOME\tFIELDS\tRECORDS"
            );
            for e in platform
                .access_log(&district, app.as_deref(), since, 100_000)
                .await?
            {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{} [{}]",
                    e.at,
                    e.app,
                    e.version,
                    e.request_id,
                    e.operation,
                    e.permission,
                    e.outcome,
                    if e.field_class.is_empty() {
                        "-"
                    } else {
                        &e.field_class
                    },
                    e.record_count,
                    e.record_ids.join(",")
                );
            }
        }
        AuditCommand::Verify { district } => {
            let report = platform.verify_access_log(&district).await?;
            match report.broken {
                None => println!(
                    "access log of {district} holds: {} entries, head {}",
                    report.entries, report.head
                ),
                Some(problem) => bail!(
                    "the access log of {district} was tampered with: {problem} (checked {} entries)",
                    report.entries
                ),
            }
        }
        AuditCommand::Grants { district } => {
            for report in platform.grant_report(&district).await? {
                println!("{}@{}", report.app, report.version);
                if report.permissions.is_empty() {
                    println!("  asks for no permissions");
                }
                for p in report.permissions {
                    let used = match (p.granted, p.last_used_at) {
                        (false, _) => "not granted".to_owned(),
                        (true, Some(at)) => format!("granted, last used at {at} ms"),
                        (true, None) if p.never_used => "granted, NEVER USED".to_owned(),
                        (true, None) => "granted (uses are not logged per call)".to_owned(),
                    };
                    println!("  {}: {used} — {}", p.permission, p.reason);
                }
            }
        }
    }
    Ok(())
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

/// The files an install is made from.
struct InstallFiles<'a> {
    manifest: &'a Path,
    component: &'a Path,
    config: Option<PathBuf>,
}

/// What the administrator grants an install.
struct Grants {
    grants: Vec<String>,
    grant_all: bool,
    communities: Option<Vec<String>>,
}

async fn install(
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

fn parse_grants(grants: &[String]) -> Result<BTreeSet<Permission>> {
    Ok(grants
        .iter()
        .map(|g| g.parse())
        .collect::<Result<_, _>>()
        .map_err(PlatformError::from)?)
}

fn read_config(config: Option<PathBuf>) -> Result<serde_json::Value> {
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

async fn install_from_registry(
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

fn print_plan(plan: &PackagePlan) {
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

fn print_source(i: &Install) {
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
    print_source(i);
    println!(
        "  limits: {} MiB memory, {} ms per call, {} byte responses",
        i.limits.memory_bytes >> 20,
        i.limits.deadline_ms,
        i.limits.response_bytes
    );
}

/// The district apps of `plugins/` the demo installs, by name, with the file
/// cargo writes for each.
const DEMO_APPS: &[(&str, &str)] = &[
    ("smart-care", "smart_care.wasm"),
    ("e-voting", "e_voting.wasm"),
    ("party-building", "party_building.wasm"),
];

/// Install (afresh) each district app built into `apps_dir`, granting all it
/// asks for; returns the names installed. An app not built is left out with
/// a note, so the demo still runs with only the example.
async fn demo_apps(opened: &Opened, apps_dir: &Path) -> Result<Vec<String>> {
    let mut installed = Vec::new();
    for (name, wasm) in DEMO_APPS {
        let component = apps_dir.join(wasm);
        if !component.exists() {
            println!(
                "{name} is not built ({} is missing); `bash scripts/build-apps` builds it",
                component.display()
            );
            continue;
        }
        match opened.platform.uninstall("demo", name, false).await {
            Ok(()) | Err(PlatformError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let manifest = PathBuf::from(format!("plugins/{name}/hutong.toml"));
        let install = install(
            opened,
            "demo",
            InstallFiles {
                manifest: &manifest,
                component: &component,
                config: None,
            },
            Grants {
                grants: vec![],
                grant_all: true,
                communities: None,
            },
        )
        .await?;
        print_install_summary(&install);
        installed.push(install.app);
    }
    Ok(installed)
}

async fn demo(
    opened: &Opened,
    listen: SocketAddr,
    component: &Path,
    manifest: &Path,
    apps_dir: &Path,
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
    let installed = install(
        opened,
        "demo",
        InstallFiles {
            manifest,
            component,
            config: None,
        },
        Grants {
            grants: vec![],
            grant_all: true,
            communities: None,
        },
    )
    .await?;
    if platform
        .store()
        .existing_ids("demo")
        .await
        .map_err(PlatformError::from)?
        .residents
        .is_empty()
    {
        let sample = import::to_json_lines(&sample::sample_district(1));
        let summary = platform
            .import_data("demo", &sample, Format::JsonLines)
            .await?;
        println!(
            "imported {} sample records (invented people) into demo",
            summary.created
        );
    }
    print_install_summary(&installed);
    let apps = demo_apps(opened, apps_dir).await?;
    let tokens = demo_accounts(opened).await?;
    let first_case = cli::cases::demo_set_up(opened, "demo").await?;
    let base = format!("http://{listen}");
    println!();
    println!("Hutong demo is serving on {base}. Try:");
    println!("  curl {base}/d/demo/apps/hello/");
    println!("  curl {base}/d/demo/apps/hello/greet/ana");
    println!("  curl {base}/d/demo/apps/hello/greet/ana   # visits go up: kept in the app's kv");
    println!("  curl {base}/d/demo/apps/hello/visits");
    println!("  curl {base}/d/demo/apps/hello/whoami        # 401: not a public route");
    println!();
    println!("Tokens for each role (valid 7 days):");
    for (role, token) in &tokens {
        println!("  {role:<15} {token}");
    }
    let admin = &tokens[1].1;
    let resident = &tokens[4].1;
    println!();
    println!("  curl -H 'Authorization: Bearer {resident}' {base}/d/demo/apps/hello/whoami");
    println!("  curl -H 'Authorization: Bearer {admin}' {base}/api/v1/districts/demo/installs");
    let worker = &tokens[3].1;
    println!(
        "  curl -H 'Authorization: Bearer {worker}' '{base}/api/v1/districts/demo/residents?limit=3'"
    );
    println!();
    println!("Cases (work orders): the worker's list, accepting one, and Open311 intake:");
    println!("  curl -H 'Authorization: Bearer {worker}' {base}/api/v1/districts/demo/cases");
    println!(
        "  curl -X POST -H 'Authorization: Bearer {worker}' {base}/api/v1/districts/demo/cases/{first_case}/accept"
    );
    println!(
        "  curl -H 'Authorization: Bearer {resident}' -H 'content-type: application/json' -d '{{\"category\": \"noise\", \"building_id\": \"c-xingfu-b2\", \"description\": \"装修噪音到深夜\"}}' {base}/api/v1/districts/demo/cases"
    );
    println!("  curl {base}/d/demo/open311/v2/services.json");
    println!("  curl -H 'Authorization: Bearer {admin}' {base}/api/v1/districts/demo/case-figures");
    println!("  curl {base}/metrics");
    if !apps.is_empty() {
        println!();
        println!("District apps ({}):", apps.join(", "));
    }
    for app in &apps {
        match app.as_str() {
            "smart-care" => println!(
                "  curl -H 'Authorization: Bearer {worker}' {base}/d/demo/apps/smart-care/api/residents   # filled by its first five-minute watch"
            ),
            "e-voting" => println!(
                "  curl -H 'Authorization: Bearer {resident}' {base}/d/demo/apps/e-voting/polls"
            ),
            "party-building" => println!(
                "  curl -H 'Authorization: Bearer {admin}' {base}/d/demo/apps/party-building/branches"
            ),
            _ => {}
        }
    }
    println!("Ctrl-C stops it.");
    serve(opened, listen).await
}
