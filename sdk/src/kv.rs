//! The install's private key-value store.
//!
//! Every (district, app) pair has its own keyspace, which no other app or
//! district can reach. Using it needs the `kv` permission: declare it in the
//! manifest's `[permissions]` with a reason; without the grant every call
//! returns [`Error::Denied`].
//!
//! [`commit`] applies several conditional writes all-or-nothing in one
//! transaction, for records that must change together.
//!
//! Limits: keys are 1..=512 bytes of UTF-8, values at most 1 MiB, a page at
//! most [`MAX_PAGE`] keys. What an install keeps is held to its quota (the
//! manifest's `[limits]` `kv-keys` and `kv-mib`; bytes count keys and
//! values) and its district's. A call beyond a limit or a quota changes
//! nothing and returns [`Error::LimitExceeded`] or [`Error::InvalidArgument`].

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::bindings::hutong::platform::kv as wit;
// In WebAssembly the host's functions; outside it (an app's `cargo test`)
// the SDK's in-memory test host, so that calls never abort.
#[cfg(target_arch = "wasm32")]
use crate::bindings::hutong::platform::kv as host;
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::kv as host;

/// The most keys one [`list_keys`] call returns.
pub const MAX_PAGE: u32 = 1000;

/// The most operations one [`commit`] may carry.
pub const MAX_COMMIT_OPS: usize = 1000;

/// One operation of a [`commit`]. Each but [`Op::Set`] carries a condition;
/// if any does not hold, the whole commit changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Store `value` under `key` only if the key is absent.
    Insert {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Store `value` under `key`, replacing any previous value.
    Set {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Replace the value under `key` only if it is exactly `expected`.
    Swap {
        /// The key.
        key: String,
        /// The value the key must hold now.
        expected: Vec<u8>,
        /// The value to store instead.
        value: Vec<u8>,
    },
    /// Remove `key` only if it is present.
    Remove(String),
    /// Only require that `key` is present; changes nothing. Commits that
    /// merely require the same key do not wait for each other.
    Require(String),
}

impl Op {
    /// [`Op::Insert`] of `key` and `value`.
    pub fn insert(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self::Insert {
            key: key.into(),
            value: value.into(),
        }
    }

    /// [`Op::Set`] of `key` and `value`.
    pub fn set(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self::Set {
            key: key.into(),
            value: value.into(),
        }
    }

    /// [`Op::Swap`] of `key` from `expected` to `value`.
    pub fn swap(
        key: impl Into<String>,
        expected: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> Self {
        Self::Swap {
            key: key.into(),
            expected: expected.into(),
            value: value.into(),
        }
    }

    /// [`Op::Remove`] of `key`.
    pub fn remove(key: impl Into<String>) -> Self {
        Self::Remove(key.into())
    }

    /// [`Op::Require`] of `key`.
    pub fn require(key: impl Into<String>) -> Self {
        Self::Require(key.into())
    }

    fn into_wit(self) -> wit::Op {
        match self {
            Self::Insert { key, value } => wit::Op::Insert(wit::Entry { key, value }),
            Self::Set { key, value } => wit::Op::Set(wit::Entry { key, value }),
            Self::Swap {
                key,
                expected,
                value,
            } => wit::Op::Swap(wit::SwapEntry {
                key,
                expected,
                value,
            }),
            Self::Remove(key) => wit::Op::Remove(key),
            Self::Require(key) => wit::Op::Require(key),
        }
    }
}

/// What a [`commit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Every condition held; every operation took effect together.
    Applied,
    /// The condition of the operation at this index (from 0) did not hold;
    /// nothing was written.
    Failed(usize),
}

impl Commit {
    /// Whether the commit was applied.
    pub fn applied(self) -> bool {
        self == Self::Applied
    }
}

/// One page of keys, in ascending byte order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    /// The keys on this page.
    pub keys: Vec<String>,
    /// Pass this back as `cursor` to get the next page; `None` on the last
    /// page.
    pub next_cursor: Option<String>,
}

