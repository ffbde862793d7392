//! `hutong:platform/kv`: private key-value storage per (district, app).
//!
//! Requires the `kv` permission. Keys and values are guest-controlled, so
//! their sizes are capped, and what an install keeps is held to its quota
//! (manifest `kv-keys` and `kv-mib`) and its district's, checked in the
//! transaction of each write: a write past a quota is `limit-exceeded` and
//! writes nothing. Each operation waits for a turn within its district's
//! share of the database (see [`shares`](crate::runtime::shares)), so one
//! district's flood of writes queues behind itself, not in front of others.

use std::collections::HashSet;

use crate::kernel::app_state::{AppState, DatabaseTurn};
use crate::kernel::manifest::Permission;
use crate::kernel::store::StoreError;
use crate::kernel::wit::WitError;
use crate::kernel::wit::hutong::platform::kv::{EntryPage, Host, KeyPage, Op};
use crate::kv::store::KvOp;

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value, in bytes: guards against guest-controlled resource
/// exhaustion of the shared database.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Most keys one `list-keys` or `list-entries` page may return.
pub const MAX_PAGE: u32 = 1000;
/// Most operations one `commit` may carry: one transaction holds the
/// database's write lock (SQLite) or its rows' locks (PostgreSQL) for all
/// of them, so its size is bounded like a value's.
pub const MAX_COMMIT_OPS: usize = 1000;
/// Most bytes of keys and values one `commit` may carry.
pub const MAX_COMMIT_BYTES: usize = 4 << 20;
/// Most bytes of values one `list-entries` page holds (it always holds at
/// least one entry): a page is copied into the app's memory, which is
/// capped, so a page of large values must end early.
pub const MAX_ENTRIES_BYTES: usize = 4 << 20;

/// The keyspace an install may touch, handed out only when `kv` is granted,
/// with the district's turn at the database for one operation.
struct Scope<'a> {
    district: &'a str,
    app: &'a str,
    _turn: Option<DatabaseTurn>,
}

impl AppState {
    /// The allow-check for `kv`: the one place it is decided. Then wait for
    /// the district's turn at the database.
    fn kv_scope(&self) -> Result<impl Future<Output = Scope<'_>> + Send, WitError> {
        self.grant.require(Permission::Kv)?;
        let (district, app) = (self.grant.district.as_str(), self.grant.app.as_str());
        let turn = self.database_turn();
        Ok(async move {
            Scope {
                district,
                app,
                _turn: turn.await,
            }
        })
    }
}

fn check_key(key: &str) -> Result<(), WitError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(WitError::InvalidArgument(format!(
            "key must be 1..={MAX_KEY_BYTES} bytes, got {}",
            key.len()
        )));
    }
    Ok(())
}

fn check_value(value: &[u8]) -> Result<(), WitError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(WitError::LimitExceeded(format!(
            "value is {} bytes; the most a value may hold is {MAX_VALUE_BYTES} bytes",
            value.len()
        )));
    }
    Ok(())
}

/// Check a commit's operations against the limits and turn them into the
/// store's; nothing is written unless every one passes.
fn check_commit(ops: Vec<Op>) -> Result<Vec<KvOp>, WitError> {
    if ops.is_empty() || ops.len() > MAX_COMMIT_OPS {
        return Err(WitError::InvalidArgument(format!(
            "a commit takes 1..={MAX_COMMIT_OPS} operations, got {}",
            ops.len()
        )));
    }
    let mut keys = HashSet::with_capacity(ops.len());
    let mut bytes = 0usize;
    let mut checked = Vec::with_capacity(ops.len());
    for (index, op) in ops.into_iter().enumerate() {
        let op = KvOp::from(op);
        check_key(op.key()).map_err(|e| at_op(index, e))?;
        let values: &[&[u8]] = match &op {
            KvOp::Insert { value, .. } | KvOp::Set { value, .. } => &[value],
            KvOp::Swap {
                expected, value, ..
            } => &[expected, value],
            KvOp::Remove { .. } | KvOp::Require { .. } => &[],
        };
        for value in values {
            check_value(value).map_err(|e| at_op(index, e))?;
            bytes += value.len();
        }
        bytes += op.key().len();
        if !keys.insert(op.key().to_owned()) {
            return Err(WitError::InvalidArgument(format!(
                "operation {index} touches key {:?} again; a commit may touch each key once",
                op.key()
            )));
        }
        checked.push(op);
    }
    if bytes > MAX_COMMIT_BYTES {
        return Err(WitError::LimitExceeded(format!(
            "the commit carries {bytes} bytes of keys and values; the most is {MAX_COMMIT_BYTES}"
        )));
    }
    Ok(checked)
}

