//! Storage: every table of the host, with one file of SQL per group of
//! tables (districts, installs and components, kv, accounts and tokens,
//! community data, the access log, cases, notifications, devices and their
//! events, schedule runs, registry state), and the helpers they share.
//!
//! One code path serves both back ends through sqlx's `Any` driver: embedded
//! SQLite by default, PostgreSQL when a city runs several host processes.
//! Queries use `$n` placeholders, which both drivers accept, built by one
//! parameter builder (`Sql`), and only types both map the same way (TEXT,
//! BIGINT, BLOB/BYTEA). Listings are keyset pages ([`Page`], at most
//! [`MAX_PAGE`] items). Every "now" the store writes or compares comes from
//! its [`Clock`] ([`Store::clock`]), which tests stop and move. Each back end
//! has its own numbered migrations, never edited once applied.
//!
//! The exception is SQLite's short path ([`lite`]): the few statements on
//! an app's request path (kv, access-log entries) run there through
//! connections of their own, one hop per operation (none for the
//! smallest), because through sqlx each statement is a round trip to a
//! worker thread that costs more than the statement.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::ser::SerializeStruct;
use sqlx::any::{AnyArguments, AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Arguments, Encode, Executor, FromRow, Type};

use crate::kernel::clock::Clock;

pub(crate) mod lite;
pub(crate) mod revision;

pub use revision::HEARTBEAT;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A uniqueness rule was violated.
    #[error("{0}")]
    Conflict(String),
    /// A value read back from the database could not be decoded.
    #[error("corrupt {what} in the database: {detail}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// The decoding error.
        detail: String,
    },
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A write would take the install or its district past its storage
    /// quota; nothing was written. The message names the quota.
    #[error("{0}")]
    Quota(String),
    /// SQLite failed on the short path (see [`lite`]).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The group of access-log entries this one was written with failed
    /// (the cause is in the host's log).
    #[error("database error: {0}")]
    Group(String),
    /// The data directory could not be prepared.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (a file in the data directory).
    Sqlite,
    /// PostgreSQL, shared by several host processes.
    Postgres,
}

/// The host's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    clock: Clock,
    /// On SQLite, the line writers wait in for the one write lock (see
    /// [`Store::write_turn`]); none on PostgreSQL.
    writers: Option<Arc<tokio::sync::Mutex<()>>>,
    /// On SQLite in a file, the short path's connections for the
    /// statements on an app's request path; none on PostgreSQL.
    lite: Option<Arc<lite::Lite>>,
    /// Access-log entries waiting to be written together.
    access_group: Arc<crate::kernel::access_log::Waiting>,
    /// Where the revision of the credentials comes from (see [`revision`]).
    revision: Arc<revision::Revision>,
    /// The districts seen to exist (see [`Store::district_exists`]).
    known_districts: Arc<std::sync::RwLock<std::collections::HashSet<Box<str>>>>,
}

/// The longest a write waits in line for SQLite's write lock: the same as
/// the busy timeout every connection has.
const WRITE_WAIT: Duration = Duration::from_secs(10);

/// A turn at SQLite's write lock (see [`Store::write_turn`]).
pub(crate) type WriteTurn = Option<tokio::sync::OwnedMutexGuard<()>>;

/// A connection for writes outside a transaction ([`Store::writer`]); it
/// holds the write turn until it is dropped.
pub(crate) struct Writer {
    // Declared first, so returned to the pool before the turn ends.
    conn: sqlx::pool::PoolConnection<Any>,
    _turn: WriteTurn,
}

impl std::ops::Deref for Writer {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl std::ops::DerefMut for Writer {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.conn
    }
}

/// A transaction that writes ([`Store::begin_write`]); it holds the write
/// turn until it commits, rolls back or is dropped.
pub(crate) struct WriteTx {
    // Declared first, so dropped (and rolled back) before the turn ends.
    tx: sqlx::Transaction<'static, Any>,
    _turn: WriteTurn,
}

