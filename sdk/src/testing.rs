//! A host for `cargo test`: outside WebAssembly (an app's unit tests run
//! natively), the SDK's calls go to this in-memory host instead of
//! aborting.
//!
//! Each test thread has its own host, empty at the start, so tests do not
//! see each other's data (cargo runs each test on a thread of its own).
//!
//! - **kv** behaves as the real host's, with its limits on keys, values and
//!   pages (and without quotas);
//! - **notify** records each message (see [`sent`]); a repeated idempotency
//!   key is `replayed` and not recorded again; every recipient counts as
//!   reached;
//! - **config** returns what [`set_config`] gave (`{}` by default);
//! - **log** records each line (see [`logs`]);
//! - any interface can be refused with [`deny`], to test the app's answer to
//!   a permission the district did not grant;
//! - **data** serves the residents, households and buildings a test adds
//!   ([`add_resident`], from [`resident`]; [`add_household`],
//!   [`add_building`]), with the host's filters and pages; organisations
//!   and workers' grids are `Error::Unavailable`, naming what is missing;
//! - **cases** keeps the cases the app opens ([`cases_opened`]) with their
//!   history; [`change_case`] moves one on as a worker would and tells the
//!   app's [`App::on_case_changed`];
//! - **events**: [`event`] makes a device event and [`deliver_event`] hands
//!   it to [`App::on_event`];
//! - **the clock**: [`crate::time::now_ms`] reads the test host's time once
//!   [`set_now_ms`] or [`advance_ms`] set it;
//!
//! ```
//! use hutong_sdk::{kv, testing};
//!
//! kv::set("visits/zhang", b"1").unwrap();
//! assert_eq!(testing::kv_value("visits/zhang").as_deref(), Some(&b"1"[..]));
//! testing::deny("kv");
//! assert!(matches!(kv::get("visits/zhang"), Err(hutong_sdk::Error::Denied { .. })));
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use crate::bindings::hutong::platform::case_types::{CaseChange, CaseState};
use crate::bindings::hutong::platform::cases::{CaseEvent, CaseInfo};
use crate::bindings::hutong::platform::data::{Building, FieldClass, Household, Resident};
use crate::bindings::hutong::platform::log::Level;
use crate::bindings::hutong::platform::notify::Message;
use crate::bindings::hutong::platform::types::Error as WitError;
use crate::time::Datelike;
use crate::{App, DeviceEvent, Error};

#[derive(Default)]
struct Host {
    kv: BTreeMap<String, Vec<u8>>,
    config: Option<String>,
    sent: Vec<Message>,
    keys_sent: BTreeSet<String>,
    logs: Vec<LogLine>,
    denied: BTreeSet<String>,
    residents: BTreeMap<String, Resident>,
    households: BTreeMap<String, Household>,
    buildings: BTreeMap<String, Building>,
    cases: Vec<(CaseInfo, Vec<CaseEvent>)>,
    now_ms: Option<i64>,
}

thread_local! {
    static HOST: RefCell<Host> = RefCell::new(Host::default());
}

fn with<T>(f: impl FnOnce(&mut Host) -> T) -> T {
    HOST.with(|host| f(&mut host.borrow_mut()))
}

/// A log line the app wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    /// Its level.
    pub level: Level,
    /// Its message.
    pub message: String,
    /// Its fields, in order.
    pub fields: Vec<(String, String)>,
}

/// Start this thread's host afresh: no kv, no messages, no logs, no
/// configuration, nothing denied.
pub fn reset() {
    with(|host| *host = Host::default());
}

/// The install's configuration as [`crate::config`] reads it: a JSON object.
pub fn set_config(json: &str) {
    with(|host| host.config = Some(json.to_owned()));
}

/// Refuse every call to `interface` (`kv`, `notify`, …) as the host does a
/// permission that was not granted: `Error::Denied`.
pub fn deny(interface: &str) {
    with(|host| host.denied.insert(interface.to_owned()));
}

/// The value stored under `key`, read past the app (no permission needed).
pub fn kv_value(key: &str) -> Option<Vec<u8>> {
    with(|host| host.kv.get(key).cloned())
}

