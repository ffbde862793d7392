//! Telling apps about the transitions of the cases they opened.
//!
//! A transition of such a case writes a notice into the `case_notices`
//! outbox in the same transaction as the change itself
//! ([`Store::apply_case_change`](crate::store::Store::apply_case_change)), so
//! no change is lost between the database and the app. A serving host runs
//! [`Platform::deliver_case_notices`] every second: it claims due notices
//! for a lease (one per case, the oldest, so a case's changes arrive in
//! order), calls each app's `case-watcher` export, and deletes what was
//! delivered. A failure (an error result, a trap, a missed deadline) is
//! retried with a doubling pause until [`MAX_ATTEMPTS`]; then the notice is
//! kept as dead, for an administrator to see, and the case's next change goes
//! ahead. A suspended install is not failing: its notices wait, without
//! spending attempts, until it is resumed. An uninstalled app's notices are
//! dropped, as it can no longer be told.
//!
//! The design decision to know: the claim is a compare-and-set on the
//! notice's lease, so several host processes on one PostgreSQL deliver each
//! notice once in the ordinary case, and at least once when a process dies
//! mid-delivery (its lease runs out and another process delivers again).

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Platform, PlatformError};
use crate::runtime::{CallError, WatchOutcome};
use crate::store::CaseNotice;

/// How many times a notice is tried before it is set aside as dead.
pub const MAX_ATTEMPTS: i64 = 8;

/// The pause after the first failed attempt; it doubles with each attempt.
pub const FIRST_RETRY_MS: i64 = 1_000;

/// The longest pause between two attempts.
pub const MAX_RETRY_MS: i64 = 5 * 60_000;

/// The shortest lease on a claimed notice. The lease is at least twice the
/// longest deadline an install may have, so a slow app is never told the
/// same change twice because its lease ran out mid-call.
const MIN_LEASE_MS: i64 = 30_000;

/// Notices claimed at once.
const BATCH: u32 = 64;

/// Apps called at once: enough to keep one slow app from holding up the
/// others, few enough to leave instances for HTTP requests.
const PARALLEL: usize = 16;

/// Rounds of claiming in one delivery run, so a case's changes made since
/// the last run all arrive in this one (each round delivers at most one per
/// case) without one run going on for ever.
const ROUNDS: usize = 20;

/// The pause before a notice put back because the host had no free instance;
/// that is the host's shortage, not the app's failure, so it costs no
/// attempt.
const BUSY_RETRY_MS: i64 = 1_000;

/// The pause before a suspended install's notice is tried again. Waiting
/// costs no attempt: an administrator's suspension must not lose changes.
pub const SUSPENDED_RETRY_MS: i64 = 30_000;

/// What one delivery run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Notices the apps handled.
    pub delivered: u64,
    /// Notices dropped because the install no longer holds `read-own-cases`
    /// or was uninstalled.
    pub dropped: u64,
    /// Failed attempts that will be retried.
    pub retrying: u64,
    /// Notices given up on after their last attempt.
    pub dead: u64,
    /// Notices put back, without counting an attempt, because the host had
    /// no free instance or the install is suspended.
    pub postponed: u64,
}

/// A district's outbox of case notices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NoticeCounts {
    /// Waiting to be delivered or retried.
    pub pending: i64,
    /// Given up on after [`MAX_ATTEMPTS`] attempts.
    pub dead: i64,
}

/// What became of one notice.
enum Fate {
    Delivered,
    Dropped,
    Retrying,
    Dead,
    Postponed,
}

/// The pause after `attempts` failed attempts (1 s, 2 s, 4 s, … up to
/// [`MAX_RETRY_MS`]).
pub fn retry_pause_ms(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).max(0))
        .unwrap_or(u32::MAX)
        .min(30);
    FIRST_RETRY_MS
        .saturating_mul(1_i64 << doublings)
        .min(MAX_RETRY_MS)
}