impl WriteTx {
    /// Commit, then let the next writer in.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Roll back, then let the next writer in.
    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Open (creating if needed) the SQLite database in `data_dir`.
    pub async fn open_data_dir(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let file = data_dir.join("hutong.db");
        Self::open(&format!("sqlite://{}?mode=rwc", file.display())).await
    }

    /// Open the database at `url` (`sqlite://…` or `postgres://…`) and bring
    /// its schema up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let options = AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            // An embedded SQLite connection does not go stale, so it is not
            // pinged each time it is taken from the pool: the ping was a
            // round trip to its worker thread, two of the seven in a kv
            // read-modify-write. PostgreSQL's may, across a network.
            .test_before_acquire(backend != Backend::Sqlite)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Before the first table is made: pages freed (an
                        // uninstall's data) can be returned to the file
                        // system. No effect on a database made earlier.
                        conn.execute("PRAGMA auto_vacuum = INCREMENTAL").await?;
                        // WAL lets readers run beside the one writer; the busy
                        // timeout makes concurrent writers wait, not fail.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        for pragma in lite::FORGETTING {
                            conn.execute(pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        let lite = match backend {
            Backend::Sqlite => lite::Lite::for_url(url)?,
            Backend::Postgres => None,
        };
        let revision = match (&lite, backend) {
            (Some(lite), _) => revision::Revision::sqlite(lite.path())?,
            (None, Backend::Postgres) => revision::Revision::postgres(url, pool.clone()),
            (None, Backend::Sqlite) => revision::Revision::None,
        };
        Ok(Store {
            pool,
            backend,
            clock: Clock::system(),
            writers: (backend == Backend::Sqlite).then(Arc::default),
            lite,
            access_group: Arc::default(),
            revision: Arc::new(revision),
            known_districts: Arc::default(),
        })
    }

    /// The districts seen to exist, kept by [`Store::district_exists`].
    pub(crate) fn known_districts(
        &self,
    ) -> &std::sync::RwLock<std::collections::HashSet<Box<str>>> {
        &self.known_districts
    }

    /// Which back end this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The clock every "now" of the store runs on (the times it writes,
    /// case deadlines, deliveries' retries, the age filter's "today"),
    /// shared by every clone of this store (tests stop and move it).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Close every connection.
    pub async fn close(&self) {
        // The revision first: a heartbeat through a closed pool would count
        // as the listener lost and start another.
        self.revision.close();
        self.pool.close().await;
        if let Some(short) = &self.lite {
            short.close();
        }
    }

    /// The revision of the credentials (accounts, API tokens, sessions): what a
    /// cache of them compares, at each use, with the revision it was
    /// filled under; none when it cannot be known now, and then nothing
    /// kept may be used. See [`revision`].
    pub(crate) fn credentials_revision(&self) -> Option<i64> {
        self.revision.current()
    }

    /// This process changed an account, a token or a session (its change has
    /// committed): on PostgreSQL, drop what is kept without waiting for the
    /// notification to come back. Other processes hear of it from that.
    pub(crate) fn credentials_changed(&self) {
        self.revision.changed_here();
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Access-log entries waiting to be written together.
    pub(crate) fn access_group(&self) -> &Arc<crate::kernel::access_log::Waiting> {
        &self.access_group
    }

    /// SQLite's short path, when this store has one (see [`lite`]).
    pub(crate) fn lite(&self) -> Option<&Arc<lite::Lite>> {
        self.lite.as_ref()
    }

    /// Wait for a turn at SQLite's one write lock, in arrival order. On
    /// its own, SQLite lets a writer that finds the lock taken sleep and
    /// retry with growing pauses (up to 100 ms), so a district writing
    /// without pause could keep another district's single write waiting for
    /// a quarter of a second; in line, it waits only for the writes ahead
    /// of it, and a district's calls hold at most their database share of
    /// those. No wait on PostgreSQL, which locks rows, not the database.
    pub(crate) async fn write_turn(&self) -> Result<WriteTurn, StoreError> {
        let Some(writers) = &self.writers else {
            return Ok(None);
        };
        match tokio::time::timeout(WRITE_WAIT, writers.clone().lock_owned()).await {
            Ok(turn) => Ok(Some(turn)),
            Err(_) => Err(StoreError::Database(sqlx::Error::PoolTimedOut)),
        }
    }

    /// A connection for a statement that writes outside a transaction (an
    /// outbox's claim or record): on SQLite it waits for its
    /// [`write turn`](Store::write_turn), so the host's own background
    /// writes queue with the apps' in arrival order instead of meeting them
    /// in SQLite's busy handler and its growing sleeps. The connection
    /// first, as for [`Store::begin_write`].
    pub(crate) async fn writer(&self) -> Result<Writer, StoreError> {
        let conn = self.pool.acquire().await?;
        let turn = self.write_turn().await?;
        Ok(Writer { conn, _turn: turn })
    }

    /// A transaction that will write: on SQLite it waits for its
    /// [`write turn`](Store::write_turn) and takes the write lock up front
    /// (a read transaction that later writes fails if another writer got in
    /// between); on PostgreSQL it is a plain `BEGIN`.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        // The connection first: a writer in line holds one, but the writer
        // whose turn it is never waits for one.
        let conn = self.pool.acquire().await?;
        let turn = self.write_turn().await?;
        let statement = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        let tx = begin_detached(conn, Some(statement)).await?;
        Ok(WriteTx { tx, _turn: turn })
    }

    /// A transaction (a plain `BEGIN`), for work that may read before it
    /// writes; use [`Store::begin_write`] for one that will write on
    /// SQLite. Safe to drop at any point, like every way this store begins
    /// a transaction (see [`begin_detached`]).
    pub(crate) async fn begin(&self) -> Result<sqlx::Transaction<'static, Any>, StoreError> {
        let conn = self.pool.acquire().await?;
        Ok(begin_detached(conn, None).await?)
    }
}

