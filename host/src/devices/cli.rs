//! `hutong device …`: register devices, list them (or the offline ones),
//! rotate tokens, remove them, and see and retry the events apps kept
//! refusing.

use crate::cases::format_ms;
use crate::devices::ops::{DeviceRegistration, DeviceView, MAX_DEVICE_PAGE};
use crate::kernel::events::{COMMON_TYPES, KINDS};
use crate::server::Opened;
use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum DeviceCommandLine {
    /// The device kinds this host knows and the event types of each.
    Kinds,
    /// Register a device; prints its token once.
    Register {
        #[arg(long)]
        district: String,
        id: String,
        /// A kind from `hutong device kinds`.
        #[arg(long)]
        kind: String,
        /// Bind it to a household of the district's community data.
        #[arg(long)]
        household: Option<String>,
        /// Bind it to a resident (of that household, if both are given).
        #[arg(long)]
        resident: Option<String>,
        /// How often it reports at least a heartbeat; default 3600.
        #[arg(long)]
        heartbeat_secs: Option<i64>,
    },
    /// List a district's devices, online or offline.
    List {
        #[arg(long)]
        district: String,
        /// Only those silent for longer than their heartbeat interval.
        #[arg(long)]
        offline: bool,
    },
    /// Show one device as JSON.
    Show {
        #[arg(long)]
        district: String,
        id: String,
    },
    /// Give a device a new token (prints it once); the old one stops working.
    RotateToken {
        #[arg(long)]
        district: String,
        id: String,
    },
    /// Remove a device; its token stops working, its events stay.
    Remove {
        #[arg(long)]
        district: String,
        id: String,
    },
    /// Events apps kept refusing (the dead-letter list), as JSON.
    DeadLetters {
        #[arg(long)]
        district: String,
    },
    /// Offer dead letters again: one by id, or every one of the district.
    Retry {
        #[arg(long)]
        district: String,
        /// The dead letter's id; all of them when left out.
        id: Option<i64>,
    },
}

fn line(v: &DeviceView) -> String {
    let d = &v.device;
    format!(
        "{:<24} {:<18} {:<8} {:<24} {}",
        d.id,
        d.kind,
        match v.status {
            crate::devices::ops::DeviceStatus::Online => "online",
            crate::devices::ops::DeviceStatus::Offline => "offline",
        },
        d.household_id
            .as_deref()
            .or(d.resident_id.as_deref())
            .unwrap_or("-"),
        d.last_seen_at.map_or("never seen".to_owned(), format_ms),
    )
}

pub async fn run(opened: &Opened, command: DeviceCommandLine) -> Result<()> {
    let platform = &opened.platform;
    match command {
        DeviceCommandLine::Kinds => {
            for k in KINDS {
                let types: Vec<&str> = k.types.iter().chain(COMMON_TYPES).copied().collect();
                println!("{:<18} {}  ({})", k.name, types.join(", "), k.description);
            }
        }
        DeviceCommandLine::Register {
            district,
            id,
            kind,
            household,
            resident,
            heartbeat_secs,
        } => {
            let issued = platform
                .register_device(
                    &district,
                    DeviceRegistration {
                        id,
                        kind,
                        household_id: household,
                        resident_id: resident,
                        heartbeat_secs,
                    },
                )
                .await?;
            println!("{}", line(&issued.device));
            println!("token (shown once): {}", issued.token);
        }
        DeviceCommandLine::List { district, offline } => {
            let mut after: Option<String> = None;
            loop {
                let page = platform
                    .list_devices(&district, offline, after.as_deref(), MAX_DEVICE_PAGE)
                    .await?;
                for d in &page {
                    println!("{}", line(d));
                }
                if page.len() < MAX_DEVICE_PAGE as usize {
                    break;
                }
                after = page.last().map(|d| d.device.id.clone());
            }
        }
        DeviceCommandLine::Show { district, id } => {
            let device = platform.device(&district, &id).await?;
            println!("{}", serde_json::to_string_pretty(&device)?);
        }
        DeviceCommandLine::RotateToken { district, id } => {
            let issued = platform.rotate_device_token(&district, &id).await?;
            println!("token (shown once): {}", issued.token);
        }
        DeviceCommandLine::Remove { district, id } => {
            platform.remove_device(&district, &id).await?;
            println!("removed device `{id}` from district `{district}`");
        }
        DeviceCommandLine::DeadLetters { district } => {
            let dead = platform
                .event_dead_letters(&district, crate::devices::delivery::MAX_DEAD_LETTERS)
                .await?;
            println!("{}", serde_json::to_string_pretty(&dead)?);
        }
        DeviceCommandLine::Retry { district, id } => {
            let revived = platform.retry_dead_letters(&district, id).await?;
            println!("{} dead letter(s) will be offered again", revived.revived);
        }
    }
    Ok(())
}
