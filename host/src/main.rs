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
        /// Narrow the app's view of community data to this community
        /// (repeatable); the whole district when absent.
        #[arg(long = "community")]
        communities: Vec<String>,
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
            manifest,
            component,
            grants,
            grant_all,
            config,
            communities,
        } => {
            let install = install(
                &opened,
                &district,
                InstallFiles {
                    manifest: &manifest,
                    component: &component,
                    config,
                },
                Grants {
                    grants,
                    grant_all,
                    communities: (!communities.is_empty()).then_some(communities),
                },
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
    let parts: Vec<&str> = since.split('-').collect();
    if let [y, m, d] = parts[..]
        && let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i64>(), m.parse::<i64>(), d.parse::<i64>())
        && (1..=12).contains(&m)
        && (1..=31).contains(&d)
    {
        // Days from civil (Howard Hinnant's algorithm), then ms.
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return Ok((era * 146_097 + doe - 719_468) * 86_400_000);
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
            communities,
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
    println!("Ctrl-C stops it.");
    serve(opened, listen).await
}