/// The value stored under `key`, or `None`.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, Error> {
    Ok(host::get(key)?)
}

/// Store `value` under `key`, replacing any previous value.
pub fn set(key: &str, value: &[u8]) -> Result<(), Error> {
    Ok(host::set(key, value)?)
}

/// Remove `key`. Returns whether it existed.
pub fn delete(key: &str) -> Result<bool, Error> {
    Ok(host::delete(key)?)
}

/// Store `value` under `key` only if the key is absent, atomically: of several
/// concurrent callers exactly one gets `true`.
pub fn insert_if_absent(key: &str, value: &[u8]) -> Result<bool, Error> {
    Ok(host::insert_if_absent(key, value)?)
}

/// Apply `ops` all-or-nothing, in one database transaction, in order:
/// either every condition holds and all of them take effect together, or
/// nothing changes (also if the host crashes halfway). Atomic across host
/// processes.
///
/// Limits: 1..=[`MAX_COMMIT_OPS`] operations, each key at most once, 4 MiB
/// of keys and values in all. Every entry written carries the same update
/// time in the host's database.
///
/// Claim a seat and record who took it, both or neither:
///
/// ```no_run
/// use hutong_sdk::kv::{self, Commit, Op};
///
/// # fn main() -> Result<(), hutong_sdk::Error> {
/// let outcome = kv::commit(vec![
///     Op::require("event/42/open"),
///     Op::insert("event/42/seat/7", "ana"),
///     Op::insert("event/42/guest/ana", "7"),
/// ])?;
/// match outcome {
///     Commit::Applied => {}
///     Commit::Failed(0) => { /* the event is closed */ }
///     Commit::Failed(_) => { /* the seat is taken, or ana has one */ }
/// }
/// # Ok(())
/// # }
/// ```
pub fn commit(ops: Vec<Op>) -> Result<Commit, Error> {
    let ops: Vec<wit::Op> = ops.into_iter().map(Op::into_wit).collect();
    Ok(match host::commit(&ops)? {
        None => Commit::Applied,
        Some(index) => Commit::Failed(index as usize),
    })
}

/// The keys starting with `prefix`, in ascending order, at most `limit`
/// (1..=[`MAX_PAGE`]) of them, starting after `cursor` when given.
pub fn list_keys(prefix: &str, cursor: Option<&str>, limit: u32) -> Result<KeyPage, Error> {
    let page = host::list_keys(prefix, cursor, limit)?;
    Ok(KeyPage {
        keys: page.keys,
        next_cursor: page.next_cursor,
    })
}

/// Every key starting with `prefix`, in ascending order, fetched a page at a
/// time as the iterator advances.
///
/// The iterator ends after the first error it yields. Collect it to get all
/// keys or the first error:
///
/// ```no_run
/// # fn main() -> Result<(), hutong_sdk::Error> {
/// let names: Vec<String> = hutong_sdk::kv::keys("visits/").collect::<Result<_, _>>()?;
/// # Ok(())
/// # }
/// ```
pub fn keys(prefix: &str) -> Keys {
    Keys {
        prefix: prefix.to_owned(),
        cursor: None,
        page: Vec::new().into_iter(),
        done: false,
    }
}

/// The iterator [`keys`] returns.
#[derive(Debug)]
pub struct Keys {
    prefix: String,
    cursor: Option<String>,
    page: std::vec::IntoIter<String>,
    done: bool,
}

impl Iterator for Keys {
    type Item = Result<String, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(key) = self.page.next() {
                return Some(Ok(key));
            }
            if self.done {
                return None;
            }
            match list_keys(&self.prefix, self.cursor.as_deref(), MAX_PAGE) {
                Ok(page) => {
                    self.done = page.next_cursor.is_none();
                    self.cursor = page.next_cursor;
                    self.page = page.keys.into_iter();
                }
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
    }
}

