//! `hutong notify …`: a district's gateways, its outbox and dead letters.
//!
//! The operator at the CLI holds the database, so these need no account;
//! the signing secret is still never printed, only whether one is set.

use crate::cases::format_ms;
use crate::notify::ops::GatewayUpdate;
use crate::server::Opened;
use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum NotifyCommandLine {
    /// Show a district's gateways, or set them with any of the options
    /// (URLs and the rate are replaced; an absent URL is cleared, an absent
    /// rate is the default; an absent secret is kept).
    Settings {
        #[arg(long)]
        district: String,
        /// Change the settings instead of showing them.
        #[arg(long)]
        set: bool,
        /// The SMS gateway (`http://…` or `https://…`).
        #[arg(long)]
        sms_url: Option<String>,
        /// The voice-call gateway.
        #[arg(long)]
        voice_url: Option<String>,
        /// The district's webhook.
        #[arg(long)]
        webhook_url: Option<String>,
        /// The HMAC-SHA256 key every request is signed with (16 to 256
        /// bytes); read from this environment variable, so it stays out
        /// of the shell history.
        #[arg(long, value_name = "ENV_VAR")]
        secret_from_env: Option<String>,
        /// Deliveries each install may write per minute.
        #[arg(long)]
        rate_per_minute: Option<i64>,
    },
    /// List a district's notifications, newest first.
    List {
        #[arg(long)]
        district: String,
        /// pending, delivered or failed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The `next` cursor a previous page printed.
        #[arg(long)]
        before: Option<i64>,
    },
    /// Give a failed notification (a dead letter) a fresh set of attempts.
    Retry {
        #[arg(long)]
        district: String,
        id: i64,
    },
    /// Deliver what is due now (a serving host does this every second).
    Deliver,
}

pub async fn run(opened: &Opened, command: NotifyCommandLine) -> Result<()> {
    let platform = &opened.platform;
    match command {
        NotifyCommandLine::Settings {
            district,
            set,
            sms_url,
            voice_url,
            webhook_url,
            secret_from_env,
            rate_per_minute,
        } => {
            let settings = if set {
                let secret = match secret_from_env {
                    Some(var) => Some(std::env::var(&var).map_err(|_| {
                        anyhow::anyhow!("environment variable `{var}` is not set (or not UTF-8)")
                    })?),
                    None => None,
                };
                platform
                    .set_gateway_settings(
                        &district,
                        GatewayUpdate {
                            sms_url,
                            voice_url,
                            webhook_url,
                            secret,
                            rate_per_minute,
                        },
                    )
                    .await?
            } else {
                platform.gateway_settings(&district).await?
            };
            println!("{}", serde_json::to_string_pretty(&settings)?);
        }
        NotifyCommandLine::List {
            district,
            status,
            limit,
            before,
        } => {
            let page = platform
                .list_notifications(&district, status.as_deref(), before, limit)
                .await?;
            println!("ID\tSTATUS\tCHANNEL\tAPP\tRECIPIENT\tATTEMPTS\tCREATED\tLAST ERROR");
            for n in &page.items {
                println!(
                    "{}\t{}\t{}\t{}\t{}:{}\t{}\t{}\t{}",
                    n.id,
                    n.status,
                    n.channel,
                    n.app,
                    n.recipient_kind,
                    n.recipient_id,
                    n.attempts,
                    format_ms(n.created_at),
                    n.last_error.as_deref().unwrap_or("-")
                );
            }
            if let Some(next) = page.next {
                println!("next: --before {next}");
            }
        }
        NotifyCommandLine::Retry { district, id } => {
            platform.retry_notification(&district, id).await?;
            println!("notification {id} queued again");
        }
        NotifyCommandLine::Deliver => {
            let report = platform.deliver_notifications().await?;
            println!(
                "delivered {}, retrying {}, failed {}",
                report.delivered, report.retrying, report.failed
            );
        }
    }
    Ok(())
}
