//! The install's private key-value store.
//!
//! Every (district, app) pair has its own keyspace, which no other app or
//! district can reach. Using it needs the `kv` permission: declare it in the
//! manifest's `[permissions]` with a reason; without the grant every call
//! returns [`Error::Denied`].
//!
//! Limits: keys are 1..=512 bytes of UTF-8, values at most 1 MiB, a page at
//! most [`MAX_PAGE`] keys. A call beyond a limit changes nothing and returns
//! [`Error::LimitExceeded`] or [`Error::InvalidArgument`].

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::bindings::hutong::platform::kv as wit;

/// The most keys one [`list_keys`] call returns.
pub const MAX_PAGE: u32 = 1000;

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
    Ok(wit::get(key)?)
}

/// Store `value` under `key`, replacing any previous value.
pub fn set(key: &str, value: &[u8]) -> Result<(), Error> {
    Ok(wit::set(key, value)?)
}

/// Remove `key`. Returns whether it existed.
pub fn delete(key: &str) -> Result<bool, Error> {
    Ok(wit::delete(key)?)
}

/// Store `value` under `key` only if the key is absent, atomically: of several
/// concurrent callers exactly one gets `true`.
pub fn insert_if_absent(key: &str, value: &[u8]) -> Result<bool, Error> {
    Ok(wit::insert_if_absent(key, value)?)
}

/// The keys starting with `prefix`, in ascending order, at most `limit`
/// (1..=[`MAX_PAGE`]) of them, starting after `cursor` when given.
pub fn list_keys(prefix: &str, cursor: Option<&str>, limit: u32) -> Result<KeyPage, Error> {
    let page = wit::list_keys(prefix, cursor, limit)?;
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
    let page = wit::list_entries(prefix, cursor, limit)?;
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