/// Begin a transaction on `conn` (with `statement`, or the back end's plain
/// `BEGIN`) in a task of its own.
///
/// sqlx 0.8 counts a transaction as open only once `BEGIN` has answered.
/// A future dropped while `BEGIN` was on its way (an app call past its
/// deadline, a client that went away) returned the connection to the pool
/// inside a transaction nothing would end: its next user's statements ran
/// in it uncommitted and, on SQLite after `BEGIN IMMEDIATE`, it held the
/// write lock, so every writer queued behind it until its calls' deadlines
/// passed (and the app was suspended for it). Begun in a task, `BEGIN`
/// always finishes; if nobody waits for the transaction any more, the task
/// drops it, and sqlx rolls it back.
async fn begin_detached(
    conn: sqlx::pool::PoolConnection<Any>,
    statement: Option<&'static str>,
) -> Result<sqlx::Transaction<'static, Any>, sqlx::Error> {
    tokio::spawn(sqlx::Transaction::begin(conn, statement.map(Into::into)))
        .await
        .map_err(|failed| {
            tracing::error!(error = %failed, "beginning a transaction failed");
            sqlx::Error::WorkerCrashed
        })?
}

/// Whether a database error is a uniqueness violation, on either back end.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
                || db.code().as_deref() == Some("23505")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

/// The largest page any listing returns (cases, notifications, residents
/// and the other community records): one bound for every keyset page, so a
/// caller cannot make one query read a district's whole table.
pub const MAX_PAGE: u32 = 500;

/// One page of a keyset listing: the items in listing order, and the key to
/// continue after (the previous page's cursor) for the next page; none on
/// the last page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T, C = i64> {
    /// This page.
    pub items: Vec<T>,
    /// Pass as the cursor for the next page; none on the last.
    pub next: Option<C>,
}

