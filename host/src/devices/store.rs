//! Devices, the events they report, and the outbox that hands each event to
//! every subscribed install.
//!
//! An accepted request writes its events and their delivery rows in one
//! transaction, so an event is never stored without its deliveries (nor the
//! other way round). Deliveries are claimed for a lease, at most one per
//! (install, device) stream — the oldest that is not dead — so a device's
//! events reach an app in order and a failing one holds up only its own
//! stream. The claim is one statement: `UPDATE … WHERE id IN (SELECT … LIMIT
//! n) RETURNING id`, which SQLite runs under its single write lock, and
//! which on PostgreSQL locks the rows it picks with `FOR UPDATE SKIP LOCKED`,
//! so two processes never claim the same delivery.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};
use std::collections::HashMap;

use crate::kernel::outbox::store::OutboxTable;
use crate::kernel::store::{Backend, Sql, Store, StoreError, is_unique_violation};

/// A registered device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Device {
    /// Its district.
    pub district: String,
    /// Its id, unique in the district.
    pub id: String,
    /// Its kind, from the catalogue in [`crate::kernel::events`].
    pub kind: String,
    /// The household it is bound to, if any.
    pub household_id: Option<String>,
    /// The resident it is bound to, if any.
    pub resident_id: Option<String>,
    /// The community of its binding, if bound.
    pub community_id: Option<String>,
    /// How often it must report something, in seconds, to count as online.
    pub heartbeat_secs: i64,
    /// When it last posted an event (ms since the epoch), if ever.
    pub last_seen_at: Option<i64>,
    /// When the host reported it offline (`device.offline`), while it has
    /// not posted since.
    pub offline_since: Option<i64>,
    /// When it was registered.
    pub created_at: i64,
    /// When it was last changed (registered or its token rotated).
    pub updated_at: i64,
}

/// A device to register.
#[derive(Clone, Debug)]
pub struct NewDevice<'a> {
    /// Its district.
    pub district: &'a str,
    /// Its id.
    pub id: &'a str,
    /// Its kind.
    pub kind: &'a str,
    /// Bound household.
    pub household_id: Option<&'a str>,
    /// Bound resident.
    pub resident_id: Option<&'a str>,
    /// The binding's community.
    pub community_id: Option<&'a str>,
    /// SHA-256 of its token, hex.
    pub token_sha256: &'a str,
    /// Heartbeat interval in seconds.
    pub heartbeat_secs: i64,
    /// Now.
    pub now: i64,
}

/// An event as accepted, before it is stored.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// The reporting device.
    pub device: Device,
    /// The event type.
    pub event_type: String,
    /// When it happened (ms since the epoch).
    pub occurred_at: i64,
    /// Details, JSON object text.
    pub payload: String,
    /// The installs (app names) to hand it to.
    pub apps: Vec<String>,
    /// The poster's own key for it: a second event of the device with the
    /// same key is this one again.
    pub key: Option<String>,
}

/// A stored event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StoredEvent {
    /// The host's id for it.
    #[sqlx(rename = "event_id")]
    pub id: i64,
    /// Its district.
    #[sqlx(rename = "event_district")]
    pub district: String,
    /// The device that reported it.
    pub device_id: String,
    /// That device's kind.
    pub device_kind: String,
    /// What happened.
    pub event_type: String,
    /// When it happened (ms since the epoch).
    pub occurred_at: i64,
    /// When the host received it.
    pub received_at: i64,
    /// Details, JSON object text.
    pub payload: String,
    /// The household the device was bound to.
    pub household_id: Option<String>,
    /// The resident the device was bound to.
    pub resident_id: Option<String>,
    /// Their community.
    pub community_id: Option<String>,
}

/// A claimed delivery: one event for one install.
#[derive(Clone, Debug)]
pub struct EventDelivery {
    /// The delivery's id.
    pub id: i64,
    /// The install's app.
    pub app: String,
    /// Failed attempts so far.
    pub attempts: i64,
    /// The event.
    pub event: StoredEvent,
}

/// A delivery given up on: the dead-letter list.
#[derive(Clone, Debug, Serialize)]
pub struct DeadLetter {
    /// The delivery's id (what a retry names).
    pub id: i64,
    /// The app that kept failing.
    pub app: String,
    /// Attempts made.
    pub attempts: i64,
    /// The last failure.
    pub last_error: Option<String>,
    /// The event.
    pub event: StoredEvent,
}

/// Rows per multi-row `INSERT`, well inside both back ends' limits on bound
/// parameters.
const INSERT_CHUNK: usize = 200;

