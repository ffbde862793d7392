//! SQLite's short path for the statements on an app's request path (kv
//! reads and writes, access-log entries) and for a change to a case (its
//! update, history entry and app notice): connections of its own to the
//! same database file, through rusqlite on the same libsqlite3 that sqlx
//! links, with prepared statements kept per connection.
//!
//! Through sqlx, each statement is a round trip to the connection's worker
//! thread: a kv write (begin, write, quota check, commit) was four of them,
//! and each round trip two thread switches and wake-ups, which cost more
//! than SQLite's own work. Here a whole operation runs as one closure on
//! one of tokio's blocking threads: one hop there and back per operation,
//! however many statements it holds.
//!
//! A closure always runs to its end, even when the caller stops waiting
//! (an app call past its deadline): its transaction commits or rolls back
//! there, and its connection returns to the idle list, so nothing is left
//! holding SQLite's write lock. A writer's turn (see
//! [`Store::write_turn`](super::Store::write_turn)) moves into the closure
//! and ends with it.
//!
//! The smallest operations (one kv key whose value, read, written,
//! replaced or removed, is at most [`HERE_MAX_VALUE`] bytes; a group of at
//! most four access-log entries)
//! skip even that hop: [`Lite::try_here`] runs them on the calling thread
//! when they need not wait there. Its connections
//! never wait for a lock (a busy timeout of zero: an operation that finds
//! SQLite busy, having written nothing, goes to a blocking thread and waits
//! there) and never checkpoint the WAL at commit, which syncs the disk:
//! after [`CHECKPOINT_EVERY`] writes made here, the next write goes to a
//! blocking thread and checkpoints there, holding the write turn. So the
//! calling thread, which also runs other districts' calls, is held for
//! about as long as SQLite's own work on a few pages: microseconds to tens
//! of them, well under the millisecond an app's own code may hold it
//! between two epoch ticks, and less than the two thread switches saved.

use std::path::PathBuf;
use std::str::FromStr;
#[cfg(test)]
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{StoreError, WriteTurn};

/// How many idle connections are kept; more are opened when more
/// operations run at once, and closed after. Writes run one at a time
/// (the write turn); reads as many as the app calls waiting on them, each
/// within its district's database share, and those given up at their
/// deadline until they end.
const KEEP_IDLE: usize = 8;

/// How many prepared statements each connection keeps.
const STATEMENTS: usize = 32;

/// How many connections are kept for operations on the calling thread:
/// one is in use per thread running such an operation, and tokio runs one
/// thread per core.
const KEEP_HERE: usize = 4;

/// The largest value an operation on the calling thread may read or
/// write; a larger one runs on a blocking thread, so the calling thread is
/// never held for long copying a value.
pub(crate) const HERE_MAX_VALUE: usize = 16 << 10;

/// Writes made on the calling thread between two checkpoints of the WAL,
/// each run on a blocking thread. A kv write adds a few pages to the WAL
/// and a group of access-log entries a few dozen at most, so this keeps
/// it within a few thousand pages between checkpoints (SQLite's own
/// checkpoint comes at 1,000).
const CHECKPOINT_EVERY: u32 = 256;

/// The short path's connections to one SQLite file.
#[derive(Debug)]
pub(crate) struct Lite {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Connections for [`Lite::try_here`]: no busy wait, no checkpoint at
    /// commit, opened (and their schema read) on a blocking thread.
    here: Mutex<Vec<Connection>>,
    /// How many of those are open, idle or in use.
    here_open: AtomicUsize,
    /// Writes made on the calling thread since the last checkpoint.
    written_here: AtomicU32,
    /// Operations run on the calling thread.
    #[cfg(test)]
    ran_here: AtomicU64,
}