impl Platform {
    /// Deliver the case notices that are due: claim them, call each app's
    /// `case-watcher`, and record what happened. Safe to run from several
    /// host processes at once.
    pub async fn deliver_case_notices(&self) -> Result<DeliveryReport, PlatformError> {
        let max_deadline = i64::try_from(self.runtime.limits().max.deadline_ms).unwrap_or(i64::MAX);
        let lease_ms = max_deadline.saturating_mul(2).max(MIN_LEASE_MS);
        let permits = Arc::new(Semaphore::new(PARALLEL));
        let mut report = DeliveryReport::default();
        for _round in 0..ROUNDS {
            let now = self.store.clock().now_ms();
            let notices = self.store.claim_case_notices(now, lease_ms, BATCH).await?;
            if notices.is_empty() {
                break;
            }
            let mut calls = JoinSet::new();
            for notice in notices {
                let platform = self.clone();
                let permits = permits.clone();
                calls.spawn(async move {
                    // The semaphore is never closed, so this only waits.
                    let _permit = permits.acquire_owned().await;
                    platform.deliver_one(notice).await
                });
            }
            while let Some(done) = calls.join_next().await {
                match done {
                    Ok(Ok(Fate::Delivered)) => report.delivered += 1,
                    Ok(Ok(Fate::Dropped)) => report.dropped += 1,
                    Ok(Ok(Fate::Retrying)) => report.retrying += 1,
                    Ok(Ok(Fate::Dead)) => report.dead += 1,
                    Ok(Ok(Fate::Postponed)) => report.postponed += 1,
                    // The notice stays claimed; it is delivered again once
                    // its lease runs out.
                    Ok(Err(err)) => {
                        tracing::warn!(error = %err, "could not record a case notice's delivery")
                    }
                    Err(err) => tracing::error!(error = %err, "a case notice delivery panicked"),
                }
            }
        }
        if report != DeliveryReport::default() {
            tracing::info!(
                delivered = report.delivered,
                dropped = report.dropped,
                retrying = report.retrying,
                dead = report.dead,
                postponed = report.postponed,
                "case notices delivered"
            );
        }
        Ok(report)
    }

    async fn deliver_one(&self, notice: CaseNotice) -> Result<Fate, PlatformError> {
        let request_id = format!("case-notice-{}", notice.id);
        let told = self
            .runtime
            .tell_case_change(&notice.district, &notice.app, &notice.change, request_id)
            .await;
        let error = match told {
            Ok(WatchOutcome::Handled) => {
                self.store.case_notice_delivered(notice.id).await?;
                return Ok(Fate::Delivered);
            }
            Ok(WatchOutcome::NotGranted(permission)) => {
                tracing::warn!(
                    district = %notice.district,
                    app = %notice.app,
                    case = notice.change.case_id,
                    notice = notice.id,
                    "case change not told: the install no longer holds `{permission}`; notice dropped"
                );
                self.store.case_notice_delivered(notice.id).await?;
                return Ok(Fate::Dropped);
            }
            Err(CallError::Busy) => {
                let retry_at = self.store.clock().now_ms() + BUSY_RETRY_MS;
                self.store.release_case_notice(notice.id, retry_at).await?;
                return Ok(Fate::Postponed);
            }
            Err(CallError::Suspended { .. }) => {
                let retry_at = self.store.clock().now_ms() + SUSPENDED_RETRY_MS;
                self.store.release_case_notice(notice.id, retry_at).await?;
                return Ok(Fate::Postponed);
            }
            Err(CallError::NotInstalled { .. }) => {
                tracing::warn!(
                    district = %notice.district,
                    app = %notice.app,
                    case = notice.change.case_id,
                    notice = notice.id,
                    "case change not told: the app is no longer installed; notice dropped"
                );
                self.store.case_notice_delivered(notice.id).await?;
                return Ok(Fate::Dropped);
            }
            Ok(WatchOutcome::Refused(message)) => {
                format!("the app answered with an error: {message}")
            }
            Err(err) => err.to_string(),
        };
        let attempts = notice.attempts + 1;
        let dead = attempts >= MAX_ATTEMPTS;
        let retry_at = self.store.clock().now_ms() + retry_pause_ms(attempts);
        self.store
            .case_notice_failed(notice.id, &error, retry_at, dead)
            .await?;
        if dead {
            tracing::error!(
                district = %notice.district,
                app = %notice.app,
                case = notice.change.case_id,
                notice = notice.id,
                attempts,
                error,
                "case change could not be told after {MAX_ATTEMPTS} attempts; notice set aside as dead"
            );
            Ok(Fate::Dead)
        } else {
            tracing::warn!(
                district = %notice.district,
                app = %notice.app,
                case = notice.change.case_id,
                notice = notice.id,
                attempts,
                error,
                "case change not told; will retry"
            );
            Ok(Fate::Retrying)
        }
    }

    /// How many case notices of a district are waiting and how many were
    /// given up on.
    pub async fn case_notice_counts(&self, district: &str) -> Result<NoticeCounts, PlatformError> {
        self.require_district(district).await?;
        let (pending, dead) = self.store.case_notice_counts(district).await?;
        Ok(NoticeCounts { pending, dead })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_doubles_from_one_second_up_to_five_minutes() {
        let pauses: Vec<i64> = (1..=10).map(retry_pause_ms).collect();
        assert_eq!(
            pauses,
            [
                1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000
            ]
        );
        assert_eq!(retry_pause_ms(i64::MAX), MAX_RETRY_MS);
    }
}