/// Every key and value stored, in key order.
pub fn kv_entries() -> Vec<(String, Vec<u8>)> {
    with(|host| {
        host.kv
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

/// Every message sent, in order (a replay is not sent again).
pub fn sent() -> Vec<Message> {
    with(|host| host.sent.clone())
}

/// Every log line written, in order.
pub fn logs() -> Vec<LogLine> {
    with(|host| host.logs.clone())
}

/// Add (or replace) a resident that `data` then serves. [`resident`]
/// makes one to start from.
pub fn add_resident(resident: Resident) {
    with(|host| host.residents.insert(resident.id.clone(), resident));
}

/// A resident of `grid_id` (in community `c-test`) with its personal
/// fields masked, as an install without `read-personal-fields` sees one:
/// change the fields a test needs.
pub fn resident(id: &str, grid_id: &str) -> Resident {
    Resident {
        id: id.to_owned(),
        household_id: None,
        building_id: None,
        grid_id: grid_id.to_owned(),
        community_id: "c-test".to_owned(),
        tags: Vec::new(),
        name: "张*".to_owned(),
        phone: Some("138****0000".to_owned()),
        id_number: None,
        birth_year: None,
        birth_date: None,
        address: None,
        family_contact_name: None,
        family_contact_phone: None,
        field_class: FieldClass::Masked,
    }
}

/// Add (or replace) a household that `data` then serves.
pub fn add_household(household: Household) {
    with(|host| host.households.insert(household.id.clone(), household));
}

/// Add (or replace) a building that `data` then serves.
pub fn add_building(building: Building) {
    with(|host| host.buildings.insert(building.id.clone(), building));
}

/// Every case the app opened, oldest first, as it is now.
pub fn cases_opened() -> Vec<CaseInfo> {
    with(|host| host.cases.iter().map(|(c, _)| c.clone()).collect())
}

/// Move the app's case `id` to `to`, as a worker would (the actor is
/// `account:test-worker`), and tell the app through
/// [`App::on_case_changed`], as the host does; the change, and what the
/// app answered. An unknown case panics: a test names a case it opened.
pub fn change_case<A: App>(
    id: &str,
    to: CaseState,
    note: Option<&str>,
) -> (CaseChange, Result<(), Error>) {
    let now = crate::time::now_ms().max(0) as u64;
    let change = with(|host| {
        let (case, history) = host
            .cases
            .iter_mut()
            .find(|(c, _)| c.id == id)
            .unwrap_or_else(|| panic!("the app opened no case `{id}` in this test"));
        let from = case.state;
        case.state = to;
        case.updated_at_ms = now;
        if to == CaseState::Closed {
            case.closed_at_ms = Some(now);
        }
        history.push(CaseEvent {
            at_ms: now,
            actor: "account:test-worker".to_owned(),
            action: action_into(to).to_owned(),
            from_state: from,
            to_state: to,
            from_tier: case.tier,
            to_tier: case.tier,
            note: note.map(str::to_owned),
        });
        CaseChange {
            case_id: id.to_owned(),
            from_state: from,
            to_state: to,
            actor: "account:test-worker".to_owned(),
            note: note.map(str::to_owned),
            at_ms: now,
        }
    });
    let answer = A::on_case_changed(change.clone());
    (change, answer)
}

/// The lifecycle action that leads into `state`, as the host records it.
fn action_into(state: CaseState) -> &'static str {
    match state {
        CaseState::Reported => "reopen",
        CaseState::Rejected => "reject",
        CaseState::Accepted => "accept",
        CaseState::Dispatched => "dispatch",
        CaseState::InProgress => "start",
        CaseState::Handled => "handle",
        CaseState::Verified => "verify",
        CaseState::Closed => "close",
    }
}

/// A device event of `event_type` from `device_id`, with `payload` (JSON
/// text), at the test host's time; change the fields a test needs (the
/// household or resident the device is linked to).
pub fn event(device_id: &str, event_type: &str, payload: &str) -> DeviceEvent {
    DeviceEvent {
        event_id: format!("ev-{}", crate::time::now_ms()),
        device_id: device_id.to_owned(),
        device_kind: "door-sensor".to_owned(),
        event_type: event_type.to_owned(),
        occurred_at_ms: crate::time::now_ms().max(0) as u64,
        payload: payload.to_owned(),
        household_id: None,
        resident_id: None,
    }
}

/// Hand `event` to the app as the host does ([`App::on_event`]); what the
/// app answered.
pub fn deliver_event<A: App>(event: DeviceEvent) -> Result<(), Error> {
    A::on_event(event)
}

/// Stop the test host's clock at `ms` since the Unix epoch:
/// [`crate::time::now_ms`] returns it until it is set or advanced again.
pub fn set_now_ms(ms: i64) {
    with(|host| host.now_ms = Some(ms));
}

/// Move the test host's clock on by `ms` (from the real time if it was not
/// set).
pub fn advance_ms(ms: i64) {
    let now = crate::time::now_ms();
    with(|host| host.now_ms = Some(now + ms));
}

/// The test host's time, if a test set it.
pub(crate) fn now_ms() -> Option<i64> {
    with(|host| host.now_ms)
}

fn allowed(interface: &str) -> Result<(), WitError> {
    match with(|host| host.denied.contains(interface)) {
        true => Err(WitError::Denied(interface.to_owned())),
        false => Ok(()),
    }
}

fn not_yet(what: &str) -> WitError {
    WitError::Unavailable(format!(
        "the SDK's test host does not provide {what} yet; test this part of the app against a real host"
    ))
}

/// The real host's kv limits.
const MAX_KEY_BYTES: usize = 512;
const MAX_VALUE_BYTES: usize = 1 << 20;
const MAX_PAGE: u32 = 1000;

fn check_key(key: &str) -> Result<(), WitError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(WitError::InvalidArgument(format!(
            "a key is 1 to {MAX_KEY_BYTES} bytes; this one is {}",
            key.len()
        )));
    }
    Ok(())
}

