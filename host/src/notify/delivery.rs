//! Delivering notifications: [`Platform::deliver_notifications`], which a
//! serving host runs every second, claims due deliveries from the outbox
//! for a lease, POSTs each to the district's gateway signed with
//! HMAC-SHA256 ([`sign`]), and records the outcome; with the gateway
//! settings, the staff's view of sends and the inbox.
//!
//! The design decision to know: a delivery is claimed by moving its lease
//! in one statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so several
//! host processes deliver each message once; a process that dies
//! mid-delivery leaves its claims to run out, and another process delivers
//! them. Gateways get the delivery id in `X-Hutong-Delivery` to drop the
//! rare repeat that follows such a crash.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hutong_registry::tls::describe;
use serde::Serialize;

use crate::error::PlatformError;
use crate::kernel::outbox;
use crate::kernel::outbox::store::OutboxTable;
use crate::kernel::outbox::{Attempt, Claimed, Outbox, Policy};
pub use crate::kernel::outbox::{FIRST_RETRY_MS, MAX_RETRY_MS, retry_pause_ms};
use crate::kernel::store::{Store, StoreError};
use crate::notify::ops::{
    DEFAULT_RATE_PER_MINUTE, GatewaySettings, GatewayUpdate, MAX_ATTEMPTS, MAX_RATE_PER_MINUTE,
    NotifyReport, sign,
};
use crate::notify::store::{NotificationPage, NotifySettings, Outgoing};
use crate::platform::Platform;

/// Longest gateway URL.
const MAX_URL: usize = 2_000;

/// The shortest and longest signing secret, in bytes: short secrets can be
/// guessed.
const SECRET_BYTES: std::ops::RangeInclusive<usize> = 16..=256;

/// How long a gateway has to answer before the attempt counts as failed.
pub const GATEWAY_TIMEOUT: Duration = Duration::from_secs(10);

/// Deliveries claimed at once.
const BATCH: u32 = 64;

/// Requests to gateways at once.
const PARALLEL: usize = 16;

/// Rounds of claiming in one delivery run, so a backlog drains in one run
/// without one run going on for ever.
const ROUNDS: usize = 50;

fn check_url(what: &str, url: &str) -> Result<(), PlatformError> {
    let parsed: Result<http::Uri, _> = url.parse();
    let ok = url.len() <= MAX_URL
        && parsed
            .as_ref()
            .is_ok_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some());
    if ok {
        Ok(())
    } else {
        Err(PlatformError::Invalid(format!(
            "the {what} `{}` is invalid: give an http:// or https:// URL of at most {MAX_URL} characters",
            url.chars().take(80).collect::<String>()
        )))
    }
}

impl Platform {
    /// A district's gateway settings, without the secret.
    pub async fn gateway_settings(&self, district: &str) -> Result<GatewaySettings, PlatformError> {
        self.require_district(district).await?;
        let s = self.store.notify_settings(district).await?;
        Ok(GatewaySettings {
            sms_url: s.sms_url,
            voice_url: s.voice_url,
            webhook_url: s.webhook_url,
            secret_set: s.secret.is_some(),
            rate_per_minute: s.rate_per_minute.unwrap_or(DEFAULT_RATE_PER_MINUTE),
        })
    }

    /// Set a district's gateways, secret and rate (see [`GatewayUpdate`]).
    pub async fn set_gateway_settings(
        &self,
        district: &str,
        update: GatewayUpdate,
    ) -> Result<GatewaySettings, PlatformError> {
        self.require_district(district).await?;
        for (what, url) in [
            ("SMS gateway URL", &update.sms_url),
            ("voice gateway URL", &update.voice_url),
            ("webhook URL", &update.webhook_url),
        ] {
            if let Some(url) = url {
                check_url(what, url)?;
            }
        }
        if let Some(secret) = &update.secret
            && !SECRET_BYTES.contains(&secret.len())
        {
            return Err(PlatformError::Invalid(format!(
                "the signing secret must be {} to {} bytes; it is {}",
                SECRET_BYTES.start(),
                SECRET_BYTES.end(),
                secret.len()
            )));
        }
        if let Some(rate) = update.rate_per_minute
            && !(1..=MAX_RATE_PER_MINUTE).contains(&rate)
        {
            return Err(PlatformError::Invalid(format!(
                "rate_per_minute must be 1 to {MAX_RATE_PER_MINUTE}, not {rate}"
            )));
        }
        let old = self.store.notify_settings(district).await?;
        let settings = NotifySettings {
            sms_url: update.sms_url,
            voice_url: update.voice_url,
            webhook_url: update.webhook_url,
            secret: update.secret.or(old.secret),
            rate_per_minute: update.rate_per_minute,
        };
        self.store
            .put_notify_settings(district, &settings, self.store.clock().now_ms())
            .await?;
        tracing::info!(district, "notification gateways updated");
        self.gateway_settings(district).await
    }
}

