//! Notifications: apps send messages to residents, workers, the people of a
//! grid or community, or an organisation's members, on a channel (inbox,
//! SMS, voice, webhook); the host resolves the recipients and their contact
//! details, so an app never sees a phone number.
//!
//! [`Sends::send_notification`] (over the store alone, so an app's host
//! call reaches nothing above it) checks the message, returns the earlier
//! receipt for a used idempotency key, resolves the recipients within the
//! install's district and scope, charges the install's per-minute allowance
//! and writes the send with one delivery per recipient in one transaction:
//! once it returns, the message is durable. Inbox deliveries are written
//! delivered; the others wait in the outbox for
//! [`Platform::deliver_notifications`](crate::platform::Platform::deliver_notifications)
//! (in [`delivery`](crate::notify::delivery)), which a serving host runs
//! every second. It claims due deliveries for a lease, POSTs each to the
//! district's gateway signed with HMAC-SHA256 (see [`sign`]), and records
//! the outcome: a 2xx is delivered; anything else is retried with a
//! doubling pause, and after [`MAX_ATTEMPTS`] set aside as failed, for an
//! administrator to see and retry.
//!
//! The design decision to know: a delivery is claimed by moving its lease
//! in one statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so several
//! host processes deliver each message once; a process that dies
//! mid-delivery leaves its claims to run out, and another process delivers
//! them. Gateways get the delivery id in `X-Hutong-Delivery` to drop the
//! rare repeat that follows such a crash.

use std::collections::{BTreeMap, BTreeSet};

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::accounts::Role;

use crate::error::PlatformError;
pub use crate::kernel::outbox::{FIRST_RETRY_MS, MAX_RETRY_MS, retry_pause_ms};
use crate::kernel::store::{Store, StoreError};
use crate::notify::store::{NewDelivery, NewSend, Place, ResidentContact};

/// Attempts before a delivery is set aside as failed (a dead letter).
pub const MAX_ATTEMPTS: i64 = 6;

/// Deliveries an install may write per minute unless its district says
/// otherwise.
pub const DEFAULT_RATE_PER_MINUTE: i64 = 600;

/// The highest per-minute allowance a district may set.
pub const MAX_RATE_PER_MINUTE: i64 = 1_000_000;

/// The most recipients one send may resolve to: a larger audience is
/// almost certainly a mistake, and would hold the outbox for minutes.
pub const MAX_RECIPIENTS: usize = 5_000;

/// Longest subject, in bytes.
pub const MAX_SUBJECT: usize = 200;

/// Longest body, in bytes.
pub const MAX_BODY: usize = 2_000;

/// Longest idempotency key, in bytes.
pub const MAX_KEY: usize = 128;

/// How a message travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[derive(strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Channel {
    /// The recipient's inbox in the host.
    Inbox,
    /// A text message through the district's SMS gateway.
    Sms,
    /// A voice call through the district's voice gateway.
    Voice,
    /// A POST to the district's webhook.
    Webhook,
}

impl Channel {
    /// The channel's name, as stored and sent.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// Whom of a place a message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// The grid workers serving it.
    Workers,
    /// The residents living in it.
    Residents,
}

/// Who a message is for, as the app names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// A resident, by resident id.
    Resident(String),
    /// A worker, by account id.
    Worker(String),
    /// Everyone of an audience in a grid.
    RoleInGrid(Audience, String),
    /// Everyone of an audience in a community.
    RoleInCommunity(Audience, String),
    /// An organisation's members.
    OrganisationMembers(String),
    /// The family contact of a resident, by resident id.
    FamilyContact(String),
}

