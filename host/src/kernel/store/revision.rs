//! The revision of the credentials: how a host process that keeps in
//! memory what each API token stands for learns, before it trusts what it
//! kept, that an account or a token changed anywhere, in this process, in
//! another one on the same database, or through the command line.
//!
//! - **SQLite (a file):** triggers move a counter (`credentials_revision`)
//!   on every change to `accounts` or `api_tokens`, in the same
//!   transaction as the change. Each request reads it, inline, on a
//!   connection of its own with the statement kept prepared: a read of a
//!   page SQLite already holds, a microsecond or two, where looking the
//!   token up through the pool cost about 75 µs. A change is seen by the
//!   first request after it commits.
//! - **PostgreSQL:** the triggers announce every change on the channel
//!   `hutong_credentials` when it commits; a task per process listens and
//!   counts what it hears. A change is seen once PostgreSQL has delivered
//!   its notification to the process, about a millisecond after the commit
//!   on one machine. While the listening connection is down (and until it
//!   is listening again) there is no revision: nothing is taken from
//!   memory, every token is looked up.
//! - **SQLite in memory** (one process's private database): no revision;
//!   every token is looked up.
//!
//! A revision is only ever compared for equality with one read earlier:
//! what was kept under another revision is dropped.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::Notify;

/// The channel the PostgreSQL triggers announce changes on.
const CHANNEL: &str = "hutong_credentials";

/// The longest pause between two attempts to listen again.
const MOST_BACKOFF: Duration = Duration::from_secs(30);

/// Where the current revision comes from.
#[derive(Debug)]
pub(crate) enum Revision {
    /// A counter row in a SQLite file, read by a connection of its own
    /// (none once the store is closed).
    Sqlite(Mutex<Option<Connection>>),
    /// Notifications from PostgreSQL, listened for once first asked.
    Postgres {
        /// The database's URL.
        url: String,
        /// The listener, started by the first read.
        listening: OnceLock<Arc<Listening>>,
    },
    /// None to be had.
    None,
}

impl Revision {
    /// The revision of a SQLite database file at `path`.
    pub(crate) fn sqlite(path: &Path) -> Result<Self, super::StoreError> {
        Ok(Revision::Sqlite(Mutex::new(Some(super::lite::connect(
            path,
        )?))))
    }

    /// The revision of the PostgreSQL database at `url`.
    pub(crate) fn postgres(url: &str) -> Self {
        Revision::Postgres {
            url: url.to_owned(),
            listening: OnceLock::new(),
        }
    }

    /// The current revision, or none when it cannot be known now (then
    /// nothing kept may be trusted). Never waits on anything but a read of
    /// SQLite's cached page.
    pub(crate) fn current(&self) -> Option<i64> {
        match self {
            Revision::Sqlite(conn) => {
                let conn = conn.lock().ok()?;
                let read = conn
                    .as_ref()?
                    .prepare_cached("SELECT revision FROM credentials_revision WHERE id = 1");
                match read.and_then(|mut statement| statement.query_row([], |row| row.get(0))) {
                    Ok(revision) => Some(revision),
                    Err(err) => {
                        tracing::warn!(error = %err, "could not read the credentials' revision");
                        None
                    }
                }
            }
            Revision::Postgres { url, listening } => listening
                .get_or_init(|| Listening::start(url.clone()))
                .current(),
            Revision::None => None,
        }
    }

    /// A change committed by this process: seen at once by this process,
    /// whose cache then needs no notification. On SQLite the counter row
    /// has already moved.
    pub(crate) fn changed_here(&self) {
        if let Revision::Postgres { listening, .. } = self
            && let Some(listening) = listening.get()
        {
            listening.counter.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Stop reading the revision: the store is closing.
    pub(crate) fn close(&self) {
        match self {
            Revision::Sqlite(conn) => {
                if let Ok(mut conn) = conn.lock() {
                    conn.take();
                }
            }
            Revision::Postgres { listening, .. } => {
                if let Some(listening) = listening.get() {
                    listening.stop.notify_one();
                }
            }
            Revision::None => {}
        }
    }
}

/// What a process has heard from PostgreSQL.
#[derive(Debug)]
pub(crate) struct Listening {
    /// Moved on by every notification, and by every (re)connection.
    counter: AtomicI64,
    /// Whether the listening connection is up and listening.
    live: AtomicBool,
    /// Told when the store closes or is dropped.
    stop: Arc<Notify>,
}

impl Listening {
    fn start(url: String) -> Arc<Self> {
        let listening = Arc::new(Listening {
            counter: AtomicI64::new(0),
            live: AtomicBool::new(false),
            stop: Arc::new(Notify::new()),
        });
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Outside a runtime nothing can listen: never live.
            return listening;
        };
        let (weak, stop) = (Arc::downgrade(&listening), listening.stop.clone());
        runtime.spawn(async move {
            tokio::select! {
                () = listen(url, weak) => {}
                () = stop.notified() => {}
            }
        });
        listening
    }

    fn current(&self) -> Option<i64> {
        // Read the counter before the flag: a connection lost in between
        // has moved the counter on before it lowered the flag.
        let counter = self.counter.load(Ordering::SeqCst);
        self.live.load(Ordering::SeqCst).then_some(counter)
    }

    /// The connection is gone: nothing kept until listening again.
    fn lost(&self) {
        self.live.store(false, Ordering::SeqCst);
        self.counter.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.stop.notify_one();
    }
}

/// Listen on [`CHANNEL`] until the store is gone, connecting again (with
/// a growing pause) whenever the connection fails.
async fn listen(url: String, listening: Weak<Listening>) {
    let mut backoff = Duration::from_millis(250);
    let mut failures = 0u32;
    loop {
        let connected = async {
            let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
            // A lost connection ends this listener; the loop makes the next.
            listener.eager_reconnect(false);
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        }
        .await;
        match connected {
            Ok(mut listener) => {
                {
                    let Some(listening) = listening.upgrade() else {
                        return;
                    };
                    // Whatever was kept before is from before listening.
                    listening.counter.fetch_add(1, Ordering::SeqCst);
                    listening.live.store(true, Ordering::SeqCst);
                }
                if failures > 0 {
                    tracing::info!("listening for credential changes again");
                }
                backoff = Duration::from_millis(250);
                failures = 0;
                loop {
                    let heard = listener.try_recv().await;
                    let Some(listening) = listening.upgrade() else {
                        return;
                    };
                    match heard {
                        Ok(Some(_)) => {
                            listening.counter.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(None) => {
                            listening.lost();
                            tracing::warn!(
                                "lost the connection that listens for credential changes; \
                                 every token is looked up until it is back"
                            );
                            break;
                        }
                        Err(err) => {
                            listening.lost();
                            tracing::warn!(error = %err, "listening for credential changes failed");
                            break;
                        }
                    }
                }
            }
            Err(err) => {
                if listening.strong_count() == 0 {
                    return;
                }
                failures += 1;
                // Once, not at every attempt: the database may be away a while.
                if failures == 1 {
                    tracing::warn!(
                        error = %err,
                        "cannot listen for credential changes; every token is looked up \
                         until this works"
                    );
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MOST_BACKOFF);
    }
}