impl<T, C> Page<T, C> {
    /// The page of `rows`, read with one more than `limit` to learn whether
    /// another page follows; then the cursor is `key` of the last item kept.
    pub(crate) fn cut(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> C) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(key)
        } else {
            None
        };
        Page { items: rows, next }
    }
}

/// What a page's items are called in the JSON the API answers with (`cases`,
/// `notifications`): a page reads `{"<items>": [...], "next": …}`.
pub trait PageItems {
    /// The field name of the items.
    const FIELD: &'static str;
}

impl<T: Serialize + PageItems, C: Serialize> Serialize for Page<T, C> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut page = serializer.serialize_struct("Page", 2)?;
        page.serialize_field(T::FIELD, &self.items)?;
        page.serialize_field("next", &self.next)?;
        page.end()
    }
}

/// A statement with `$n` placeholders and the values bound to them, built
/// together so every placeholder's number matches its value.
///
/// sqlx's own `QueryBuilder` does not fit: over the `Any` driver it writes
/// `?` placeholders, which PostgreSQL refuses; both back ends accept `$n`.
pub(crate) struct Sql<'q> {
    text: String,
    args: AnyArguments<'q>,
    count: usize,
    error: Option<sqlx::error::BoxDynError>,
}

impl<'q> Sql<'q> {
    /// A statement starting with `text` (which must hold no placeholders).
    pub(crate) fn new(text: impl Into<String>) -> Self {
        Sql {
            text: text.into(),
            args: AnyArguments::default(),
            count: 0,
            error: None,
        }
    }

    /// Append SQL text (never input: values go through [`Sql::bind`]).
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Bind `value` to the next placeholder and return that placeholder,
    /// for SQL that names it in more than one place.
    pub(crate) fn bind<T>(&mut self, value: T) -> String
    where
        T: 'q + Encode<'q, Any> + Type<Any>,
    {
        if let Err(e) = self.args.add(value)
            && self.error.is_none()
        {
            self.error = Some(e);
        }
        self.count += 1;
        format!("${}", self.count)
    }

    /// Append a placeholder bound to `value`.
    pub(crate) fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'q + Encode<'q, Any> + Type<Any>,
    {
        let p = self.bind(value);
        self.push(&p)
    }