impl Recipient {
    /// A short description, stored with the send and used in messages.
    pub fn describe(&self) -> String {
        let audience = |a: &Audience| match a {
            Audience::Workers => "workers",
            Audience::Residents => "residents",
        };
        match self {
            Recipient::Resident(id) => format!("resident:{id}"),
            Recipient::Worker(id) => format!("worker:{id}"),
            Recipient::RoleInGrid(a, id) => format!("{}-of-grid:{id}", audience(a)),
            Recipient::RoleInCommunity(a, id) => format!("{}-of-community:{id}", audience(a)),
            Recipient::OrganisationMembers(id) => format!("members-of-organisation:{id}"),
            Recipient::FamilyContact(id) => format!("family-of-resident:{id}"),
        }
    }

    fn id(&self) -> &str {
        match self {
            Recipient::Resident(id)
            | Recipient::Worker(id)
            | Recipient::RoleInGrid(_, id)
            | Recipient::RoleInCommunity(_, id)
            | Recipient::OrganisationMembers(id)
            | Recipient::FamilyContact(id) => id,
        }
    }
}

/// A message to send.
#[derive(Clone, Debug)]
pub struct Message {
    /// Whom.
    pub recipient: Recipient,
    /// How.
    pub channel: Channel,
    /// Subject, 1 to [`MAX_SUBJECT`] bytes.
    pub subject: String,
    /// Body, 1 to [`MAX_BODY`] bytes.
    pub body: String,
    /// The app's key for this message.
    pub idempotency_key: String,
    /// Only its recipients may read it (`send-confidential`): no staff
    /// view shows the body, and the host erases it once delivered outside
    /// the inbox.
    pub confidential: bool,
}

/// Who sends: an install.
#[derive(Clone, Copy, Debug)]
pub struct Sender<'a> {
    /// Its district.
    pub district: &'a str,
    /// The app.
    pub app: &'a str,
    /// The communities it is narrowed to; none for the whole district.
    pub scope: Option<&'a [String]>,
}

/// What a send wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The send's id.
    pub message_id: i64,
    /// Deliveries written.
    pub recipients: u32,
    /// Recipients the channel could not reach.
    pub unreachable: u32,
    /// Whether this is an earlier send's receipt (same key).
    pub replayed: bool,
    /// The records reached (`resident:<id>`, `account:<id>`,
    /// `family:<resident-id>`), for the access log; empty for a replay.
    pub reached: Vec<String>,
}

/// A district's gateway settings as shown: never the secret, only whether
/// one is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GatewaySettings {
    /// Where SMS go.
    pub sms_url: Option<String>,
    /// Where voice calls go.
    pub voice_url: Option<String>,
    /// Where webhook deliveries go.
    pub webhook_url: Option<String>,
    /// Whether a signing secret is set.
    pub secret_set: bool,
    /// Deliveries each install may write per minute.
    pub rate_per_minute: i64,
}

/// New gateway settings. URLs and the rate replace the old ones (absent
/// clears a URL, or restores the default rate); an absent secret keeps the
/// old one.
#[derive(Clone, Debug, Default)]
pub struct GatewayUpdate {
    /// SMS gateway URL (`http://…` or `https://…`).
    pub sms_url: Option<String>,
    /// Voice gateway URL.
    pub voice_url: Option<String>,
    /// Webhook URL.
    pub webhook_url: Option<String>,
    /// New signing secret.
    pub secret: Option<String>,
    /// Per-install allowance per minute.
    pub rate_per_minute: Option<i64>,
}

/// What one delivery run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NotifyReport {
    /// Deliveries the gateways accepted.
    pub delivered: u64,
    /// Failed attempts that will be retried.
    pub retrying: u64,
    /// Deliveries given up on after their last attempt.
    pub failed: u64,
}

type HmacSha256 = Hmac<Sha256>;

/// The `X-Hutong-Signature` of a request: `sha256=` and the hex
/// HMAC-SHA256, keyed with the district's secret, of `"<timestamp>.<body>"`
/// (the `X-Hutong-Timestamp` header, in seconds since the Unix epoch, a dot,
/// and the raw body). A receiver recomputes it and compares, and refuses
/// old timestamps to stop replays.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn check_text(what: &str, text: &str, max: usize) -> Result<(), PlatformError> {
    if text.trim().is_empty() || text.len() > max {
        return Err(PlatformError::Invalid(format!(
            "the {what} must be 1 to {max} bytes and not blank; it is {} bytes",
            text.len()
        )));
    }
    Ok(())
}