const DEVICE_COLUMNS: &str = "district, id, kind, household_id, resident_id, community_id, \
     heartbeat_ms, last_seen_at, offline_since, created_at, updated_at";

const EVENT_COLUMNS: &str = "ev.id AS event_id, ev.district AS event_district, ev.device_id, \
     ev.device_kind, ev.event_type, ev.occurred_at, ev.received_at, ev.payload, \
     ev.household_id, ev.resident_id, ev.community_id";

/// A device row: its heartbeat is stored in milliseconds.
#[derive(sqlx::FromRow)]
struct DeviceRecord {
    district: String,
    id: String,
    kind: String,
    household_id: Option<String>,
    resident_id: Option<String>,
    community_id: Option<String>,
    heartbeat_ms: i64,
    last_seen_at: Option<i64>,
    offline_since: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl From<DeviceRecord> for Device {
    fn from(r: DeviceRecord) -> Self {
        Device {
            district: r.district,
            id: r.id,
            kind: r.kind,
            household_id: r.household_id,
            resident_id: r.resident_id,
            community_id: r.community_id,
            heartbeat_secs: r.heartbeat_ms / 1000,
            last_seen_at: r.last_seen_at,
            offline_since: r.offline_since,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn event_from_row(r: &AnyRow) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent::from_row(r)?)
}

/// `$from, $from+1, …` for `n` parameters.
fn params(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The ids of the events of `district` already stored under the keys that
/// `events` carry, by (device, key).
async fn known_keys(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    district: &str,
    events: &[NewEvent],
) -> Result<HashMap<(String, String), i64>, StoreError> {
    let keys: Vec<&str> = events.iter().filter_map(|e| e.key.as_deref()).collect();
    let mut known = HashMap::new();
    for chunk in keys.chunks(INSERT_CHUNK) {
        let mut q =
            Sql::new("SELECT device_id, idempotency_key, id FROM device_events WHERE district = ");
        q.push_bind(district);
        q.and_in("idempotency_key", Some(chunk.iter().copied()));
        let rows: Vec<(String, String, i64)> = q.fetch_as(&mut **tx).await?;
        for (device, key, id) in rows {
            known.insert((device, key), id);
        }
    }
    Ok(known)
}

/// Insert `events` of `district` received at `received_at`, with one
/// delivery per app each, in `tx`; their ids, in order.
async fn insert_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    district: &str,
    events: &[NewEvent],
    received_at: i64,
) -> Result<Vec<i64>, StoreError> {
    let mut ids = Vec::with_capacity(events.len());
    for chunk in events.chunks(INSERT_CHUNK) {
        let mut q = Sql::new(
            "INSERT INTO device_events (district, device_id, device_kind, event_type, \
             occurred_at, received_at, payload, household_id, resident_id, community_id, \
             idempotency_key) VALUES ",
        );
        for (i, e) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            let row = [
                q.bind(district),
                q.bind(e.device.id.as_str()),
                q.bind(e.device.kind.as_str()),
                q.bind(e.event_type.as_str()),
                q.bind(e.occurred_at),
                q.bind(received_at),
                q.bind(e.payload.as_str()),
                q.bind(e.device.household_id.as_deref()),
                q.bind(e.device.resident_id.as_deref()),
                q.bind(e.device.community_id.as_deref()),
                q.bind(e.key.as_deref()),
            ]
            .join(", ");
            q.push(&format!("({row})"));
        }
        q.push(" RETURNING id");
        // Both back ends number the rows of one multi-row INSERT in the
        // order of its VALUES, so the sorted ids line up with the chunk.
        let mut chunk_ids: Vec<i64> = q
            .fetch_as::<(i64,), _>(&mut **tx)
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect();
        chunk_ids.sort_unstable();
        ids.extend(chunk_ids);
    }
    let deliveries: Vec<(&str, &str, i64)> = events
        .iter()
        .zip(&ids)
        .flat_map(|(e, id)| {
            e.apps
                .iter()
                .map(move |app| (app.as_str(), e.device.id.as_str(), *id))
        })
        .collect();
    for chunk in deliveries.chunks(INSERT_CHUNK) {
        let mut q = Sql::new(
            "INSERT INTO event_deliveries (district, app, device_id, event_id, attempts, \
             next_at, claimed_until, dead) VALUES ",
        );
        let district = q.bind(district);
        let due = q.bind(received_at);
        for (i, (app, device, event)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            let row = [q.bind(*app), q.bind(*device), q.bind(*event)].join(", ");
            q.push(&format!("({district}, {row}, 0, {due}, 0, 0)"));
        }
        q.execute(&mut **tx).await?;
    }
    Ok(ids)
}

impl Store {
    /// The community of a household of `district` (through its building),
    /// if the household exists.
    pub async fn household_community(
        &self,
        district: &str,
        id: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT b.community_id FROM households h JOIN buildings b \
             ON b.district = h.district AND b.id = h.building_id \
             WHERE h.district = $1 AND h.id = $2",
        )
        .bind(district)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Register a device; a device id already used in the district is a
    /// conflict.
    pub async fn create_device(&self, new: NewDevice<'_>) -> Result<Device, StoreError> {
        let done = sqlx::query(
            "INSERT INTO devices (district, id, kind, household_id, resident_id, community_id, \
             token_sha256, heartbeat_ms, last_seen_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $9)",
        )
        .bind(new.district)
        .bind(new.id)
        .bind(new.kind)
        .bind(new.household_id)
        .bind(new.resident_id)
        .bind(new.community_id)
        .bind(new.token_sha256)
        .bind(new.heartbeat_secs.saturating_mul(1000))
        .bind(new.now)
        .execute(self.pool())
        .await;
        match done {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "device `{}` is already registered in district `{}`; remove it first or pick another id",
                    new.id, new.district
                )));
            }
            Err(e) => return Err(e.into()),
        }
        self.get_device(new.district, new.id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("device `{}`", new.id)))
    }

    /// One device, if registered.
    pub async fn get_device(&self, district: &str, id: &str) -> Result<Option<Device>, StoreError> {
        Ok(sqlx::query_as::<_, DeviceRecord>(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE district = $1 AND id = $2"
        ))
        .bind(district)
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .map(Device::from))
    }

    /// The device whose token hashes to `token_sha256`.
    pub async fn device_by_token(&self, token_sha256: &str) -> Result<Option<Device>, StoreError> {
        Ok(sqlx::query_as::<_, DeviceRecord>(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE token_sha256 = $1"
        ))
        .bind(token_sha256)
        .fetch_optional(self.pool())
        .await?
        .map(Device::from))
    }

    /// The devices of `district` among `ids` (those not registered are left
    /// out).
    pub async fn devices_by_ids(
        &self,
        district: &str,
        ids: &[&str],
    ) -> Result<Vec<Device>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(INSERT_CHUNK) {
            let mut q = Sql::new(format!(
                "SELECT {DEVICE_COLUMNS} FROM devices WHERE district = "
            ));
            q.push_bind(district);
            q.and_in("id", Some(chunk.iter().copied()));
            let rows: Vec<DeviceRecord> = q.fetch_as(self.pool()).await?;
            out.extend(rows.into_iter().map(Device::from));
        }
        Ok(out)
    }

    /// A district's devices by id, after `after`, at most `limit`; with
    /// `offline_at`, only those that have not been seen within their
    /// heartbeat interval at that time (counted from registration when never
    /// seen).
    pub async fn list_devices(
        &self,
        district: &str,
        after: Option<&str>,
        limit: u32,
        offline_at: Option<i64>,
    ) -> Result<Vec<Device>, StoreError> {
        let mut q = Sql::new(format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE district = "
        ));
        q.push_bind(district);
        q.and(
            "COALESCE(last_seen_at, created_at) + heartbeat_ms",
            "<",
            offline_at,
        );
        q.and("id", ">", after);
        q.push(&format!(" ORDER BY id LIMIT {limit}"));
        let rows: Vec<DeviceRecord> = q.fetch_as(self.pool()).await?;
        Ok(rows.into_iter().map(Device::from).collect())
    }

    /// Replace a device's token (the old one stops working at once).
    pub async fn set_device_token(
        &self,
        district: &str,
        id: &str,
        token_sha256: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let n = sqlx::query(
            "UPDATE devices SET token_sha256 = $1, updated_at = $2 WHERE district = $3 AND id = $4",
        )
        .bind(token_sha256)
        .bind(now)
        .bind(district)
        .bind(id)
        .execute(self.pool())
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "device `{id}` in district `{district}`"
            )));
        }
        Ok(())
    }

    /// Remove a device. Its token stops working; the events it reported
    /// stay, and those not yet delivered are still delivered.
    pub async fn delete_device(&self, district: &str, id: &str) -> Result<(), StoreError> {
        let n = sqlx::query("DELETE FROM devices WHERE district = $1 AND id = $2")
            .bind(district)
            .bind(id)
            .execute(self.pool())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "device `{id}` in district `{district}`"
            )));
        }
        Ok(())
    }

    /// Store accepted events of `district` with one delivery per app each,
    /// and mark `seen` devices as seen at `received_at`, in one transaction.
    /// Returns the events' ids, in order.
    ///
    /// `online` holds a `device.online` event for each seen device that may
    /// have been reported offline: those of devices whose offline mark this
    /// call clears are stored first (so an app hears that the device is back
    /// before its news), the others dropped.
    pub async fn store_events(
        &self,
        district: &str,
        events: &[NewEvent],
        online: &[NewEvent],
        seen: &[&str],
        received_at: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.begin().await?;
        let mut back = std::collections::HashSet::new();
        let candidates: Vec<&str> = online.iter().map(|e| e.device.id.as_str()).collect();
        for chunk in candidates.chunks(INSERT_CHUNK) {
            let mut q = Sql::new("UPDATE devices SET offline_since = NULL WHERE district = ");
            q.push_bind(district);
            q.and_in("id", Some(chunk.iter().copied()));
            q.push(" AND offline_since IS NOT NULL RETURNING id");
            let rows: Vec<(String,)> = q.fetch_as(&mut *tx).await?;
            back.extend(rows.into_iter().map(|(id,)| id));
        }
        let mut all: Vec<NewEvent> = online
            .iter()
            .filter(|e| back.contains(&e.device.id))
            .cloned()
            .collect();
        let announced = all.len();
        // An event whose key its device used before is that event again:
        // not stored twice, not handed to apps twice; its id is the first's.
        enum Given {
            Known(i64),
            Stored(usize),
        }
        let known = known_keys(&mut tx, district, events).await?;
        let mut fresh: HashMap<(&str, &str), usize> = HashMap::new();
        let mut given = Vec::with_capacity(events.len());
        for event in events {
            let key = event.key.as_deref().map(|k| (event.device.id.as_str(), k));
            if let Some((device, k)) = key
                && let Some(id) = known.get(&(device.to_owned(), k.to_owned()))
            {
                given.push(Given::Known(*id));
            } else if let Some(index) = key.and_then(|k| fresh.get(&k)) {
                // The same key twice in one post: one event.
                given.push(Given::Stored(*index));
            } else {
                let index = all.len() - announced;
                if let Some(k) = key {
                    fresh.insert(k, index);
                }
                given.push(Given::Stored(index));
                all.push(event.clone());
            }
        }
        let ids = insert_events(&mut tx, district, &all, received_at).await?;
        for chunk in seen.chunks(INSERT_CHUNK) {
            let mut q = Sql::new("UPDATE devices SET last_seen_at = ");
            let at = q.bind(received_at);
            q.push(&at).push(" WHERE district = ").push_bind(district);
            q.and_in("id", Some(chunk.iter().copied()));
            q.push(&format!(
                " AND (last_seen_at IS NULL OR last_seen_at < {at})"
            ));
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let stored = &ids[announced..];
        Ok(given
            .into_iter()
            .map(|given| match given {
                Given::Known(id) => id,
                Given::Stored(index) => stored[index],
            })
            .collect())
    }

    /// Devices of every district that have been silent for longer than
    /// their heartbeat interval at `now` (counted from registration when
    /// never seen) and are not reported offline yet, at most `limit`.
    pub async fn newly_silent_devices(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<Device>, StoreError> {
        Ok(sqlx::query_as::<_, DeviceRecord>(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE offline_since IS NULL \
             AND COALESCE(last_seen_at, created_at) + heartbeat_ms < $1 \
             ORDER BY district, id LIMIT {limit}"
        ))
        .bind(now)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(Device::from)
        .collect())
    }

    /// Mark each event's device offline at `now` and store the event (a
    /// `device.offline`) with its deliveries, for the devices still silent
    /// and not yet marked: setting the mark is the claim, so of several
    /// host processes only one reports a silence. Returns how many were
    /// reported.
    pub async fn report_offline(&self, events: &[NewEvent], now: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let mut reported = 0;
        for event in events {
            let claimed = sqlx::query(
                "UPDATE devices SET offline_since = $1 WHERE district = $2 AND id = $3 \
                 AND offline_since IS NULL AND COALESCE(last_seen_at, created_at) + heartbeat_ms < $1",
            )
            .bind(now)
            .bind(event.device.district.as_str())
            .bind(event.device.id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 1 {
                insert_events(
                    &mut tx,
                    &event.device.district,
                    std::slice::from_ref(event),
                    now,
                )
                .await?;
                reported += 1;
            }
        }
        tx.commit().await?;
        Ok(reported)
    }

    /// How many events a district has stored.
    pub async fn count_events(&self, district: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) AS n FROM device_events WHERE district = $1")
                .bind(district)
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// A district's events, oldest first, optionally of one device.
    pub async fn list_events(
        &self,
        district: &str,
        device: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut q = Sql::new(format!(
            "SELECT {EVENT_COLUMNS} FROM device_events ev WHERE ev.district = "
        ));
        q.push_bind(district);
        q.and("ev.device_id", "=", device);
        q.push(&format!(" ORDER BY ev.id LIMIT {limit}"));
        q.fetch_as(self.pool()).await
    }

    /// Claim up to `limit` due deliveries for `lease_ms`: at most one per
    /// (install, device), the oldest that is not dead, so each device's
    /// events reach each app in order. See the module docs for why two
    /// processes never claim the same one.
    pub async fn claim_event_deliveries(
        &self,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<EventDelivery>, StoreError> {
        // The head of a stream is found with a correlated MIN over the
        // stream's index, row by row in id order, so a claim stops after
        // `limit` heads however many events wait behind them.
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE event_deliveries SET claimed_until = $2 WHERE id IN (\
             SELECT d.id FROM event_deliveries d WHERE d.dead = 0 AND d.next_at <= $1 \
             AND d.claimed_until <= $1 AND d.id = (SELECT MIN(e.id) FROM event_deliveries e \
             WHERE e.district = d.district AND e.app = d.app AND e.device_id = d.device_id \
             AND e.dead = 0) ORDER BY d.id LIMIT {limit}{lock}) RETURNING id"
        );
        let query = sqlx::query(&sql)
            .bind(now)
            .bind(now.saturating_add(lease_ms));
        let claimed = match self.backend() {
            Backend::Sqlite => query.fetch_all(&mut *self.writer().await?).await?,
            Backend::Postgres => {
                // PostgreSQL cannot estimate the correlated MIN, so after a
                // burst of events (before statistics catch up) it would scan
                // and sort every pending row, testing each: 100 times slower
                // than walking the primary key in order, which these
                // settings, for this one transaction, make it do.
                let mut tx = self.begin().await?;
                sqlx::query("SET LOCAL enable_seqscan = off")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("SET LOCAL enable_sort = off")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
                let claimed = query.fetch_all(&mut *tx).await?;
                tx.commit().await?;
                claimed
            }
        };
        let ids = claimed
            .iter()
            .map(|r| r.try_get::<i64, _>("id"))
            .collect::<Result<Vec<_>, _>>()?;
        self.deliveries_by_ids(&ids).await
    }

    async fn deliveries_by_ids(&self, ids: &[i64]) -> Result<Vec<EventDelivery>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT d.id, d.app, d.attempts, {EVENT_COLUMNS} FROM event_deliveries d \
             JOIN device_events ev ON ev.id = d.event_id WHERE d.id IN ({}) ORDER BY d.id",
            params(1, ids.len())
        );
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| {
                Ok(EventDelivery {
                    id: r.try_get("id")?,
                    app: r.try_get("app")?,
                    attempts: r.try_get("attempts")?,
                    event: event_from_row(r)?,
                })
            })
            .collect()
    }

    /// Deliveries waiting (pending) and given up on (dead) in a district.
    pub async fn event_delivery_counts(&self, district: &str) -> Result<(i64, i64), StoreError> {
        self.outbox_counts(OutboxTable::EventDeliveries, district)
            .await
    }

    /// A district's dead letters, oldest first, at most `limit`.
    pub async fn event_dead_letters(
        &self,
        district: &str,
        limit: u32,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT d.id, d.app, d.attempts, d.last_error, {EVENT_COLUMNS} FROM event_deliveries d \
             JOIN device_events ev ON ev.id = d.event_id WHERE d.district = $1 AND d.dead = 1 \
             ORDER BY d.id LIMIT {limit}"
        ))
        .bind(district)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeadLetter {
                    id: r.try_get("id")?,
                    app: r.try_get("app")?,
                    attempts: r.try_get("attempts")?,
                    last_error: r.try_get("last_error")?,
                    event: event_from_row(r)?,
                })
            })
            .collect()
    }

    /// Give dead letters of a district (one, or all) a fresh set of
    /// attempts, due at `now`; how many were revived.
    pub async fn retry_dead_letters(
        &self,
        district: &str,
        id: Option<i64>,
        now: i64,
    ) -> Result<u64, StoreError> {
        let mut sql = "UPDATE event_deliveries SET dead = 0, attempts = 0, next_at = $1, \
                       claimed_until = 0 WHERE district = $2 AND dead = 1"
            .to_owned();
        if id.is_some() {
            sql.push_str(" AND id = $3");
        }
        let mut q = sqlx::query(&sql).bind(now).bind(district);
        if let Some(id) = id {
            q = q.bind(id);
        }
        Ok(q.execute(&mut *self.writer().await?).await?.rows_affected())
    }
}