impl Platform {
    /// Deliver what is due in the outbox: claim, POST to the gateways,
    /// record. Safe to run from several host processes at once.
    pub async fn deliver_notifications(&self) -> Result<NotifyReport, PlatformError> {
        let tally = outbox::run(Gateways {
            platform: self.clone(),
            settings: Arc::default(),
        })
        .await?;
        let report = NotifyReport {
            delivered: tally.delivered,
            retrying: tally.retrying,
            failed: tally.dead,
        };
        if report != NotifyReport::default() {
            tracing::info!(
                delivered = report.delivered,
                retrying = report.retrying,
                failed = report.failed,
                "notifications delivered"
            );
        }
        Ok(report)
    }

    /// A district's deliveries, newest first, optionally of one status
    /// (`pending`, `delivered`, `failed`).
    pub async fn list_notifications(
        &self,
        district: &str,
        status: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<NotificationPage, PlatformError> {
        self.require_district(district).await?;
        if let Some(status) = status
            && !["pending", "delivered", "failed"].contains(&status)
        {
            return Err(PlatformError::Invalid(format!(
                "status `{status}` is unknown: use pending, delivered or failed"
            )));
        }
        check_page(limit)?;
        Ok(self
            .store
            .list_notifications(district, status, before, limit)
            .await?)
    }

    /// Give a failed delivery (a dead letter) a fresh set of attempts.
    pub async fn retry_notification(&self, district: &str, id: i64) -> Result<(), PlatformError> {
        self.require_district(district).await?;
        let now = self.store.clock().now_ms();
        if self.store.retry_notification(district, id, now).await? {
            tracing::info!(
                district,
                notification = id,
                "failed notification queued again"
            );
            return Ok(());
        }
        match self.store.get_notification(district, id).await? {
            None => Err(PlatformError::NotFound(format!(
                "notification {id} in district `{district}`"
            ))),
            Some(n) => Err(PlatformError::Conflict(format!(
                "notification {id} is {}, not failed; only failed notifications can be retried",
                n.status
            ))),
        }
    }

    /// An account's inbox, newest first.
    pub async fn inbox(
        &self,
        account: &str,
        unread_only: bool,
        before: Option<i64>,
        limit: u32,
    ) -> Result<NotificationPage, PlatformError> {
        check_page(limit)?;
        Ok(self
            .store
            .inbox(account, unread_only, before, limit)
            .await?)
    }

    /// Mark one of an account's inbox messages read.
    pub async fn mark_read(&self, account: &str, id: i64) -> Result<(), PlatformError> {
        if self
            .store
            .mark_read(account, id, self.store.clock().now_ms())
            .await?
        {
            Ok(())
        } else {
            Err(PlatformError::NotFound(format!(
                "message {id} in your inbox"
            )))
        }
    }
}

/// The largest page of notifications.
pub use crate::kernel::store::MAX_PAGE;

fn check_page(limit: u32) -> Result<(), PlatformError> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(PlatformError::Invalid(format!(
            "limit must be 1 to {MAX_PAGE}, not {limit}"
        )));
    }
    Ok(())
}

/// The JSON a gateway receives.
/// A claimed delivery and its district's gateways.
struct Claim {
    outgoing: Outgoing,
    gateways: Arc<NotifySettings>,
}

impl Claimed for Claim {
    fn id(&self) -> i64 {
        self.outgoing.id
    }

    fn attempts(&self) -> i64 {
        self.outgoing.attempts
    }
}

/// The outbox of notifications, with the gateway settings of the districts
/// seen in one delivery run, each read once.
#[derive(Clone)]
struct Gateways {
    platform: Platform,
    settings: Arc<Mutex<BTreeMap<String, Arc<NotifySettings>>>>,
}

impl Gateways {
    async fn settings(&self, district: &str) -> Result<Arc<NotifySettings>, StoreError> {
        let known = self
            .settings
            .lock()
            .ok()
            .and_then(|m| m.get(district).cloned());
        if let Some(s) = known {
            return Ok(s);
        }
        let s = Arc::new(self.platform.store.notify_settings(district).await?);
        if let Ok(mut m) = self.settings.lock() {
            m.insert(district.to_owned(), s.clone());
        }
        Ok(s)
    }
}

impl Outbox for Gateways {
    type Item = Claim;
    const TABLE: OutboxTable = OutboxTable::Notifications;
    const WHAT: &'static str = "a notification";

    fn store(&self) -> &Store {
        &self.platform.store
    }

    fn policy(&self) -> Policy {
        Policy {
            max_attempts: MAX_ATTEMPTS,
            batch: BATCH,
            parallel: PARALLEL,
            rounds: ROUNDS,
        }
    }

    async fn claim(&self, now: i64, lease_ms: i64, limit: u32) -> Result<Vec<Claim>, StoreError> {
        let claimed = self
            .platform
            .store
            .claim_notifications(now, lease_ms, limit)
            .await?;
        let mut ready = Vec::with_capacity(claimed.len());
        for outgoing in claimed {
            let gateways = self.settings(&outgoing.district).await?;
            ready.push(Claim { outgoing, gateways });
        }
        Ok(ready)
    }

    async fn deliver(&self, claim: &Claim) -> Result<Attempt, StoreError> {
        Ok(match attempt(&claim.gateways, &claim.outgoing).await {
            Ok(()) => Attempt::Delivered,
            Err(error) => Attempt::Failed(error),
        })
    }

