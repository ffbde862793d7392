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
//! - **data** and **cases** are not provided yet: each call is
//!   `Error::Unavailable` naming what is missing. Test those parts of an app
//!   against a real host.
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

use crate::bindings::hutong::platform::log::Level;
use crate::bindings::hutong::platform::notify::Message;
use crate::bindings::hutong::platform::types::Error as WitError;

#[derive(Default)]
struct Host {
    kv: BTreeMap<String, Vec<u8>>,
    config: Option<String>,
    sent: Vec<Message>,
    keys_sent: BTreeSet<String>,
    logs: Vec<LogLine>,
    denied: BTreeSet<String>,
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
                    Op::Remove(key) => {
                        next.remove(key);
                        true
                    }
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

/// `hutong:platform/data`: not provided yet.
pub(crate) mod data {
    use super::*;
    use crate::bindings::hutong::platform::data::{
        Building, BuildingPage, Household, HouseholdPage, MemberPage, Organisation,
        OrganisationKind, OrganisationPage, Resident, ResidentPage, ResidentQuery,
    };

    const WHAT: &str = "community data (hutong:platform/data)";

    pub(crate) fn get_resident(_: &str) -> Result<Resident, WitError> {
        Err(not_yet(WHAT))
    }
    pub(crate) fn query_residents(_: &ResidentQuery) -> Result<ResidentPage, WitError> {
        Err(not_yet(WHAT))
    }
    pub(crate) fn get_household(_: &str) -> Result<Household, WitError> {
        Err(not_yet(WHAT))
    }
    pub(crate) fn list_households(
        _: &str,
        _: Option<&str>,
        _: u32,
    ) -> Result<HouseholdPage, WitError> {
        Err(not_yet(WHAT))
    }
    pub(crate) fn get_building(_: &str) -> Result<Building, WitError> {
        Err(not_yet(WHAT))
    }
    pub(crate) fn list_buildings(
        _: Option<&str>,
        _: Option<&str>,
        _: Option<&str>,
        _: u32,
    ) -> Result<BuildingPage, WitError> {
        Err(not_yet(WHAT))
    }
    pub(crate) fn get_organisation(_: &str) -> Result<Organisation, WitError> {
        Err(not_yet(WHAT))
    }
    pub(crate) fn list_organisations(
        _: Option<OrganisationKind>,
        _: Option<&str>,
        _: Option<&str>,
        _: u32,
    ) -> Result<OrganisationPage, WitError> {
        Err(not_yet(WHAT))
    }
    pub(crate) fn list_members(_: &str, _: Option<&str>, _: u32) -> Result<MemberPage, WitError> {
        Err(not_yet(WHAT))
    }
    pub(crate) fn worker_grids(_: &str) -> Result<Vec<String>, WitError> {
        Err(not_yet(WHAT))
    }
}

/// `hutong:platform/cases`: not provided yet.
pub(crate) mod cases {
    use super::*;
    use crate::bindings::hutong::platform::case_types::CaseState;
    use crate::bindings::hutong::platform::cases::{CaseEvent, CaseInfo, CasePage, CaseReport};

    const WHAT: &str = "cases (hutong:platform/cases)";

    pub(crate) fn open(_: &CaseReport) -> Result<String, WitError> {
        Err(not_yet(WHAT))
    }
    pub(crate) fn open_for_resident(_: &CaseReport) -> Result<String, WitError> {
        Err(not_yet(WHAT))
    }
    pub(crate) fn get(_: &str) -> Result<CaseInfo, WitError> {
        Err(not_yet(WHAT))
    }
    pub(crate) fn history(_: &str) -> Result<Vec<CaseEvent>, WitError> {
        Err(not_yet(WHAT))
    }
    pub(crate) fn list(
        _: Option<CaseState>,
        _: Option<&str>,
        _: u32,
    ) -> Result<CasePage, WitError> {
        Err(not_yet(WHAT))
    }
    pub(crate) fn comment(_: &str, _: &str) -> Result<(), WitError> {
        Err(not_yet(WHAT))
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
    fn data_and_cases_say_they_are_not_provided_yet() {
        match crate::data::resident("r-1") {
            Err(Error::Unavailable(why)) => assert!(why.contains("community data"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(crate::cases::get("1"), Err(Error::Unavailable(_))));
    }
}
