//! The access log: every data call an app makes, allowed or denied, chained
//! per district so it can be checked for tampering.
//!
//! Each entry's `hash` is the sha256 of the previous entry's hash and the
//! entry's own fields; `access_chain` holds each district's newest hash and
//! entry count. Appending moves the head with a compare-and-swap inside the
//! entry's transaction, so several host processes append one after another
//! and never fork the chain. [`Store::verify_access_log`] recomputes it.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{Executor, Row};

use super::{Backend, Store, StoreError, now_ms};

/// The hash before a district's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How often an append retries after another process moved the head.
const APPEND_ATTEMPTS: usize = 50;

/// One entry of the access log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccessEntry {
    /// Sequence number (ascending with time).
    pub seq: i64,
    /// When, ms since the Unix epoch.
    pub at: i64,
    /// District.
    pub district: String,
    /// App.
    pub app: String,
    /// App version.
    pub version: String,
    /// The request (or event, tick) the call served.
    pub request_id: String,
    /// The host function called (`get-resident`, `query-residents`, …).
    pub operation: String,
    /// The permission it used or lacked.
    pub permission: String,
    /// `allowed` or `denied`.
    pub outcome: String,
    /// How many records it returned.
    pub record_count: i64,
    /// Their ids.
    pub record_ids: Vec<String>,
    /// `masked`, `personal`, or empty when no resident fields were returned.
    pub field_class: String,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// What [`Store::log_access`] records.
#[derive(Clone, Debug)]
pub struct NewAccess<'a> {
    /// District.
    pub district: &'a str,
    /// App.
    pub app: &'a str,
    /// Version.
    pub version: &'a str,
    /// Request id.
    pub request_id: &'a str,
    /// Operation.
    pub operation: &'a str,
    /// Permission used or lacked.
    pub permission: &'a str,
    /// Allowed or not.
    pub allowed: bool,
    /// Ids returned.
    pub record_ids: &'a [String],
    /// Field class returned.
    pub field_class: &'a str,
}

