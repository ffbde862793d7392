//! Handing stored device events to the apps that subscribe to them.
//!
//! Ingest writes one delivery row per (event, subscribed install) in the
//! same transaction as the event. A serving host runs
//! [`Platform::deliver_events`] continually: it claims due deliveries for a
//! lease — the oldest of each (install, device) stream, so a device's events
//! reach an app in order — calls each app's `event-handler` export, and
//! deletes what was handled. A failure (an error result, a trap, a missed
//! deadline) is retried with a doubling pause ([`retry_pause_ms`](crate::kernel::outbox::retry_pause_ms), the same
//! as case notices); after [`MAX_EVENT_ATTEMPTS`] the delivery is kept as a
//! dead letter and the device's next event goes ahead. Other devices and
//! other apps never wait for it. A suspended install's deliveries wait
//! without spending attempts; an uninstalled app's, or one that no longer
//! holds `receive-events` or subscribes to the type, are dropped.
//!
//! The design decision to know: subscriptions are fixed when the event is
//! stored (an app installed later does not get earlier events), but grants
//! and subscriptions are checked again when it is delivered, so an app that
//! lost them is never handed the event.

use serde::Serialize;

use crate::devices::store::{DeadLetter, EventDelivery};
use crate::error::PlatformError;
use crate::kernel::outbox;
use crate::kernel::outbox::store::OutboxTable;
use crate::kernel::outbox::{Attempt, Claimed, Outbox, Policy};
use crate::kernel::store::{Store, StoreError};
use crate::platform::Platform;
use crate::platform::{DeliveryReport, app_call_failed};
use crate::runtime::{CallError, WatchOutcome};

/// How many times an event is offered to an app before it becomes a dead
/// letter.
pub const MAX_EVENT_ATTEMPTS: i64 = 8;

/// Deliveries claimed at once: large, because a trivial handler costs tens
/// of microseconds and the claim is one statement whatever its size.
const BATCH: u32 = 256;

/// Apps called at once: enough to keep a slow app from holding up the
/// others, few enough to leave instances for HTTP requests.
const PARALLEL: usize = 16;

/// Rounds of claiming in one run, so a run ends (and the loop can look at
/// the clock) even while events keep arriving.
const ROUNDS: usize = 50;

/// Longest dead-letter listing.
pub const MAX_DEAD_LETTERS: u32 = 1000;

/// The result of retrying dead letters.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Revived {
    /// How many dead letters were given a fresh set of attempts.
    pub revived: u64,
}

impl Platform {
    /// Deliver the device events that are due: claim them, call each app's
    /// `event-handler`, and record what happened. Safe to run from several
    /// host processes at once.
    pub async fn deliver_events(&self) -> Result<DeliveryReport, PlatformError> {
        let report = DeliveryReport::from(outbox::run(Deliveries(self.clone())).await?);
        if report != DeliveryReport::default() {
            tracing::debug!(
                delivered = report.delivered,
                dropped = report.dropped,
                retrying = report.retrying,
                dead = report.dead,
                postponed = report.postponed,
                "device events delivered"
            );
        }
        Ok(report)
    }

    /// A district's dead letters, oldest first.
    pub async fn event_dead_letters(
        &self,
        district: &str,
        limit: u32,
    ) -> Result<Vec<DeadLetter>, PlatformError> {
        self.require_district(district).await?;
        let limit = limit.clamp(1, MAX_DEAD_LETTERS);
        Ok(self.store.event_dead_letters(district, limit).await?)
    }

    /// Offer dead letters again (one by id, or all of the district), with a
    /// fresh set of attempts, from now.
    pub async fn retry_dead_letters(
        &self,
        district: &str,
        id: Option<i64>,
    ) -> Result<Revived, PlatformError> {
        self.require_district(district).await?;
        let now = self.store.clock().now_ms();
        let revived = self.store.retry_dead_letters(district, id, now).await?;
        if let (Some(id), 0) = (id, revived) {
            return Err(PlatformError::NotFound(format!(
                "dead letter {id} in district `{district}`"
            )));
        }
        Ok(Revived { revived })
    }
}

impl Claimed for EventDelivery {
    fn id(&self) -> i64 {
        self.id
    }

    fn attempts(&self) -> i64 {
        self.attempts
    }
}

/// The outbox of event deliveries.
#[derive(Clone)]
struct Deliveries(Platform);

impl Outbox for Deliveries {
    type Item = EventDelivery;
    const TABLE: OutboxTable = OutboxTable::EventDeliveries;
    const WHAT: &'static str = "an event";

    fn store(&self) -> &Store {
        &self.0.store
    }

    fn policy(&self) -> Policy {
        Policy {
            max_attempts: MAX_EVENT_ATTEMPTS,
            batch: BATCH,
            parallel: PARALLEL,
            rounds: ROUNDS,
        }
    }

    async fn claim(
        &self,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<EventDelivery>, StoreError> {
        self.0
            .store
            .claim_event_deliveries(now, lease_ms, limit)
            .await
    }

    async fn deliver(&self, delivery: &EventDelivery) -> Result<Attempt, StoreError> {
        let event = &delivery.event;
        let request_id = format!("event-{}-{}", event.id, delivery.id);
        let told = self
            .0
            .runtime
            .tell_event(&event.district, &delivery.app, event, request_id)
            .await;
        match &told {
            Ok(WatchOutcome::NotGranted(permission)) => {
                tracing::warn!(
                    district = %event.district,
                    app = %delivery.app,
                    device = %event.device_id,
                    event = event.id,
                    "event not delivered: the install no longer holds `{permission}` or no longer subscribes to `{}`; dropped",
                    event.event_type
                );
            }
            Err(CallError::NotInstalled { .. }) => {
                tracing::warn!(
                    district = %event.district,
                    app = %delivery.app,
                    device = %event.device_id,
                    event = event.id,
                    "event not delivered: the app is no longer installed; dropped"
                );
                return Ok(Attempt::Dropped);
            }
            _ => {}
        }
        Ok(app_call_failed(told))
    }

    fn log_failure(&self, delivery: &EventDelivery, attempts: i64, error: &str, dead: bool) {
        let event = &delivery.event;
        outbox::log_failure!(
            dead,
            {
                district = %event.district,
                app = %delivery.app,
                device = %event.device_id,
                event = event.id,
                attempts,
                error,
            },
            dead: "event could not be delivered after {MAX_EVENT_ATTEMPTS} attempts; set aside as a dead letter",
            retry: "event not delivered; will retry"
        );
    }
}
