//! What each bearer token stands for, kept in memory between requests.
//!
//! Looking a token up in the database (the token joined with its account)
//! cost an authenticated request about 75 µs of the host's CPU, more than
//! the app's whole answer. Kept here, a request checks the secret against
//! the kept sha256, the expiry against the clock, and whether the token
//! was revoked or its account disabled when it was read.
//!
//! Revocation still holds at once. What is kept was read under a revision
//! of the credentials ([`Store::credentials_revision`]), which every change
//! to an account or a token moves on, whichever process or command made
//! it; each request reads the current revision first and uses nothing kept
//! under another one. Where no revision can be had (SQLite in memory, or
//! PostgreSQL while the process is not listening), every token is looked
//! up. See [`revision`](crate::kernel::store::revision) for how each back
//! end knows.
//!
//! Only tokens the database knows are kept, at most [`MOST_KEPT`] of them
//! (all are dropped when that many are); a wrong secret for a kept token is
//! refused like any other, in constant time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{AuthError, Caller, Known, parse_token};
use crate::kernel::store::Store;

/// The most tokens kept at once.
pub const MOST_KEPT: usize = 10_000;

/// Tokens read from the database, under one revision of the credentials.
#[derive(Debug, Default)]
pub struct TokenCache {
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    /// The revision what is kept was read under.
    revision: Option<i64>,
    tokens: HashMap<String, Arc<Known>>,
}

impl TokenCache {
    /// The caller a bearer token stands for, at time `now_ms`: from what is
    /// kept when it was read under the current revision, else from the
    /// database (and then kept).
    pub async fn authenticate(
        &self,
        store: &Store,
        token: &str,
        now_ms: i64,
    ) -> Result<Caller, AuthError> {
        let (id, secret) = parse_token(token)?;
        // Read before the token: a change committed after this read moves
        // the revision past it, so what is read next is not kept for long.
        let revision = store.credentials_revision();
        let kept = revision.and_then(|revision| self.kept(id, revision));
        let known = match kept {
            Some(known) => known,
            None => {
                let known = Arc::new(Known::look_up(store, id).await?.ok_or(AuthError::Invalid)?);
                if let Some(revision) = revision {
                    self.keep(id, revision, known.clone());
                }
                known
            }
        };
        known.verdict(secret, now_ms)
    }

    /// The revision of the credentials what is kept was read under, as
    /// last seen by a request.
    pub fn revision(&self) -> Option<i64> {
        self.lock().revision
    }

    /// Whether token `id` (the part of a token between `htk_` and the
    /// secret) is kept now.
    pub fn holds(&self, id: &str) -> bool {
        self.lock().tokens.contains_key(id)
    }

    /// What is kept of token `id`, if read under `revision`. A later
    /// revision (they only grow) drops all that was kept; an earlier one,
    /// read by a request that was overtaken, finds nothing.
    fn kept(&self, id: &str, revision: i64) -> Option<Arc<Known>> {
        let mut kept = self.lock();
        match kept.revision {
            Some(current) if current == revision => kept.tokens.get(id).cloned(),
            Some(current) if current > revision => None,
            _ => {
                kept.tokens.clear();
                kept.revision = Some(revision);
                None
            }
        }
    }

    /// Keep what was read of token `id` under `revision`, unless the
    /// revision has moved on meanwhile.
    fn keep(&self, id: &str, revision: i64, known: Arc<Known>) {
        let mut kept = self.lock();
        if kept.revision != Some(revision) {
            return;
        }
        if kept.tokens.len() >= MOST_KEPT {
            kept.tokens.clear();
        }
        kept.tokens.insert(id.to_owned(), known);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}
