//! The registry's log: every publish and yank, append-only and hash-chained.
//!
//! Entry `i` records `prev`, the hash of entry `i - 1` (64 zeros for the
//! first), and `hash`, the sha256 of its canonical text:
//!
//! ```text
//! hutong-log-v1
//! index: <i>
//! prev: <hash of entry i-1>
//! at: <ms since the Unix epoch>
//! kind: publish | yank
//! key-id: <publisher key id>
//! public-key: <publisher key, hex>
//! signature: <hex>
//! <the release or yank statement>
//! ```
//!
//! The log's **head** is its size and the hash of its last entry. A client
//! that remembers a head `(n, h)` accepts a newer log only if it extends it:
//! entries `n..` must chain from `h` (so the first `n` entries are the ones it
//! saw, by sha256's collision resistance) up to the new head. A **proof**
//! that a release is in the log is its entry and every entry after it,
//! chaining to the head; any yank of the release lies within it, so a
//! registry cannot hide one.

use serde::{Deserialize, Serialize};

use crate::release::{ReleaseRecord, YankRecord, yank_statement};
use crate::sha256_hex;

/// `prev` of the first entry, and the hash of an empty log.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an entry records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LogEvent {
    /// A release was published.
    Publish(ReleaseRecord),
    /// A release was yanked.
    Yank(YankRecord),
}

impl LogEvent {
    /// The package it is about.
    pub fn name(&self) -> &str {
        match self {
            LogEvent::Publish(r) => &r.name,
            LogEvent::Yank(y) => &y.name,
        }
    }

    /// The version it is about.
    pub fn version(&self) -> &semver::Version {
        match self {
            LogEvent::Publish(r) => &r.version,
            LogEvent::Yank(y) => &y.version,
        }
    }
}

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Its position, from 0.
    pub index: u64,
    /// The hash of the entry before it.
    pub prev: String,
    /// When it was appended, ms since the Unix epoch.
    pub at: i64,
    /// What it records.
    #[serde(flatten)]
    pub event: LogEvent,
    /// sha256 of its canonical text.
    pub hash: String,
}

impl LogEntry {
    /// A new entry after `prev` at `index`, with its hash computed.
    pub fn seal(index: u64, prev: &str, at: i64, event: LogEvent) -> Self {
        let mut entry = LogEntry {
            index,
            prev: prev.to_owned(),
            at,
            event,
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry
    }

    /// The canonical text the hash is over; see the module docs.
    pub fn canonical(&self) -> String {
        let (kind, key_id, public_key, signature, statement) = match &self.event {
            LogEvent::Publish(r) => ("publish", &r.key_id, &r.public_key, &r.signature, {
                // The size is not signed (the digest fixes it) but it is
                // chained, so a registry cannot change it either.
                format!("{}component-size: {}\n", r.statement(), r.component_size)
            }),
            LogEvent::Yank(y) => (
                "yank",
                &y.key_id,
                &y.public_key,
                &y.signature,
                yank_statement(&y.name, &y.version, &y.reason),
            ),
        };
        format!(
            "hutong-log-v1\nindex: {}\nprev: {}\nat: {}\nkind: {kind}\nkey-id: {key_id}\npublic-key: {public_key}\nsignature: {signature}\n{statement}",
            self.index, self.prev, self.at
        )
    }

    /// The hash the entry should have.
    pub fn compute_hash(&self) -> String {
        sha256_hex(self.canonical().as_bytes())
    }
}

/// A log's size and the hash of its last entry ([`GENESIS`] when empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogHead {
    /// How many entries.
    pub size: u64,
    /// The last entry's hash.
    pub hash: String,
}