/// The outcome of checking a district's chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Entries checked.
    pub entries: u64,
    /// The newest hash.
    pub head: String,
    /// The first problem found, if any.
    pub broken: Option<String>,
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per hashed field keeps the hashed set visible"
)]
fn entry_hash(
    prev: &str,
    at: i64,
    district: &str,
    app: &str,
    version: &str,
    request_id: &str,
    operation: &str,
    permission: &str,
    outcome: &str,
    record_ids: &str,
    field_class: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &at.to_string(),
        district,
        app,
        version,
        request_id,
        operation,
        permission,
        outcome,
        record_ids,
        field_class,
    ] {
        // Length-prefixed, so no two different entries hash the same bytes.
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

impl Store {
    /// Append one data call to the district's chained log.
    pub async fn log_access(&self, entry: NewAccess<'_>) -> Result<(), StoreError> {
        let at = now_ms();
        let outcome = if entry.allowed { "allowed" } else { "denied" };
        let ids = serde_json::to_string(entry.record_ids).unwrap_or_else(|_| "[]".to_owned());
        for _ in 0..APPEND_ATTEMPTS {
            let mut conn = self.pool().acquire().await?;
            // SQLite takes its write lock up front (a read transaction that
            // later writes fails when another writer got in between);
            // PostgreSQL relies on the compare-and-swap below.
            let begin = match self.backend() {
                Backend::Sqlite => "BEGIN IMMEDIATE",
                Backend::Postgres => "BEGIN",
            };
            conn.execute(begin).await?;
            let attempt = async {
                let head =
                    sqlx::query("SELECT head, entries FROM access_chain WHERE district = $1")
                        .bind(entry.district)
                        .fetch_optional(&mut *conn)
                        .await?;
                let (prev, count): (String, i64) = match head {
                    Some(row) => (row.try_get("head")?, row.try_get("entries")?),
                    None => (GENESIS.to_owned(), 0),
                };
                let hash = entry_hash(
                    &prev,
                    at,
                    entry.district,
                    entry.app,
                    entry.version,
                    entry.request_id,
                    entry.operation,
                    entry.permission,
                    outcome,
                    &ids,
                    entry.field_class,
                );
                sqlx::query(
                    "INSERT INTO access_log (at, district, app, version, request_id, operation, permission, outcome, \
                     record_count, record_ids, field_class, prev_hash, hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(at)
                .bind(entry.district)
                .bind(entry.app)
                .bind(entry.version)
                .bind(entry.request_id)
                .bind(entry.operation)
                .bind(entry.permission)
                .bind(outcome)
                .bind(entry.record_ids.len() as i64)
                .bind(&ids)
                .bind(entry.field_class)
                .bind(&prev)
                .bind(&hash)
                .execute(&mut *conn)
                .await?;
                // Compare-and-swap the head: if another process appended
                // since we read it, nothing changes and we start over.
                let moved = if count == 0 {
                    sqlx::query(
                        "INSERT INTO access_chain (district, head, entries) VALUES ($1, $2, 1) \
                         ON CONFLICT (district) DO NOTHING",
                    )
                    .bind(entry.district)
                    .bind(&hash)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected()
                } else {
                    sqlx::query(
                        "UPDATE access_chain SET head = $1, entries = entries + 1 \
                         WHERE district = $2 AND head = $3",
                    )
                    .bind(&hash)
                    .bind(entry.district)
                    .bind(&prev)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected()
                };
                Ok::<bool, sqlx::Error>(moved == 1)
            }
            .await;
            match attempt {
                Ok(true) => {
                    conn.execute("COMMIT").await?;
                    return Ok(());
                }
                Ok(false) => {
                    conn.execute("ROLLBACK").await?;
                }
                Err(err) => {
                    let _ = conn.execute("ROLLBACK").await;
                    return Err(err.into());
                }
            }
        }
        Err(StoreError::Conflict(
            "the access log is too busy to append to; try again".into(),
        ))
    }

    /// The most recent `limit` entries of a district's access log (optionally
    /// of one app, and since a time in ms), oldest first.
    pub async fn list_access(
        &self,
        district: &str,
        app: Option<&str>,
        since: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AccessEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, district, app, version, request_id, operation, permission, outcome, record_count, \
             record_ids, field_class, prev_hash, hash FROM access_log \
             WHERE district = $1 AND ($2 = '' OR app = $2) AND at >= $3 ORDER BY seq DESC LIMIT $4",
        )
        .bind(district)
        .bind(app.unwrap_or(""))
        .bind(since.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().rev().map(entry_from_row).collect()
    }

    /// Recompute a district's chain from its first entry and compare it
    /// with every stored hash and with the recorded head.
    pub async fn verify_access_log(&self, district: &str) -> Result<ChainReport, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, district, app, version, request_id, operation, permission, outcome, record_count, \
             record_ids, field_class, prev_hash, hash FROM access_log WHERE district = $1 ORDER BY seq",
        )
        .bind(district)
        .fetch_all(self.pool())
        .await?;
        let mut prev = GENESIS.to_owned();
        let mut entries = 0u64;
        let mut broken = None;
        for row in &rows {
            let e = entry_from_row(row)?;
            let ids = serde_json::to_string(&e.record_ids).unwrap_or_default();
            let expect = entry_hash(
                &prev,
                e.at,
                &e.district,
                &e.app,
                &e.version,
                &e.request_id,
                &e.operation,
                &e.permission,
                &e.outcome,
                &ids,
                &e.field_class,
            );
            if e.prev_hash != prev {
                broken = Some(format!(
                    "entry {} does not follow the entry before it: an entry was removed or inserted",
                    e.seq
                ));
                break;
            }
            if e.hash != expect {
                broken = Some(format!("entry {} was changed after it was written", e.seq));
                break;
            }
            prev = e.hash;
            entries += 1;
        }
        if broken.is_none() {
            let head = sqlx::query("SELECT head, entries FROM access_chain WHERE district = $1")
                .bind(district)
                .fetch_optional(self.pool())
                .await?;
            let (recorded, count): (String, i64) = match head {
                Some(r) => (r.try_get("head")?, r.try_get("entries")?),
                None => (GENESIS.to_owned(), 0),
            };
            if recorded != prev || count != entries as i64 {
                broken = Some(format!(
                    "the log ends after {entries} entries but {count} were written: entries were removed from its end"
                ));
            }
        }
        Ok(ChainReport {
            entries,
            head: prev,
            broken,
        })
    }

    /// When each permission was last used by an app (ms), from the access
    /// log; `read-personal-fields` counts as used when personal fields were
    /// returned.
    pub async fn last_used_permissions(
        &self,
        district: &str,
        app: &str,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let mut out = BTreeMap::new();
        for row in sqlx::query(
            "SELECT permission, MAX(at) AS last FROM access_log \
             WHERE district = $1 AND app = $2 AND outcome = 'allowed' GROUP BY permission",
        )
        .bind(district)
        .bind(app)
        .fetch_all(self.pool())
        .await?
        {
            out.insert(row.try_get("permission")?, row.try_get("last")?);
        }
        let personal: Option<i64> = sqlx::query(
            "SELECT MAX(at) AS last FROM access_log \
             WHERE district = $1 AND app = $2 AND outcome = 'allowed' AND field_class = 'personal'",
        )
        .bind(district)
        .bind(app)
        .fetch_one(self.pool())
        .await?
        .try_get("last")?;
        if let Some(at) = personal {
            out.insert("read-personal-fields".to_owned(), at);
        }
        Ok(out)
    }
}

fn entry_from_row(r: &sqlx::any::AnyRow) -> Result<AccessEntry, StoreError> {
    let ids: String = r.try_get("record_ids")?;
    Ok(AccessEntry {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        district: r.try_get("district")?,
        app: r.try_get("app")?,
        version: r.try_get("version")?,
        request_id: r.try_get("request_id")?,
        operation: r.try_get("operation")?,
        permission: r.try_get("permission")?,
        outcome: r.try_get("outcome")?,
        record_count: r.try_get("record_count")?,
        record_ids: serde_json::from_str(&ids).map_err(|e| StoreError::Corrupt {
            what: "access log ids",
            detail: e.to_string(),
        })?,
        field_class: r.try_get("field_class")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}
