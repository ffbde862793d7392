//! One engine for the outboxes: notifications for the gateways, case
//! notices for case watchers and device events for their subscribers.
//!
//! Each outbox is a table of rows written in the same transaction as what
//! caused them, so nothing is lost between the database and its recipient.
//! A delivery run claims due rows for a lease, a batch at a time, delivers
//! each (a few at once), and records what became of it: done (delivered, or
//! dropped because it can no longer be delivered), put back without
//! spending an attempt (the host, not the recipient, could not deliver it),
//! or failed — retried after a pause that doubles with each attempt
//! ([`retry_pause_ms`]) until the outbox's last attempt, then kept as a dead
//! letter for an administrator to see.
//!
//! The design decision to know: the claim is a lease (a compare-and-set,
//! or `FOR UPDATE SKIP LOCKED`, on the row's `claimed_until`), so several
//! host processes on one PostgreSQL deliver each row once in the ordinary
//! case, and at least once when a process dies mid-delivery (its lease runs
//! out and another process delivers again). The lease is short
//! ([`LEASE_MS`]) and renewed every second while a row's delivery is under
//! way, however long its recipient takes, so a dead process's rows are
//! taken over within seconds, not after the longest delivery could last. Rows done in a round are
//! recorded together at the end of the round; an outbox that keeps a
//! stream in order claims a stream's next row only in a later round.
//!
//! What differs between outboxes is an `Outbox`: its table, how it claims
//! (and orders) its rows, how one row is delivered, its limits and its log
//! line for a failure.

pub(crate) mod store;

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::kernel::outbox::store::OutboxTable;
use crate::kernel::store::{Store, StoreError};

/// The pause after the first failed attempt; it doubles with each attempt.
pub const FIRST_RETRY_MS: i64 = 1_000;

/// The longest pause between two attempts.
pub const MAX_RETRY_MS: i64 = 5 * 60_000;

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

/// The lease on a claimed row. While its delivery is under way the claiming
/// process renews it every [`RENEW_EVERY_MS`], however long the recipient
/// takes; a process that dies stops renewing, and another process takes the
/// row over within this time.
pub const LEASE_MS: i64 = 4_000;

/// How often the leases of rows being delivered are renewed.
pub const RENEW_EVERY_MS: u64 = 1_000;

/// How an outbox is worked through.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    /// Attempts before a row is given up on.
    pub(crate) max_attempts: i64,
    /// Rows claimed at once.
    pub(crate) batch: u32,
    /// Deliveries at once.
    pub(crate) parallel: usize,
    /// Rounds of claiming in one run, so a backlog drains in one run
    /// without one run going on for ever.
    pub(crate) rounds: usize,
}

/// A row claimed from an outbox.
pub(crate) trait Claimed: Send + 'static {
    /// The row's id.
    fn id(&self) -> i64;
    /// Failed attempts so far.
    fn attempts(&self) -> i64;
}

/// What one attempt at a row came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// The recipient took it.
    Delivered,
    /// It can no longer be delivered (the recipient is gone or may no
    /// longer have it); it is done with, as if delivered.
    Dropped,
    /// The host could not deliver it now; it is due again after this pause,
    /// without spending an attempt.
    Postponed {
        /// The pause, in ms.
        pause_ms: i64,
    },
    /// The attempt failed, for this reason.
    Failed(String),
}

/// One outbox: what differs between them.
pub(crate) trait Outbox: Clone + Send + Sync + 'static {
    /// A claimed row.
    type Item: Claimed;
    /// Its table, for the statements all outboxes share.
    const TABLE: OutboxTable;
    /// What one row is, with its article, for log lines ("a case notice").
    const WHAT: &'static str;

    /// The database.
    fn store(&self) -> &Store;

    /// Its limits.
    fn policy(&self) -> Policy;

    /// Claim up to `limit` due rows at `now` for `lease_ms`.
    fn claim(
        &self,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Self::Item>, StoreError>> + Send;

    /// Try to deliver one row.
    fn deliver(
        &self,
        item: &Self::Item,
    ) -> impl Future<Output = Result<Attempt, StoreError>> + Send;

    /// Log a failed attempt (`attempts` counting it); `dead` when it was the
    /// last.
    fn log_failure(&self, item: &Self::Item, attempts: i64, error: &str, dead: bool);
}

/// Log a failed attempt for [`Outbox::log_failure`]: an error when it was
/// the last (`dead`), a warning when it will be retried, with the same
/// fields either way.
macro_rules! log_failure {
    ($dead:expr, { $($field:tt)* }, dead: $dead_message:literal, retry: $retry_message:literal) => {
        if $dead {
            tracing::error!($($field)* $dead_message);
        } else {
            tracing::warn!($($field)* $retry_message);
        }
    };
}

