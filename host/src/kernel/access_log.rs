//! The access log: every data call an app makes, allowed or denied, chained
//! per district so it can be checked for tampering.
//!
//! A data call writes its entry with one insert, committed together with
//! the entries of calls made at the same moment. A sealer (every second in a
//! serving host, and before every verification) then links the new entries
//! into their district's chain: each entry's `hash` is the sha256 of the
//! previous entry's hash and the entry's own fields, `chain_pos` its place,
//! and `access_chain` holds each district's newest hash and count. The head
//! moves by compare-and-swap, so sealers in several host processes never fork
//! a chain. [`Store::verify_access_log`] recomputes it; an entry is
//! protected from the moment it is sealed.
//!
//! Sealing also indexes the residents and households each entry named
//! ([`subjects`], the table `access_subjects`), in the same transaction, so
//! "who read my data" ([`Store::reads_of_resident`]) is read from an index
//! and the request path still writes one row. People's reads of residents
//! (through the API, the console or an export) are entries too
//! ([`Store::log_staff_read`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::kernel::store::{Backend, Page, Sql, Store, StoreError, from_json};

/// The hash before a district's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry of the access log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccessEntry {
    /// Sequence number (ascending with time).
    pub seq: i64,
    /// When, ms since the Unix epoch.
    pub at: i64,
    /// District.
    pub district: String,
    /// App.
    pub app: String,
    /// App version.
    pub version: String,
    /// The request (or event, tick) the call served.
    pub request_id: String,
    /// The host function called (`get-resident`, `query-residents`, …).
    pub operation: String,
    /// The permission it used or lacked.
    pub permission: String,
    /// `allowed` or `denied`.
    pub outcome: String,
    /// How many records it returned.
    pub record_count: i64,
    /// Their ids.
    pub record_ids: Vec<String>,
    /// `masked`, `personal`, or empty when no resident fields were returned.
    pub field_class: String,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// What [`Store::log_access`] records.
#[derive(Clone, Debug)]
pub struct NewAccess<'a> {
    /// District.
    pub district: &'a str,
    /// App.
    pub app: &'a str,
    /// Version.
    pub version: &'a str,
    /// Request id.
    pub request_id: &'a str,
    /// Operation.
    pub operation: &'a str,
    /// Permission used or lacked.
    pub permission: &'a str,
    /// Allowed or not.
    pub allowed: bool,
    /// Ids returned.
    pub record_ids: &'a [String],
    /// Field class returned.
    pub field_class: &'a str,
}

/// What to look for in an install's access log; each field left out
/// matches every entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessFilter {
    /// The host function called (`get-resident`, …).
    pub operation: Option<String>,
    /// `allowed` or `denied`.
    pub outcome: Option<String>,
    /// `masked` or `personal`.
    pub field_class: Option<String>,
    /// A record among those returned.
    pub record: Option<String>,
    /// From this time on, ms.
    pub from: Option<i64>,
    /// Before this time, ms.
    pub until: Option<i64>,
}

/// Most of an install's entries one search of its log looks through for
/// a page of matches: it bounds what a filter that no index serves costs.
pub const SEARCH_WINDOW: i64 = 20_000;

/// A page of an install's access log.
#[derive(Clone, Debug, Default)]
pub struct AccessPage {
    /// The entries, newest first.
    pub entries: Vec<AccessEntry>,
    /// When the search looked through [`SEARCH_WINDOW`] entries before it
    /// found a full page: the entry it stopped at, where the next search
    /// starts (as its `before`).
    pub searched_to: Option<i64>,
}

/// The outcome of checking a district's chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Entries checked.
    pub entries: u64,
    /// The newest hash.
    pub head: String,
    /// The first problem found, if any.
    pub broken: Option<String>,
}

const COLUMNS: &str = "seq, at, district, app, version, request_id, operation, permission, outcome, \
     record_count, record_ids, field_class, prev_hash, hash";

/// Most entries one seal of a district covers: one transaction, which on
/// SQLite holds the write lock throughout, so kept to a few milliseconds;
/// the sealer then takes its place in the line of writers again.
const SEAL_BATCH: u32 = 250;

/// Entries linked by one UPDATE (four parameters each, well within both
/// back ends' parameter limits).
const SEAL_UPDATE_BATCH: usize = 250;

/// The permission column of a person's read ([`Store::log_staff_read`]).
pub const STAFF_PERMISSION: &str = "staff";

/// Who read residents' data other than an app.
#[derive(Clone, Copy, Debug)]
pub enum Reader<'a> {
    /// A signed-in person, through the API or the console.
    Account {
        /// The account id.
        id: &'a str,
        /// Its role (`district-admin`, `worker`, …).
        role: &'a str,
    },
    /// The host's operator, on the command line.
    CommandLine,
}