/// Name the operation an argument error is about.
fn at_op(index: usize, error: WitError) -> WitError {
    match error {
        WitError::InvalidArgument(m) => {
            WitError::InvalidArgument(format!("operation {index}: {m}"))
        }
        WitError::LimitExceeded(m) => WitError::LimitExceeded(format!("operation {index}: {m}")),
        other => other,
    }
}

fn check_page(prefix: &str, limit: u32) -> Result<(), WitError> {
    if prefix.len() > MAX_KEY_BYTES {
        return Err(WitError::InvalidArgument(format!(
            "prefix must be at most {MAX_KEY_BYTES} bytes, got {}",
            prefix.len()
        )));
    }
    if limit == 0 || limit > MAX_PAGE {
        return Err(WitError::InvalidArgument(format!(
            "limit must be 1..={MAX_PAGE}, got {limit}"
        )));
    }
    Ok(())
}

/// A refused write's quota as `limit-exceeded`; any other failure of the
/// store as `unavailable`, with the details in the host's log only.
fn unavailable(err: StoreError) -> WitError {
    if let StoreError::Quota(message) = err {
        return WitError::LimitExceeded(message);
    }
    tracing::error!(error = %err, "kv storage failed");
    WitError::Unavailable("storage is unavailable; try again later".to_owned())
}