fn check_key(key: &str) -> Result<(), PlatformError> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(PlatformError::Invalid(format!(
            "idempotency key `{}` is invalid: use 1 to {MAX_KEY} characters of A-Z, a-z, 0-9, '-', '_', '.' and ':'",
            key.chars().take(40).collect::<String>()
        )))
    }
}

fn check_recipient_id(recipient: &Recipient) -> Result<(), PlatformError> {
    let id = recipient.id();
    match crate::kernel::ids::record_id_problem("recipient id", id) {
        Some(problem) => Err(PlatformError::Invalid(problem)),
        None => Ok(()),
    }
}

fn fingerprint(message: &Message) -> String {
    let mut hash = Sha256::new();
    for part in [
        message.channel.name(),
        &message.recipient.describe(),
        &message.subject,
        &message.body,
    ] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    // Only when set, so that sends made before there were confidential
    // ones keep their fingerprints.
    if message.confidential {
        hash.update(b"confidential");
    }
    hex::encode(hash.finalize())
}

/// The recipients of a send, before the channel picks their addresses.
#[derive(Default)]
struct People {
    residents: Vec<ResidentContact>,
    workers: Vec<crate::accounts::store::Account>,
    /// Residents whose family contact is meant, with the contact's phone.
    families: Vec<ResidentContact>,
}

/// The sender the host's own messages go out under. Not an app's name
/// (those are slugs), so no app's sends or keys mix with the host's.
pub const HOST_SENDER: &str = "hutong:host";

/// Longest body of an alert; longer text (an app's failure, say) is cut.
const MAX_ALERT_BODY: usize = 2_000;

/// Accepting an install's sends, over the store alone.
#[derive(Clone, Copy)]
pub struct Sends<'a> {
    store: &'a Store,
}

impl<'a> Sends<'a> {
    /// Sends written to `store`.
    pub fn new(store: &'a Store) -> Self {
        Sends { store }
    }

