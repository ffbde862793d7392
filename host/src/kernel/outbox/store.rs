//! The statements the outboxes share: notifications to send to gateways
//! (`notifications`), changes to tell case watchers (`case_notices`) and
//! device events to hand to subscribers (`event_deliveries`). All three keep
//! `attempts`, `next_at`, `claimed_until` and `last_error` per row and are
//! claimed for a lease by the outbox engine ([`crate::kernel::outbox`]); what
//! happens after an attempt is the same for all, so it is written once here.
//! Only the claims differ (each outbox orders its rows its own way) and stay
//! with their tables.
//!
//! The one difference in the tables: a notification keeps its row, with a
//! `status` of `pending`, `delivered` or `failed`, for the district's
//! records; case notices and event deliveries are deleted once done, and a
//! `dead` flag marks those given up on.

use sqlx::Row;

use crate::kernel::store::{Store, StoreError};

/// A notification delivery's states: waiting (or being retried).
pub const PENDING: &str = "pending";
/// Delivered (inbox messages are written delivered).
pub const DELIVERED: &str = "delivered";
/// Given up on after the last attempt: a dead letter.
pub const FAILED: &str = "failed";

/// Most ids bound to one statement.
const CHUNK: usize = 200;

/// One of the outbox tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutboxTable {
    /// Messages for the notification gateways.
    Notifications,
    /// Case changes for the apps that opened the cases.
    CaseNotices,
    /// Device events for the installs subscribed to them.
    EventDeliveries,
}

impl OutboxTable {
    /// Its table; a fixed name, never input, so it may be formatted into SQL.
    fn table(self) -> &'static str {
        match self {
            OutboxTable::Notifications => "notifications",
            OutboxTable::CaseNotices => "case_notices",
            OutboxTable::EventDeliveries => "event_deliveries",
        }
    }

    /// The column that marks a row given up on: a notification's `status`
    /// (`failed`, else `pending`), the others' `dead` flag.
    fn fate_column(self) -> &'static str {
        match self {
            OutboxTable::Notifications => "status",
            OutboxTable::CaseNotices | OutboxTable::EventDeliveries => "dead",
        }
    }

    /// The condition that keeps a statement to rows still waiting: a
    /// notification delivered or failed meanwhile is left as it is.
    fn waiting(self) -> &'static str {
        match self {
            OutboxTable::Notifications => " AND status = 'pending'",
            OutboxTable::CaseNotices | OutboxTable::EventDeliveries => "",
        }
    }
}

/// `$from, $from+1, …` for `n` parameters.
fn params(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Rows delivered (or dropped) at `now`: deleted, or for notifications
    /// marked delivered; their leases end.
    pub(crate) async fn outbox_done(
        &self,
        outbox: OutboxTable,
        ids: &[i64],
        now: i64,
    ) -> Result<(), StoreError> {
        for chunk in ids.chunks(CHUNK) {
            let sql = match outbox {
                OutboxTable::Notifications => format!(
                    "UPDATE notifications SET status = 'delivered', delivered_at = $1, \
                     claimed_until = 0 WHERE status = 'pending' AND id IN ({})",
                    params(2, chunk.len())
                ),
                OutboxTable::CaseNotices | OutboxTable::EventDeliveries => format!(
                    "DELETE FROM {} WHERE id IN ({})",
                    outbox.table(),
                    params(1, chunk.len())
                ),
            };
            let mut q = sqlx::query(&sql);
            if outbox == OutboxTable::Notifications {
                q = q.bind(now);
            }
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(&mut *self.writer().await?).await?;
        }
        if outbox == OutboxTable::Notifications {
            self.erase_confidential().await?;
        }
        Ok(())
    }

    /// Erase the body of every confidential message (`send-confidential`)
    /// sent outside the inbox whose deliveries have all gone through. A
    /// sweep rather than this call's own messages: a message whose last two
    /// deliveries two processes finished at once is erased by the next.
    async fn erase_confidential(&self) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE notify_sends SET body = '' WHERE confidential = 1 AND body <> '' \
             AND channel <> 'inbox' AND NOT EXISTS (SELECT 1 FROM notifications n \
             WHERE n.send_id = notify_sends.id AND n.status <> 'delivered')",
        )
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    /// Extend the leases of `ids`, still being delivered, to `until`. A row
    /// whose lease another process took over meanwhile (its own ran out) is
    /// left alone, as is one delivered or given up on.
    pub(crate) async fn outbox_renew(
        &self,
        outbox: OutboxTable,
        ids: &[i64],
        now: i64,
        until: i64,
    ) -> Result<(), StoreError> {
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "UPDATE {} SET claimed_until = $1 WHERE claimed_until > $2{} AND id IN ({})",
                outbox.table(),
                outbox.waiting(),
                params(3, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(until).bind(now);
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(&mut *self.writer().await?).await?;
        }
        Ok(())
    }

    /// An attempt failed: count it and try again at `retry_at`, or never
    /// (`dead`); the lease ends either way.
    pub(crate) async fn outbox_failed(
        &self,
        outbox: OutboxTable,
        id: i64,
        error: &str,
        retry_at: i64,
        dead: bool,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE {} SET attempts = attempts + 1, next_at = $1, claimed_until = 0, \
             last_error = $2, {} = $3 WHERE id = $4{}",
            outbox.table(),
            outbox.fate_column(),
            outbox.waiting()
        );
        let q = sqlx::query(&sql).bind(retry_at).bind(error);
        let q = match outbox {
            OutboxTable::Notifications => q.bind(if dead { FAILED } else { PENDING }),
            OutboxTable::CaseNotices | OutboxTable::EventDeliveries => q.bind(i64::from(dead)),
        };
        q.bind(id).execute(&mut *self.writer().await?).await?;
        Ok(())
    }

    /// Put a claimed row back, due at `retry_at`, without counting an attempt
    /// (the host, not the app, could not deliver it).
    pub(crate) async fn outbox_release(
        &self,
        outbox: OutboxTable,
        id: i64,
        retry_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "UPDATE {} SET next_at = $1, claimed_until = 0 WHERE id = $2{}",
            outbox.table(),
            outbox.waiting()
        ))
        .bind(retry_at)
        .bind(id)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    /// A district's case notices or event deliveries still waiting
    /// (pending) and given up on (dead).
    pub(crate) async fn outbox_counts(
        &self,
        outbox: OutboxTable,
        district: &str,
    ) -> Result<(i64, i64), StoreError> {
        let row = sqlx::query(&format!(
            "SELECT CAST(COALESCE(SUM(1 - dead), 0) AS BIGINT) AS pending, \
             CAST(COALESCE(SUM(dead), 0) AS BIGINT) AS dead FROM {} WHERE district = $1",
            outbox.table()
        ))
        .bind(district)
        .fetch_one(&mut *self.writer().await?)
        .await?;
        Ok((row.try_get("pending")?, row.try_get("dead")?))
    }
}