impl LogHead {
    /// The head of an empty log.
    pub fn empty() -> Self {
        LogHead {
            size: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

/// The log from one entry to the head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSlice {
    /// The head now.
    pub head: LogHead,
    /// The entries from the one asked for to the head.
    pub entries: Vec<LogEntry>,
}

/// A proof that a release is in the log: its publish entry and every entry
/// after it, to the head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    /// The head the proof leads to.
    pub head: LogHead,
    /// The release's entry first, then the rest of the log.
    pub entries: Vec<LogEntry>,
}

/// Why a chain of entries does not hold together.
#[derive(Debug, PartialEq, Eq)]
pub enum ChainError {
    /// The log is shorter than the head it should extend.
    Shorter {
        /// The size it should at least have.
        expected: u64,
        /// The size it has.
        actual: u64,
    },
    /// An entry is wrong: its index, its link or its hash.
    Broken(String),
}

/// Check that `entries` chain from `(from_index, from_hash)` to `head`:
/// consecutive indexes, each `prev` the hash of the one before, each hash
/// recomputed. An empty `entries` must leave the head where it was.
pub fn check_chain(
    from_index: u64,
    from_hash: &str,
    entries: &[LogEntry],
    head: &LogHead,
) -> Result<(), ChainError> {
    // The indexes come from the registry: one that starts a chain near
    // u64::MAX is refused, not left to overflow.
    let past_end = |offset: usize| {
        u64::try_from(offset)
            .ok()
            .and_then(|o| from_index.checked_add(o))
            .ok_or_else(|| {
                ChainError::Broken(format!(
                    "the entries start at {from_index}, past any log this host can check"
                ))
            })
    };
    let mut prev = from_hash;
    for (offset, entry) in entries.iter().enumerate() {
        let index = past_end(offset)?;
        if entry.index != index {
            return Err(ChainError::Broken(format!(
                "entry {index} says it is entry {}",
                entry.index
            )));
        }
        if entry.prev != prev {
            return Err(ChainError::Broken(format!(
                "entry {index} follows {} but the entry before it hashes to {prev}",
                entry.prev
            )));
        }
        if entry.compute_hash() != entry.hash {
            return Err(ChainError::Broken(format!(
                "entry {index} was changed after it was written (its content does not hash to {})",
                entry.hash
            )));
        }
        prev = &entry.hash;
    }
    let end = past_end(entries.len())?;
    if end != head.size || prev != head.hash {
        return Err(ChainError::Broken(format!(
            "the entries end at {end} with hash {prev}, but the head is {} with hash {}",
            head.size, head.hash
        )));
    }
    Ok(())
}

/// Check that `slice` (asked for from `remembered.size`) extends the head a
/// client remembers; the new head.
pub fn check_extends(remembered: &LogHead, slice: &LogSlice) -> Result<LogHead, ChainError> {
    if slice.head.size < remembered.size {
        return Err(ChainError::Shorter {
            expected: remembered.size,
            actual: slice.head.size,
        });
    }
    check_chain(
        remembered.size,
        &remembered.hash,
        &slice.entries,
        &slice.head,
    )
    .map_err(|e| {
        match e {
            // The first link names the remembered head: say so plainly.
            ChainError::Broken(_)
                if slice
                    .entries
                    .first()
                    .is_some_and(|e| e.prev != remembered.hash) =>
            {
                ChainError::Broken(format!(
                    "entry {} no longer follows the head this host saw ({} entries, hash {})",
                    remembered.size, remembered.size, remembered.hash
                ))
            }
            ChainError::Broken(_) if slice.entries.is_empty() => ChainError::Broken(format!(
                "it has {} entries as before but its head hash is now {}, not {}",
                slice.head.size, slice.head.hash, remembered.hash
            )),
            other => other,
        }
    })?;
    Ok(slice.head.clone())
}

/// Check a proof that `name@version` was published, against the head the
/// client just verified; the release's log index and whether a yank of it
/// follows in the log.
pub fn check_proof(
    proof: &Proof,
    name: &str,
    version: &semver::Version,
    head: &LogHead,
) -> Result<(u64, ReleaseRecord, bool), String> {
    if proof.head != *head {
        return Err(format!(
            "it leads to head ({}, {}) but the log's head is ({}, {})",
            proof.head.size, proof.head.hash, head.size, head.hash
        ));
    }
    let Some(first) = proof.entries.first() else {
        return Err("it has no entries".into());
    };
    let LogEvent::Publish(release) = &first.event else {
        return Err(format!("entry {} is not a publish", first.index));
    };
    if release.name != name || release.version != *version {
        return Err(format!(
            "entry {} publishes {}@{}",
            first.index, release.name, release.version
        ));
    }
    // The first entry's own link is taken as given: the chain from it to the
    // head fixes everything it says.
    check_chain(first.index, &first.prev, &proof.entries, head).map_err(|e| match e {
        ChainError::Broken(d) => d,
        ChainError::Shorter { .. } => "the chain is short".into(),
    })?;
    let yanked = proof.entries[1..]
        .iter()
        .any(|e| matches!(&e.event, LogEvent::Yank(y) if y.name == name && y.version == *version));
    Ok((first.index, release.clone(), yanked))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyPair;
    use crate::release::PublishRequest;
    use crate::release::YankRequest;
    use semver::Version;

    fn publish(version: &str) -> LogEvent {
        let manifest = format!("name = \"app\"\nversion = \"{version}\"\nhost-api = \"^0.1\"\n");
        let req = PublishRequest::sign(
            manifest.into_bytes(),
            b"\0asm".to_vec(),
            &KeyPair::from_secret([5; 32]),
        )
        .and_then(|r| r.check().map_err(Into::into))
        .unwrap_or_else(|e| panic!("{e}"));
        LogEvent::Publish(req)
    }

    fn log(versions: &[&str]) -> Vec<LogEntry> {
        let mut entries: Vec<LogEntry> = Vec::new();
        for (i, v) in versions.iter().enumerate() {
            let prev = entries
                .last()
                .map_or(GENESIS.to_owned(), |e| e.hash.clone());
            entries.push(LogEntry::seal(i as u64, &prev, 1, publish(v)));
        }
        entries
    }

    fn head(entries: &[LogEntry]) -> LogHead {
        LogHead {
            size: entries.len() as u64,
            hash: entries
                .last()
                .map_or(GENESIS.to_owned(), |e| e.hash.clone()),
        }
    }

    fn slice(entries: &[LogEntry], from: usize) -> LogSlice {
        LogSlice {
            head: head(entries),
            entries: entries[from..].to_vec(),
        }
    }

    #[test]
    fn a_log_that_grew_extends_what_was_seen() {
        let old = log(&["1.0.0", "1.1.0"]);
        let new = log(&["1.0.0", "1.1.0", "1.2.0"]);
        assert_eq!(check_extends(&head(&old), &slice(&new, 2)), Ok(head(&new)));
        assert_eq!(check_extends(&head(&new), &slice(&new, 3)), Ok(head(&new)));
        assert_eq!(
            check_extends(&LogHead::empty(), &slice(&new, 0)),
            Ok(head(&new))
        );
    }

    #[test]
    fn a_shorter_log_is_a_rewind() {
        let old = log(&["1.0.0", "1.1.0"]);
        let new = log(&["1.0.0"]);
        assert_eq!(
            check_extends(&head(&old), &slice(&new, 1)),
            Err(ChainError::Shorter {
                expected: 2,
                actual: 1
            })
        );
    }

    #[test]
    fn a_different_history_of_any_length_is_a_rewrite() {
        let old = log(&["1.0.0", "1.1.0"]);
        let same_size = log(&["1.0.0", "1.1.1"]);
        let longer = log(&["1.0.0", "1.1.1", "1.2.0"]);
        assert!(matches!(
            check_extends(
                &head(&old),
                &LogSlice {
                    head: head(&same_size),
                    entries: vec![]
                }
            ),
            Err(ChainError::Broken(_))
        ));
        assert!(matches!(
            check_extends(&head(&old), &slice(&longer, 2)),
            Err(ChainError::Broken(d)) if d.contains("no longer follows")
        ));
    }

    #[test]
    fn an_edited_entry_breaks_its_hash() {
        let mut entries = log(&["1.0.0", "1.1.0"]);
        if let LogEvent::Publish(r) = &mut entries[1].event {
            r.component_size = 99;
        }
        let h = head(&entries);
        assert!(matches!(
            check_chain(0, GENESIS, &entries, &h),
            Err(ChainError::Broken(d)) if d.contains("changed")
        ));
    }

    #[test]
    fn a_proof_starting_at_the_last_possible_index_is_refused_not_overflowed() {
        let entries = log(&["1.0.0"]);
        let h = head(&entries);
        let forged = LogEntry::seal(u64::MAX, &h.hash, 1, publish("1.0.0"));
        let proof = Proof {
            head: h.clone(),
            entries: vec![forged],
        };
        let got = check_proof(&proof, "app", &Version::new(1, 0, 0), &h);
        assert!(
            got.as_ref().is_err_and(|d| d.contains("past any log")),
            "{got:?}"
        );
    }

    #[test]
    fn a_proof_shows_the_release_and_any_later_yank() {
        let mut entries = log(&["1.0.0", "1.1.0"]);
        let yank = YankRequest::sign(
            "app",
            &Version::new(1, 0, 0),
            "broken",
            &KeyPair::from_secret([5; 32]),
        )
        .check()
        .unwrap_or_else(|e| panic!("{e}"));
        let prev = entries[1].hash.clone();
        entries.push(LogEntry::seal(2, &prev, 1, LogEvent::Yank(yank)));
        let h = head(&entries);
        let proof = Proof {
            head: h.clone(),
            entries: entries.clone(),
        };
        let (index, _, yanked) = check_proof(&proof, "app", &Version::new(1, 0, 0), &h)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((index, yanked), (0, true));
        let proof = Proof {
            head: h.clone(),
            entries: entries[1..].to_vec(),
        };
        assert_eq!(
            check_proof(&proof, "app", &Version::new(1, 1, 0), &h).map(|(i, _, y)| (i, y)),
            Ok((1, false))
        );
        // A proof that stops short of the head, or is for something else.
        let short = Proof {
            head: h.clone(),
            entries: entries[1..2].to_vec(),
        };
        assert!(check_proof(&short, "app", &Version::new(1, 1, 0), &h).is_err());
        assert!(check_proof(&proof, "app", &Version::new(1, 0, 0), &h).is_err());
        let stale = Proof {
            head: head(&entries[..2]),
            entries: entries[1..2].to_vec(),
        };
        assert!(check_proof(&stale, "app", &Version::new(1, 1, 0), &h).is_err());
    }
}
