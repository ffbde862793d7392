//! Notifications: sends (one per idempotency key), their deliveries (the
//! outbox and the inbox), the districts' gateway settings and the per-install
//! rate counters.
//!
//! The claim of due deliveries is the one query that differs by back end:
//! PostgreSQL locks the rows it picks with `FOR UPDATE SKIP LOCKED`, so
//! several processes claiming at once each take different rows without
//! waiting on one another; SQLite runs one writer at a time, so the same
//! `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING …` is atomic as it is.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use crate::kernel::outbox::store::{DELIVERED, PENDING};
use crate::kernel::store::{Backend, Page, PageItems, Sql, Store, StoreError, is_unique_violation};

/// A district's gateways and limit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifySettings {
    /// Where SMS go.
    pub sms_url: Option<String>,
    /// Where voice calls go.
    pub voice_url: Option<String>,
    /// Where webhook deliveries go.
    pub webhook_url: Option<String>,
    /// The HMAC key every request is signed with.
    pub secret: Option<String>,
    /// Deliveries each install may write per minute; none for the default.
    pub rate_per_minute: Option<i64>,
}

/// A send as first accepted.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SendRow {
    /// Its id.
    pub id: i64,
    /// What it said, hashed: a repeated key must carry the same message.
    pub fingerprint: String,
    /// Deliveries written.
    pub recipients: i64,
    /// Recipients the channel could not reach.
    pub unreachable: i64,
}

/// A send to write.
#[derive(Clone, Debug)]
pub struct NewSend<'a> {
    /// District.
    pub district: &'a str,
    /// Sending app.
    pub app: &'a str,
    /// The app's idempotency key.
    pub idempotency_key: &'a str,
    /// Hash of the message.
    pub fingerprint: &'a str,
    /// Channel name.
    pub channel: &'a str,
    /// The recipient as the app named it (`resident:r-1`, …).
    pub recipient: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// Body.
    pub body: &'a str,
    /// Only its recipients may read it.
    pub confidential: bool,
    /// Recipients the channel could not reach.
    pub unreachable: i64,
    /// Now, ms.
    pub now: i64,
}

/// One resolved recipient of a send.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NewDelivery {
    /// `resident` or `account`.
    pub kind: &'static str,
    /// The resident or account id.
    pub id: String,
    /// How the channel reaches it: a phone number, or none.
    pub address: Option<String>,
}

/// A delivery claimed for sending.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// Delivery id.
    pub id: i64,
    /// Its send.
    pub send_id: i64,
    /// District.
    pub district: String,
    /// Sending app.
    pub app: String,
    /// Channel name.
    pub channel: String,
    /// `resident` or `account`.
    pub recipient_kind: String,
    /// Resident or account id.
    pub recipient_id: String,
    /// Phone number, for SMS and voice.
    pub address: Option<String>,
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
    /// Failed attempts so far.
    pub attempts: i64,
    /// Times it has been claimed to be sent, this time included (a process
    /// that died mid-send never recorded its try as failed).
    pub tries: i64,
}

/// A delivery as administrators and recipients see it (never its address).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Notification {
    /// Delivery id.
    pub id: i64,
    /// The send it belongs to.
    #[sqlx(rename = "send_id")]
    pub message_id: i64,
    /// District.
    pub district: String,
    /// Sending app.
    pub app: String,
    /// Channel.
    pub channel: String,
    /// `resident` or `account`.
    pub recipient_kind: String,
    /// Resident or account id.
    pub recipient_id: String,
    /// Subject.
    pub subject: String,
    /// Body (empty for staff when confidential).
    pub body: String,
    /// Sent with `send-confidential`: only its recipients read the body.
    #[serde(serialize_with = "as_bool")]
    pub confidential: i64,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Failed attempts.
    pub attempts: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Accepted, ms.
    pub created_at: i64,
    /// Delivered, ms.
    pub delivered_at: Option<i64>,
    /// Read by the recipient (inbox), ms.
    pub read_at: Option<i64>,
}