fn check_value(value: &[u8]) -> Result<(), WitError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(WitError::InvalidArgument(format!(
            "a value is at most {MAX_VALUE_BYTES} bytes; this one is {}",
            value.len()
        )));
    }
    Ok(())
}

fn check_limit(limit: u32) -> Result<(), WitError> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(WitError::InvalidArgument(format!(
            "a page is 1 to {MAX_PAGE}; asked for {limit}"
        )));
    }
    Ok(())
}

/// `hutong:platform/kv` in memory.
pub(crate) mod kv {
    use super::*;
    use crate::bindings::hutong::platform::kv::{EntryPage, KeyPage, Op};

    pub(crate) fn get(key: &str) -> Result<Option<Vec<u8>>, WitError> {
        allowed("kv")?;
        check_key(key)?;
        Ok(with(|host| host.kv.get(key).cloned()))
    }

    pub(crate) fn set(key: &str, value: &[u8]) -> Result<(), WitError> {
        allowed("kv")?;
        check_key(key)?;
        check_value(value)?;
        with(|host| host.kv.insert(key.to_owned(), value.to_vec()));
        Ok(())
    }

    pub(crate) fn delete(key: &str) -> Result<bool, WitError> {
        allowed("kv")?;
        check_key(key)?;
        Ok(with(|host| host.kv.remove(key).is_some()))
    }

    pub(crate) fn insert_if_absent(key: &str, value: &[u8]) -> Result<bool, WitError> {
        allowed("kv")?;
        check_key(key)?;
        check_value(value)?;
        Ok(with(|host| {
            if host.kv.contains_key(key) {
                return false;
            }
            host.kv.insert(key.to_owned(), value.to_vec());
            true
        }))
    }

    /// All or nothing: the index of the first operation whose condition
    /// fails, or `None` when all were applied.
    pub(crate) fn commit(ops: &[Op]) -> Result<Option<u32>, WitError> {
        allowed("kv")?;
        if ops.is_empty() || ops.len() > 1000 {
            return Err(WitError::InvalidArgument(format!(
                "a commit holds 1 to 1000 operations; this one holds {}",
                ops.len()
            )));
        }
        let mut touched = std::collections::HashSet::new();
        for (index, op) in ops.iter().enumerate() {
            let key = match op {
                Op::Insert(e) | Op::Set(e) => &e.key,
                Op::Swap(s) => &s.key,
                Op::Remove(key) | Op::Require(key) => key,
            };
            if !touched.insert(key) {
                return Err(WitError::InvalidArgument(format!(
                    "operation {index} touches key {key:?} again; a commit may touch each key once"
                )));
            }
        }
        with(|host| {
            let mut next = host.kv.clone();
            for (index, op) in ops.iter().enumerate() {
                let holds = match op {
                    Op::Insert(e) => next.insert(e.key.clone(), e.value.clone()).is_none(),
                    Op::Set(e) => {
                        next.insert(e.key.clone(), e.value.clone());
                        true
                    }
                    Op::Swap(s) => match next.get(&s.key) {
                        Some(current) if *current == s.expected => {
                            next.insert(s.key.clone(), s.value.clone());
                            true
                        }
                        _ => false,
                    },
                    Op::Remove(key) => next.remove(key).is_some(),
                    Op::Require(key) => next.contains_key(key),
                };
                if !holds {
                    return Ok(Some(index as u32));
                }
            }
            host.kv = next;
            Ok(None)
        })
    }

