//! Ballots, trackers, secrets and fingerprints: the hashes a voter or an
//! observer recomputes to check the result (see the README's verification
//! procedure, which states the same formulas).

use sha2::{Digest, Sha256};

use crate::Fail;
use crate::model::{Kind, Poll};

/// The SHA-256 of `text`, in lower-case hex.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// `bytes` random bytes from the host, in hex.
pub fn random_hex(bytes: usize) -> Result<String, Fail> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| {
        Fail::Host(hutong_sdk::Error::Internal(format!(
            "no randomness from the host: {e}"
        )))
    })?;
    Ok(hex::encode(buf))
}

/// The chosen options in canonical form: ascending option indices joined by
/// `.` (`0.2`).
pub fn encode_choices(choices: &[u32]) -> String {
    choices
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// Check a ballot's choices against the poll and put them in canonical
/// order. Refuses an empty ballot, an option the poll does not have, an
/// option chosen twice and more options than the poll allows.
pub fn check_choices(poll: &Poll, choices: &[u32]) -> Result<Vec<u32>, Fail> {
    let count = u32::try_from(poll.options.len()).unwrap_or(u32::MAX);
    if choices.is_empty() {
        return Err(Fail::unprocessable(
            "the ballot chooses no option; choose at least one".into(),
        ));
    }
    let mut sorted = choices.to_vec();
    sorted.sort_unstable();
    if let Some(unknown) = sorted.iter().find(|c| **c >= count) {
        return Err(Fail::unprocessable(format!(
            "option {unknown} does not exist; the options are 0..={}",
            count.saturating_sub(1)
        )));
    }
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(Fail::unprocessable(
            "the ballot chooses an option twice".into(),
        ));
    }
    let most = poll.max_choices as usize;
    if sorted.len() > most {
        let what = match poll.kind {
            Kind::Single => "this is a single-choice poll: choose exactly one option".to_owned(),
            _ => format!("choose at most {most} options, not {}", sorted.len()),
        };
        return Err(Fail::unprocessable(format!("too many choices: {what}")));
    }
    Ok(sorted)
}

/// A ballot's tracker: SHA-256 of
/// `hutong-e-voting/tracker/v1\n{poll}\n{nonce}\n{choices}`.
pub fn tracker(poll_id: &str, nonce: &str, choices: &str) -> String {
    sha256_hex(&format!(
        "hutong-e-voting/tracker/v1\n{poll_id}\n{nonce}\n{choices}"
    ))
}

/// The slot a changeable ballot is kept in: SHA-256 of
/// `hutong-e-voting/slot/v1\n{poll}\n{secret}`. Only the holder of the
/// secret can name it; nothing stored leads from a voter to it.
pub fn slot(poll_id: &str, secret: &str) -> String {
    sha256_hex(&format!("hutong-e-voting/slot/v1\n{poll_id}\n{secret}"))
}

/// One entry of the bulletin board.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    /// The ballot's tracker.
    pub tracker: String,
    /// The ballot's random nonce.
    pub nonce: String,
    /// The chosen options, ascending.
    pub choices: Vec<u32>,
}

impl Entry {
    /// The ballot key suffix `{tracker}/{nonce}/{choices}`.
    pub fn suffix(&self) -> String {
        format!(
            "{}/{}/{}",
            self.tracker,
            self.nonce,
            encode_choices(&self.choices)
        )
    }

    /// Parse a ballot key suffix.
    pub fn parse(suffix: &str) -> Option<Entry> {
        let mut parts = suffix.split('/');
        let tracker = parts.next()?.to_owned();
        let nonce = parts.next()?.to_owned();
        let choices = parts
            .next()?
            .split('.')
            .map(|c| c.parse().ok())
            .collect::<Option<Vec<u32>>>()?;
        parts.next().is_none().then_some(Entry {
            tracker,
            nonce,
            choices,
        })
    }

    /// Whether the tracker is the hash of the rest.
    pub fn tracker_holds(&self, poll_id: &str) -> bool {
        self.tracker == tracker(poll_id, &self.nonce, &encode_choices(&self.choices))
    }

    /// Its line in the board digest: `{tracker}\t{nonce}\t{choices}`.
    pub fn line(&self) -> String {
        format!(
            "{}\t{}\t{}",
            self.tracker,
            self.nonce,
            encode_choices(&self.choices)
        )
    }
}

/// The start of the roll fingerprint chain:
/// SHA-256 of `hutong-e-voting/roll/v1\n{poll}`.
pub fn roll_chain_start(poll_id: &str) -> String {
    sha256_hex(&format!("hutong-e-voting/roll/v1\n{poll_id}"))
}

/// One link of the roll fingerprint: SHA-256 of `{previous}\n{resident}\t{unit}`,
/// residents in ascending id order.
pub fn roll_chain_step(previous: &str, resident: &str, unit: &str) -> String {
    sha256_hex(&format!("{previous}\n{resident}\t{unit}"))
}

/// The start of the board digest chain:
/// SHA-256 of `hutong-e-voting/board/v1\n{poll}`.
pub fn board_chain_start(poll_id: &str) -> String {
    sha256_hex(&format!("hutong-e-voting/board/v1\n{poll_id}"))
}

/// One link of the board digest: SHA-256 of `{previous}\n{line}`, entries
/// in ascending tracker order.
pub fn board_chain_step(previous: &str, entry: &Entry) -> String {
    sha256_hex(&format!("{previous}\n{}", entry.line()))
}