/// A 0/1 column as `false`/`true`.
fn as_bool<S: serde::Serializer>(value: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_bool(*value != 0)
}

/// A page of notifications, newest first: `{"notifications": [...],
/// "next": …}`, where `next` is passed as `before` for the next page.
pub type NotificationPage = Page<Notification>;

impl PageItems for Notification {
    const FIELD: &'static str = "notifications";
}

/// A resident as a notification reaches them.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ResidentContact {
    /// Resident id.
    pub id: String,
    /// Their community.
    pub community_id: String,
    /// Their phone, if on record.
    pub phone: Option<String>,
}

/// Which residents of a place.
#[derive(Clone, Copy, Debug)]
pub enum Place<'a> {
    /// Living in this grid.
    Grid(&'a str),
    /// Living in this community.
    Community(&'a str),
}

/// A delivery as its recipient reads it (their inbox).
const NOTIFICATION_COLUMNS: &str = "n.id, n.send_id, n.district, n.app, n.channel, \
     n.recipient_kind, n.recipient_id, s.subject, s.body, s.confidential, n.status, n.attempts, \
     n.last_error, n.created_at, n.delivered_at, n.read_at";

/// A delivery as staff see it: a confidential message's body is never
/// shown (`send-confidential`).
const STAFF_NOTIFICATION_COLUMNS: &str = "n.id, n.send_id, n.district, n.app, n.channel, \
     n.recipient_kind, n.recipient_id, s.subject, \
     CASE WHEN s.confidential = 1 THEN '' ELSE s.body END AS body, s.confidential, n.status, \
     n.attempts, n.last_error, n.created_at, n.delivered_at, n.read_at";

/// Deliveries inserted per statement: few enough statements for a large
/// send, few enough parameters for either back end.
const INSERT_CHUNK: usize = 100;

impl Store {
    /// A district's gateway settings (all unset when never configured).
    pub async fn notify_settings(&self, district: &str) -> Result<NotifySettings, StoreError> {
        type SettingsRecord = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            i64,
        );
        let row: Option<SettingsRecord> = sqlx::query_as(
            "SELECT sms_url, voice_url, webhook_url, secret, rate_per_minute \
             FROM notify_settings WHERE district = $1",
        )
        .bind(district)
        .fetch_optional(self.pool())
        .await?;
        let Some((sms_url, voice_url, webhook_url, secret, rate)) = row else {
            return Ok(NotifySettings::default());
        };
        Ok(NotifySettings {
            sms_url,
            voice_url,
            webhook_url,
            secret,
            rate_per_minute: (rate > 0).then_some(rate),
        })
    }

    /// Replace a district's gateway settings.
    pub async fn put_notify_settings(
        &self,
        district: &str,
        settings: &NotifySettings,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO notify_settings (district, sms_url, voice_url, webhook_url, secret, \
             rate_per_minute, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (district) DO UPDATE SET sms_url = excluded.sms_url, \
             voice_url = excluded.voice_url, webhook_url = excluded.webhook_url, \
             secret = excluded.secret, rate_per_minute = excluded.rate_per_minute, \
             updated_at = excluded.updated_at",
        )
        .bind(district)
        .bind(settings.sms_url.as_deref())
        .bind(settings.voice_url.as_deref())
        .bind(settings.webhook_url.as_deref())
        .bind(settings.secret.as_deref())
        .bind(settings.rate_per_minute.unwrap_or(0))
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The send an install made under `key`, if any.
    pub async fn find_send(
        &self,
        district: &str,
        app: &str,
        key: &str,
    ) -> Result<Option<SendRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, fingerprint, recipients, unreachable FROM notify_sends \
             WHERE district = $1 AND app = $2 AND idempotency_key = $3",
        )
        .bind(district)
        .bind(app)
        .bind(key)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Write a send and its deliveries in one transaction: inbox deliveries
    /// delivered, the others pending and due now. If another send under
    /// the same key won the race, nothing is written and that send is
    /// returned as `Err(existing)`.
    pub async fn create_send(
        &self,
        send: NewSend<'_>,
        deliveries: &[NewDelivery],
    ) -> Result<Result<SendRow, SendRow>, StoreError> {
        let recipients = i64::try_from(deliveries.len()).unwrap_or(i64::MAX);
        let mut tx = self.begin().await?;
        let inserted = sqlx::query_scalar(
            "INSERT INTO notify_sends (district, app, idempotency_key, fingerprint, channel, \
             recipient, subject, body, recipients, unreachable, created_at, confidential) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(send.district)
        .bind(send.app)
        .bind(send.idempotency_key)
        .bind(send.fingerprint)
        .bind(send.channel)
        .bind(send.recipient)
        .bind(send.subject)
        .bind(send.body)
        .bind(recipients)
        .bind(send.unreachable)
        .bind(send.now)
        .bind(i64::from(send.confidential))
        .fetch_one(&mut *tx)
        .await;
        let id: i64 = match inserted {
            Ok(id) => id,
            Err(e) if is_unique_violation(&e) => {
                tx.rollback().await?;
                return match self
                    .find_send(send.district, send.app, send.idempotency_key)
                    .await?
                {
                    Some(existing) => Ok(Err(existing)),
                    None => Err(StoreError::Conflict(
                        "the idempotency key was taken and released at once".into(),
                    )),
                };
            }
            Err(e) => return Err(e.into()),
        };
        let inbox = send.channel == "inbox";
        let (status, delivered_at) = if inbox {
            (DELIVERED, Some(send.now))
        } else {
            (PENDING, None)
        };
        for chunk in deliveries.chunks(INSERT_CHUNK) {
            let mut q = Sql::new(
                "INSERT INTO notifications (send_id, district, app, channel, recipient_kind, \
                 recipient_id, address, status, attempts, next_at, claimed_until, created_at, \
                 delivered_at) VALUES ",
            );
            // Every row shares the send's values; only the recipient varies.
            let shared = [
                q.bind(id),
                q.bind(send.district),
                q.bind(send.app),
                q.bind(send.channel),
            ]
            .join(", ");
            let status = q.bind(status);
            let now = q.bind(send.now);
            let delivered_at = q.bind(delivered_at);
            for (i, d) in chunk.iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                let recipient = [
                    q.bind(d.kind),
                    q.bind(d.id.as_str()),
                    q.bind(d.address.as_deref()),
                ]
                .join(", ");
                q.push(&format!(
                    "({shared}, {recipient}, {status}, 0, {now}, 0, {now}, {delivered_at})"
                ));
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Ok(SendRow {
            id,
            fingerprint: send.fingerprint.to_owned(),
            recipients,
            unreachable: send.unreachable,
        }))
    }

    /// Count `cost` deliveries against an install's allowance for `minute`
    /// (minutes since the Unix epoch). Over `limit`, the charge is taken
    /// back and the answer is `false`. Atomic on both back ends, so several
    /// processes share one allowance.
    pub async fn charge_notify_rate(
        &self,
        district: &str,
        app: &str,
        minute: i64,
        cost: i64,
        limit: i64,
    ) -> Result<bool, StoreError> {
        let used: i64 = sqlx::query_scalar(
            "INSERT INTO notify_rate (district, app, minute, used) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (district, app, minute) DO UPDATE SET used = notify_rate.used + excluded.used \
             RETURNING used",
        )
        .bind(district)
        .bind(app)
        .bind(minute)
        .bind(cost)
        .fetch_one(&mut *self.writer().await?)
        .await?;
        if used == cost {
            // The first charge of a minute: forget the install's old minutes.
            sqlx::query("DELETE FROM notify_rate WHERE district = $1 AND app = $2 AND minute < $3")
                .bind(district)
                .bind(app)
                .bind(minute)
                .execute(&mut *self.writer().await?)
                .await?;
        }
        if used <= limit {
            return Ok(true);
        }
        sqlx::query(
            "UPDATE notify_rate SET used = used - $4 WHERE district = $1 AND app = $2 AND minute = $3",
        )
        .bind(district)
        .bind(app)
        .bind(minute)
        .bind(cost)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(false)
    }

    /// Claim up to `limit` due deliveries for `lease_ms`: pending ones whose
    /// time has come and that no live lease holds (a crashed process's
    /// claims come back when their lease runs out).
    pub async fn claim_notifications(
        &self,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<Outgoing>, StoreError> {
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let claimed = sqlx::query(&format!(
            "UPDATE notifications SET claimed_until = $1, tries = tries + 1 WHERE id IN (SELECT id FROM notifications \
             WHERE status = 'pending' AND next_at <= $2 AND claimed_until <= $2 \
             ORDER BY next_at, id LIMIT {limit}{lock}) RETURNING id"
        ))
        .bind(now + lease_ms)
        .bind(now)
        .fetch_all(&mut *self.writer().await?)
        .await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = claimed
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT n.id, n.send_id, n.district, n.app, n.channel, n.recipient_kind, \
             n.recipient_id, n.address, n.attempts, n.tries, s.subject, s.body FROM notifications n \
             JOIN notify_sends s ON s.id = n.send_id WHERE n.id IN ({}) ORDER BY n.id",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for id in &ids {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| {
                Ok(Outgoing {
                    id: row.try_get("id")?,
                    send_id: row.try_get("send_id")?,
                    district: row.try_get("district")?,
                    app: row.try_get("app")?,
                    channel: row.try_get("channel")?,
                    recipient_kind: row.try_get("recipient_kind")?,
                    recipient_id: row.try_get("recipient_id")?,
                    address: row.try_get("address")?,
                    attempts: row.try_get("attempts")?,
                    tries: row.try_get("tries")?,
                    subject: row.try_get("subject")?,
                    body: row.try_get("body")?,
                })
            })
            .collect()
    }

    /// Give a dead letter a fresh set of attempts, due now. `false` if the
    /// district has no failed delivery with this id.
    pub async fn retry_notification(
        &self,
        district: &str,
        id: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE notifications SET status = 'pending', attempts = 0, next_at = $1, \
             claimed_until = 0 WHERE district = $2 AND id = $3 AND status = 'failed'",
        )
        .bind(now)
        .bind(district)
        .bind(id)
        .execute(&mut *self.writer().await?)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    /// One delivery of a district.
    pub async fn get_notification(
        &self,
        district: &str,
        id: i64,
    ) -> Result<Option<Notification>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {STAFF_NOTIFICATION_COLUMNS} FROM notifications n JOIN notify_sends s \
             ON s.id = n.send_id WHERE n.district = $1 AND n.id = $2"
        ))
        .bind(district)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// A district's deliveries, newest first, optionally of one status.
    pub async fn list_notifications(
        &self,
        district: &str,
        status: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<NotificationPage, StoreError> {
        let rows: Vec<Notification> = sqlx::query_as(&format!(
            "SELECT {STAFF_NOTIFICATION_COLUMNS} FROM notifications n JOIN notify_sends s \
             ON s.id = n.send_id WHERE n.district = $1 AND ($2 = '' OR n.status = $2) \
             AND n.id < $3 ORDER BY n.id DESC LIMIT {}",
            u64::from(limit) + 1
        ))
        .bind(district)
        .bind(status.unwrap_or(""))
        .bind(before.unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await?;
        Ok(Page::cut(rows, limit, |n| n.id))
    }

    /// An account's inbox, newest first.
    pub async fn inbox(
        &self,
        account: &str,
        unread_only: bool,
        before: Option<i64>,
        limit: u32,
    ) -> Result<NotificationPage, StoreError> {
        let unread = if unread_only {
            " AND n.read_at IS NULL"
        } else {
            ""
        };
        let rows: Vec<Notification> = sqlx::query_as(&format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications n JOIN notify_sends s \
             ON s.id = n.send_id WHERE n.recipient_id = $1 AND n.channel = 'inbox' \
             AND n.recipient_kind = 'account' AND n.id < $2{unread} ORDER BY n.id DESC LIMIT {}",
            u64::from(limit) + 1
        ))
        .bind(account)
        .bind(before.unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await?;
        Ok(Page::cut(rows, limit, |n| n.id))
    }

    /// Mark an inbox message of `account` read (keeping the first time).
    /// `false` if the account has no such message.
    pub async fn mark_read(&self, account: &str, id: i64, now: i64) -> Result<bool, StoreError> {
        sqlx::query(
            "UPDATE notifications SET read_at = $1 WHERE id = $2 AND recipient_id = $3 \
             AND channel = 'inbox' AND recipient_kind = 'account' AND read_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(account)
        .execute(self.pool())
        .await?;
        let row = sqlx::query(
            "SELECT 1 AS one FROM notifications WHERE id = $1 AND recipient_id = $2 \
             AND channel = 'inbox' AND recipient_kind = 'account'",
        )
        .bind(id)
        .bind(account)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }

    /// How many deliveries of a district are in each status.
    pub async fn notification_counts(
        &self,
        district: &str,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) AS n FROM notifications WHERE district = $1 GROUP BY status",
        )
        .bind(district)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// A resident's community and phone.
    pub async fn resident_contact(
        &self,
        district: &str,
        id: &str,
    ) -> Result<Option<ResidentContact>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, community_id, phone FROM residents WHERE district = $1 AND id = $2",
        )
        .bind(district)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// A resident's community and their family contact's phone (as the
    /// contact's `phone`).
    pub async fn resident_family_contact(
        &self,
        district: &str,
        id: &str,
    ) -> Result<Option<ResidentContact>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, community_id, family_contact_phone AS phone FROM residents \
             WHERE district = $1 AND id = $2",
        )
        .bind(district)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The residents living in a grid or community.
    pub async fn residents_of(
        &self,
        district: &str,
        place: Place<'_>,
    ) -> Result<Vec<ResidentContact>, StoreError> {
        let (column, id) = match place {
            Place::Grid(g) => ("grid_id", g),
            Place::Community(c) => ("community_id", c),
        };
        Ok(sqlx::query_as(&format!(
            "SELECT id, community_id, phone FROM residents WHERE district = $1 AND {column} = $2 \
             ORDER BY id"
        ))
        .bind(district)
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    /// An organisation's community, if it exists.
    pub async fn organisation_community(
        &self,
        district: &str,
        id: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT community_id FROM organisations WHERE district = $1 AND id = $2",
        )
        .bind(district)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The residents who are members of an organisation.
    pub async fn organisation_members(
        &self,
        district: &str,
        id: &str,
    ) -> Result<Vec<ResidentContact>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT r.id, r.community_id, r.phone FROM memberships m JOIN residents r \
             ON r.district = m.district AND r.id = m.resident_id \
             WHERE m.district = $1 AND m.organisation_id = $2 ORDER BY r.id",
        )
        .bind(district)
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Every grid of a district with its community.
    pub async fn grid_communities(
        &self,
        district: &str,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, community_id FROM grids WHERE district = $1")
                .bind(district)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().collect())
    }

    /// Whether a community exists in a district.
    pub async fn community_exists(&self, district: &str, id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 AS one FROM communities WHERE district = $1 AND id = $2")
            .bind(district)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    /// The enabled resident accounts linked to each of these residents.
    pub async fn resident_accounts(
        &self,
        district: &str,
    ) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, resident_id FROM accounts WHERE district = $1 AND role = 'resident' \
             AND disabled_at IS NULL AND resident_id IS NOT NULL ORDER BY id",
        )
        .bind(district)
        .fetch_all(self.pool())
        .await?;
        let mut by_resident: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (account, resident) in rows {
            by_resident.entry(resident).or_default().push(account);
        }
        Ok(by_resident)
    }
}
