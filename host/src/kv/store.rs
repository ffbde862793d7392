//! App key-value data, one keyspace per (district, app).

use serde::Serialize;

use crate::kernel::limits::KvQuota;
use crate::kernel::store::lite::HERE_MAX_VALUE;
use crate::kernel::store::{Backend, Page, Sql, Store, StoreError};

mod lite;

/// One operation of [`Store::kv_commit`]; each but `Set` carries a condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOp {
    /// Store the value only if the key is absent.
    Insert {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Store the value unconditionally.
    Set {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Replace the value only if the key holds exactly `expected`.
    Swap {
        /// The key.
        key: String,
        /// The value the key must hold.
        expected: Vec<u8>,
        /// The new value.
        value: Vec<u8>,
    },
    /// Remove the key only if it is present.
    Remove {
        /// The key.
        key: String,
    },
    /// Require that the key is present, under a shared lock.
    Require {
        /// The key.
        key: String,
    },
}

impl KvOp {
    /// The key the operation touches.
    pub fn key(&self) -> &str {
        match self {
            KvOp::Insert { key, .. }
            | KvOp::Set { key, .. }
            | KvOp::Swap { key, .. }
            | KvOp::Remove { key }
            | KvOp::Require { key } => key,
        }
    }
}

/// One page of keys, in ascending byte order; `next` is the cursor for the
/// next page.
pub type KeyPage = Page<String, String>;

/// One page of entries (keys with their values), in ascending byte order of
/// the keys; `next` is the cursor for the next page.
pub type EntryPage = Page<(String, Vec<u8>), String>;

/// The smallest string greater than every string starting with `prefix`, if
/// there is one. Keys sort bytewise on both back ends, and UTF-8 byte order is
/// code-point order, so `prefix <= key < upper` selects exactly the keys that
/// start with `prefix` while letting the primary-key index bound the scan.
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Store a value only if its key is absent.
const INSERT_IF_ABSENT: &str = "INSERT INTO kv (district, app, key, value) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (district, app, key) DO NOTHING";

/// Store a value, replacing any before it.
const UPSERT: &str = "INSERT INTO kv (district, app, key, value) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (district, app, key) DO UPDATE SET value = excluded.value";

/// Remove a key.
const DELETE: &str = "DELETE FROM kv WHERE district = $1 AND app = $2 AND key = $3";

/// Replace a value only if the key holds the expected one.
const SWAP: &str = "UPDATE kv SET value = $4 \
     WHERE district = $1 AND app = $2 AND key = $3 AND value = $5";

/// The value under a key.
const GET: &str = "SELECT value FROM kv WHERE district = $1 AND app = $2 AND key = $3";

/// `INSERT_IF_ABSENT` or `UPSERT` with its arguments bound: the same write
/// whether on its own or inside a commit.
fn write<'q>(
    sql: &'q str,
    district: &'q str,
    app: &'q str,
    key: &'q str,
    value: &'q [u8],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(sql)
        .bind(district)
        .bind(app)
        .bind(key)
        .bind(value)
}

/// `DELETE` with its arguments bound.
fn delete<'q>(
    district: &'q str,
    app: &'q str,
    key: &'q str,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(DELETE).bind(district).bind(app).bind(key)
}

/// Owned copies of an operation's district, app and key, for SQLite's
/// short path, whose work runs on another thread.
fn owned(district: &str, app: &str, key: &str) -> (String, String, String) {
    (district.to_owned(), app.to_owned(), key.to_owned())
}

/// What an install keeps in kv.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KvUsage {
    /// Its keys.
    pub keys: u64,
    /// Their bytes, keys and values.
    pub bytes: u64,
}

/// What `app` in `district` keeps in kv, read through `db` (the pool, or a
/// write's transaction).
async fn usage<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    db: E,
    district: &str,
    app: &str,
) -> Result<KvUsage, StoreError> {
    let (keys, bytes): (i64, i64) =
        sqlx::query_as("SELECT keys, bytes FROM kv_usage WHERE district = $1 AND app = $2")
            .bind(district)
            .bind(app)
            .fetch_optional(db)
            .await?
            .unwrap_or((0, 0));
    Ok(KvUsage {
        keys: keys.max(0) as u64,
        bytes: bytes.max(0) as u64,
    })
}