    /// Accept a message from an install: see the module docs. Durable once
    /// it returns. Refusals: `Invalid` (the message), `NotFound` (a
    /// recipient outside the district or scope), `TooMany` (the install's
    /// allowance for this minute is used up).
    pub async fn send_notification(
        &self,
        sender: Sender<'_>,
        message: Message,
    ) -> Result<Receipt, PlatformError> {
        check_text("subject", &message.subject, MAX_SUBJECT)?;
        check_text("body", &message.body, MAX_BODY)?;
        check_key(&message.idempotency_key)?;
        check_recipient_id(&message.recipient)?;
        let fingerprint = fingerprint(&message);
        let replay = |existing: crate::notify::store::SendRow| {
            if existing.fingerprint != fingerprint {
                return Err(PlatformError::Invalid(format!(
                    "idempotency key `{}` was already used for another message; use a new key for a new message",
                    message.idempotency_key
                )));
            }
            Ok(Receipt {
                message_id: existing.id,
                recipients: u32::try_from(existing.recipients).unwrap_or(u32::MAX),
                unreachable: u32::try_from(existing.unreachable).unwrap_or(u32::MAX),
                replayed: true,
                reached: Vec::new(),
            })
        };
        if let Some(existing) = self
            .store
            .find_send(sender.district, sender.app, &message.idempotency_key)
            .await?
        {
            return replay(existing);
        }

        let people = self.resolve(sender, &message.recipient).await?;
        let (deliveries, unreachable) = self
            .addresses(sender.district, people, message.channel)
            .await?;
        let cost = i64::try_from(deliveries.len()).unwrap_or(i64::MAX).max(1);
        let settings = self.store.notify_settings(sender.district).await?;
        let limit = settings.rate_per_minute.unwrap_or(DEFAULT_RATE_PER_MINUTE);
        let now = self.store.clock().now_ms();
        let minute = now.div_euclid(60_000);
        if !self
            .store
            .charge_notify_rate(sender.district, sender.app, minute, cost, limit)
            .await?
        {
            return Err(PlatformError::TooMany(format!(
                "app `{}` may send {limit} notification deliveries per minute in district `{}`, \
                 and this minute's allowance does not cover this send's {cost}; other apps are not \
                 affected; try again in the next minute",
                sender.app, sender.district
            )));
        }
        let recipient = message.recipient.describe();
        // A confidential message that no one outside the inbox will
        // receive is kept without its body from the start: there is no
        // delivery whose completion would erase it.
        let erased = message.confidential
            && !matches!(message.channel, Channel::Inbox)
            && deliveries.is_empty();
        let written = self
            .store
            .create_send(
                NewSend {
                    district: sender.district,
                    app: sender.app,
                    idempotency_key: &message.idempotency_key,
                    fingerprint: &fingerprint,
                    channel: message.channel.name(),
                    recipient: &recipient,
                    subject: &message.subject,
                    body: if erased { "" } else { &message.body },
                    confidential: message.confidential,
                    unreachable: i64::from(unreachable),
                    now,
                },
                &deliveries,
            )
            .await?;
        match written {
            Ok(send) => Ok(Receipt {
                message_id: send.id,
                recipients: u32::try_from(deliveries.len()).unwrap_or(u32::MAX),
                unreachable,
                replayed: false,
                reached: deliveries
                    .iter()
                    .map(|d| format!("{}:{}", d.kind, d.id))
                    .collect(),
            }),
            Err(existing) => replay(existing),
        }
    }

    /// Put a message from the host in the inbox of every enabled
    /// administrator of `district`, once per `key`: a repeat, from this or
    /// another host process, writes nothing. How many inboxes it reached
    /// (none for a repeat, or for a district without administrators).
    pub async fn alert_administrators(
        &self,
        district: &str,
        key: &str,
        subject: &str,
        body: &str,
    ) -> Result<u32, StoreError> {
        if self
            .store
            .find_send(district, HOST_SENDER, key)
            .await?
            .is_some()
        {
            return Ok(0);
        }
        let administrators: Vec<NewDelivery> = self
            .store
            .list_accounts(Some(district))
            .await?
            .into_iter()
            .filter(|a| a.role == Role::DistrictAdmin && a.disabled_at.is_none())
            .map(|a| NewDelivery {
                kind: "account",
                id: a.id,
                address: None,
            })
            .collect();
        if administrators.is_empty() {
            return Ok(0);
        }
        let body = match body.char_indices().nth(MAX_ALERT_BODY) {
            Some((cut, _)) => format!("{}…", &body[..cut]),
            None => body.to_owned(),
        };
        let written = self
            .store
            .create_send(
                NewSend {
                    district,
                    app: HOST_SENDER,
                    idempotency_key: key,
                    fingerprint: "",
                    channel: Channel::Inbox.name(),
                    recipient: "role:district-admin",
                    subject,
                    body: &body,
                    confidential: false,
                    unreachable: 0,
                    now: self.store.clock().now_ms(),
                },
                &administrators,
            )
            .await?;
        Ok(match written {
            Ok(_) => u32::try_from(administrators.len()).unwrap_or(u32::MAX),
            Err(_earlier) => 0,
        })
    }

