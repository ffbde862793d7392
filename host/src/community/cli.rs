//! `hutong data …` and `hutong audit …`: a district's community data, and
//! what apps may do and did with it.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use crate::community::import;
use crate::community::import::{Format, RecordKind};
use crate::community::sample;
use crate::kernel::access_log::Reader;
use crate::server::Opened;

#[derive(Subcommand)]
pub enum DataCommand {
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
pub enum AuditCommand {
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

pub(crate) async fn data(opened: &Opened, command: DataCommand) -> Result<()> {
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
            let records = platform
                .export_data(&district, Reader::CommandLine, "cli")
                .await?;
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

pub(crate) async fn audit(opened: &Opened, command: AuditCommand) -> Result<()> {
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