/// Refuse, inside the write's transaction, a write that took the install or
/// its district past `quota`; the caller's transaction then rolls back, so
/// nothing is written. One statement reads the install's usage and its
/// district's together: each statement is a round trip to the database.
async fn check_quota(
    tx: &mut crate::kernel::store::WriteTx,
    district: &str,
    app: &str,
    quota: &KvQuota,
) -> Result<(), StoreError> {
    let (keys, bytes, district_bytes): (i64, i64, i64) = sqlx::query_as(USAGE_AFTER_WRITE)
        .bind(district)
        .bind(app)
        .fetch_one(&mut **tx)
        .await?;
    within_quota(keys, bytes, district_bytes, district, quota)
}

/// The one statement [`check_quota`] runs: the install's keys and bytes
/// and its district's bytes, each 0 when nothing is kept.
const USAGE_AFTER_WRITE: &str = "SELECT \
   CAST(COALESCE((SELECT keys FROM kv_usage WHERE district = $1 AND app = $2), 0) AS BIGINT), \
   CAST(COALESCE((SELECT bytes FROM kv_usage WHERE district = $1 AND app = $2), 0) AS BIGINT), \
   CAST(COALESCE((SELECT SUM(bytes) FROM kv_usage WHERE district = $1), 0) AS BIGINT)";

/// Refuse usage past `quota`, naming the quota.
fn within_quota(
    keys: i64,
    bytes: i64,
    district_bytes: i64,
    district: &str,
    quota: &KvQuota,
) -> Result<(), StoreError> {
    let (keys, bytes) = (keys.max(0) as u64, bytes.max(0) as u64);
    if keys > quota.keys {
        return Err(StoreError::Quota(format!(
            "kv quota reached: the install may keep {} keys (manifest `kv-keys`) and this write would make {keys}; nothing was written, delete keys first",
            quota.keys
        )));
    }
    if bytes > quota.bytes {
        return Err(StoreError::Quota(format!(
            "kv quota reached: the install may keep {} MiB (manifest `kv-mib`) and this write would make {bytes} bytes; nothing was written, delete keys first",
            quota.bytes >> 20
        )));
    }
    if district_bytes.max(0) as u64 > quota.district_bytes {
        return Err(StoreError::Quota(format!(
            "kv quota reached: district `{district}`'s apps may keep {} MiB together and this write would make {district_bytes} bytes; nothing was written",
            quota.district_bytes >> 20
        )));
    }
    Ok(())
}

impl Store {
    /// What `app` in `district` keeps in kv.
    pub async fn kv_usage(&self, district: &str, app: &str) -> Result<KvUsage, StoreError> {
        usage(self.pool(), district, app).await
    }