    fn log_failure(&self, claim: &Claim, attempts: i64, error: &str, dead: bool) {
        let outgoing = &claim.outgoing;
        if dead {
            tracing::error!(
                district = %outgoing.district,
                app = %outgoing.app,
                notification = outgoing.id,
                channel = %outgoing.channel,
                attempts,
                error,
                "notification could not be delivered after {MAX_ATTEMPTS} attempts; set aside as failed"
            );
        } else {
            tracing::warn!(
                district = %outgoing.district,
                app = %outgoing.app,
                notification = outgoing.id,
                channel = %outgoing.channel,
                attempts,
                error,
                "notification not delivered; will retry"
            );
        }
    }
}

#[derive(Serialize)]
struct Payload<'a> {
    delivery_id: i64,
    message_id: i64,
    district: &'a str,
    app: &'a str,
    channel: &'a str,
    recipient: PayloadRecipient<'a>,
    /// The phone number, for SMS and voice.
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<&'a str>,
    subject: &'a str,
    body: &'a str,
    attempt: i64,
}

#[derive(Serialize)]
struct PayloadRecipient<'a> {
    kind: &'a str,
    id: &'a str,
}

/// One attempt: POST the delivery to its gateway. `Err` says why it failed.
async fn attempt(gateways: &NotifySettings, outgoing: &Outgoing) -> Result<(), String> {
    let url = match outgoing.channel.as_str() {
        "sms" => gateways.sms_url.as_deref(),
        "voice" => gateways.voice_url.as_deref(),
        "webhook" => gateways.webhook_url.as_deref(),
        other => {
            return Err(format!(
                "channel `{other}` is not delivered through a gateway"
            ));
        }
    };
    let Some(url) = url else {
        return Err(format!(
            "district `{}` has no {} gateway configured",
            outgoing.district, outgoing.channel
        ));
    };
    let Some(secret) = gateways.secret.as_deref() else {
        return Err(format!(
            "district `{}` has no signing secret configured",
            outgoing.district
        ));
    };
    let body = serde_json::to_vec(&Payload {
        delivery_id: outgoing.id,
        message_id: outgoing.send_id,
        district: &outgoing.district,
        app: &outgoing.app,
        channel: &outgoing.channel,
        recipient: PayloadRecipient {
            kind: &outgoing.recipient_kind,
            id: &outgoing.recipient_id,
        },
        to: outgoing.address.as_deref(),
        subject: &outgoing.subject,
        body: &outgoing.body,
        attempt: outgoing.tries,
    })
    .map_err(|e| format!("could not encode the delivery: {e}"))?;
    // Real time, not the store's clock: the receiver compares it with its
    // own clock to refuse replays.
    let timestamp = crate::kernel::clock::now_ms().div_euclid(1000);
    let signature = sign(secret.as_bytes(), timestamp, &body);
    match tokio::time::timeout(
        GATEWAY_TIMEOUT,
        post(url, outgoing.id, timestamp, &signature, body),
    )
    .await
    {
        Ok(Ok(status)) if (200..300).contains(&status) => Ok(()),
        Ok(Ok(status)) => Err(format!(
            "the {} gateway answered {status}",
            outgoing.channel
        )),
        Ok(Err(e)) => Err(format!("the {} gateway failed: {e}", outgoing.channel)),
        Err(_) => Err(format!(
            "the {} gateway did not answer within {} s",
            outgoing.channel,
            GATEWAY_TIMEOUT.as_secs()
        )),
    }
}

/// The one client every gateway delivery goes through, built on first use
/// with the operator's extra roots (see [`hutong_registry::tls`]).
fn gateway_client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: std::sync::OnceLock<Result<reqwest::Client, String>> =
        std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            hutong_registry::tls::client_builder()
                .user_agent("hutong-notify")
                .build()
                .map_err(|e| format!("could not build the HTTP client: {}", describe(&e)))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// POST `body` to `url` (http or https); the status.
async fn post(
    url: &str,
    delivery: i64,
    timestamp: i64,
    signature: &str,
    body: Vec<u8>,
) -> Result<u16, String> {
    let mut response = gateway_client()?
        .post(url)
        .header("content-type", "application/json")
        .header("x-hutong-delivery", delivery.to_string())
        .header("x-hutong-timestamp", timestamp.to_string())
        .header("x-hutong-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            if e.is_connect() {
                format!("could not connect: {}", describe(&e))
            } else {
                format!("request failed: {}", describe(&e))
            }
        })?;
    let status = response.status().as_u16();
    // Read (and drop, a piece at a time) the answer so the exchange
    // completes.
    while let Ok(Some(_)) = response.chunk().await {}
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_urls_are_checked() {
        assert!(check_url("u", "http://127.0.0.1:9000/sms").is_ok());
        assert!(check_url("u", "https://gateway.example/sms").is_ok());
        for bad in ["ftp://x/", "not a url", "/relative", "https:///no-host"] {
            assert!(check_url("u", bad).is_err(), "{bad:?}");
        }
    }
}
