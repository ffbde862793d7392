//! Handing stored device events to the apps that subscribe to them.
//!
//! Ingest writes one delivery row per (event, subscribed install) in the
//! same transaction as the event. A serving host runs
//! [`Platform::deliver_events`] continually: it claims due deliveries for a
//! lease — the oldest of each (install, device) stream, so a device's events
//! reach an app in order — calls each app's `event-handler` export, and
//! deletes what was handled. A failure (an error result, a trap, a missed
//! deadline) is retried with a doubling pause ([`retry_pause_ms`], the same
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

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::case_notices::{DeliveryReport, SUSPENDED_RETRY_MS, retry_pause_ms};
use super::{Platform, PlatformError};
use crate::runtime::{CallError, WatchOutcome};
use crate::store::{DeadLetter, EventDelivery};

/// How many times an event is offered to an app before it becomes a dead
/// letter.
pub const MAX_EVENT_ATTEMPTS: i64 = 8;

/// The shortest lease on a claimed delivery; at least twice the longest
/// deadline an install may have, so a slow app is not handed the same event
/// twice because its lease ran out mid-call.
const MIN_LEASE_MS: i64 = 30_000;

/// Deliveries claimed at once: large, because a trivial handler costs tens
/// of microseconds and the claim is one statement whatever its size.
const BATCH: u32 = 256;

/// Apps called at once: enough to keep a slow app from holding up the
/// others, few enough to leave instances for HTTP requests.
const PARALLEL: usize = 16;

/// Rounds of claiming in one run, so a run ends (and the loop can look at
/// the clock) even while events keep arriving.
const ROUNDS: usize = 50;

/// The pause before a delivery put back because the host had no free
/// instance: the host's shortage, not the app's failure.
const BUSY_RETRY_MS: i64 = 1_000;

/// Longest dead-letter listing.
pub const MAX_DEAD_LETTERS: u32 = 1000;

/// Deliveries done or not, from one claimed round.
enum Fate {
    Delivered,
    Dropped,
    Retrying,
    Dead,
    Postponed,
}

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
        let max_deadline = i64::try_from(self.runtime.limits().max.deadline_ms).unwrap_or(i64::MAX);
        let lease_ms = max_deadline.saturating_mul(2).max(MIN_LEASE_MS);
        let permits = Arc::new(Semaphore::new(PARALLEL));
        let mut report = DeliveryReport::default();
        for _round in 0..ROUNDS {
            let now = self.store.clock().now_ms();
            let claimed = self
                .store
                .claim_event_deliveries(now, lease_ms, BATCH)
                .await?;
            if claimed.is_empty() {
                break;
            }
            let mut calls = JoinSet::new();
            for delivery in claimed {
                let platform = self.clone();
                let permits = permits.clone();
                calls.spawn(async move {
                    // The semaphore is never closed, so this only waits.
                    let _permit = permits.acquire_owned().await;
                    let id = delivery.id;
                    (id, platform.deliver_event(delivery).await)
                });
            }
            // Handled and dropped deliveries are deleted together, one
            // statement per round: a device's next event is claimed only in
            // a later round, after this.
            let mut done = Vec::new();
            while let Some(joined) = calls.join_next().await {
                match joined {
                    Ok((id, Ok(Fate::Delivered))) => {
                        report.delivered += 1;
                        done.push(id);
                    }
                    Ok((id, Ok(Fate::Dropped))) => {
                        report.dropped += 1;
                        done.push(id);
                    }
                    Ok((_, Ok(Fate::Retrying))) => report.retrying += 1,
                    Ok((_, Ok(Fate::Dead))) => report.dead += 1,
                    Ok((_, Ok(Fate::Postponed))) => report.postponed += 1,
                    // The delivery stays claimed; it is offered again once
                    // its lease runs out.
                    Ok((id, Err(err))) => {
                        tracing::warn!(delivery = id, error = %err, "could not record an event delivery")
                    }
                    Err(err) => tracing::error!(error = %err, "an event delivery panicked"),
                }
            }
            self.store.event_deliveries_done(&done).await?;
        }
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

    async fn deliver_event(&self, delivery: EventDelivery) -> Result<Fate, PlatformError> {
        let event = &delivery.event;
        let request_id = format!("event-{}-{}", event.id, delivery.id);
        let told = self
            .runtime
            .tell_event(&event.district, &delivery.app, event, request_id)
            .await;
        let error = match told {
            Ok(WatchOutcome::Handled) => return Ok(Fate::Delivered),
            Ok(WatchOutcome::NotGranted(permission)) => {
                tracing::warn!(
                    district = %event.district,
                    app = %delivery.app,
                    device = %event.device_id,
                    event = event.id,
                    "event not delivered: the install no longer holds `{permission}` or no longer subscribes to `{}`; dropped",
                    event.event_type
                );
                return Ok(Fate::Dropped);
            }
            Err(CallError::NotInstalled { .. }) => {
                tracing::warn!(
                    district = %event.district,
                    app = %delivery.app,
                    device = %event.device_id,
                    event = event.id,
                    "event not delivered: the app is no longer installed; dropped"
                );
                return Ok(Fate::Dropped);
            }
            Err(CallError::Busy) => {
                let retry_at = self.store.clock().now_ms() + BUSY_RETRY_MS;
                self.store
                    .release_event_delivery(delivery.id, retry_at)
                    .await?;
                return Ok(Fate::Postponed);
            }
            Err(CallError::Suspended { .. }) => {
                let retry_at = self.store.clock().now_ms() + SUSPENDED_RETRY_MS;
                self.store
                    .release_event_delivery(delivery.id, retry_at)
                    .await?;
                return Ok(Fate::Postponed);
            }
            Ok(WatchOutcome::Refused(message)) => {
                format!("the app answered with an error: {message}")
            }
            Err(err) => err.to_string(),
        };
        let attempts = delivery.attempts + 1;
        let dead = attempts >= MAX_EVENT_ATTEMPTS;
        let retry_at = self.store.clock().now_ms() + retry_pause_ms(attempts);
        self.store
            .event_delivery_failed(delivery.id, &error, retry_at, dead)
            .await?;
        if dead {
            tracing::error!(
                district = %event.district,
                app = %delivery.app,
                device = %event.device_id,
                event = event.id,
                attempts,
                error,
                "event could not be delivered after {MAX_EVENT_ATTEMPTS} attempts; set aside as a dead letter"
            );
            Ok(Fate::Dead)
        } else {
            tracing::warn!(
                district = %event.district,
                app = %delivery.app,
                device = %event.device_id,
                event = event.id,
                attempts,
                error,
                "event not delivered; will retry"
            );
            Ok(Fate::Retrying)
        }
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