    /// The people a recipient names, within the sender's district and scope.
    async fn resolve(
        &self,
        sender: Sender<'_>,
        recipient: &Recipient,
    ) -> Result<People, PlatformError> {
        let district = sender.district;
        let in_scope = |community: &str| {
            sender
                .scope
                .is_none_or(|s| s.iter().any(|c| c == community))
        };
        let not_found = || PlatformError::NotFound(format!("recipient {}", recipient.describe()));
        let mut people = People::default();
        match recipient {
            Recipient::Resident(id) => {
                let contact = self.store.resident_contact(district, id).await?;
                match contact {
                    Some(c) if in_scope(&c.community_id) => people.residents.push(c),
                    _ => return Err(not_found()),
                }
            }
            Recipient::Worker(id) => {
                let account = match self.store.get_account(id).await {
                    Ok(a) => a,
                    Err(StoreError::NotFound(_)) => return Err(not_found()),
                    Err(e) => return Err(e.into()),
                };
                let ours = account.role == Role::Worker
                    && account.district.as_deref() == Some(district)
                    && account.disabled_at.is_none();
                if !ours {
                    return Err(not_found());
                }
                if sender.scope.is_some() {
                    let grids = self.store.grid_communities(district).await?;
                    let serves_scope = account
                        .grids
                        .iter()
                        .any(|g| grids.get(g).is_some_and(|c| in_scope(c)));
                    if !serves_scope {
                        return Err(not_found());
                    }
                }
                people.workers.push(account);
            }
            Recipient::RoleInGrid(audience, grid) => {
                let location = self.store.locate_grid(district, grid).await?;
                let community = location.and_then(|l| l.community_id);
                if !community.as_deref().is_some_and(in_scope) {
                    return Err(not_found());
                }
                match audience {
                    Audience::Workers => {
                        people.workers = self.workers(district).await?;
                        people.workers.retain(|a| a.grids.iter().any(|g| g == grid));
                    }
                    Audience::Residents => {
                        people.residents =
                            self.store.residents_of(district, Place::Grid(grid)).await?;
                    }
                }
            }
            Recipient::RoleInCommunity(audience, community) => {
                if !in_scope(community) || !self.store.community_exists(district, community).await?
                {
                    return Err(not_found());
                }
                match audience {
                    Audience::Workers => {
                        let grids = self.store.grid_communities(district).await?;
                        people.workers = self.workers(district).await?;
                        people.workers.retain(|a| {
                            a.grids
                                .iter()
                                .any(|g| grids.get(g).is_some_and(|c| c == community))
                        });
                    }
                    Audience::Residents => {
                        people.residents = self
                            .store
                            .residents_of(district, Place::Community(community))
                            .await?;
                    }
                }
            }
            Recipient::FamilyContact(id) => {
                let contact = self.store.resident_family_contact(district, id).await?;
                match contact {
                    Some(c) if in_scope(&c.community_id) => people.families.push(c),
                    _ => return Err(not_found()),
                }
            }
            Recipient::OrganisationMembers(organisation) => {
                let community = self
                    .store
                    .organisation_community(district, organisation)
                    .await?;
                if !community.as_deref().is_some_and(in_scope) {
                    return Err(not_found());
                }
                // Members living outside the install's scope stay outside it.
                people.residents = self
                    .store
                    .organisation_members(district, organisation)
                    .await?
                    .into_iter()
                    .filter(|m| in_scope(&m.community_id))
                    .collect();
            }
        }
        let count = people.residents.len() + people.workers.len() + people.families.len();
        if count > MAX_RECIPIENTS {
            return Err(PlatformError::Invalid(format!(
                "{} names {count} recipients; one send may reach at most {MAX_RECIPIENTS}: \
                 send to smaller groups (a grid instead of a community)",
                recipient.describe()
            )));
        }
        Ok(people)
    }

    /// The district's enabled worker accounts.
    async fn workers(
        &self,
        district: &str,
    ) -> Result<Vec<crate::accounts::store::Account>, StoreError> {
        let mut all = self.store.list_accounts(Some(district)).await?;
        all.retain(|a| a.role == Role::Worker && a.disabled_at.is_none());
        Ok(all)
    }