impl Lite {
    /// The short path for the sqlx pool opened at `url`, when the database
    /// is a file both may write: none for a database in memory (private
    /// to the pool's connections), one opened read-only or immutable, or
    /// one through another VFS, which then all keep the sqlx path.
    pub(crate) fn for_url(url: &str) -> Result<Option<Arc<Self>>, StoreError> {
        let query = url.split_once('?').map_or("", |(_, query)| query);
        let special = query.split('&').any(|pair| {
            matches!(
                pair,
                "mode=memory" | "mode=ro" | "immutable=true" | "immutable=1"
            ) || pair.starts_with("vfs=")
        });
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
        let file = options.get_filename();
        let name = file.to_string_lossy();
        // sqlx names a `:memory:` database `file:sqlx-in-memory-N`.
        if special || name.is_empty() || name.starts_with("file:") {
            return Ok(None);
        }
        Self::open(file.to_owned()).map(Some)
    }

    /// Connections to the database file at `path`, which the sqlx pool has
    /// already created and migrated. One connection is opened at once, so
    /// a file that cannot be opened fails here, not on the first request.
    fn open(path: PathBuf) -> Result<Arc<Self>, StoreError> {
        let first = connect(&path)?;
        let here = connect_here(&path)?;
        Ok(Arc::new(Lite {
            path,
            idle: Mutex::new(vec![first]),
            here: Mutex::new(vec![here]),
            here_open: AtomicUsize::new(1),
            written_here: AtomicU32::new(0),
            #[cfg(test)]
            ran_here: AtomicU64::new(0),
        }))
    }

    /// The database file.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Run `work` on a connection, on a blocking thread; with `turn`, the
    /// writer's turn, held until `work` returns.
    pub(crate) async fn run<T, F>(
        self: &Arc<Self>,
        turn: WriteTurn,
        work: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let lite = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut conn = lite.take()?;
            let done = work(&mut conn);
            if turn.is_some() {
                lite.checkpoint_if_due(&conn);
            }
            // The connection first: one left inside a transaction is
            // closed, releasing SQLite's lock, before the next writer in.
            lite.give_back(conn);
            drop(turn);
            lite.keep_one_here();
            done
        })
        .await
        .map_err(|failed| {
            tracing::error!(error = %failed, "a SQLite operation's thread failed");
            StoreError::Database(sqlx::Error::WorkerCrashed)
        })?
    }

    /// `work` on the calling thread, if it can run there without waiting:
    /// a connection for it is idle and SQLite is not busy. None otherwise,
    /// and nothing was written: the caller then runs it with [`Lite::run`].
    /// `work` must be small (see [`HERE_MAX_VALUE`]), and answers
    /// `Ok(None)`, having written nothing, when it finds it is not (a
    /// large value stored): that is none here too. `writes` counts it
    /// towards the next checkpoint.
    pub(crate) fn try_here<T>(
        &self,
        writes: bool,
        work: impl FnOnce(&mut Connection) -> Result<Option<T>, StoreError>,
    ) -> Option<Result<T, StoreError>> {
        if writes && self.written_here.load(Ordering::Relaxed) >= CHECKPOINT_EVERY {
            // This one checkpoints, on a blocking thread (see `run`).
            return None;
        }
        let mut lent = Lent {
            lite: self,
            conn: Some(self.here.lock().ok()?.pop()?),
        };
        let done = work(lent.conn.as_mut()?);
        drop(lent);
        if is_busy(&done) {
            return None;
        }
        let done = done.transpose()?;
        if writes && done.is_ok() {
            self.written_here.fetch_add(1, Ordering::Relaxed);
        }
        #[cfg(test)]
        self.ran_here.fetch_add(1, Ordering::Relaxed);
        Some(done)
    }

    /// With the write turn, after a write on a blocking thread: checkpoint
    /// the WAL when [`CHECKPOINT_EVERY`] writes were made on the calling
    /// thread since the last time, whose connections never do. No other
    /// write of this process runs meanwhile, so the checkpoint can copy
    /// the whole WAL (unless a reader still needs part of it) and the next
    /// writer starts it again from its beginning, as after SQLite's own
    /// checkpoint at commit.
    fn checkpoint_if_due(&self, conn: &Connection) {
        if self.written_here.load(Ordering::Relaxed) < CHECKPOINT_EVERY {
            return;
        }
        self.written_here.store(0, Ordering::Relaxed);
        if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %err, file = %self.path.display(), "a checkpoint of the WAL failed; it is tried again after the next writes");
        }
    }

    /// On a blocking thread, after an operation: open one more connection
    /// for [`Lite::try_here`] while fewer than [`KEEP_HERE`] are open, so
    /// that opening it, and reading the schema, never happen on the
    /// calling thread.
    fn keep_one_here(&self) {
        if self.here_open.fetch_add(1, Ordering::AcqRel) >= KEEP_HERE {
            self.here_open.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        match connect_here(&self.path) {
            Ok(conn) => self.give_back_here(conn),
            Err(err) => {
                self.here_open.fetch_sub(1, Ordering::AcqRel);
                tracing::warn!(error = %err, file = %self.path.display(), "could not open a connection for operations on the calling thread; they run on a blocking thread");
            }
        }
    }

    fn give_back_here(&self, conn: Connection) {
        // Closed, as in `give_back`, when left inside a transaction.
        let kept = conn.is_autocommit()
            && self.here.lock().is_ok_and(|mut here| {
                here.push(conn);
                true
            });
        if !kept {
            self.here_open.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Close the idle connections (the store is closing); an operation
    /// that runs after this opens its own.
    pub(crate) fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
        if let Ok(mut here) = self.here.lock() {
            self.here_open.fetch_sub(here.len(), Ordering::AcqRel);
            here.clear();
        }
    }

    /// How many operations ran on the calling thread.
    #[cfg(test)]
    pub(crate) fn ran_here(&self) -> u64 {
        self.ran_here.load(Ordering::Relaxed)
    }

    fn take(&self) -> Result<Connection, StoreError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(conn) => Ok(conn),
            None => connect(&self.path),
        }
    }

    fn give_back(&self, conn: Connection) {
        // A connection left inside a transaction (an operation that failed
        // between its statements) is closed, never handed to the next one.
        if !conn.is_autocommit() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEEP_IDLE
        {
            idle.push(conn);
        }
    }
}