/// One page of entries (keys with their values), in ascending key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryPage {
    /// The entries on this page.
    pub entries: Vec<(String, Vec<u8>)>,
    /// Pass this back as `cursor` to get the next page; `None` on the last
    /// page.
    pub next_cursor: Option<String>,
}

/// The entries whose keys start with `prefix`, in ascending key order, at
/// most `limit` (1..=[`MAX_PAGE`]) of them, starting after `cursor` when
/// given. A page also ends early once its values hold 4 MiB (it always
/// holds at least one entry).
///
/// One call reads a whole page of records, where [`get`] reads one: a
/// periodic job that looks at thousands of small records (one per resident,
/// say) makes a few calls instead of thousands.
pub fn list_entries(prefix: &str, cursor: Option<&str>, limit: u32) -> Result<EntryPage, Error> {
    let page = host::list_entries(prefix, cursor, limit)?;
    Ok(EntryPage {
        entries: page.entries,
        next_cursor: page.next_cursor,
    })
}

/// Every entry whose key starts with `prefix`, in ascending key order,
/// fetched a page at a time as the iterator advances; it ends after the
/// first error it yields.
///
/// ```no_run
/// # fn main() -> Result<(), hutong_sdk::Error> {
/// let mut total = 0_u64;
/// for entry in hutong_sdk::kv::entries("visits/") {
///     let (_key, value) = entry?;
///     total += serde_json::from_slice::<u64>(&value).unwrap_or(0);
/// }
/// # Ok(())
/// # }
/// ```
pub fn entries(prefix: &str) -> Entries {
    Entries {
        prefix: prefix.to_owned(),
        cursor: None,
        page: Vec::new().into_iter(),
        done: false,
    }
}

/// The iterator [`entries`] returns.
#[derive(Debug)]
pub struct Entries {
    prefix: String,
    cursor: Option<String>,
    page: std::vec::IntoIter<(String, Vec<u8>)>,
    done: bool,
}

impl Iterator for Entries {
    type Item = Result<(String, Vec<u8>), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.page.next() {
                return Some(Ok(entry));
            }
            if self.done {
                return None;
            }
            match list_entries(&self.prefix, self.cursor.as_deref(), MAX_PAGE) {
                Ok(page) => {
                    self.done = page.next_cursor.is_none();
                    self.cursor = page.next_cursor;
                    self.page = page.entries.into_iter();
                }
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
    }
}

/// The value under `key` parsed as JSON, or `None` if the key is absent.
///
/// A stored value that is not the JSON of a `T` is an [`Error::Internal`]: it
/// is the app's own data that is wrong, not the caller's request.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
    let Some(bytes) = get(key)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|error| {
        Error::Internal(format!(
            "the value under kv key {key:?} is not the JSON expected: {error}"
        ))
    })
}

/// Store `value` as JSON under `key`, replacing any previous value.
pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<(), Error> {
    let bytes = serde_json::to_vec(value).map_err(|error| {
        Error::Internal(format!(
            "could not serialize the value for kv key {key:?} as JSON: {error}"
        ))
    })?;
    set(key, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_map_to_their_wit_cases() {
        let ops = [
            Op::insert("a", "1"),
            Op::set("b", "2"),
            Op::swap("c", "3", "4"),
            Op::remove("d"),
            Op::require("e"),
        ];
        let wit: Vec<wit::Op> = ops.into_iter().map(Op::into_wit).collect();
        assert!(matches!(&wit[0], wit::Op::Insert(e) if e.key == "a" && e.value == b"1"));
        assert!(matches!(&wit[1], wit::Op::Set(e) if e.key == "b" && e.value == b"2"));
        assert!(
            matches!(&wit[2], wit::Op::Swap(e) if e.key == "c" && e.expected == b"3" && e.value == b"4")
        );
        assert!(matches!(&wit[3], wit::Op::Remove(k) if k == "d"));
        assert!(matches!(&wit[4], wit::Op::Require(k) if k == "e"));
        assert!(Commit::Applied.applied());
        assert!(!Commit::Failed(2).applied());
    }
}