impl<'a> Reader<'a> {
    /// The person an entry's `app` and `version` name, as
    /// [`Store::log_staff_read`] writes them; none for an app's entry.
    pub fn of_entry(entry: &'a AccessEntry) -> Option<Self> {
        if let Some(id) = entry.app.strip_prefix("account:") {
            Some(Reader::Account {
                id,
                role: &entry.version,
            })
        } else if entry.app == OPERATOR_APP {
            Some(Reader::CommandLine)
        } else {
            None
        }
    }
}

/// The entry's `app` for the operator on the command line.
const OPERATOR_APP: &str = "operator:cli";

/// A person's read of residents' data, for the access log.
#[derive(Clone, Debug)]
pub struct StaffRead<'a> {
    /// District.
    pub district: &'a str,
    /// Who read.
    pub reader: Reader<'a>,
    /// How the read came in: `api`, `console` or `cli`.
    pub request_id: &'a str,
    /// What they did: `staff.read-residents` for residents shown, or
    /// [`EXPORT_OPERATION`].
    pub operation: &'a str,
    /// The residents read.
    pub record_ids: &'a [String],
    /// `personal`: staff see every field.
    pub field_class: &'a str,
}

/// The operation a person's read of residents is logged under.
pub const STAFF_READ_RESIDENTS: &str = "staff.read-residents";

/// The operation a person's read of the caller's contact an Open311
/// request left with a case is logged under; its record is `case:<id>`.
pub const STAFF_READ_CASE_CONTACT: &str = "staff.read-case-contact";

/// The operation a staff export of a district's whole data is logged
/// under: it names every resident, so it is indexed as the district's.
pub const EXPORT_OPERATION: &str = "export-data";

/// The operations whose records are residents, named by bare id.
pub const RESIDENT_OPERATIONS: &[&str] = &[
    "get-resident",
    "query-residents",
    "list-members",
    STAFF_READ_RESIDENTS,
];

/// The operations whose records are households, named by bare id.
pub const HOUSEHOLD_OPERATIONS: &[&str] = &["get-household", "list-households"];

/// The residents and households an entry names, as `(kind, id)`: the
/// rows it gets in `access_subjects`. Ids written `resident:<id>` or
/// `household:<id>` (as sends record whom they reached) name their kind;
/// a bare id is a resident's or a household's by the operation that
/// returned it; an export names the whole district (`district`, `*`).
pub fn subjects<'a>(operation: &str, ids: &'a [String]) -> Vec<(&'static str, &'a str)> {
    let bare = if RESIDENT_OPERATIONS.contains(&operation) {
        Some("resident")
    } else if HOUSEHOLD_OPERATIONS.contains(&operation) {
        Some("household")
    } else {
        None
    };
    let mut named: Vec<(&'static str, &'a str)> = ids
        .iter()
        .filter_map(|id| {
            if let Some(r) = id.strip_prefix("resident:") {
                Some(("resident", r))
            } else if let Some(h) = id.strip_prefix("household:") {
                Some(("household", h))
            } else {
                bare.map(|kind| (kind, id.as_str()))
            }
        })
        .filter(|(_, id)| !id.is_empty())
        .collect();
    if operation == EXPORT_OPERATION {
        named.push(("district", "*"));
    }
    named
}

