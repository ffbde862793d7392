//! The revision of the credentials: how a host process that keeps in
//! memory what each API token and browser session stands for learns,
//! before it trusts what it kept, that an account, a token or a session
//! changed anywhere, in this process, in another one on the same database,
//! or through the command line.
//!
//! - **SQLite (a file):** triggers move a counter (`credentials_revision`)
//!   on every change to `accounts` or `api_tokens` (and on ending or
//!   removing a session or an app session), in the same
//!   transaction as the change. Each request reads it, inline, on a
//!   connection of its own with the statement kept prepared: a read of a
//!   page SQLite already holds, a microsecond or two, where looking the
//!   token up through the pool cost about 75 µs. A change is seen by the
//!   first request after it commits.
//! - **PostgreSQL:** the triggers announce every change on the channel
//!   `hutong_credentials` when it commits; a task per process listens, on
//!   a connection of its own, and counts what it hears. A change is seen
//!   once PostgreSQL has delivered its notification to the process,
//!   milliseconds after the commit on one machine; a change this process
//!   made, at once. While the process is not listening there is no
//!   revision: nothing is taken from memory, every token and session is
//!   looked up.
//!   A connection can die without a word (a firewall dropping an idle
//!   connection): every [`HEARTBEAT`] the task announces a heartbeat of
//!   the connection's own through the store's pool, and a heartbeat not
//!   heard back by the next one counts as the connection lost. So at worst,
//!   a change is missed for two heartbeats. Nothing is trusted on a new
//!   connection until its first heartbeat has come back, so a pooler in
//!   transaction mode (PgBouncer's), which delivers nothing, is never
//!   trusted: listening needs a session of its own.
//! - **SQLite in memory** (one process's private database): no revision;
//!   every token and session is looked up.
//!
//! A revision is only ever compared for equality with one read earlier:
//! what was kept under another revision is dropped.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use rusqlite::Connection;
use sqlx::AnyPool;
use tokio::sync::Notify;

/// The channel the PostgreSQL triggers announce changes on.
const CHANNEL: &str = "hutong_credentials";

/// How often a listening process checks that it still hears the channel.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// What a heartbeat's payload starts with; the triggers' payloads are
/// table names.
const HEARTBEAT_PREFIX: &str = "heartbeat:";

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
        /// The database's URL, for the listening connection.
        url: String,
        /// The store's pool, for the heartbeats.
        pool: AnyPool,
        /// The listener, started by the first read.
        listening: OnceLock<Arc<Listening>>,
        /// The store is closed: nothing is listened for any more.
        closed: AtomicBool,
    },
    /// None to be had.
    None,
}

impl Revision {
    /// The revision of a SQLite database file at `path`.
    pub(crate) fn sqlite(path: &Path) -> Result<Self, super::StoreError> {
        let conn = super::lite::connect(path)?;
        // The read runs on an async worker: it never waits for a lock (a
        // reader meets one only while another connection recovers the
        // WAL), it gives up, and the token is looked up instead.
        conn.busy_timeout(Duration::ZERO)?;
        Ok(Revision::Sqlite(Mutex::new(Some(conn))))
    }

    /// The revision of the PostgreSQL database at `url`, whose pool is
    /// `pool`.
    pub(crate) fn postgres(url: &str, pool: AnyPool) -> Self {
        Revision::Postgres {
            url: url.to_owned(),
            pool,
            listening: OnceLock::new(),
            closed: AtomicBool::new(false),
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
                        warn_now_and_then(&err);
                        None
                    }
                }
            }
            Revision::Postgres {
                url,
                pool,
                listening,
                closed,
            } => {
                if closed.load(Ordering::SeqCst) {
                    return None;
                }
                // Outside a runtime nothing can listen (yet): nothing kept.
                let runtime = tokio::runtime::Handle::try_current().ok()?;
                listening
                    .get_or_init(|| Listening::start(&runtime, url.clone(), pool.clone()))
                    .current()
            }
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
            Revision::Postgres {
                listening, closed, ..
            } => {
                closed.store(true, Ordering::SeqCst);
                if let Some(listening) = listening.get() {
                    listening.lost();
                    listening.stop.notify_one();
                }
            }
            Revision::None => {}
        }
    }
}

/// Log a failed read of the revision, at most once a minute: it fails
/// for every request while it fails at all.
fn warn_now_and_then(err: &rusqlite::Error) {
    static LAST: AtomicI64 = AtomicI64::new(i64::MIN);
    let now = crate::kernel::clock::now_ms();
    let last = LAST.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= 60_000
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(
            error = %err,
            "could not read the credentials' revision; tokens and sessions are looked up meanwhile"
        );
    }
}

/// What a process has heard from PostgreSQL.
#[derive(Debug)]
pub(crate) struct Listening {
    /// Moved on by every change heard of, and by every loss of the
    /// connection.
    counter: AtomicI64,
    /// Whether the listening connection is up, listening and answering
    /// its heartbeats.
    live: AtomicBool,
    /// Told when the store closes or is dropped.
    stop: Arc<Notify>,
}

impl Listening {
    fn start(runtime: &tokio::runtime::Handle, url: String, pool: AnyPool) -> Arc<Self> {
        let listening = Arc::new(Listening {
            counter: AtomicI64::new(0),
            live: AtomicBool::new(false),
            stop: Arc::new(Notify::new()),
        });
        let (weak, stop) = (Arc::downgrade(&listening), listening.stop.clone());
        runtime.spawn(async move {
            tokio::select! {
                () = listen(url, pool, weak) => {}
                () = stop.notified() => {}
            }
        });
        listening
    }

