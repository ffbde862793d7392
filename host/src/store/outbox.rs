//! The bookkeeping the apps' outboxes share: changes to tell case watchers
//! (`case_notices`) and device events to hand to subscribers
//! (`event_deliveries`). Both keep `attempts`, `next_at`, `claimed_until`,
//! `last_error` and `dead` per row, and both are claimed for a lease by the
//! delivery loops; what happens after an attempt is the same for both, so it
//! is written once here.

use sqlx::Row;

use super::{Store, StoreError};

/// One of the outboxes of calls into apps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outbox {
    /// Case changes for the apps that opened the cases.
    CaseNotices,
    /// Device events for the installs subscribed to them.
    EventDeliveries,
}

impl Outbox {
    /// Its table; a fixed name, never input, so it may be formatted into SQL.
    fn table(self) -> &'static str {
        match self {
            Outbox::CaseNotices => "case_notices",
            Outbox::EventDeliveries => "event_deliveries",
        }
    }
}

impl Store {
    /// An attempt failed: count it and try again at `retry_at`, or never
    /// (`dead`); the lease ends either way.
    pub(crate) async fn outbox_failed(
        &self,
        outbox: Outbox,
        id: i64,
        error: &str,
        retry_at: i64,
        dead: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "UPDATE {} SET attempts = attempts + 1, next_at = $1, claimed_until = 0, \
             last_error = $2, dead = $3 WHERE id = $4",
            outbox.table()
        ))
        .bind(retry_at)
        .bind(error)
        .bind(i64::from(dead))
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Put a claimed row back, due at `retry_at`, without counting an attempt
    /// (the host, not the app, could not deliver it).
    pub(crate) async fn outbox_release(
        &self,
        outbox: Outbox,
        id: i64,
        retry_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "UPDATE {} SET next_at = $1, claimed_until = 0 WHERE id = $2",
            outbox.table()
        ))
        .bind(retry_at)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A district's rows still waiting (pending) and given up on (dead).
    pub(crate) async fn outbox_counts(
        &self,
        outbox: Outbox,
        district: &str,
    ) -> Result<(i64, i64), StoreError> {
        let row = sqlx::query(&format!(
            "SELECT CAST(COALESCE(SUM(1 - dead), 0) AS BIGINT) AS pending, \
             CAST(COALESCE(SUM(dead), 0) AS BIGINT) AS dead FROM {} WHERE district = $1",
            outbox.table()
        ))
        .bind(district)
        .fetch_one(self.pool())
        .await?;
        Ok((row.try_get("pending")?, row.try_get("dead")?))
    }
}