    /// Bind each of `values`; their placeholders, comma-separated (for an
    /// `IN (…)` list or a row of `VALUES`).
    pub(crate) fn list<T, I>(&mut self, values: I) -> String
    where
        I: IntoIterator<Item = T>,
        T: 'q + Encode<'q, Any> + Type<Any>,
    {
        values
            .into_iter()
            .map(|v| self.bind(v))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// ` AND {column} {op} $n` when there is a value.
    pub(crate) fn and<T>(&mut self, column: &str, op: &str, value: Option<T>) -> &mut Self
    where
        T: 'q + Encode<'q, Any> + Type<Any>,
    {
        if let Some(v) = value {
            let p = self.bind(v);
            self.push(&format!(" AND {column} {op} {p}"));
        }
        self
    }

    /// ` AND {column} IN (…)` when limited to a set (`Some`); false when the
    /// set is empty, so nothing can match and the caller need not ask.
    pub(crate) fn and_in<T, I>(&mut self, column: &str, values: Option<I>) -> bool
    where
        I: IntoIterator<Item = T>,
        T: 'q + Encode<'q, Any> + Type<Any>,
    {
        let Some(values) = values else {
            return true;
        };
        let list = self.list(values);
        if list.is_empty() {
            return false;
        }
        self.push(&format!(" AND {column} IN ({list})"));
        true
    }

    /// The statement so far.
    #[cfg(test)]
    fn text(&self) -> &str {
        &self.text
    }

    fn finish(self) -> Result<(String, AnyArguments<'q>), StoreError> {
        match self.error {
            Some(e) => Err(sqlx::Error::Encode(e).into()),
            None => Ok((self.text, self.args)),
        }
    }

    /// Run it; how many rows it changed.
    pub(crate) async fn execute<'e, E>(self, executor: E) -> Result<u64, StoreError>
    where
        'q: 'e,
        E: 'e + Executor<'e, Database = Any>,
    {
        self.run(executor, true).await
    }

    /// [`Sql::execute`] without keeping the statement prepared on the
    /// connection: for a statement whose text varies (a multi-row insert of
    /// any size), which would otherwise push the steady statements out of
    /// the connection's cache.
    pub(crate) async fn execute_once<'e, E>(self, executor: E) -> Result<u64, StoreError>
    where
        'q: 'e,
        E: 'e + Executor<'e, Database = Any>,
    {
        self.run(executor, false).await
    }

    async fn run<'e, E>(self, executor: E, kept: bool) -> Result<u64, StoreError>
    where
        'q: 'e,
        E: 'e + Executor<'e, Database = Any>,
    {
        let (text, args) = self.finish()?;
        Ok(sqlx::query_with(&text, args)
            .persistent(kept)
            .execute(executor)
            .await?
            .rows_affected())
    }

    /// Run it; every row, decoded as `R`.
    pub(crate) async fn fetch_as<'e, R, E>(self, executor: E) -> Result<Vec<R>, StoreError>
    where
        'q: 'e,
        R: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
        E: 'e + Executor<'e, Database = Any>,
    {
        let (text, args) = self.finish()?;
        Ok(sqlx::query_as_with(&text, args).fetch_all(executor).await?)
    }
}

/// A value read back from the database that does not decode: which column,
/// and what was wrong with it.
pub(crate) fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what,
        detail: detail.to_string(),
    }
}

/// A JSON column read back as `T`.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

/// An optional JSON column read back as `T`.
pub(crate) fn from_json_opt<T: serde::de::DeserializeOwned>(
    what: &'static str,
    text: Option<&str>,
) -> Result<Option<T>, StoreError> {
    text.map(|t| from_json(what, t)).transpose()
}