    fn current(&self) -> Option<i64> {
        // The flag first: a loss lowers it before it moves the counter, so
        // a counter read after a raised flag is still the one the flag was
        // raised under, or a later one.
        if !self.live.load(Ordering::SeqCst) {
            return None;
        }
        Some(self.counter.load(Ordering::SeqCst))
    }

    /// Nothing kept may be trusted until listening again.
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

/// Raised while the task listens; however the listening ends (the
/// connection lost, a heartbeat missed, the task stopped or cancelled),
/// dropping this lowers it.
struct Live(Weak<Listening>);

impl Live {
    fn raise(listening: &Weak<Listening>) -> Option<Self> {
        let strong = listening.upgrade()?;
        // Whatever was kept before is from before listening.
        strong.counter.fetch_add(1, Ordering::SeqCst);
        strong.live.store(true, Ordering::SeqCst);
        Some(Live(listening.clone()))
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(listening) = self.0.upgrade() {
            listening.lost();
        }
    }
}

/// Listen on [`CHANNEL`] until the store is gone, connecting again (with
/// a growing pause) whenever the connection fails or stops answering.
async fn listen(url: String, pool: AnyPool, listening: Weak<Listening>) {
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
        let why = match connected {
            Ok(listener) => {
                let heard = hear(listener, &pool, &listening).await;
                if heard.answered {
                    // Only a connection that proved itself resets the pause.
                    backoff = Duration::from_millis(250);
                    failures = 0;
                }
                heard.why
            }
            Err(err) => Some(format!("cannot listen: {err}")),
        };
        if listening.strong_count() == 0 {
            return;
        }
        if let Some(why) = why {
            failures += 1;
            // Once, not at every attempt: the database may be away a while.
            if failures == 1 {
                tracing::warn!(
                    why,
                    "not listening for credential changes; every token and session is looked up until this works"
                );
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MOST_BACKOFF);
    }
}

/// How one listening connection ended.
struct Heard {
    /// Whether it ever answered a heartbeat (and so was trusted).
    answered: bool,
    /// Why it ended; none when the store is gone.
    why: Option<String>,
}

/// Count what `listener` hears until its connection is lost or stops
/// answering heartbeats. Nothing kept is trusted until its first heartbeat
/// comes back, and nothing after a heartbeat is missed.
async fn hear(
    mut listener: sqlx::postgres::PgListener,
    pool: &AnyPool,
    listening: &Weak<Listening>,
) -> Heard {
    // This connection's heartbeats, told from any other connection's.
    let own = format!("{HEARTBEAT_PREFIX}{}:", nonce());
    // The reads run in a task of their own, which counts every change
    // the moment it is heard (never held up by a heartbeat being sent),
    // and hands on this connection's heartbeats and its end.
    let (answers, mut heard) = tokio::sync::mpsc::unbounded_channel::<Result<u64, String>>();
    let reader = {
        let (listening, own) = (listening.clone(), own.clone());
        tokio::spawn(async move {
            loop {
                let next = listener.try_recv().await;
                let Some(strong) = listening.upgrade() else {
                    return;
                };
                let forward = match next {
                    Ok(Some(notification)) => {
                        let payload = notification.payload();
                        match payload.strip_prefix(own.as_str()) {
                            Some(n) => Ok(n.parse().unwrap_or(0)),
                            None if payload.starts_with(HEARTBEAT_PREFIX) => continue,
                            None => {
                                strong.counter.fetch_add(1, Ordering::SeqCst);
                                continue;
                            }
                        }
                    }
                    Ok(None) => Err("the connection was lost".to_owned()),
                    Err(err) => Err(format!("listening failed: {err}")),
                };
                let end = forward.is_err();
                if answers.send(forward).is_err() || end {
                    return;
                }
            }
        })
    };
    let _reader = AbortOnDrop(reader);
    let mut live: Option<Live> = None;
    let mut sent = 0u64;
    let mut waiting = false;
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let why = loop {
        tokio::select! {
            // An answer already here counts before the next beat is due.
            biased;
            answer = heard.recv() => match answer {
                Some(Ok(n)) if n == sent => {
                    waiting = false;
                    if live.is_none() {
                        live = Live::raise(listening);
                        if live.is_none() {
                            break None;
                        }
                    }
                }
                // An older beat, answered late: the one due is still awaited.
                Some(Ok(_)) => {}
                Some(Err(why)) => break Some(why),
                None => break Some("the connection was lost".to_owned()),
            },
            _ = beat.tick() => {
                if waiting {
                    break Some(format!("heartbeat {sent} was not heard back within {HEARTBEAT:?}"));
                }
                sent += 1;
                waiting = true;
                let send = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(format!("{own}{sent}"))
                    .execute(pool);
                match tokio::time::timeout(HEARTBEAT, send).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => break Some(format!("could not send a heartbeat: {err}")),
                    Err(_) => break Some("sending a heartbeat took too long".to_owned()),
                }
            }
        }
    };
    Heard {
        answered: live.is_some(),
        why: if listening.strong_count() == 0 {
            None
        } else {
            why
        },
    }
}

/// A random token for one connection's heartbeats; the process id and the
/// time should the system's randomness fail.
fn nonce() -> String {
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => hex::encode(bytes),
        Err(_) => format!(
            "{:x}-{:x}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ),
    }
}

/// A task aborted when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
