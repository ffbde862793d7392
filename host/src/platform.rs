//! [`Platform`]: the [`Store`] plus the [`Runtime`], for the operations that
//! need both (installing, and the dispatchers that call apps), and
//! [`PlatformError`], why any operation was refused or failed. Each
//! capability's operations are `impl Platform` blocks in its own folder; the
//! operations an app's host call shares with the API hold only the store.

use std::sync::Arc;

use serde::Serialize;

use crate::accounts::session_cache::SessionCache;
use crate::accounts::token_cache::TokenCache;
use crate::accounts::{AuthError, Caller};
use crate::error::PlatformError;
use crate::kernel::outbox::{Attempt, Tally};
use crate::kernel::store::Store;
use crate::runtime::Runtime;
use crate::runtime::{CallError, WatchOutcome};

/// The platform: storage plus runtime.
#[derive(Clone)]
pub struct Platform {
    pub(crate) store: Store,
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) packages: Option<hutong_registry::PackageCache>,
    /// What each bearer token stands for, kept between requests.
    pub(crate) tokens: Arc<TokenCache>,
    /// Open browser sessions, kept between requests.
    pub(crate) sessions: Arc<SessionCache>,
}

impl Platform {
    /// Combine a store and the runtime that serves it.
    pub fn new(store: Store, runtime: Arc<Runtime>) -> Self {
        Platform {
            store,
            runtime,
            packages: None,
            tokens: Arc::default(),
            sessions: Arc::default(),
        }
    }

    /// Keep verified registry packages in `dir`, so reinstalling one does
    /// not download it again.
    pub fn with_package_cache(mut self, dir: std::path::PathBuf) -> Self {
        self.packages = Some(hutong_registry::PackageCache::new(dir));
        self
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The case operations, over this platform's store.
    pub fn cases(&self) -> crate::cases::ops::Cases<'_> {
        crate::cases::ops::Cases::new(&self.store)
    }

    /// Signing in with a password, over this platform's store.
    pub fn sign_in(&self) -> crate::accounts::sign_in::SignIn<'_> {
        crate::accounts::sign_in::SignIn::new(&self.store, Default::default())
            .keeping(&self.sessions)
    }

    /// The caller a bearer token stands for, now: from what this platform
    /// keeps of it, while no account or token has changed since it was
    /// read (see [`token_cache`](crate::accounts::token_cache)).
    pub async fn authenticate(&self, token: &str) -> Result<Caller, AuthError> {
        self.tokens
            .authenticate(&self.store, token, crate::kernel::clock::now_ms())
            .await
    }

    /// The browser sessions this platform keeps in memory.
    pub fn session_cache(&self) -> &SessionCache {
        &self.sessions
    }

    /// The bearer tokens this platform keeps in memory.
    pub fn token_cache(&self) -> &TokenCache {
        &self.tokens
    }

    /// Refuse a district that does not exist.
    pub(crate) async fn require_district(&self, district: &str) -> Result<(), PlatformError> {
        crate::error::require_district(&self.store, district).await
    }

    /// The runtime.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }
}

// ---- what the dispatchers that call apps share ----

/// The pause before a notice or event put back because the host had no free instance;
/// that is the host's shortage, not the app's failure, so it costs no
/// attempt.
const BUSY_RETRY_MS: i64 = 1_000;

/// The pause before a suspended install's notice or event is tried again. Waiting
/// costs no attempt: an administrator's suspension must not lose changes.
pub const SUSPENDED_RETRY_MS: i64 = 30_000;

/// What one delivery run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Notices the apps handled.
    pub delivered: u64,
    /// Notices dropped because the install no longer holds `read-own-cases`
    /// or was uninstalled.
    pub dropped: u64,
    /// Failed attempts that will be retried.
    pub retrying: u64,
    /// Notices given up on after their last attempt.
    pub dead: u64,
    /// Notices put back, without counting an attempt, because the host had
    /// no free instance or the install is suspended.
    pub postponed: u64,
}

impl From<Tally> for DeliveryReport {
    fn from(t: Tally) -> Self {
        DeliveryReport {
            delivered: t.delivered,
            dropped: t.dropped,
            retrying: t.retrying,
            dead: t.dead,
            postponed: t.postponed,
        }
    }
}

/// What a failed or refused call into an app comes to for an outbox row: a
/// host without a free instance, or a suspended install, postpones it
/// without spending an attempt; anything else is a failed attempt.
pub(crate) fn app_call_failed(told: Result<WatchOutcome, CallError>) -> Attempt {
    match told {
        Err(CallError::Busy) => Attempt::Postponed {
            pause_ms: BUSY_RETRY_MS,
        },
        Err(CallError::Suspended { .. }) => Attempt::Postponed {
            pause_ms: SUSPENDED_RETRY_MS,
        },
        Ok(WatchOutcome::Refused(message)) => {
            Attempt::Failed(format!("the app answered with an error: {message}"))
        }
        Ok(WatchOutcome::Handled) => Attempt::Delivered,
        Ok(WatchOutcome::NotGranted(_) | WatchOutcome::NotWatched) => Attempt::Dropped,
        Err(err) => Attempt::Failed(err.to_string()),
    }
}
