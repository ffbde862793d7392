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
//! Only tokens the database knows are kept, at most
//! [`MOST_KEPT`](super::kept::MOST_KEPT) of them (all are dropped when that
//! many are); a wrong secret for a kept token is refused like any other, in
//! constant time.

use std::sync::{Arc, Mutex};

use super::kept::UnderRevision;
use super::{AuthError, Caller, Known, parse_token};
use crate::kernel::store::Store;

/// Tokens read from the database, under one revision of the credentials.
#[derive(Debug, Default)]
pub struct TokenCache {
    kept: Mutex<UnderRevision<Arc<Known>>>,
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
        let kept = revision.and_then(|revision| self.lock().get(id, revision));
        let known = match kept {
            Some(known) => known,
            None => {
                let known = Arc::new(Known::look_up(store, id).await?.ok_or(AuthError::Invalid)?);
                if let Some(revision) = revision {
                    self.lock().keep(id, revision, known.clone());
                }
                known
            }
        };
        known.verdict(secret, now_ms)
    }

    /// The revision of the credentials what is kept was read under, as
    /// last seen by a request.
    pub fn revision(&self) -> Option<i64> {
        self.lock().revision()
    }

    /// Whether token `id` (the part of a token between `htk_` and the
    /// secret) is kept now.
    pub fn holds(&self, id: &str) -> bool {
        self.lock().holds(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, UnderRevision<Arc<Known>>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}