pub(crate) use log_failure;

/// What one delivery run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Rows their recipients took.
    pub(crate) delivered: u64,
    /// Rows dropped, as they can no longer be delivered.
    pub(crate) dropped: u64,
    /// Failed attempts that will be retried.
    pub(crate) retrying: u64,
    /// Rows given up on after their last attempt.
    pub(crate) dead: u64,
    /// Rows put back without spending an attempt.
    pub(crate) postponed: u64,
}

/// What became of one row.
enum Fate {
    Done(Attempt),
    Retrying,
    Dead,
    Postponed,
}

/// Deliver what is due in `outbox`: claim, deliver, record. Safe to run
/// from several host processes at once.
pub(crate) async fn run<O: Outbox>(outbox: O) -> Result<Tally, StoreError> {
    let policy = outbox.policy();
    let store = outbox.store().clone();
    let permits = Arc::new(Semaphore::new(policy.parallel));
    let mut tally = Tally::default();
    for _round in 0..policy.rounds {
        let now = store.clock().now_ms();
        let claimed = outbox.claim(now, LEASE_MS, policy.batch).await?;
        if claimed.is_empty() {
            break;
        }
        let mut in_flight: Vec<i64> = claimed.iter().map(Claimed::id).collect();
        let mut calls = JoinSet::new();
        for item in claimed {
            let outbox = outbox.clone();
            let permits = permits.clone();
            calls.spawn(async move {
                // The semaphore is never closed, so this only waits.
                let _permit = permits.acquire_owned().await;
                let id = item.id();
                (id, attempt(&outbox, item, policy.max_attempts).await)
            });
        }
        // Rows done are recorded together, one statement per round. While
        // deliveries are under way, their leases are renewed.
        let mut done = Vec::new();
        let mut renew = tokio::time::interval(std::time::Duration::from_millis(RENEW_EVERY_MS));
        renew.tick().await;
        loop {
            let joined = tokio::select! {
                joined = calls.join_next() => joined,
                _ = renew.tick() => {
                    let now = store.clock().now_ms();
                    if let Err(err) = store
                        .outbox_renew(O::TABLE, &in_flight, now, now + LEASE_MS)
                        .await
                    {
                        tracing::warn!(error = %err, "could not renew the leases of {} deliveries", O::WHAT);
                    }
                    continue;
                }
            };
            let Some(joined) = joined else { break };
            if let Ok((id, _)) = &joined {
                in_flight.retain(|i| i != id);
            }
            match joined {
                Ok((id, Ok(Fate::Done(attempt)))) => {
                    if attempt == Attempt::Dropped {
                        tally.dropped += 1;
                    } else {
                        tally.delivered += 1;
                    }
                    done.push(id);
                }
                Ok((_, Ok(Fate::Retrying))) => tally.retrying += 1,
                Ok((_, Ok(Fate::Dead))) => tally.dead += 1,
                Ok((_, Ok(Fate::Postponed))) => tally.postponed += 1,
                // The row stays claimed; it is tried again once its lease
                // runs out.
                Ok((id, Err(err))) => {
                    tracing::warn!(
                        delivery = id,
                        error = %err,
                        "could not record the delivery of {}",
                        O::WHAT
                    )
                }
                Err(err) => tracing::error!(error = %err, "{} delivery panicked", O::WHAT),
            }
        }
        let now = store.clock().now_ms();
        store.outbox_done(O::TABLE, &done, now).await?;
    }
    Ok(tally)
}

/// Deliver one row and record what became of it, but for rows done, which
/// the round records together.
async fn attempt<O: Outbox>(
    outbox: &O,
    item: O::Item,
    max_attempts: i64,
) -> Result<Fate, StoreError> {
    let store = outbox.store();
    let error = match outbox.deliver(&item).await? {
        done @ (Attempt::Delivered | Attempt::Dropped) => return Ok(Fate::Done(done)),
        Attempt::Postponed { pause_ms } => {
            let retry_at = store.clock().now_ms() + pause_ms;
            store.outbox_release(O::TABLE, item.id(), retry_at).await?;
            return Ok(Fate::Postponed);
        }
        Attempt::Failed(error) => error,
    };
    let attempts = item.attempts() + 1;
    let dead = attempts >= max_attempts;
    let retry_at = store.clock().now_ms() + retry_pause_ms(attempts);
    store
        .outbox_failed(O::TABLE, item.id(), &error, retry_at, dead)
        .await?;
    outbox.log_failure(&item, attempts, &error, dead);
    Ok(if dead { Fate::Dead } else { Fate::Retrying })
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
