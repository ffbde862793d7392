//! Open browser sessions, kept in memory between requests.
//!
//! Every page of the console, and every request of an app on its own
//! origin, names a session. Looking it up read the session and then its
//! account, and an app's cookie first the app session: two or three
//! queries before the page did anything. Kept here, a request checks the
//! kept session's times against the clock instead.
//!
//! What is kept was read under a revision of the credentials, as for
//! tokens ([`kept`](super::kept)): ending a session (sign-out, a password
//! change, an administrator's revocation, from any process or the command
//! line), removing one, and every change to an account move it, so an
//! ended session or a disabled account is refused at the next request
//! (on PostgreSQL, once its notification has arrived).
//!
//! Using a session moves only its `seen_at` (written at most once a
//! minute), which does not move the revision: another process may have
//! used a session since it was kept here. So a kept session that looks
//! idle is read again, and ended only if the database agrees. Only open
//! sessions are kept, and app sessions only once entered (nothing changes
//! them after that).

use std::sync::{Arc, Mutex};

use super::kept::UnderRevision;
use super::sign_in_store::SessionRecord;
use super::store::Account;

/// A session found open, with its account.
#[derive(Debug)]
pub(crate) struct OpenSession {
    pub(crate) session: SessionRecord,
    pub(crate) account: Account,
}

/// An entered app session: the console session it names, its district
/// and its app.
pub(crate) type AppSession = (String, String, String);

/// Sessions and app sessions read from the database, by the sha256 of
/// their secrets, under one revision of the credentials.
#[derive(Debug, Default)]
pub struct SessionCache {
    sessions: Mutex<UnderRevision<Arc<OpenSession>>>,
    apps: Mutex<UnderRevision<Arc<AppSession>>>,
}

impl SessionCache {
    /// The open session kept under `digest`, if read under `revision`.
    pub(crate) fn session(&self, digest: &str, revision: i64) -> Option<Arc<OpenSession>> {
        lock(&self.sessions).get(digest, revision)
    }

    /// Keep `open` under `digest`, read under `revision`.
    pub(crate) fn keep_session(&self, digest: &str, revision: i64, open: Arc<OpenSession>) {
        lock(&self.sessions).keep(digest, revision, open);
    }

    /// Drop the session kept under `digest` (found closed).
    pub(crate) fn forget_session(&self, digest: &str) {
        lock(&self.sessions).forget(digest);
    }

    /// The entered app session kept under `digest`, if read under
    /// `revision`.
    pub(crate) fn app(&self, digest: &str, revision: i64) -> Option<Arc<AppSession>> {
        lock(&self.apps).get(digest, revision)
    }

    /// Keep the entered app session `app` under `digest`.
    pub(crate) fn keep_app(&self, digest: &str, revision: i64, app: Arc<AppSession>) {
        lock(&self.apps).keep(digest, revision, app);
    }

    /// Whether the session whose secret is `secret` is kept now.
    pub fn holds(&self, secret: &str) -> bool {
        lock(&self.sessions).holds(&super::sha256_hex(secret))
    }
}

fn lock<V>(map: &Mutex<V>) -> std::sync::MutexGuard<'_, V> {
    map.lock().unwrap_or_else(|p| p.into_inner())
}
