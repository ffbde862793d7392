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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Board, Eligibility};

    fn poll(kind: Kind, max_choices: u32) -> Poll {
        Poll {
            id: "p1".into(),
            title: "t".into(),
            description: String::new(),
            kind,
            max_choices,
            options: vec!["a".into(), "b".into(), "c".into()],
            eligibility: Eligibility::default(),
            building_grid: None,
            opens_at_ms: 0,
            closes_at_ms: 1,
            quorum_percent: 0,
            changeable: false,
            board: Board::AfterClose,
            created_by: "w1".into(),
            created_at_ms: 0,
        }
    }

    fn refusal(result: Result<Vec<u32>, Fail>) -> String {
        match result {
            Err(Fail::Refused {
                status, message, ..
            }) => format!("{status} {message}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn choices_are_checked_and_put_in_order() {
        let multiple = poll(Kind::Multiple, 2);
        assert_eq!(check_choices(&multiple, &[2, 0]).ok(), Some(vec![0, 2]));
        assert!(refusal(check_choices(&multiple, &[])).contains("at least one"));
        assert!(refusal(check_choices(&multiple, &[3])).contains("0..=2"));
        assert!(refusal(check_choices(&multiple, &[1, 1])).contains("twice"));
        assert!(refusal(check_choices(&multiple, &[0, 1, 2])).contains("at most 2"));
        let single = poll(Kind::Single, 1);
        assert!(refusal(check_choices(&single, &[0, 1])).starts_with("422"));
        let approval = poll(Kind::Approval, 3);
        assert_eq!(
            check_choices(&approval, &[2, 1, 0]).ok(),
            Some(vec![0, 1, 2])
        );
    }

    #[test]
    fn an_entry_round_trips_through_its_key_and_its_tracker_holds() {
        let entry = Entry {
            tracker: tracker("p1", "00ff", "0.2"),
            nonce: "00ff".into(),
            choices: vec![0, 2],
        };
        assert_eq!(Entry::parse(&entry.suffix()), Some(entry.clone()));
        assert!(entry.tracker_holds("p1"));
        assert!(!entry.tracker_holds("p2"), "a tracker belongs to one poll");
        let forged = Entry {
            choices: vec![1],
            ..entry
        };
        assert!(
            !forged.tracker_holds("p1"),
            "changing the choices breaks it"
        );
        assert_eq!(Entry::parse("t/n/x"), None);
        assert_eq!(Entry::parse("t/n/0/extra"), None);
    }

    #[test]
    fn hashes_follow_the_documented_formulas() {
        // sha256("abc"), the standard test vector.
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            tracker("p", "n", "0"),
            sha256_hex("hutong-e-voting/tracker/v1\np\nn\n0")
        );
        assert_eq!(slot("p", "s"), sha256_hex("hutong-e-voting/slot/v1\np\ns"));
        let start = roll_chain_start("p");
        assert_eq!(
            roll_chain_step(&start, "r1", "r-r1"),
            sha256_hex(&format!("{start}\nr1\tr-r1"))
        );
    }
}
