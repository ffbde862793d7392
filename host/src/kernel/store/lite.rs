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

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};

use super::{StoreError, WriteTurn};

/// How many idle connections are kept; more are opened when more
/// operations run at once, and closed after. Writes run one at a time
/// (the write turn); reads as many as the app calls waiting on them, each
/// within its district's database share, and those given up at their
/// deadline until they end.
const KEEP_IDLE: usize = 8;

/// How many prepared statements each connection keeps.
const STATEMENTS: usize = 32;

/// The short path's connections to one SQLite file.
#[derive(Debug)]
pub(crate) struct Lite {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
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
        Ok(Arc::new(Lite {
            path,
            idle: Mutex::new(vec![first]),
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
            // The connection first: one left inside a transaction is
            // closed, releasing SQLite's lock, before the next writer in.
            lite.give_back(conn);
            drop(turn);
            done
        })
        .await
        .map_err(|failed| {
            tracing::error!(error = %failed, "a SQLite operation's thread failed");
            StoreError::Database(sqlx::Error::WorkerCrashed)
        })?
    }

    /// Close the idle connections (the store is closing); an operation
    /// that runs after this opens its own.
    pub(crate) fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
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
    conn.set_prepared_statement_cache_capacity(STATEMENTS);
    Ok(conn)
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