/// Index the residents and households that a district's entries with
/// `seq` in `first..=last` named: the rows [`subjects`] gives each, written
/// by one statement that reads the entries' ids in the database (no id
/// travels to the host and back). Entries already indexed (by the
/// migration that created the table) are left as they are.
async fn index_subjects(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    district: &str,
    (first, last): (i64, i64),
) -> Result<(), StoreError> {
    let ids = match backend {
        Backend::Sqlite => "json_each(l.record_ids) j",
        Backend::Postgres => "jsonb_array_elements_text(l.record_ids::jsonb) j(value)",
    };
    let quoted = |ops: &[&str]| {
        ops.iter()
            .map(|op| format!("'{op}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sql = format!(
        "INSERT INTO access_subjects (district, kind, record_id, seq) \
         SELECT district, kind, record_id, seq FROM ( \
           SELECT l.district, CASE WHEN j.value LIKE 'resident:%' THEN 'resident' \
             WHEN j.value LIKE 'household:%' THEN 'household' \
             WHEN l.operation IN ({residents}) THEN 'resident' \
             WHEN l.operation IN ({households}) THEN 'household' END AS kind, \
             CASE WHEN j.value LIKE 'resident:%' THEN substr(j.value, 10) \
             WHEN j.value LIKE 'household:%' THEN substr(j.value, 11) \
             ELSE j.value END AS record_id, l.seq \
           FROM access_log l, {ids} \
           WHERE l.district = $1 AND l.seq BETWEEN $2 AND $3 \
           UNION ALL \
           SELECT l.district, 'district', '*', l.seq FROM access_log l \
           WHERE l.district = $1 AND l.seq BETWEEN $2 AND $3 AND l.operation = '{EXPORT_OPERATION}' \
         ) named WHERE kind IS NOT NULL AND record_id <> '' \
         ON CONFLICT DO NOTHING",
        residents = quoted(RESIDENT_OPERATIONS),
        households = quoted(HOUSEHOLD_OPERATIONS),
    );
    sqlx::query(&sql)
        .bind(district)
        .bind(first)
        .bind(last)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// One entry's insert, for SQLite's short path, which repeats it.
const INSERT: &str = "INSERT INTO access_log (at, district, app, version, request_id, operation, \
     permission, outcome, record_count, record_ids, field_class, prev_hash, hash) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, '', '')";

/// Most entries one group commit writes: eleven parameters each keeps one
/// statement well within PostgreSQL's limit of 65,535.
const GROUP: usize = 500;

/// Most entries a group may hold to be written on the calling thread
/// ([`Lite::try_here`](crate::kernel::store::lite::Lite::try_here)), if
/// their record ids together are no longer than a small kv value: a few
/// rows, each with its six index entries, take SQLite tens of
/// microseconds; a larger group goes to a blocking thread.
const HERE_MOST_ROWS: usize = 4;

/// `rows` in one transaction, on SQLite's short path.
fn insert_rows(conn: &mut rusqlite::Connection, rows: &[Row]) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut insert = crate::kernel::store::lite::statement(&tx, INSERT)?;
        for row in rows {
            insert.execute(rusqlite::params![
                row.at,
                row.district,
                row.app,
                row.version,
                row.request_id,
                row.operation,
                row.permission,
                row.outcome,
                row.record_count,
                row.record_ids,
                row.field_class,
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// An entry on its way to the database, with what it was given.
#[derive(Debug)]
struct Row {
    at: i64,
    district: String,
    app: String,
    version: String,
    request_id: String,
    operation: String,
    permission: String,
    outcome: &'static str,
    record_count: i64,
    record_ids: String,
    field_class: String,
}

/// Entries waiting for the access log's writer, and whether one is at
/// work. One store's clones share it; each host process has its own (the
/// database orders their writes).
#[derive(Debug, Default)]
pub(crate) struct Waiting {
    entries: std::sync::Mutex<Vec<(Row, Done)>>,
    writing: std::sync::atomic::AtomicBool,
    /// Groups written, for tests.
    groups: std::sync::atomic::AtomicU64,
}

/// Where the writer tells an entry's caller how its group went.
type Done = tokio::sync::oneshot::Sender<Result<(), String>>;

impl Waiting {
    /// Add an entry; true when the caller must start a writer, because
    /// none is at work.
    fn join(&self, row: Row, done: Done) -> bool {
        lock(&self.entries).push((row, done));
        !self.writing.swap(true, std::sync::atomic::Ordering::AcqRel)
    }

    /// The next group; empty (and the writer's work ended) when nothing is
    /// waiting.
    fn next_group(&self) -> Vec<(Row, Done)> {
        loop {
            let group = {
                let mut entries = lock(&self.entries);
                let cut = entries.len().min(GROUP);
                let rest = entries.split_off(cut);
                std::mem::replace(&mut *entries, rest)
            };
            if !group.is_empty() {
                return group;
            }
            self.writing
                .store(false, std::sync::atomic::Ordering::Release);
            // An entry that joined after the list was found empty, but
            // before the writer stopped, saw a writer at work: take it up
            // again unless another writer already has.
            if lock(&self.entries).is_empty()
                || self.writing.swap(true, std::sync::atomic::Ordering::AcqRel)
            {
                return Vec::new();
            }
        }
    }

    /// How many groups have been written.
    #[cfg(test)]
    pub(crate) fn groups(&self) -> u64 {
        self.groups.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Answers the entries waiting with an error, and lets the next entry start
/// a writer, should the writer stop half way (a panic, the runtime
/// shutting down, or a task dropped before it ever ran) rather than leave
/// them waiting for a writer no longer at work. Made before the writer is
/// spawned, so it is dropped with the task even if the task never ran.
struct Stopped {
    waiting: Arc<Waiting>,
    armed: bool,
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if self.armed {
            let mut entries = lock(&self.waiting.entries);
            entries.clear();
            // Under the lock: an entry joining now waits for the lock, then
            // finds no writer at work and starts one.
            self.waiting
                .writing
                .store(false, std::sync::atomic::Ordering::Release);
        }
    }
}

/// The access log's writer: write what is waiting, group by group, until
/// nothing is.
async fn write_groups(store: Store, mut stopped: Stopped) {
    let waiting = Arc::clone(&stopped.waiting);
    loop {
        let group = waiting.next_group();
        if group.is_empty() {
            stopped.armed = false;
            return;
        }
        let (rows, done): (Vec<Row>, Vec<Done>) = group.into_iter().unzip();
        let written = store.insert_group(rows).await.map_err(|failed| {
            tracing::error!(error = %failed, "writing access-log entries failed");
            "the access log could not be written; see the host's log".to_owned()
        });
        waiting
            .groups
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for done in done {
            let _ = done.send(written.clone());
        }
    }
}

/// The hash of `e` following `prev`: sha256 over every field,
/// length-prefixed so no two different entries hash the same bytes.
fn hash_of(prev: &str, e: &AccessEntry) -> String {
    let ids = serde_json::to_string(&e.record_ids).unwrap_or_default();
    let mut h = Sha256::new();
    for part in [
        prev,
        &e.at.to_string(),
        &e.district,
        &e.app,
        &e.version,
        &e.request_id,
        &e.operation,
        &e.permission,
        &e.outcome,
        &ids,
        &e.field_class,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

impl Store {
    /// Record one data call. One insert, so reading data stays cheap; the
    /// entry joins its district's hash chain, and the index of the
    /// residents and households it named, when it is sealed
    /// ([`Store::seal_access_log`]).
    ///
    /// The entry is committed before this returns, before the data it
    /// records reaches the app, so killing the process then loses neither. Entries logged while another
    /// group is being written are written together, in one transaction
    /// (group commit): under load the commit's cost is shared, and alone
    /// an entry waits for no one.
    pub async fn log_access(&self, entry: NewAccess<'_>) -> Result<(), StoreError> {
        let row = Row {
            at: self.clock().now_ms(),
            district: entry.district.to_owned(),
            app: entry.app.to_owned(),
            version: entry.version.to_owned(),
            request_id: entry.request_id.to_owned(),
            operation: entry.operation.to_owned(),
            permission: entry.permission.to_owned(),
            outcome: if entry.allowed { "allowed" } else { "denied" },
            record_count: entry.record_ids.len() as i64,
            record_ids: serde_json::to_string(entry.record_ids).unwrap_or_else(|_| "[]".to_owned()),
            field_class: entry.field_class.to_owned(),
        };
        let (done, written) = tokio::sync::oneshot::channel();
        let lead = self.access_group().join(row, done);
        if lead {
            let stopped = Stopped {
                waiting: Arc::clone(self.access_group()),
                armed: true,
            };
            tokio::spawn(write_groups(self.clone(), stopped));
        }
        match written.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(failed)) => Err(StoreError::Group(failed)),
            Err(_) => Err(StoreError::Group(
                "the access log's writer stopped before the entry was written".to_owned(),
            )),
        }
    }

    /// Write `rows` in one transaction, after waiting for the write turn.
    async fn insert_group(&self, rows: Vec<Row>) -> Result<(), StoreError> {
        if let Some(short) = self.lite() {
            let turn = self.write_turn().await?;
            let small = rows.len() <= HERE_MOST_ROWS
                && rows.iter().map(|row| row.record_ids.len()).sum::<usize>()
                    <= crate::kernel::store::lite::HERE_MAX_VALUE;
            if small
                && let Some(done) = short.try_here(true, |conn| insert_rows(conn, &rows).map(Some))
            {
                return done;
            }
            return short.run(turn, move |conn| insert_rows(conn, &rows)).await;
        }
        // One statement of many rows: atomic on its own, one round trip.
        let mut q = Sql::new(
            "INSERT INTO access_log (at, district, app, version, request_id, operation, permission, \
             outcome, record_count, record_ids, field_class, prev_hash, hash) VALUES ",
        );
        for (i, row) in rows.iter().enumerate() {
            q.push(if i == 0 { "(" } else { ", (" });
            q.push_bind(row.at).push(", ");
            q.push_bind(row.district.as_str()).push(", ");
            q.push_bind(row.app.as_str()).push(", ");
            q.push_bind(row.version.as_str()).push(", ");
            q.push_bind(row.request_id.as_str()).push(", ");
            q.push_bind(row.operation.as_str()).push(", ");
            q.push_bind(row.permission.as_str()).push(", ");
            q.push_bind(row.outcome).push(", ");
            q.push_bind(row.record_count).push(", ");
            q.push_bind(row.record_ids.as_str()).push(", ");
            q.push_bind(row.field_class.as_str()).push(", '', '')");
        }
        let mut conn = self.writer().await?;
        q.execute_once(&mut *conn).await?;
        Ok(())
    }

    /// Record a read of residents' data by a person (an administrator or a
    /// worker, through the API or the console, or the operator on the
    /// command line), like an app's: the entry's `app` is `account:<id>`
    /// or `operator:cli` (no app name holds a colon), its
    /// `version` the person's role and its permission `staff`.
    pub async fn log_staff_read(&self, read: StaffRead<'_>) -> Result<(), StoreError> {
        let (app, role) = match read.reader {
            Reader::Account { id, role } => (format!("account:{id}"), role),
            Reader::CommandLine => (OPERATOR_APP.to_owned(), "operator"),
        };
        self.log_access(NewAccess {
            district: read.district,
            app: &app,
            version: role,
            request_id: read.request_id,
            operation: read.operation,
            permission: STAFF_PERMISSION,
            allowed: true,
            record_ids: read.record_ids,
            field_class: read.field_class,
        })
        .await
    }

    /// Who read one resident's data, newest first: every entry that named
    /// the resident, their household (if they have one) or the whole
    /// district, before `before`, at most `limit`. Read from
    /// `access_subjects`, one index range per kind, after sealing what the
    /// district has pending (a serving host seals every second anyway), so
    /// the answer is complete to the moment.
    pub async fn reads_of_resident(
        &self,
        district: &str,
        resident: &str,
        household: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<AccessEntry>, StoreError> {
        let pending: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM access_log WHERE district = $1 AND chain_pos IS NULL LIMIT 1",
        )
        .bind(district)
        .fetch_optional(self.pool())
        .await?;
        if pending.is_some() {
            while self.seal_district(district).await? > 0 {}
        }
        let before = before.unwrap_or(i64::MAX);
        let n = i64::from(limit) + 1;
        let mut q = Sql::new(format!("SELECT {COLUMNS} FROM access_log WHERE seq IN ("));
        let d = q.bind(district);
        let b = q.bind(before);
        let mut ranges = vec![("resident", resident), ("district", "*")];
        if let Some(h) = household {
            ranges.push(("household", h));
        }
        for (i, (kind, id)) in ranges.into_iter().enumerate() {
            if i > 0 {
                q.push(" UNION ");
            }
            let k = q.bind(kind);
            let r = q.bind(id);
            q.push(&format!(
                "SELECT seq FROM (SELECT seq FROM access_subjects WHERE district = {d} \
                 AND kind = {k} AND record_id = {r} AND seq < {b} ORDER BY seq DESC LIMIT {n}) r{i}"
            ));
        }
        q.push(&format!(") ORDER BY seq DESC LIMIT {n}"));
        let rows: Vec<AccessRecord> = q.fetch_as(self.pool()).await?;
        let entries = rows
            .into_iter()
            .map(AccessEntry::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::cut(entries, limit, |e| e.seq))
    }

    /// Seal every district's unsealed entries into its chain; returns how
    /// many were sealed. Safe to run from several host processes at once:
    /// each district's head moves by compare-and-swap, and a sealer that
    /// loses the race leaves the entries to the winner.
    pub async fn seal_access_log(&self) -> Result<u64, StoreError> {
        let districts: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT district FROM access_log WHERE chain_pos IS NULL")
                .fetch_all(self.pool())
                .await?;
        let mut sealed = 0;
        for district in districts {
            loop {
                let batch = self.seal_district(&district).await?;
                sealed += batch;
                if batch < u64::from(SEAL_BATCH) {
                    break;
                }
            }
        }
        Ok(sealed)
    }

    async fn seal_district(&self, district: &str) -> Result<u64, StoreError> {
        // SQLite takes its write lock up front (a read transaction that later
        // writes fails if another writer got in between); PostgreSQL relies
        // on the compare-and-swap of the head. A sqlx transaction rolls back
        // if this future is dropped halfway, so no connection goes back to
        // the pool inside an open transaction.
        let mut tx = self.begin_write().await?;
        let conn = &mut *tx;
        let attempt = async {
            let head: Option<(String, i64)> =
                sqlx::query_as("SELECT head, entries FROM access_chain WHERE district = $1")
                    .bind(district)
                    .fetch_optional(&mut *conn)
                    .await?;
            let (start, count) = head.unwrap_or_else(|| (GENESIS.to_owned(), 0));
            let rows: Vec<AccessRecord> = sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM access_log WHERE district = $1 AND chain_pos IS NULL \
                 ORDER BY seq LIMIT {SEAL_BATCH}"
            ))
            .bind(district)
            .fetch_all(&mut *conn)
            .await?;
            let mut prev = start.clone();
            let mut pos = count;
            let mut links = Vec::with_capacity(rows.len());
            let sealing = rows.len() as u64;
            for row in rows {
                let e = AccessEntry::try_from(row)?;
                let hash = hash_of(&prev, &e);
                pos += 1;
                links.push((e.seq, prev, hash.clone(), pos));
                prev = hash;
            }
            if let (Some(first), Some(last)) = (links.first(), links.last()) {
                index_subjects(&mut *conn, self.backend(), district, (first.0, last.0)).await?;
            }
            // One UPDATE per batch of entries rather than one per entry.
            for batch in links.chunks(SEAL_UPDATE_BATCH) {
                let mut q = Sql::new("UPDATE access_log SET ");
                let binds: Vec<[String; 4]> = batch
                    .iter()
                    .map(|(seq, prev, hash, pos)| {
                        [
                            q.bind(*seq),
                            q.bind(prev.as_str()),
                            q.bind(hash.as_str()),
                            q.bind(*pos),
                        ]
                    })
                    .collect();
                for (column, field) in [("prev_hash", 1), ("hash", 2), ("chain_pos", 3)] {
                    if field > 1 {
                        q.push(", ");
                    }
                    q.push(&format!("{column} = CASE seq"));
                    for b in &binds {
                        q.push(&format!(" WHEN {} THEN {}", b[0], b[field]));
                    }
                    q.push(" END");
                }
                let seqs: Vec<&str> = binds.iter().map(|b| b[0].as_str()).collect();
                q.push(&format!(
                    " WHERE chain_pos IS NULL AND seq IN ({})",
                    seqs.join(", ")
                ));
                let done = q.execute(&mut *conn).await?;
                if done != batch.len() as u64 {
                    // Another sealer sealed some of them: its work stands.
                    return Ok(None);
                }
            }
            let moved = if count == 0 {
                sqlx::query(
                    "INSERT INTO access_chain (district, head, entries) VALUES ($1, $2, $3) \
                     ON CONFLICT (district) DO NOTHING",
                )
                .bind(district)
                .bind(&prev)
                .bind(pos)
                .execute(&mut *conn)
                .await?
                .rows_affected()
            } else {
                sqlx::query(
                    "UPDATE access_chain SET head = $1, entries = $2 WHERE district = $3 AND head = $4",
                )
                .bind(&prev)
                .bind(pos)
                .bind(district)
                .bind(&start)
                .execute(&mut *conn)
                .await?
                .rows_affected()
            };
            Ok::<Option<u64>, StoreError>((moved == 1).then_some(sealing))
        }
        .await;
        match attempt {
            Ok(Some(n)) => {
                tx.commit().await?;
                Ok(n)
            }
            // Another sealer got there first: its work stands.
            Ok(None) => {
                tx.rollback().await?;
                Ok(0)
            }
            Err(err) => {
                let _ = tx.rollback().await;
                Err(err)
            }
        }
    }

    /// The most recent `limit` entries of a district's access log (optionally
    /// of one app, and since a time in ms), oldest first.
    pub async fn list_access(
        &self,
        district: &str,
        app: Option<&str>,
        since: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AccessEntry>, StoreError> {
        let rows: Vec<AccessRecord> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM access_log \
             WHERE district = $1 AND ($2 = '' OR app = $2) AND at >= $3 ORDER BY seq DESC LIMIT $4"
        ))
        .bind(district)
        .bind(app.unwrap_or(""))
        .bind(since.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().rev().map(AccessEntry::try_from).collect()
    }

    /// One page of an install's access log, newest first: the entries
    /// matching `filter` older than entry `before` (none: from the newest),
    /// at most `limit`.
    ///
    /// Read from indexes however long the log is: with no filter, or
    /// outcome and field class only, a page is an index walk. Other filters look through
    /// at most [`SEARCH_WINDOW`] of the install's entries per page; a page
    /// that stopped there before it was full says where
    /// ([`AccessPage::searched_to`]), and the next search starts there. A
    /// filter with an end day starts at that day's last entry.
    pub async fn search_access(
        &self,
        district: &str,
        app: &str,
        filter: &AccessFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<AccessPage, StoreError> {
        let mut before = before.unwrap_or(i64::MAX);
        if let Some(until) = filter.until {
            let last: Option<i64> = sqlx::query_scalar(
                "SELECT seq FROM access_log WHERE district = $1 AND app = $2 AND at < $3 \
                 ORDER BY at DESC LIMIT 1",
            )
            .bind(district)
            .bind(app)
            .bind(until)
            .fetch_optional(self.pool())
            .await?;
            match last {
                Some(seq) => before = before.min(seq + 1),
                None => {
                    return Ok(AccessPage {
                        entries: Vec::new(),
                        searched_to: None,
                    });
                }
            }
        }
        // Outcome and field class have indexes of their own; the others
        // are looked for in a window.
        let windowed = filter.operation.is_some()
            || filter.record.is_some()
            || filter.from.is_some()
            || filter.until.is_some();
        let mut q = Sql::new(format!("SELECT {COLUMNS} FROM "));
        if windowed {
            q.push(&format!(
                "(SELECT {COLUMNS} FROM access_log WHERE district = "
            ));
            q.push_bind(district.to_owned());
            q.push(" AND app = ");
            q.push_bind(app.to_owned());
            q.push(" AND seq < ");
            q.push_bind(before);
            q.push(&format!(
                " ORDER BY seq DESC LIMIT {SEARCH_WINDOW}) w WHERE 1 = 1"
            ));
        } else {
            q.push("access_log WHERE district = ");
            q.push_bind(district.to_owned());
            q.push(" AND app = ");
            q.push_bind(app.to_owned());
            q.push(" AND seq < ");
            q.push_bind(before);
        }
        q.and("outcome", "=", filter.outcome.clone());
        q.and("operation", "=", filter.operation.clone());
        q.and("field_class", "=", filter.field_class.clone());
        // A record id is matched as a whole JSON string of the ids list;
        // `_` (which ids may hold) is a LIKE wildcard, so it is escaped.
        if let Some(id) = &filter.record {
            let pattern = format!(
                "%\"{}\"%",
                id.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            let p = q.bind(pattern);
            q.push(&format!(" AND record_ids LIKE {p} ESCAPE '\\'"));
        }
        q.and("at", ">=", filter.from);
        q.push(&format!(" ORDER BY seq DESC LIMIT {limit}"));
        let entries = q
            .fetch_as::<AccessRecord, _>(self.pool())
            .await?
            .into_iter()
            .map(AccessEntry::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let searched_to = match windowed && entries.len() < limit as usize {
            false => None,
            true => {
                // Where the window ended, if the log goes on past it.
                let floor: Option<i64> = sqlx::query_scalar(&format!(
                    "SELECT MIN(seq) FROM (SELECT seq FROM access_log WHERE district = $1 \
                     AND app = $2 AND seq < $3 ORDER BY seq DESC LIMIT {SEARCH_WINDOW}) w \
                     HAVING COUNT(*) = {SEARCH_WINDOW}"
                ))
                .bind(district)
                .bind(app)
                .bind(before)
                .fetch_optional(self.pool())
                .await?
                .flatten();
                // Past the first day asked for, there is nothing to find.
                match (floor, filter.from) {
                    (Some(floor), Some(from)) if self.entry_at(floor).await? < from => None,
                    (floor, _) => floor,
                }
            }
        };
        Ok(AccessPage {
            entries,
            searched_to,
        })
    }

    /// When entry `seq` was written, ms (0 if there is none).
    async fn entry_at(&self, seq: i64) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT at FROM access_log WHERE seq = $1")
                .bind(seq)
                .fetch_optional(self.pool())
                .await?
                .unwrap_or(0),
        )
    }

    /// Seal what is pending, then recompute a district's chain from its
    /// first entry and compare it with every stored hash and with the
    /// recorded head.
    pub async fn verify_access_log(&self, district: &str) -> Result<ChainReport, StoreError> {
        self.seal_access_log().await?;
        let rows: Vec<AccessRecord> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM access_log WHERE district = $1 AND chain_pos IS NOT NULL ORDER BY chain_pos"
        ))
        .bind(district)
        .fetch_all(self.pool())
        .await?;
        let mut prev = GENESIS.to_owned();
        let mut entries = 0u64;
        let mut broken = None;
        for row in rows {
            let e = AccessEntry::try_from(row)?;
            if e.prev_hash != prev {
                broken = Some(format!(
                    "entry {} does not follow the entry before it: an entry was removed or inserted",
                    e.seq
                ));
                break;
            }
            if e.hash != hash_of(&prev, &e) {
                broken = Some(format!("entry {} was changed after it was written", e.seq));
                break;
            }
            prev = e.hash;
            entries += 1;
        }
        if broken.is_none() {
            let head: Option<(String, i64)> =
                sqlx::query_as("SELECT head, entries FROM access_chain WHERE district = $1")
                    .bind(district)
                    .fetch_optional(self.pool())
                    .await?;
            let (recorded, count) = head.unwrap_or_else(|| (GENESIS.to_owned(), 0));
            if recorded != prev || count != entries as i64 {
                broken = Some(format!(
                    "the log ends after {entries} entries but {count} were sealed: entries were removed from its end"
                ));
            }
        }
        Ok(ChainReport {
            entries,
            head: prev,
            broken,
        })
    }

    /// When each of `permissions` was last used by an app (ms), from the
    /// access log; `read-personal-fields` counts as used when personal
    /// fields were returned. One index lookup each, however long the log.
    pub async fn last_used_permissions(
        &self,
        district: &str,
        app: &str,
        permissions: &[&str],
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let mut out = BTreeMap::new();
        for permission in permissions {
            let last: Option<i64> = if *permission == "read-personal-fields" {
                sqlx::query_scalar(
                    "SELECT at FROM access_log WHERE district = $1 AND app = $2 \
                     AND field_class = 'personal' ORDER BY seq DESC LIMIT 1",
                )
                .bind(district)
                .bind(app)
                .fetch_optional(self.pool())
                .await?
            } else {
                sqlx::query_scalar(
                    "SELECT at FROM access_log WHERE district = $1 AND app = $2 \
                     AND permission = $3 AND outcome = 'allowed' ORDER BY seq DESC LIMIT 1",
                )
                .bind(district)
                .bind(app)
                .bind(*permission)
                .fetch_optional(self.pool())
                .await?
            };
            if let Some(at) = last {
                out.insert((*permission).to_owned(), at);
            }
        }
        Ok(out)
    }
}

/// An access log row; its record ids are a JSON list.
#[derive(sqlx::FromRow)]
struct AccessRecord {
    seq: i64,
    at: i64,
    district: String,
    app: String,
    version: String,
    request_id: String,
    operation: String,
    permission: String,
    outcome: String,
    record_count: i64,
    record_ids: String,
    field_class: String,
    prev_hash: String,
    hash: String,
}

impl TryFrom<AccessRecord> for AccessEntry {
    type Error = StoreError;

    fn try_from(r: AccessRecord) -> Result<Self, StoreError> {
        Ok(AccessEntry {
            seq: r.seq,
            at: r.at,
            district: r.district,
            app: r.app,
            version: r.version,
            request_id: r.request_id,
            operation: r.operation,
            permission: r.permission,
            outcome: r.outcome,
            record_count: r.record_count,
            record_ids: from_json("access log ids", &r.record_ids)?,
            field_class: r.field_class,
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::kernel::access_log::NewAccess;
    use crate::kernel::grant::tests::store;

    fn entry<'a>(request_id: &'a str, ids: &'a [String]) -> NewAccess<'a> {
        NewAccess {
            district: "east",
            app: "care",
            version: "1.0.0",
            request_id,
            operation: "get-resident",
            permission: "read-residents",
            allowed: true,
            record_ids: ids,
            field_class: "masked",
        }
    }

    #[tokio::test]
    async fn entries_logged_at_once_are_committed_together_and_each_before_its_call_returns() {
        let (_dir, store) = store().await;
        // Alone, an entry is its own group, and it is in the database when
        // its call returns.
        let ids = vec!["r-1".to_owned()];
        store.log_access(entry("alone", &ids)).await.expect("log");
        let logged = store
            .list_access("east", Some("care"), None, 10)
            .await
            .expect("list");
        assert_eq!(logged.len(), 1);
        assert_eq!(logged[0].request_id, "alone");
        assert_eq!(logged[0].record_ids, ids);
        assert_eq!(store.access_group().groups(), 1);
        // 300 at once: every one is written, in fewer transactions than
        // entries, and each call returns only once its entry is.
        let calls = (0..300).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let request = format!("r{i}");
                let ids = vec![format!("r-{i}")];
                store.log_access(entry(&request, &ids)).await.expect("log");
                let ids: Vec<String> =
                    sqlx::query_scalar("SELECT record_ids FROM access_log WHERE request_id = $1")
                        .bind(&request)
                        .fetch_all(store.pool())
                        .await
                        .expect("read back");
                assert_eq!(ids, [format!("[\"r-{i}\"]")], "{request} is durable");
            })
        });
        for call in calls.collect::<Vec<_>>() {
            call.await.expect("call");
        }
        let groups = store.access_group().groups();
        assert!(
            groups - 1 <= 10,
            "300 entries took {} transactions",
            groups - 1
        );
        let report = store.verify_access_log("east").await.expect("verify");
        assert_eq!(report.entries, 301);
        assert_eq!(report.broken, None);
        // The writer stopped with nothing waiting, and the next entry
        // starts another.
        store.log_access(entry("later", &ids)).await.expect("log");
        assert_eq!(store.access_group().groups(), groups + 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn entries_from_several_threads_are_all_written_in_groups_of_at_most_500() {
        let (_dir, store) = store().await;
        for round in 0..3 {
            let before = store.access_group().groups();
            let calls: Vec<_> = (0..1200)
                .map(|i| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        let request = format!("{round}-{i}");
                        store.log_access(entry(&request, &[])).await.expect("log");
                    })
                })
                .collect();
            for call in calls {
                call.await.expect("call");
            }
            let written: i64 = sqlx::query_scalar(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM access_log WHERE request_id LIKE $1",
            )
            .bind(format!("{round}-%"))
            .fetch_one(store.pool())
            .await
            .expect("count");
            assert_eq!(written, 1200, "round {round}: every entry written once");
            let groups = store.access_group().groups() - before;
            assert!(
                (3..1200).contains(&groups),
                "round {round}: 1200 entries took {groups} groups of at most 500"
            );
        }
        let report = store.verify_access_log("east").await.expect("verify");
        assert_eq!((report.entries, report.broken), (3600, None));
    }
}