impl Host for AppState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, WitError> {
        let scope = self.kv_scope()?.await;
        check_key(&key)?;
        self.store
            .kv_get(scope.district, scope.app, &key)
            .await
            .map_err(unavailable)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), WitError> {
        let scope = self.kv_scope()?.await;
        check_key(&key)?;
        check_value(&value)?;
        self.store
            .kv_set_within(
                scope.district,
                scope.app,
                &key,
                &value,
                &self.grant.kv_quota,
            )
            .await
            .map_err(unavailable)
    }

    async fn delete(&mut self, key: String) -> Result<bool, WitError> {
        let scope = self.kv_scope()?.await;
        check_key(&key)?;
        self.store
            .kv_delete(scope.district, scope.app, &key)
            .await
            .map_err(unavailable)
    }

    async fn insert_if_absent(&mut self, key: String, value: Vec<u8>) -> Result<bool, WitError> {
        let scope = self.kv_scope()?.await;
        check_key(&key)?;
        check_value(&value)?;
        self.store
            .kv_insert_within(
                scope.district,
                scope.app,
                &key,
                &value,
                &self.grant.kv_quota,
            )
            .await
            .map_err(unavailable)
    }

    async fn list_keys(
        &mut self,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<KeyPage, WitError> {
        let scope = self.kv_scope()?.await;
        check_page(&prefix, limit)?;
        let page = self
            .store
            .kv_list(scope.district, scope.app, &prefix, cursor.as_deref(), limit)
            .await
            .map_err(unavailable)?;
        Ok(page.into())
    }

    async fn commit(&mut self, ops: Vec<Op>) -> Result<Option<u32>, WitError> {
        let scope = self.kv_scope()?.await;
        let ops = check_commit(ops)?;
        self.store
            .kv_commit(scope.district, scope.app, &ops, &self.grant.kv_quota)
            .await
            .map_err(unavailable)
    }

    async fn list_entries(
        &mut self,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<EntryPage, WitError> {
        let scope = self.kv_scope()?.await;
        check_page(&prefix, limit)?;
        let page = self
            .store
            .kv_list_entries(
                scope.district,
                scope.app,
                &prefix,
                cursor.as_deref(),
                limit,
                MAX_ENTRIES_BYTES,
            )
            .await
            .map_err(unavailable)?;
        Ok(page.into())
    }
}

#[cfg(test)]
mod tests {
    //! The capability called directly, as a guest's call would reach it:
    //! an [`AppState`] over a store and a grant, no engine.

    use std::sync::Arc;

    use super::*;
    use crate::kernel::grant::tests::{grant, store};
    use crate::kernel::store::Store;

    fn app(store: Store, granted: &[Permission]) -> AppState {
        AppState::new(
            Arc::new(grant(granted)),
            "req-1".to_owned(),
            store,
            64 << 20,
        )
    }

    fn denied_kv<T: std::fmt::Debug>(result: &Result<T, WitError>) -> bool {
        matches!(result, Err(WitError::Denied(p)) if p == "kv")
    }

    #[tokio::test]
    async fn works_when_kv_is_granted() {
        let (_dir, store) = store().await;
        let mut app = app(store, &[Permission::Kv]);
        assert_eq!(app.get("k".to_owned()).await.expect("get"), None);
        app.set("k".to_owned(), b"v".to_vec()).await.expect("set");
        assert_eq!(
            app.get("k".to_owned()).await.expect("get"),
            Some(b"v".to_vec())
        );
    }

    #[tokio::test]
    async fn errors_when_kv_is_not_granted() {
        let (_dir, store) = store().await;
        let mut granted = app(store.clone(), &[Permission::Kv]);
        granted
            .set("k".to_owned(), b"v".to_vec())
            .await
            .expect("set");
        let mut app = app(store.clone(), &[Permission::ReadResidents]);
        let read = app.get("k".to_owned()).await;
        assert!(denied_kv(&read), "{read:?}");
        let write = app.set("k".to_owned(), b"other".to_vec()).await;
        assert!(denied_kv(&write), "{write:?}");
        assert_eq!(
            store.kv_get("d1", "app", "k").await.expect("read"),
            Some(b"v".to_vec()),
            "a denied set writes nothing"
        );
    }

    #[tokio::test]
    async fn a_write_waits_for_its_districts_turn_at_the_database() {
        let (_dir, store) = store().await;
        let share = Arc::new(tokio::sync::Semaphore::new(1));
        let mut app = app(store.clone(), &[Permission::Kv]);
        app.database = Some(share.clone());
        // Another call of the district holds its one turn.
        let held = share.clone().acquire_owned().await.expect("turn");
        let write = app.set("k".to_owned(), b"v".to_vec());
        tokio::pin!(write);
        let waited = tokio::time::timeout(std::time::Duration::from_millis(50), &mut write).await;
        assert!(waited.is_err(), "the write waited for the district's turn");
        assert_eq!(store.kv_get("d1", "app", "k").await.expect("read"), None);
        drop(held);
        write.await.expect("set in its turn");
        assert_eq!(
            store.kv_get("d1", "app", "k").await.expect("read"),
            Some(b"v".to_vec())
        );
        assert_eq!(share.available_permits(), 1, "the turn ends with the write");
    }

    #[tokio::test]
    async fn a_key_too_long_is_an_invalid_argument() {
        let (_dir, store) = store().await;
        let mut app = app(store, &[Permission::Kv]);
        let key = "k".repeat(MAX_KEY_BYTES + 1);
        let result = app.get(key).await;
        assert!(
            matches!(result, Err(WitError::InvalidArgument(_))),
            "{result:?}"
        );
    }
}