    /// How the channel reaches each person: one delivery each (an inbox
    /// message to each account of a resident), and a count of those it
    /// cannot reach.
    async fn addresses(
        &self,
        district: &str,
        people: People,
        channel: Channel,
    ) -> Result<(Vec<NewDelivery>, u32), PlatformError> {
        let mut deliveries = BTreeSet::new();
        let mut unreachable = 0_u32;
        let accounts = if channel == Channel::Inbox && !people.residents.is_empty() {
            self.store.resident_accounts(district).await?
        } else {
            BTreeMap::new()
        };
        let phone = |p: Option<String>| p.filter(|p| !p.trim().is_empty());
        for resident in people.residents {
            match channel {
                Channel::Inbox => match accounts.get(&resident.id) {
                    Some(ids) => deliveries.extend(ids.iter().map(|id| NewDelivery {
                        kind: "account",
                        id: id.clone(),
                        address: None,
                    })),
                    None => unreachable += 1,
                },
                Channel::Sms | Channel::Voice => match phone(resident.phone) {
                    Some(p) => {
                        deliveries.insert(NewDelivery {
                            kind: "resident",
                            id: resident.id,
                            address: Some(p),
                        });
                    }
                    None => unreachable += 1,
                },
                Channel::Webhook => {
                    deliveries.insert(NewDelivery {
                        kind: "resident",
                        id: resident.id,
                        address: None,
                    });
                }
            }
        }
        for family in people.families {
            // A family contact has a phone and no account: the inbox cannot
            // reach them; a webhook names them by their resident.
            let address = match channel {
                Channel::Sms | Channel::Voice => match phone(family.phone) {
                    Some(p) => Some(p),
                    None => {
                        unreachable += 1;
                        continue;
                    }
                },
                Channel::Inbox => {
                    unreachable += 1;
                    continue;
                }
                Channel::Webhook => None,
            };
            deliveries.insert(NewDelivery {
                kind: "family",
                id: family.id,
                address,
            });
        }
        for worker in people.workers {
            let address = match channel {
                Channel::Sms | Channel::Voice => match phone(worker.phone) {
                    Some(p) => Some(p),
                    None => {
                        unreachable += 1;
                        continue;
                    }
                },
                Channel::Inbox | Channel::Webhook => None,
            };
            deliveries.insert(NewDelivery {
                kind: "account",
                id: worker.id,
                address,
            });
        }
        Ok((deliveries.into_iter().collect(), unreachable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // What a receiver computes: HMAC-SHA256 of "<timestamp>.<body>";
        // another timestamp or key must not match.
        let mut mac = HmacSha256::new_from_slice(b"Jefe").unwrap_or_else(|_| unreachable!());
        mac.update(b"1700000000.{}");
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(sign(b"Jefe", 1_700_000_000, b"{}"), expected);
        assert_ne!(sign(b"Jefe", 1_700_000_001, b"{}"), expected);
        assert_ne!(sign(b"Jeff", 1_700_000_000, b"{}"), expected);
    }

    #[test]
    fn keys_are_checked() {
        assert!(check_key("alert-42:2026.01_x").is_ok());
        for bad in ["", "has space", "é", &"k".repeat(MAX_KEY + 1)] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_changed_message_has_another_fingerprint() {
        let m = Message {
            recipient: Recipient::Resident("r-1".into()),
            channel: Channel::Sms,
            subject: "s".into(),
            body: "b".into(),
            idempotency_key: "k".into(),
            confidential: false,
        };
        let mut other = m.clone();
        other.body = "c".into();
        assert_ne!(fingerprint(&m), fingerprint(&other));
        let mut confidential = m.clone();
        confidential.confidential = true;
        assert_ne!(fingerprint(&m), fingerprint(&confidential));
        let mut same = m.clone();
        same.idempotency_key = "k2".into();
        assert_eq!(fingerprint(&m), fingerprint(&same));
    }
}