    /// The value under `key`.
    pub async fn kv_get(
        &self,
        district: &str,
        app: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(short) = self.lite() {
            if let Some(read) =
                short.try_here(false, |conn| lite::get_small(conn, district, app, key))
            {
                return read;
            }
            let (district, app, key) = owned(district, app, key);
            return short
                .run(None, move |conn| lite::get(conn, &district, &app, &key))
                .await;
        }
        Ok(sqlx::query_scalar(GET)
            .bind(district)
            .bind(app)
            .bind(key)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Store `value` under `key`, replacing any previous value.
    pub async fn kv_set(
        &self,
        district: &str,
        app: &str,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        self.kv_write(UPSERT, district, app, key, value, None)
            .await
            .map(drop)
    }

    /// [`Store::kv_set`] for an app: refused, writing nothing, if it takes
    /// the install or its district past `quota`.
    pub async fn kv_set_within(
        &self,
        district: &str,
        app: &str,
        key: &str,
        value: &[u8],
        quota: &KvQuota,
    ) -> Result<(), StoreError> {
        self.kv_write(UPSERT, district, app, key, value, Some(quota))
            .await
            .map(drop)
    }

    /// Store `value` under `key` only if absent; true when this call stored it.
    /// Atomic on both back ends: the primary key decides the one winner.
    pub async fn kv_insert_if_absent(
        &self,
        district: &str,
        app: &str,
        key: &str,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        self.kv_write(INSERT_IF_ABSENT, district, app, key, value, None)
            .await
    }

    /// [`Store::kv_insert_if_absent`] for an app, within `quota`.
    pub async fn kv_insert_within(
        &self,
        district: &str,
        app: &str,
        key: &str,
        value: &[u8],
        quota: &KvQuota,
    ) -> Result<bool, StoreError> {
        self.kv_write(INSERT_IF_ABSENT, district, app, key, value, Some(quota))
            .await
    }

    /// One write (`UPSERT` or `INSERT_IF_ABSENT`); whether it stored the
    /// value. With a quota, the write and its check are one transaction.
    async fn kv_write(
        &self,
        sql: &str,
        district: &str,
        app: &str,
        key: &str,
        value: &[u8],
        quota: Option<&KvQuota>,
    ) -> Result<bool, StoreError> {
        if let Some(short) = self.lite() {
            let turn = self.write_turn().await?;
            if value.len() <= HERE_MAX_VALUE
                && let Some(done) = short.try_here(true, |conn| {
                    lite::write_small(conn, sql, (district, app, key), value, quota)
                })
            {
                return done;
            }
            let (sql, (district, app, key)) = (sql.to_owned(), owned(district, app, key));
            let (value, quota) = (value.to_vec(), quota.copied());
            return short
                .run(turn, move |conn| {
                    lite::write(conn, &sql, (&district, &app, &key), &value, quota.as_ref())
                })
                .await;
        }
        let Some(quota) = quota else {
            let written = write(sql, district, app, key, value)
                .execute(self.pool())
                .await?;
            return Ok(written.rows_affected() == 1);
        };
        let mut tx = self.begin_write().await?;
        let written = write(sql, district, app, key, value)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if written {
            check_quota(&mut tx, district, app, quota).await?;
        }
        tx.commit().await?;
        Ok(written)
    }

    /// Remove `key`; true when it existed.
    pub async fn kv_delete(
        &self,
        district: &str,
        app: &str,
        key: &str,
    ) -> Result<bool, StoreError> {
        if let Some(short) = self.lite() {
            let turn = self.write_turn().await?;
            if let Some(done) =
                short.try_here(true, |conn| lite::delete_small(conn, district, app, key))
            {
                return done;
            }
            let (district, app, key) = owned(district, app, key);
            return short
                .run(turn, move |conn| lite::delete(conn, &district, &app, &key))
                .await;
        }
        let deleted = delete(district, app, key)
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(deleted == 1)
    }

    /// Apply `ops` all-or-nothing in one transaction, in order. `None` when
    /// applied; otherwise the index of the first operation whose condition
    /// failed, and nothing was written.
    ///
    /// SQLite takes its write lock up front, so commits run one after the
    /// other. On PostgreSQL each conditional write locks its row (a second
    /// insert of the same key waits for the first commit and then sees the
    /// key), and `Require` takes a shared lock (`FOR SHARE`): commits that
    /// only require a key run side by side, while one that removes or swaps
    /// it waits for them, so no commit can rely on a key another is removing.
    pub async fn kv_commit(
        &self,
        district: &str,
        app: &str,
        ops: &[KvOp],
        quota: &KvQuota,
    ) -> Result<Option<u32>, StoreError> {
        if let Some(short) = self.lite() {
            let (district, app) = (district.to_owned(), app.to_owned());
            let (ops, quota) = (ops.to_vec(), *quota);
            let turn = self.write_turn().await?;
            return short
                .run(turn, move |conn| {
                    lite::commit(conn, (&district, &app), &ops, &quota)
                })
                .await;
        }
        let mut tx = self.begin_write().await?;
        let share = match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR SHARE",
        };
        for (index, op) in ops.iter().enumerate() {
            let held = match op {
                KvOp::Insert { key, value } => {
                    write(INSERT_IF_ABSENT, district, app, key, value)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        == 1
                }
                KvOp::Set { key, value } => {
                    write(UPSERT, district, app, key, value)
                        .execute(&mut *tx)
                        .await?;
                    true
                }
                KvOp::Swap {
                    key,
                    expected,
                    value,
                } => {
                    sqlx::query(SWAP)
                    .bind(district)
                    .bind(app)
                    .bind(key.as_str())
                    .bind(value.as_slice())
                    .bind(expected.as_slice())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1
                }
                KvOp::Remove { key } => {
                    delete(district, app, key)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        == 1
                }
                KvOp::Require { key } => sqlx::query(&format!(
                    "SELECT 1 AS present FROM kv WHERE district = $1 AND app = $2 AND key = $3{share}"
                ))
                .bind(district)
                .bind(app)
                .bind(key.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .is_some(),
            };
            if !held {
                tx.rollback().await?;
                return Ok(Some(u32::try_from(index).unwrap_or(u32::MAX)));
            }
        }
        check_quota(&mut tx, district, app, quota).await?;
        tx.commit().await?;
        Ok(None)
    }

    /// Keys starting with `prefix`, after `cursor`, at most `limit`.
    pub async fn kv_list(
        &self,
        district: &str,
        app: &str,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, StoreError> {
        let keys: Vec<(String,)> = self
            .kv_range(district, app, "key", prefix, cursor, limit)
            .await?;
        let keys = keys.into_iter().map(|(key,)| key).collect();
        Ok(Page::cut(keys, limit, String::clone))
    }

    /// Entries whose keys start with `prefix`, after `cursor`, at most
    /// `limit`, and no more than `max_bytes` of values (but at least one
    /// entry). The sizes are read first, so a page of large values is cut
    /// before any value is loaded into memory.
    pub async fn kv_list_entries(
        &self,
        district: &str,
        app: &str,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
        max_bytes: usize,
    ) -> Result<EntryPage, StoreError> {
        let sizes: Vec<(String, i64)> = self
            .kv_range(
                district,
                app,
                "key, CAST(LENGTH(value) AS BIGINT) AS size",
                prefix,
                cursor,
                limit,
            )
            .await?;
        let mut keep = 0_usize;
        let mut bytes = 0_usize;
        for (_, size) in sizes.iter().take(limit as usize) {
            let size = usize::try_from(*size).unwrap_or(usize::MAX);
            if keep > 0 && bytes.saturating_add(size) > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(size);
            keep += 1;
        }
        let more = sizes.len() > keep;
        let (Some((first, _)), Some((last, _))) =
            (sizes.first(), sizes.get(keep.saturating_sub(1)))
        else {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        };
        // Keys written between the two reads may have joined the range: read
        // one more than was sized, so the page never grows past what was
        // sized, and continue after the last key returned, so nothing is
        // skipped.
        let mut entries: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT key, value FROM kv WHERE district = $1 AND app = $2 AND key >= $3 \
             AND key <= $4 ORDER BY key LIMIT $5",
        )
        .bind(district)
        .bind(app)
        .bind(first.as_str())
        .bind(last.as_str())
        .bind(i64::try_from(keep).unwrap_or(i64::MAX).saturating_add(1))
        .fetch_all(self.pool())
        .await?;
        let grew = entries.len() > keep;
        entries.truncate(keep);
        let next = if more || grew {
            entries.last().map(|(k, _)| k.clone())
        } else {
            None
        };
        Ok(Page {
            items: entries,
            next,
        })
    }

    /// Up to `limit + 1` rows of `columns` for the keys starting with
    /// `prefix`, after `cursor` (or from the prefix itself), in key order.
    async fn kv_range<R>(
        &self,
        district: &str,
        app: &str,
        columns: &str,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Vec<R>, StoreError>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        // Start strictly after the cursor, or at the prefix itself.
        let (lower, lower_op) = match cursor {
            Some(c) if c >= prefix => (c, ">"),
            _ => (prefix, ">="),
        };
        let upper = prefix_upper_bound(prefix);
        let mut q = Sql::new(format!("SELECT {columns} FROM kv WHERE district = "));
        q.push_bind(district).push(" AND app = ").push_bind(app);
        q.and("key", lower_op, Some(lower));
        q.and("key", "<", upper.as_deref());
        q.push(" ORDER BY key LIMIT ")
            .push_bind(i64::from(limit) + 1);
        q.fetch_as(self.pool()).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::kernel::store::lite::HERE_MAX_VALUE;
    use crate::kv::store::prefix_upper_bound;

    /// Values at the calling thread's limit and past it, none and empty,
    /// read back as written. Operations on a small value run on the
    /// calling thread; those that would read, replace or remove a larger
    /// one run on a blocking thread, and answer the same.
    #[tokio::test]
    async fn values_of_every_size_read_back_as_written() {
        let (_dir, store) = crate::kernel::grant::tests::store().await;
        let lite = store.lite().expect("a file takes the short path").clone();
        let here = || lite.ran_here();
        let sizes = [0, 1, HERE_MAX_VALUE, HERE_MAX_VALUE + 1, 1 << 20];
        for size in sizes {
            let small = size <= HERE_MAX_VALUE;
            let before = here();
            let key = format!("v/{size}");
            let value: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            assert_eq!(store.kv_get("east", "app", &key).await.expect("get"), None);
            assert!(
                store
                    .kv_insert_if_absent("east", "app", &key, &value)
                    .await
                    .expect("insert")
            );
            assert!(
                !store
                    .kv_insert_if_absent("east", "app", &key, b"again")
                    .await
                    .expect("insert again"),
                "a key present is not inserted again ({size} bytes)"
            );
            let read = store.kv_get("east", "app", &key).await.expect("get");
            assert_eq!(read.as_deref(), Some(value.as_slice()), "{size} bytes");
            // Reading an absent key always runs here; the rest only when small.
            let expected = if small { 4 } else { 1 };
            assert_eq!(
                here() - before,
                expected,
                "operations run here, {size} bytes"
            );
        }
        let before = here();
        store
            .kv_set("east", "app", "v/1048576", b"small now")
            .await
            .expect("replace a large value");
        assert_eq!(here() - before, 0, "replacing a large value runs elsewhere");
        assert_eq!(
            store
                .kv_get("east", "app", "v/1048576")
                .await
                .expect("get")
                .as_deref(),
            Some(&b"small now"[..])
        );
        let before = here();
        assert!(
            store
                .kv_delete("east", "app", "v/16385")
                .await
                .expect("delete")
        );
        assert_eq!(here() - before, 0, "removing a large value runs elsewhere");
        for size in sizes {
            let key = format!("v/{size}");
            store.kv_delete("east", "app", &key).await.expect("delete");
            assert!(
                !store
                    .kv_delete("east", "app", &key)
                    .await
                    .expect("delete again")
            );
            assert_eq!(store.kv_get("east", "app", &key).await.expect("get"), None);
        }
    }

    /// A write that finds SQLite's write lock held by another connection
    /// does not wait for it on the calling thread (one thread here, so a
    /// wait there would stall this test's own timer): it waits on a
    /// blocking thread and is written once the lock is free.
    #[tokio::test(flavor = "current_thread")]
    async fn a_write_that_finds_the_database_locked_waits_off_the_calling_thread() {
        let (_dir, store) = crate::kernel::grant::tests::store().await;
        let path = store.lite().expect("the short path").path().to_owned();
        let other = rusqlite::Connection::open(&path).expect("another connection");
        other
            .execute_batch("BEGIN IMMEDIATE")
            .expect("hold the write lock");
        let writing = tokio::spawn({
            let store = store.clone();
            async move { store.kv_set("east", "app", "k", b"after").await }
        });
        let slept = Instant::now();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            slept.elapsed() < Duration::from_millis(900),
            "the write waited for the lock on the calling thread ({:?})",
            slept.elapsed()
        );
        assert!(!writing.is_finished(), "the write got past a held lock");
        other.execute_batch("ROLLBACK").expect("release the lock");
        writing.await.expect("task").expect("written once free");
        assert_eq!(
            store
                .kv_get("east", "app", "k")
                .await
                .expect("get")
                .as_deref(),
            Some(&b"after"[..])
        );
    }

    /// Writes on the calling thread, whose connections never checkpoint,
    /// still keep the WAL short: without the checkpoints made for them,
    /// these 3,000 writes leave it at about 40 MiB; with them, at about 5.
    #[tokio::test]
    async fn writes_on_the_calling_thread_keep_the_wal_checkpointed() {
        let (_dir, store) = crate::kernel::grant::tests::store().await;
        let path = store.lite().expect("the short path").path().to_owned();
        for n in 0..3_000 {
            store
                .kv_set("east", "app", &format!("k/{n}"), &[7; 100])
                .await
                .expect("set");
        }
        let mut wal = path.into_os_string();
        wal.push("-wal");
        let size = std::fs::metadata(&wal).expect("the WAL").len();
        let here = store.lite().expect("the short path").ran_here();
        assert!(
            here > 2_900,
            "only {here} of 3,000 writes ran on the calling thread"
        );
        assert!(size < 12 << 20, "the WAL grew to {size} bytes");
    }

    #[test]
    fn upper_bound_increments_last_char() {
        assert_eq!(prefix_upper_bound("user:"), Some("user;".to_owned()));
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("a\u{10FFFF}"), Some("b".to_owned()));
        assert_eq!(prefix_upper_bound("\u{D7FF}"), Some("\u{E000}".to_owned()));
    }
}