    fn page(prefix: &str, cursor: Option<&str>, limit: u32) -> Vec<(String, Vec<u8>)> {
        with(|host| {
            host.kv
                .iter()
                .filter(|(k, _)| k.starts_with(prefix) && cursor.is_none_or(|c| k.as_str() > c))
                .take(limit as usize + 1)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
    }

    fn cut(
        mut rows: Vec<(String, Vec<u8>)>,
        limit: u32,
    ) -> (Vec<(String, Vec<u8>)>, Option<String>) {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = more.then(|| rows.last().map(|(k, _)| k.clone())).flatten();
        (rows, next)
    }

    pub(crate) fn list_keys(
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, WitError> {
        allowed("kv")?;
        check_limit(limit)?;
        let (rows, next_cursor) = cut(page(prefix, cursor, limit), limit);
        Ok(KeyPage {
            keys: rows.into_iter().map(|(k, _)| k).collect(),
            next_cursor,
        })
    }

    pub(crate) fn list_entries(
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<EntryPage, WitError> {
        allowed("kv")?;
        check_limit(limit)?;
        let (entries, next_cursor) = cut(page(prefix, cursor, limit), limit);
        Ok(EntryPage {
            entries,
            next_cursor,
        })
    }
}

/// `hutong:platform/notify`, recording what is sent.
pub(crate) mod notify {
    use super::*;
    use crate::bindings::hutong::platform::notify::{Channel, Recipient, SendReceipt};

    pub(crate) fn send(message: &Message) -> Result<SendReceipt, WitError> {
        allowed("notify")?;
        if message.idempotency_key.is_empty() || message.idempotency_key.len() > 128 {
            return Err(WitError::InvalidArgument(
                "an idempotency key is 1 to 128 characters".to_owned(),
            ));
        }
        if message.body.is_empty() {
            return Err(WitError::InvalidArgument("the body is empty".to_owned()));
        }
        Ok(with(|host| {
            let replayed = !host.keys_sent.insert(message.idempotency_key.clone());
            if !replayed {
                host.sent.push(message.clone());
            }
            SendReceipt {
                message_id: format!("test-{}", host.keys_sent.len()),
                recipients: 1,
                unreachable: 0,
                replayed,
            }
        }))
    }

    /// Recorded as any send (see [`sent`](super::sent)); the real host
    /// hides and erases its body as `send-confidential` says.
    pub(crate) fn send_confidential(message: &Message) -> Result<SendReceipt, WitError> {
        send(message)
    }

    pub(crate) fn send_to_family_contact(
        resident_id: &str,
        channel: Channel,
        subject: &str,
        body: &str,
        idempotency_key: &str,
    ) -> Result<SendReceipt, WitError> {
        // Recorded as a message to the resident; the real host sends it to
        // their family contact instead.
        send(&Message {
            recipient: Recipient::Resident(resident_id.to_owned()),
            channel,
            subject: subject.to_owned(),
            body: body.to_owned(),
            idempotency_key: idempotency_key.to_owned(),
        })
    }
}

/// `hutong:platform/config`.
pub(crate) mod config {
    use super::*;

    pub(crate) fn get() -> String {
        with(|host| host.config.clone().unwrap_or_else(|| "{}".to_owned()))
    }
}

/// `hutong:platform/log`, recording each line.
pub(crate) mod log {
    use super::*;

    pub(crate) fn write(
        level: Level,
        message: &str,
        fields: &[(String, String)],
    ) -> Result<(), WitError> {
        with(|host| {
            host.logs.push(LogLine {
                level,
                message: message.to_owned(),
                fields: fields.to_vec(),
            })
        });
        Ok(())
    }
}

/// `hutong:platform/data` over the residents, households and buildings a
/// test added; organisations are not provided yet.
pub(crate) mod data {
    use super::*;
    use crate::bindings::hutong::platform::data::{
        Building, BuildingPage, Household, HouseholdPage, MemberPage, Organisation,
        OrganisationKind, OrganisationPage, ResidentPage, ResidentQuery,
    };

    const ORGANISATIONS: &str = "organisations and their members (hutong:platform/data)";
    const DATA_PAGE: u32 = 500;

    fn check_page(limit: u32) -> Result<(), WitError> {
        if limit == 0 || limit > DATA_PAGE {
            return Err(WitError::InvalidArgument(format!(
                "limit must be 1..={DATA_PAGE}, got {limit}"
            )));
        }
        Ok(())
    }

    /// One page of `items` (in id order) after `cursor` (an id).
    fn page<T: Clone>(
        items: Vec<(String, T)>,
        cursor: Option<&str>,
        limit: u32,
    ) -> (Vec<T>, Option<String>) {
        let rest: Vec<(String, T)> = items
            .into_iter()
            .filter(|(id, _)| cursor.is_none_or(|c| id.as_str() > c))
            .collect();
        let more = rest.len() > limit as usize;
        let taken: Vec<(String, T)> = rest.into_iter().take(limit as usize).collect();
        let next = more
            .then(|| taken.last().map(|(id, _)| id.clone()))
            .flatten();
        (taken.into_iter().map(|(_, t)| t).collect(), next)
    }

    pub(crate) fn get_resident(id: &str) -> Result<Resident, WitError> {
        allowed("data")?;
        with(|host| host.residents.get(id).cloned()).ok_or(WitError::NotFound)
    }
    pub(crate) fn query_residents(query: &ResidentQuery) -> Result<ResidentPage, WitError> {
        allowed("data")?;
        check_page(query.limit)?;
        let year = crate::time::local_date(crate::time::now_ms(), 8 * 60).year();
        let age = |r: &Resident| r.birth_year.map(|y| year - i32::from(y));
        let matching: Vec<(String, Resident)> = with(|host| {
            host.residents
                .values()
                .filter(|r| query.grid_id.as_ref().is_none_or(|g| &r.grid_id == g))
                .filter(|r| {
                    query
                        .community_id
                        .as_ref()
                        .is_none_or(|c| &r.community_id == c)
                })
                .filter(|r| {
                    query
                        .household_id
                        .as_ref()
                        .is_none_or(|h| r.household_id.as_ref() == Some(h))
                })
                .filter(|r| query.tags.iter().all(|t| r.tags.contains(t)))
                .filter(|r| {
                    query
                        .min_age
                        .is_none_or(|min| age(r).is_some_and(|a| a >= i32::from(min)))
                })
                .filter(|r| {
                    query
                        .max_age
                        .is_none_or(|max| age(r).is_some_and(|a| a <= i32::from(max)))
                })
                .map(|r| (r.id.clone(), r.clone()))
                .collect()
        });
        let (residents, next_cursor) = page(matching, query.cursor.as_deref(), query.limit);
        Ok(ResidentPage {
            residents,
            next_cursor,
        })
    }
    pub(crate) fn get_household(id: &str) -> Result<Household, WitError> {
        allowed("data")?;
        with(|host| host.households.get(id).cloned()).ok_or(WitError::NotFound)
    }
    pub(crate) fn list_households(
        building_id: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<HouseholdPage, WitError> {
        allowed("data")?;
        check_page(limit)?;
        let matching = with(|host| {
            host.households
                .values()
                .filter(|h| h.building_id == building_id)
                .map(|h| (h.id.clone(), h.clone()))
                .collect()
        });
        let (households, next_cursor) = page(matching, cursor, limit);
        Ok(HouseholdPage {
            households,
            next_cursor,
        })
    }
    pub(crate) fn get_building(id: &str) -> Result<Building, WitError> {
        allowed("data")?;
        with(|host| host.buildings.get(id).cloned()).ok_or(WitError::NotFound)
    }
    pub(crate) fn list_buildings(
        community_id: Option<&str>,
        grid_id: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<BuildingPage, WitError> {
        allowed("data")?;
        check_page(limit)?;
        let matching = with(|host| {
            host.buildings
                .values()
                .filter(|b| community_id.is_none_or(|c| b.community_id == c))
                .filter(|b| grid_id.is_none_or(|g| b.grid_id == g))
                .map(|b| (b.id.clone(), b.clone()))
                .collect()
        });
        let (buildings, next_cursor) = page(matching, cursor, limit);
        Ok(BuildingPage {
            buildings,
            next_cursor,
        })
    }
    pub(crate) fn get_organisation(_: &str) -> Result<Organisation, WitError> {
        Err(not_yet(ORGANISATIONS))
    }
    pub(crate) fn list_organisations(
        _: Option<OrganisationKind>,
        _: Option<&str>,
        _: Option<&str>,
        _: u32,
    ) -> Result<OrganisationPage, WitError> {
        Err(not_yet(ORGANISATIONS))
    }
    pub(crate) fn list_members(_: &str, _: Option<&str>, _: u32) -> Result<MemberPage, WitError> {
        Err(not_yet(ORGANISATIONS))
    }
    pub(crate) fn worker_grids(_: &str) -> Result<Vec<String>, WitError> {
        Err(not_yet("workers' grids (hutong:platform/data)"))
    }
}

/// `hutong:platform/cases` over the cases the app opened in this test.
pub(crate) mod cases {
    use super::*;
    use crate::bindings::hutong::platform::case_types::{CaseState, Tier};
    use crate::bindings::hutong::platform::cases::{CaseEvent, CaseInfo, CasePage, CaseReport};

    const CASE_PAGE: u32 = 500;

    fn check_report(report: &CaseReport) -> Result<(), WitError> {
        if report.category.is_empty() {
            return Err(WitError::InvalidArgument(
                "a case needs a category".to_owned(),
            ));
        }
        let len = report.description.chars().count();
        if len == 0 || len > 4000 {
            return Err(WitError::InvalidArgument(format!(
                "a description is 1 to 4000 characters; this one is {len}"
            )));
        }
        if report.attachments.len() > 20 {
            return Err(WitError::InvalidArgument(
                "a case has at most 20 attachments".to_owned(),
            ));
        }
        Ok(())
    }

    pub(crate) fn open(report: &CaseReport) -> Result<String, WitError> {
        allowed("cases")?;
        check_report(report)?;
        let now = crate::time::now_ms().max(0) as u64;
        let tier = match (&report.grid_id, &report.building_id) {
            (None, None) => Tier::District,
            _ => Tier::Grid,
        };
        Ok(with(|host| {
            let id = (host.cases.len() + 1).to_string();
            let info = CaseInfo {
                id: id.clone(),
                category: report.category.clone(),
                priority: report.priority,
                state: CaseState::Reported,
                tier,
                grid_id: report.grid_id.clone(),
                building_id: report.building_id.clone(),
                description: report.description.clone(),
                resident_id: report.resident_id.clone(),
                assignee: None,
                overdue: false,
                created_at_ms: now,
                updated_at_ms: now,
                closed_at_ms: None,
                satisfaction: None,
            };
            let event = CaseEvent {
                at_ms: now,
                actor: "app:test".to_owned(),
                action: "report".to_owned(),
                from_state: CaseState::Reported,
                to_state: CaseState::Reported,
                from_tier: tier,
                to_tier: tier,
                note: None,
            };
            host.cases.push((info, vec![event]));
            id
        }))
    }
    pub(crate) fn open_for_resident(report: &CaseReport) -> Result<String, WitError> {
        allowed("cases")?;
        if report.resident_id.is_none() {
            return Err(WitError::InvalidArgument(
                "a case opened for a resident needs resident-id".to_owned(),
            ));
        }
        open(report)
    }
    pub(crate) fn get(id: &str) -> Result<CaseInfo, WitError> {
        allowed("cases")?;
        with(|host| {
            host.cases
                .iter()
                .find(|(c, _)| c.id == id)
                .map(|(c, _)| c.clone())
        })
        .ok_or(WitError::NotFound)
    }
    pub(crate) fn history(id: &str) -> Result<Vec<CaseEvent>, WitError> {
        allowed("cases")?;
        with(|host| {
            host.cases
                .iter()
                .find(|(c, _)| c.id == id)
                .map(|(_, h)| h.clone())
        })
        .ok_or(WitError::NotFound)
    }
    pub(crate) fn list(
        state: Option<CaseState>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<CasePage, WitError> {
        allowed("cases")?;
        if limit == 0 || limit > CASE_PAGE {
            return Err(WitError::InvalidArgument(format!(
                "limit must be 1..={CASE_PAGE}, got {limit}"
            )));
        }
        let after: Option<usize> = cursor.and_then(|c| c.parse().ok());
        // Newest first: ids count up, so walk them down.
        let newest_first: Vec<CaseInfo> = with(|host| {
            host.cases
                .iter()
                .rev()
                .map(|(c, _)| c.clone())
                .filter(|c| state.is_none_or(|s| c.state == s))
                .filter(|c| after.is_none_or(|a| c.id.parse::<usize>().is_ok_and(|id| id < a)))
                .collect()
        });
        let more = newest_first.len() > limit as usize;
        let cases: Vec<CaseInfo> = newest_first.into_iter().take(limit as usize).collect();
        let next_cursor = more.then(|| cases.last().map(|c| c.id.clone())).flatten();
        Ok(CasePage { cases, next_cursor })
    }
    pub(crate) fn comment(id: &str, text: &str) -> Result<(), WitError> {
        allowed("cases")?;
        if text.is_empty() || text.chars().count() > 4000 {
            return Err(WitError::InvalidArgument(
                "a comment is 1 to 4000 characters".to_owned(),
            ));
        }
        let now = crate::time::now_ms().max(0) as u64;
        with(|host| {
            let (case, history) = host
                .cases
                .iter_mut()
                .find(|(c, _)| c.id == id)
                .ok_or(WitError::NotFound)?;
            history.push(CaseEvent {
                at_ms: now,
                actor: "app:test".to_owned(),
                action: "comment".to_owned(),
                from_state: case.state,
                to_state: case.state,
                from_tier: case.tier,
                to_tier: case.tier,
                note: Some(text.to_owned()),
            });
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::kv::{self, Commit, Op};
    use crate::notify::{self, Channel, Message, Recipient};
    use crate::{Error, testing};

    #[test]
    fn kv_keeps_the_hosts_limits_and_pages() {
        assert!(matches!(kv::set("", b"x"), Err(Error::InvalidArgument(_))));
        assert!(matches!(
            kv::set("big", &vec![0; (1 << 20) + 1]),
            Err(Error::InvalidArgument(_))
        ));
        for i in 0..5 {
            kv::set(&format!("visits/{i}"), b"1").expect("set");
        }
        kv::set("other", b"1").expect("set");
        let first = kv::list_keys("visits/", None, 2).expect("page");
        assert_eq!(first.keys, ["visits/0", "visits/1"]);
        let second = kv::list_keys("visits/", first.next_cursor.as_deref(), 10).expect("page");
        assert_eq!(second.keys, ["visits/2", "visits/3", "visits/4"]);
        assert_eq!(second.next_cursor, None);
        assert!(matches!(
            kv::list_keys("visits/", None, 0),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn a_commit_applies_all_or_nothing() {
        kv::set("seat/7", b"ana").expect("set");
        let outcome = kv::commit(vec![
            Op::insert("guest/bo", "8"),
            Op::insert("seat/7", "bo"),
        ])
        .expect("commit");
        assert_eq!(outcome, Commit::Failed(1));
        assert_eq!(testing::kv_value("guest/bo"), None, "nothing applied");
        let outcome = kv::commit(vec![
            Op::insert("guest/bo", "8"),
            Op::insert("seat/8", "bo"),
        ])
        .expect("commit");
        assert_eq!(outcome, Commit::Applied);
        assert_eq!(testing::kv_entries().len(), 3);
        // As on the host: removing an absent key is a condition that fails,
        // and a commit touches each key once.
        let outcome =
            kv::commit(vec![Op::set("seat/9", "cy"), Op::remove("guest/cy")]).expect("commit");
        assert_eq!(outcome, Commit::Failed(1));
        assert!(matches!(
            kv::commit(vec![Op::remove("seat/7"), Op::insert("seat/7", "ana")]),
            Err(Error::InvalidArgument(_))
        ));
        assert_eq!(testing::kv_value("seat/7").as_deref(), Some(&b"ana"[..]));
    }

    #[test]
    fn a_message_is_recorded_once_per_key_and_a_denial_is_typed() {
        let message = Message {
            recipient: Recipient::Resident("r-1".to_owned()),
            channel: Channel::Inbox,
            subject: "停水通知".to_owned(),
            body: "明天 9 点停水".to_owned(),
            idempotency_key: "water-1".to_owned(),
        };
        assert!(!notify::send(&message).expect("sent").replayed);
        assert!(notify::send(&message).expect("sent").replayed);
        let sent = testing::sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].subject, "停水通知");
        assert_eq!(sent[0].idempotency_key, "water-1");
        testing::deny("notify");
        assert!(matches!(
            notify::send(&message),
            Err(Error::Denied { permission }) if permission == "notify"
        ));
        testing::reset();
        assert!(testing::sent().is_empty());
        assert!(!notify::send(&message).expect("sent again").replayed);
    }

    #[test]
    fn residents_added_are_served_with_the_hosts_filters_and_pages() {
        testing::set_now_ms(1_800_000_000_000); // 2027
        for (id, grid, born, tags) in [
            ("r-1", "g-1", 1940, vec!["elderly", "living-alone"]),
            ("r-2", "g-1", 1990, vec![]),
            ("r-3", "g-2", 1945, vec!["elderly"]),
        ] {
            testing::add_resident(crate::data::Resident {
                birth_year: Some(born),
                tags: tags.into_iter().map(str::to_owned).collect(),
                ..testing::resident(id, grid)
            });
        }
        assert_eq!(crate::data::resident("r-2").expect("found").grid_id, "g-1");
        assert!(matches!(crate::data::resident("r-9"), Err(Error::NotFound)));
        let elderly = crate::data::ResidentQuery {
            tags: vec!["elderly".to_owned()],
            min_age: Some(80),
            limit: 1,
            ..Default::default()
        };
        let first = crate::data::query_residents(&elderly).expect("page");
        assert_eq!(first.residents.len(), 1);
        assert_eq!(first.residents[0].id, "r-1");
        let second = crate::data::query_residents(&crate::data::ResidentQuery {
            cursor: first.next_cursor.clone(),
            ..elderly.clone()
        })
        .expect("page");
        assert_eq!(second.residents[0].id, "r-3");
        assert_eq!(second.next_cursor, None);
        testing::deny("data");
        assert!(matches!(
            crate::data::resident("r-1"),
            Err(Error::Denied { .. })
        ));
    }

    struct Follower;

    impl crate::App for Follower {
        fn handle(_: crate::Request) -> crate::Response {
            crate::Response::not_found()
        }

        fn on_case_changed(change: crate::CaseChange) -> Result<(), Error> {
            kv::set(
                &format!("heard/{}", change.case_id),
                super::action_into(change.to_state).as_bytes(),
            )
        }

        fn on_event(event: crate::DeviceEvent) -> Result<(), Error> {
            kv::set(
                &format!("event/{}", event.device_id),
                event.event_type.as_bytes(),
            )
        }
    }

    #[test]
    fn cases_opened_are_kept_and_a_change_reaches_the_watcher() {
        use crate::cases::{self, CaseReport, CaseState};
        testing::set_now_ms(1_800_000_000_000);
        let id = cases::open(&CaseReport::new("repair", "楼道漏水")).expect("opened");
        let case = cases::get(&id).expect("read");
        assert_eq!(
            (case.state, case.created_at_ms),
            (CaseState::Reported, 1_800_000_000_000)
        );
        assert!(matches!(
            cases::open(&CaseReport::new("repair", "")),
            Err(Error::InvalidArgument(_))
        ));
        testing::advance_ms(60_000);
        let (change, answer) =
            testing::change_case::<Follower>(&id, CaseState::Accepted, Some("马上到"));
        answer.expect("the watcher handled it");
        assert_eq!(change.at_ms, 1_800_000_060_000);
        assert_eq!(
            testing::kv_value(&format!("heard/{id}")).as_deref(),
            Some(&b"accept"[..])
        );
        assert_eq!(cases::history(&id).expect("history").len(), 2);
        assert_eq!(testing::cases_opened()[0].state, CaseState::Accepted);
        assert!(matches!(cases::get("99"), Err(Error::NotFound)));
        testing::deny("cases");
        assert!(matches!(cases::get(&id), Err(Error::Denied { .. })));
    }

    #[test]
    fn an_event_reaches_the_handler() {
        let event = testing::event("door-7", "door.open", "{}");
        testing::deliver_event::<Follower>(event).expect("handled");
        assert_eq!(
            testing::kv_value("event/door-7").as_deref(),
            Some(&b"door.open"[..])
        );
        match crate::data::organisation("o-1") {
            Err(Error::Unavailable(why)) => assert!(why.contains("organisations"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