/// A text column holding an enum (or any `FromStr` value) read back.
pub(crate) fn parse_column<T>(what: &'static str, text: &str) -> Result<T, StoreError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| corrupt(what, e))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::kernel::grant::tests::store;
    use crate::kernel::store::{Page, PageItems, Sql};

    #[tokio::test]
    async fn sqlite_writers_wait_in_line_for_the_write_lock() {
        let (_dir, store) = store().await;
        let turn = store.write_turn().await.expect("turn");
        assert!(turn.is_some(), "SQLite writes take turns");
        // A transaction that writes, and an access-log entry, wait in line.
        let write = store.begin_write();
        tokio::pin!(write);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut write)
                .await
                .is_err(),
            "the write waited for the turn"
        );
        drop(turn);
        let tx = write.await.expect("its turn");
        let second = store.write_turn();
        tokio::pin!(second);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut second)
                .await
                .is_err(),
            "the transaction holds the turn until it ends"
        );
        tx.commit().await.expect("commit");
        second.await.expect("the next writer's turn");
    }

    /// Poll `future` once, with the task's own waker.
    async fn poll_once<F: std::future::Future + Unpin>(future: &mut F) -> bool {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::pin::Pin::new(&mut *future).poll(cx).is_ready())
        })
        .await
    }

    #[tokio::test]
    async fn a_transaction_given_up_while_it_begins_leaves_no_connection_inside_it() {
        let (_dir, store) = store().await;
        // Give up on each kind of transaction at every point it can stop:
        // after one poll, after two, … (`BEGIN` sent, not yet answered).
        for polls in 1..=16 {
            for write in [true, false] {
                let mut begin = Box::pin(async {
                    match write {
                        true => store.begin_write().await.map(drop),
                        false => store.begin().await.map(drop),
                    }
                });
                for _ in 0..polls {
                    if poll_once(&mut begin).await {
                        break;
                    }
                    tokio::time::sleep(Duration::from_micros(50 * polls)).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Every connection of the pool is out of any transaction: each can
        // begin one of its own at once.
        let mut connections = Vec::new();
        for _ in 0..8 {
            connections.push(store.pool().acquire().await.expect("a connection"));
        }
        for conn in &mut connections {
            let begun = tokio::time::timeout(
                Duration::from_secs(2),
                sqlx::query("BEGIN IMMEDIATE").execute(&mut **conn),
            )
            .await;
            assert!(
                matches!(begun, Ok(Ok(_))),
                "a connection was left inside a transaction: {begun:?}"
            );
            sqlx::query("ROLLBACK")
                .execute(&mut **conn)
                .await
                .expect("rollback");
        }
        drop(connections);
        // And so, through the store: no writer is kept waiting for a lock
        // nobody releases, and a write outside a transaction is committed,
        // not swallowed by a transaction left open.
        for round in 0..24u8 {
            let mut tx = tokio::time::timeout(Duration::from_secs(2), store.begin_write())
                .await
                .expect("no writer waits for an abandoned transaction")
                .expect("begin");
            sqlx::query("INSERT INTO districts (id, name, created_at) VALUES ($1, $1, 0)")
                .bind(format!("d{round}"))
                .execute(&mut *tx)
                .await
                .expect("insert");
            tx.commit().await.expect("commit");
            // A write outside a transaction, on a pooled connection.
            let key = format!("k{round}");
            let write = sqlx::query(
                "INSERT INTO kv (district, app, key, value) VALUES ('d0', 'a', $1, $2)",
            )
            .bind(&key)
            .bind(&b"v"[..])
            .execute(store.pool());
            tokio::time::timeout(Duration::from_secs(2), write)
                .await
                .expect("no writer waits for an abandoned transaction")
                .expect("set");
        }
        // Read on SQLite's short path: another connection, which sees only
        // what was committed.
        for round in 0..24u8 {
            let seen = store
                .kv_get("d0", "a", &format!("k{round}"))
                .await
                .expect("get");
            assert_eq!(seen.as_deref(), Some(&b"v"[..]), "write {round} committed");
        }
    }

    #[tokio::test]
    async fn a_kv_write_given_up_on_the_short_path_keeps_its_turn_until_it_ends() {
        let (_dir, store) = store().await;
        assert!(
            store.lite().is_some(),
            "SQLite in a file takes the short path"
        );
        let quota = crate::kernel::limits::KvQuota {
            keys: 1000,
            bytes: 1 << 20,
            district_bytes: 1 << 20,
        };
        // SQLite's write lock, held outside the host's line of writers, so
        // the write below gets its turn and then blocks inside its closure.
        let mut outsider = store.pool().acquire().await.expect("connection");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *outsider)
            .await
            .expect("lock");
        let mut write = Box::pin(store.kv_set_within("d0", "a", "given-up", b"v", &quota));
        for _ in 0..5 {
            assert!(!poll_once(&mut write).await, "the write waits for the lock");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The caller gives up (its deadline passed); the write goes on, and
        // holds its turn: the next writer is not let in beside it.
        drop(write);
        let next = store.write_turn();
        tokio::pin!(next);
        assert!(
            tokio::time::timeout(Duration::from_millis(100), &mut next)
                .await
                .is_err(),
            "the turn is held until the write ends, not until its caller gives up"
        );
        sqlx::query("ROLLBACK")
            .execute(&mut *outsider)
            .await
            .expect("unlock");
        drop(outsider);
        let turn = tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .expect("the write ended and let the next writer in")
            .expect("turn");
        drop(turn);
        // It committed, with its quota's bookkeeping, and left no
        // transaction open: the sqlx path sees it and can write after it.
        let seen: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT value FROM kv WHERE district = 'd0' AND key = 'given-up'")
                .fetch_optional(store.pool())
                .await
                .expect("read through sqlx");
        assert_eq!(seen.as_deref(), Some(&b"v"[..]));
        assert_eq!(store.kv_usage("d0", "a").await.expect("usage").keys, 1);
        let mut tx = tokio::time::timeout(Duration::from_secs(2), store.begin_write())
            .await
            .expect("no transaction was left holding the lock")
            .expect("begin");
        sqlx::query("DELETE FROM kv WHERE key = 'given-up'")
            .execute(&mut *tx)
            .await
            .expect("delete");
        tx.commit().await.expect("commit");
        assert_eq!(
            store.kv_get("d0", "a", "given-up").await.expect("get"),
            None
        );
    }

    #[tokio::test]
    async fn only_a_file_both_may_write_takes_the_short_path() {
        use crate::kernel::store::lite::Lite;
        let (dir, _store) = store().await;
        let file = dir.path().join("hutong.db");
        let url = format!("sqlite://{}", file.display());
        assert!(
            Lite::for_url(&format!("{url}?mode=rwc"))
                .expect("open")
                .is_some()
        );
        for other in [
            "sqlite::memory:".to_owned(),
            "sqlite://:memory:".to_owned(),
            format!("{url}?mode=memory"),
            format!("{url}?mode=ro"),
            format!("{url}?immutable=true"),
        ] {
            assert!(Lite::for_url(&other).expect("parse").is_none(), "{other}");
        }
        // Nothing is created on the short path's side: a file the pool has
        // not made is an error, not a new, empty database.
        let missing = dir.path().join("missing.db");
        assert!(Lite::for_url(&format!("sqlite://{}", missing.display())).is_err());
        assert!(!missing.exists());
    }

    #[test]
    fn placeholders_are_numbered_in_the_order_values_are_bound() {
        let mut q = Sql::new("SELECT id FROM cases WHERE district = ");
        q.push_bind("d1");
        q.and("state", "=", Some("reported"));
        q.and("tier", "=", None::<&str>);
        let ids = q.list([3_i64, 4]);
        q.push(&format!(" AND id IN ({ids})"));
        let me = q.bind("w1");
        q.push(&format!(" AND (assignee_id = {me} OR reporter_id = {me})"));
        assert_eq!(
            q.text(),
            "SELECT id FROM cases WHERE district = $1 AND state = $2 AND id IN ($3, $4) \
             AND (assignee_id = $5 OR reporter_id = $5)"
        );
    }

    #[test]
    fn an_empty_set_matches_nothing_and_no_set_matches_everything() {
        let mut q = Sql::new("SELECT 1 FROM residents WHERE district = ");
        q.push_bind("d1");
        assert!(q.and_in("community_id", None::<[&str; 0]>));
        assert!(!q.and_in("community_id", Some(Vec::<&str>::new())));
        assert!(q.and_in("grid_id", Some(["g1", "g2"])));
        assert_eq!(
            q.text(),
            "SELECT 1 FROM residents WHERE district = $1 AND grid_id IN ($2, $3)"
        );
    }

    struct Thing(u32);

    impl serde::Serialize for Thing {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_u32(self.0)
        }
    }

    impl PageItems for Thing {
        const FIELD: &'static str = "things";
    }

    #[test]
    fn a_page_is_cut_after_the_limit_and_keeps_its_json_shape() {
        let page = Page::cut((1..=4).map(Thing).collect(), 3, |t| i64::from(t.0));
        assert_eq!(page.next, Some(3));
        assert_eq!(
            serde_json::to_string(&page).unwrap_or_default(),
            r#"{"things":[1,2,3],"next":3}"#
        );
        let last = Page::cut((1..=3).map(Thing).collect(), 3, |t| i64::from(t.0));
        assert_eq!(
            serde_json::to_string(&last).unwrap_or_default(),
            r#"{"things":[1,2,3],"next":null}"#
        );
    }
}
