//! What was read from the database under one revision of the credentials
//! ([`Store::credentials_revision`](crate::kernel::store::Store::credentials_revision)),
//! kept in memory between requests: the shared rule of the
//! [token](super::token_cache) and [session](super::session_cache) caches.
//!
//! Each request reads the current revision first and takes nothing kept
//! under another one. Revisions only grow: a later one drops everything
//! kept; an earlier one, read by a request another has overtaken, finds
//! and keeps nothing. At most [`MOST_KEPT`] entries are kept; all are
//! dropped when a new one comes with that many kept.

use std::collections::HashMap;

/// The most entries one map keeps at once.
pub const MOST_KEPT: usize = 10_000;

/// Entries read under one revision, by key.
#[derive(Debug)]
pub(crate) struct UnderRevision<V> {
    /// The revision what is kept was read under, as last seen by a request.
    revision: Option<i64>,
    entries: HashMap<String, V>,
}

impl<V> Default for UnderRevision<V> {
    fn default() -> Self {
        UnderRevision {
            revision: None,
            entries: HashMap::new(),
        }
    }
}

impl<V: Clone> UnderRevision<V> {
    /// What is kept under `key`, if read under `revision`.
    pub(crate) fn get(&mut self, key: &str, revision: i64) -> Option<V> {
        match self.revision {
            Some(current) if current == revision => self.entries.get(key).cloned(),
            Some(current) if current > revision => None,
            _ => {
                self.entries.clear();
                self.revision = Some(revision);
                None
            }
        }
    }

    /// Keep `value` under `key`, read under `revision`, unless the revision
    /// has moved on meanwhile.
    pub(crate) fn keep(&mut self, key: &str, revision: i64, value: V) {
        if self.revision != Some(revision) {
            return;
        }
        if self.entries.len() >= MOST_KEPT && !self.entries.contains_key(key) {
            self.entries.clear();
        }
        self.entries.insert(key.to_owned(), value);
    }

    /// Drop what is kept under `key`.
    pub(crate) fn forget(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// The revision what is kept was read under.
    pub(crate) fn revision(&self) -> Option<i64> {
        self.revision
    }

    /// Whether anything is kept under `key`.
    pub(crate) fn holds(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }
}
