//! Storage: districts, components, installs and app key-value data.
//!
//! One code path serves both back ends through sqlx's `Any` driver: embedded
//! SQLite by default, PostgreSQL when a city runs several host processes.
//! Queries use `$n` placeholders, which both drivers accept, and only types
//! both map the same way (TEXT, BIGINT, BLOB/BYTEA). Each back end has its own
//! numbered migrations, never edited once applied.

mod access_log;
mod accounts;
mod cases;
mod community;
mod devices;
mod districts;
mod installs;
mod kv;
mod notifications;
mod outbox;
mod registry;
mod schedules;

use std::path::Path;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::cases::Clock;

pub use access_log::{AccessEntry, ChainReport, GENESIS, NewAccess};
pub use accounts::{Account, NewAccount, TokenRecord};
pub use cases::{
    CaseChange, CaseFigures, CaseFilter, CaseNotice, CasePage, CasePolicy, CaseRow, Category,
    Deadline, Department, HistoryEntry, Location, NewCase, WorkerView,
};
pub use community::{HouseholdRow, ImportSummary, ListFilter, ResidentFilter, ResidentRow};
pub use devices::{DeadLetter, Device, EventDelivery, NewDevice, NewEvent, StoredEvent};
pub use districts::District;
pub use installs::{
    Install, InstallSource, InstallStatus, NewInstall, PreviousVersion, Replacement,
};
pub use kv::{EntryPage, KeyPage, KvOp};
pub use notifications::{
    NewDelivery, NewSend, Notification, NotificationPage, NotifySettings, Outgoing, Place,
    ResidentContact, SendRow,
};
pub(crate) use outbox::OutboxTable;
pub use registry::TrustedKeyRow;
pub use schedules::ScheduleRun;

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
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; the busy
                        // timeout makes concurrent writers wait, not fail.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
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
        Ok(Store {
            pool,
            backend,
            clock: Clock::system(),
        })
    }

    /// Which back end this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The clock case deadlines run on, shared by every clone of this
    /// store (tests stop and move it).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Close every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
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
