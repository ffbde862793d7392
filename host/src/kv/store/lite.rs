//! kv's operations on SQLite's short path
//! ([`lite`](crate::kernel::store::lite)): each is one closure on one
//! connection, with the same statements and the same quota check as the
//! sqlx path beside it.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{DELETE, GET, INSERT_IF_ABSENT, KvOp, SWAP, UPSERT, USAGE_AFTER_WRITE, within_quota};
use crate::kernel::limits::KvQuota;
use crate::kernel::store::StoreError;
use crate::kernel::store::lite::{HERE_MAX_VALUE, statement};

/// The value under a key when it holds at most `$4` bytes, and its length.
/// SQLite reads a stored value's length without reading the value, so a
/// larger one is not copied.
const GET_SMALL: &str = "SELECT CASE WHEN LENGTH(value) <= $4 THEN value END, LENGTH(value) \
     FROM kv WHERE district = $1 AND app = $2 AND key = $3";

/// [`get`] for the calling thread: the value, or none under the key, if
/// it is small; none at all, the value unread, if it is larger than
/// [`HERE_MAX_VALUE`].
#[allow(clippy::option_option)]
pub(super) fn get_small(
    conn: &Connection,
    district: &str,
    app: &str,
    key: &str,
) -> Result<Option<Option<Vec<u8>>>, StoreError> {
    let limit = i64::try_from(HERE_MAX_VALUE).unwrap_or(i64::MAX);
    let found: Option<(Option<Vec<u8>>, i64)> = statement(conn, GET_SMALL)?
        .query_row(params![district, app, key, limit], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    Ok(match found {
        None => Some(None),
        Some((Some(value), _)) => Some(Some(value)),
        Some((None, _)) => None,
    })
}

/// The value under `key`.
pub(super) fn get(
    conn: &Connection,
    district: &str,
    app: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(statement(conn, GET)?
        .query_row(params![district, app, key], |row| row.get(0))
        .optional()?)
}

/// The length of the value under a key, read without the value.
const LENGTH: &str = "SELECT LENGTH(value) FROM kv WHERE district = $1 AND app = $2 AND key = $3";

/// Whether the value under a key is larger than [`HERE_MAX_VALUE`]: then
/// replacing or removing it (the usage triggers read its length, and its
/// pages are freed) is left to a blocking thread.
fn holds_large(conn: &Connection, district: &str, app: &str, key: &str) -> rusqlite::Result<bool> {
    let length: Option<i64> = statement(conn, LENGTH)?
        .query_row(params![district, app, key], |row| row.get(0))
        .optional()?;
    Ok(length.is_some_and(|length| usize::try_from(length).unwrap_or(usize::MAX) > HERE_MAX_VALUE))
}

/// [`write`] for the calling thread: none, having written nothing, when
/// the value it would replace is large. The caller holds the write turn,
/// so no write of this process changes the value between the two.
pub(super) fn write_small(
    conn: &mut Connection,
    sql: &str,
    (district, app, key): (&str, &str, &str),
    value: &[u8],
    quota: Option<&KvQuota>,
) -> Result<Option<bool>, StoreError> {
    if holds_large(conn, district, app, key)? {
        return Ok(None);
    }
    write(conn, sql, (district, app, key), value, quota).map(Some)
}

/// [`delete`] for the calling thread: none, having removed nothing, when
/// the value is large. The caller holds the write turn, as for
/// [`write_small`].
pub(super) fn delete_small(
    conn: &Connection,
    district: &str,
    app: &str,
    key: &str,
) -> Result<Option<bool>, StoreError> {
    if holds_large(conn, district, app, key)? {
        return Ok(None);
    }
    delete(conn, district, app, key).map(Some)
}

/// One write (`UPSERT` or `INSERT_IF_ABSENT`); whether it stored the value.
/// With a quota, the write and its check are one transaction.
pub(super) fn write(
    conn: &mut Connection,
    sql: &str,
    (district, app, key): (&str, &str, &str),
    value: &[u8],
    quota: Option<&KvQuota>,
) -> Result<bool, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let written = statement(&tx, sql)?.execute(params![district, app, key, value])? == 1;
    if written && let Some(quota) = quota {
        check_quota(&tx, district, app, quota)?;
    }
    tx.commit()?;
    Ok(written)
}

/// Remove `key`; true when it existed.
pub(super) fn delete(
    conn: &Connection,
    district: &str,
    app: &str,
    key: &str,
) -> Result<bool, StoreError> {
    Ok(statement(conn, DELETE)?.execute(params![district, app, key])? == 1)
}

/// [`Store::kv_commit`](crate::kernel::store::Store::kv_commit): `None`
/// when every operation was applied, else the first whose condition failed,
/// and nothing was written.
pub(super) fn commit(
    conn: &mut Connection,
    (district, app): (&str, &str),
    ops: &[KvOp],
    quota: &KvQuota,
) -> Result<Option<u32>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (index, op) in ops.iter().enumerate() {
        let held = match op {
            KvOp::Insert { key, value } => {
                statement(&tx, INSERT_IF_ABSENT)?.execute(params![district, app, key, value])? == 1
            }
            KvOp::Set { key, value } => {
                statement(&tx, UPSERT)?.execute(params![district, app, key, value])?;
                true
            }
            KvOp::Swap {
                key,
                expected,
                value,
            } => statement(&tx, SWAP)?.execute(params![district, app, key, value, expected])? == 1,
            KvOp::Remove { key } => {
                statement(&tx, DELETE)?.execute(params![district, app, key])? == 1
            }
            KvOp::Require { key } => statement(&tx, GET)?.exists(params![district, app, key])?,
        };
        if !held {
            // Dropping `tx` rolls it back.
            return Ok(Some(u32::try_from(index).unwrap_or(u32::MAX)));
        }
    }
    check_quota(&tx, district, app, quota)?;
    tx.commit()?;
    Ok(None)
}

/// `check_quota` of the sqlx path, in the write's own transaction.
fn check_quota(
    conn: &Connection,
    district: &str,
    app: &str,
    quota: &KvQuota,
) -> Result<(), StoreError> {
    let (keys, bytes, district_bytes) = statement(conn, USAGE_AFTER_WRITE)?
        .query_row(params![district, app], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    within_quota(keys, bytes, district_bytes, district, quota)
}