/// What every connection sets so that what is removed or replaced leaves
/// no copy behind: SQLite overwrites deleted content with zeros (in the
/// database file, and so in the page images it writes to the WAL), and
/// once the WAL has been checkpointed and starts over, the next commit
/// cuts the file down to what that commit wrote instead of leaving older
/// frames after it. Without them, a credential sent and then forgotten, or
/// a ballot replaced by a later one, stays readable in freed pages and old
/// frames until they happen to be reused.
pub(super) const FORGETTING: [&str; 2] =
    ["PRAGMA secure_delete = ON", "PRAGMA journal_size_limit = 0"];

/// Open a connection with the same settings as the sqlx pool's. The file
/// must exist (the pool made it): nothing here creates one, and the path
/// is a path, not a URI.
pub(super) fn connect(path: &std::path::Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
    for pragma in FORGETTING {
        conn.execute_batch(pragma)?;
    }
    conn.set_prepared_statement_cache_capacity(STATEMENTS);
    Ok(conn)
}

/// A connection lent to one operation on the calling thread: given back
/// when dropped, also when the operation panics, so the count of open
/// ones stays true.
struct Lent<'a> {
    lite: &'a Lite,
    conn: Option<Connection>,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.lite.give_back_here(conn);
        }
    }
}

/// A connection for [`Lite::try_here`]: [`connect`]'s, but it never
/// waits for a lock and never checkpoints at commit; its schema is read
/// here, not by its first statement on the calling thread.
fn connect_here(path: &std::path::Path) -> Result<Connection, StoreError> {
    let conn = connect(path)?;
    conn.busy_timeout(std::time::Duration::ZERO)?;
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
    Ok(conn)
}

/// Whether `done` failed because SQLite was busy (another connection
/// holds a lock it needs): then it wrote nothing and may run again.
fn is_busy<T>(done: &Result<T, StoreError>) -> bool {
    matches!(
        done,
        Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)))
            if matches!(failure.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// `sql`, written with `$n` placeholders as for sqlx, prepared on `conn`
/// or taken from its kept statements. SQLite reads `$1` as a parameter
/// *named* `$1`, numbered by first appearance, so the text is given `?1`
/// placeholders, which carry their number.
pub(crate) fn statement<'c>(
    conn: &'c Connection,
    sql: &str,
) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
    conn.prepare_cached(&sql.replace('$', "?"))
}
