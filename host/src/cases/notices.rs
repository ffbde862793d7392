//! Telling apps about the transitions of the cases they opened.
//!
//! A transition of such a case writes a notice into the `case_notices`
//! outbox in the same transaction as the change itself
//! ([`Store::apply_case_change`](crate::kernel::store::Store::apply_case_change)), so
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

use serde::Serialize;

use crate::cases::store::CaseNotice;
use crate::error::PlatformError;
use crate::kernel::outbox;
use crate::kernel::outbox::store::OutboxTable;
use crate::kernel::outbox::{Attempt, Claimed, Outbox, Policy};
pub use crate::kernel::outbox::{FIRST_RETRY_MS, MAX_RETRY_MS, retry_pause_ms};
use crate::kernel::store::{Store, StoreError};
use crate::platform::{DeliveryReport, Platform, app_call_failed};
use crate::runtime::{CallError, WatchOutcome};

/// How many times a notice is tried before it is set aside as dead.
pub const MAX_ATTEMPTS: i64 = 8;

/// Notices claimed at once.
const BATCH: u32 = 64;

/// Apps called at once: enough to keep one slow app from holding up the
/// others, few enough to leave instances for HTTP requests.
const PARALLEL: usize = 16;

/// Rounds of claiming in one delivery run, so a case's changes made since
/// the last run all arrive in this one (each round delivers at most one per
/// case) without one run going on for ever.
const ROUNDS: usize = 20;

/// A district's outbox of case notices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NoticeCounts {
    /// Waiting to be delivered or retried.
    pub pending: i64,
    /// Given up on after [`MAX_ATTEMPTS`] attempts.
    pub dead: i64,
}

impl Platform {
    /// Deliver the case notices that are due: claim them, call each app's
    /// `case-watcher`, and record what happened. Safe to run from several
    /// host processes at once.
    pub async fn deliver_case_notices(&self) -> Result<DeliveryReport, PlatformError> {
        let report = DeliveryReport::from(outbox::run(Notices(self.clone())).await?);
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

    /// How many case notices of a district are waiting and how many were
    /// given up on.
    pub async fn case_notice_counts(&self, district: &str) -> Result<NoticeCounts, PlatformError> {
        self.require_district(district).await?;
        let (pending, dead) = self.store.case_notice_counts(district).await?;
        Ok(NoticeCounts { pending, dead })
    }
}

impl Claimed for CaseNotice {
    fn id(&self) -> i64 {
        self.id
    }

    fn attempts(&self) -> i64 {
        self.attempts
    }
}

/// The outbox of case notices.
#[derive(Clone)]
struct Notices(Platform);

impl Outbox for Notices {
    type Item = CaseNotice;
    const TABLE: OutboxTable = OutboxTable::CaseNotices;
    const WHAT: &'static str = "a case notice";

    fn store(&self) -> &Store {
        &self.0.store
    }

    fn policy(&self) -> Policy {
        Policy {
            max_attempts: MAX_ATTEMPTS,
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
    ) -> Result<Vec<CaseNotice>, StoreError> {
        self.0.store.claim_case_notices(now, lease_ms, limit).await
    }

    async fn deliver(&self, notice: &CaseNotice) -> Result<Attempt, StoreError> {
        let request_id = format!("case-notice-{}", notice.id);
        let told = self
            .0
            .runtime
            .tell_case_change(&notice.district, &notice.app, &notice.change, request_id)
            .await;
        match &told {
            Ok(WatchOutcome::NotGranted(permission)) => {
                tracing::warn!(
                    district = %notice.district,
                    app = %notice.app,
                    case = notice.change.case_id,
                    notice = notice.id,
                    "case change not told: the install no longer holds `{permission}`; notice dropped"
                );
            }
            Ok(WatchOutcome::NotWatched) => {
                tracing::debug!(
                    district = %notice.district,
                    app = %notice.app,
                    case = notice.change.case_id,
                    notice = notice.id,
                    "case change not told: the app exports no case-watcher; notice dropped"
                );
            }
            Err(CallError::NotInstalled { .. }) => {
                tracing::warn!(
                    district = %notice.district,
                    app = %notice.app,
                    case = notice.change.case_id,
                    notice = notice.id,
                    "case change not told: the app is no longer installed; notice dropped"
                );
                return Ok(Attempt::Dropped);
            }
            _ => {}
        }
        Ok(app_call_failed(told))
    }

    fn log_failure(&self, notice: &CaseNotice, attempts: i64, error: &str, dead: bool) {
        outbox::log_failure!(
            dead,
            {
                district = %notice.district,
                app = %notice.app,
                case = notice.change.case_id,
                notice = notice.id,
                attempts,
                error,
            },
            dead: "case change could not be told after {MAX_ATTEMPTS} attempts; notice set aside as dead",
            retry: "case change not told; will retry"
        );
    }
}
