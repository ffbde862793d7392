//! The public bulletin board of a poll, and its verification: anyone with
//! the board can check every ballot, the tally, each trustee's share and
//! the result, without trusting the server or its database.

use serde::{Deserialize, Serialize};

use crate::ballot::{Ballot, BallotError, Election};
use crate::elgamal::{Ciphertext, Sum};
use crate::group::{Point, Transcript};
use crate::trustee::{Decryption, TrusteePublic, decrypts_to, election_key};

/// The `format` of a board this crate reads.
/// v3: a ballot's tracker leaves its signature out (so a device shows it
/// before the voter decides to audit or cast); v2's covered it.
pub const BOARD_FORMAT: &str = "hutong-e-voting/board/v3";

/// Everything published about a poll. Ballots are in credential order and
/// carry no time: nothing on the board says in which order they came, nor
/// which credentials cast more than one (only the last counts and is kept).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Board {
    pub format: String,
    pub election: Election,
    /// The trustees' public keys with their proofs.
    pub trustees: Vec<TrusteePublic>,
    /// The roll: one credential public key per voting unit, ascending.
    pub credentials: Vec<Point>,
    /// One ballot per credential that voted, ascending by credential.
    pub ballots: Vec<Ballot>,
    /// Per option, the sum of the ballots' ciphertexts; once closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tally: Option<Vec<Ciphertext>>,
    /// Each trustee's shares of the tally, in trustee order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decryptions: Vec<Decryption>,
    /// Votes per option.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Vec<u64>>,
}

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It holds.
    Pass,
    /// It does not: the board is wrong.
    Fail,
    /// Not yet possible (no tally, shares or result published yet).
    Pending,
}

/// One check of a board.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

/// What verifying a board found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Every check passed.
    pub verified: bool,
    pub checks: Vec<Check>,
    /// SHA-512 (first 32 bytes, hex) over the roll's credentials: compare
    /// it with the one published when the poll opened.
    pub roll_digest: String,
    /// The same over the ballots' trackers, in board order.
    pub ballots_digest: String,
}

impl Report {
    fn check(&mut self, name: &'static str, status: Status, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            status,
            detail: detail.into(),
        });
    }

    /// The first failed check's name and detail.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| c.status == Status::Fail)
    }
}

/// SHA-512 over the credentials, in order, as 64 hex digits: the roll's
/// fingerprint.
pub fn roll_digest<'a>(poll: &str, credentials: impl IntoIterator<Item = &'a [u8; 32]>) -> String {
    let digest = credentials
        .into_iter()
        .fold(Transcript::new("roll").text(poll), |t, c| t.bytes(c))
        .digest();
    hex::encode(&digest[..32])
}

/// A ballot that failed, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadBallot {
    pub credential: Point,
    pub error: BallotError,
}

/// Verify ballots on `threads` threads (1: on this one). Returns those
/// that fail, in board order.
pub fn verify_ballots(election: &Election, ballots: &[Ballot], threads: usize) -> Vec<BadBallot> {
    let check = |chunk: &[Ballot]| -> Vec<BadBallot> {
        chunk
            .iter()
            .filter_map(|b| {
                b.verify(election).err().map(|error| BadBallot {
                    credential: b.credential,
                    error,
                })
            })
            .collect()
    };
    if threads <= 1 || ballots.len() < 64 {
        return check(ballots);
    }
    let size = ballots.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = ballots
            .chunks(size)
            .map(|chunk| scope.spawn(move || check(chunk)))
            .collect();
        handles
            .into_iter()
            .zip(ballots.chunks(size))
            .flat_map(|(h, chunk)| {
                // A checker that panicked checked nothing: its ballots fail.
                h.join().unwrap_or_else(|_| {
                    chunk
                        .iter()
                        .map(|b| BadBallot {
                            credential: b.credential,
                            error: BallotError::Unchecked,
                        })
                        .collect()
                })
            })
            .collect()
    })
}

/// The sum of the ballots' ciphertexts, option by option.
pub fn tally(options: u32, ballots: &[Ballot]) -> Vec<Ciphertext> {
    let mut sums = vec![Sum::new(); options as usize];
    for ballot in ballots {
        for (sum, choice) in sums.iter_mut().zip(&ballot.choices) {
            sum.add(&choice.ciphertext);
        }
    }
    sums.into_iter().map(Sum::finish).collect()
}

fn strictly_ascending<T: Ord>(items: impl Iterator<Item = T>) -> Option<usize> {
    let mut previous = None;
    for (i, item) in items.enumerate() {
        if previous.as_ref().is_some_and(|p| p >= &item) {
            return Some(i);
        }
        previous = Some(item);
    }
    None
}

impl Board {
    /// Check everything on the board; ballots on `threads` threads.
    pub fn verify(&self, threads: usize) -> Report {
        use Status::{Fail, Pass, Pending};
        let election = &self.election;
        let mut report = Report {
            verified: false,
            checks: Vec::new(),
            roll_digest: roll_digest(&election.poll, self.credentials.iter().map(Point::as_bytes)),
            ballots_digest: {
                let digest = self
                    .ballots
                    .iter()
                    .fold(Transcript::new("ballots").text(&election.poll), |t, b| {
                        t.text(&b.tracker())
                    })
                    .digest();
                hex::encode(&digest[..32])
            },
        };
        if self.format != BOARD_FORMAT {
            report.check(
                "format",
                Fail,
                format!("{:?} is not {BOARD_FORMAT}", self.format),
            );
            return report;
        }
        if let Err(e) = election.check() {
            report.check("election", Fail, e.to_string());
            return report;
        }
        report.check(
            "election",
            Pass,
            format!(
                "{} options, choose {}..={}",
                election.options, election.min, election.max
            ),
        );

        // The trustees and the election key.
        let bad_trustee = self.trustees.iter().position(|t| !t.verify(&election.poll));
        let mut keys: Vec<_> = self.trustees.iter().map(|t| t.key).collect();
        keys.sort();
        let distinct = strictly_ascending(keys.iter()).is_none();
        let (status, detail) = match bad_trustee {
            _ if self.trustees.len() < 2 => (
                Fail,
                format!("{} trustees; a poll needs at least 2", self.trustees.len()),
            ),
            Some(i) => (
                Fail,
                format!("trustee {i}'s proof of knowledge of their key does not hold"),
            ),
            None if !distinct => (Fail, "two trustees have the same key".to_owned()),
            None if election_key(&self.trustees) != election.key => (
                Fail,
                "the election key is not the sum of the trustees' keys".to_owned(),
            ),
            None => (
                Pass,
                format!(
                    "{} trustees; the election key is their sum",
                    self.trustees.len()
                ),
            ),
        };
        report.check("trustees", status, detail);

        // The roll.
        let neutral = self
            .credentials
            .iter()
            .position(|c| *c == Point::identity());
        match strictly_ascending(self.credentials.iter()).or(neutral) {
            Some(i) => report.check(
                "roll",
                Fail,
                format!("credential {i} is out of order, repeated or the neutral element"),
            ),
            None => report.check(
                "roll",
                Pass,
                format!("{} credentials, each once", self.credentials.len()),
            ),
        }

        // The ballots: one per credential on the roll, each well formed.
        let order = strictly_ascending(self.ballots.iter().map(|b| b.credential));
        let off_roll = self
            .ballots
            .iter()
            .filter(|b| self.credentials.binary_search(&b.credential).is_err())
            .count();
        let bad = verify_ballots(election, &self.ballots, threads);
        let (status, detail) = if let Some(i) = order {
            (
                Fail,
                format!(
                    "ballot {i} is out of credential order, or a second ballot of one credential"
                ),
            )
        } else if off_roll > 0 {
            (
                Fail,
                format!("{off_roll} ballots are signed with a credential that is not on the roll"),
            )
        } else if let Some(first) = bad.first() {
            (
                Fail,
                format!(
                    "{} ballots do not verify; the first, of credential {}: {}",
                    bad.len(),
                    first.credential.to_hex(),
                    first.error
                ),
            )
        } else {
            (
                Pass,
                format!(
                    "{} ballots, each signed by a roll credential, each proof holds",
                    self.ballots.len()
                ),
            )
        };
        report.check("ballots", status, detail);

        // The tally, the shares and the result.
        let Some(published) = &self.tally else {
            report.check("tally", Pending, "no tally yet: the poll has not closed");
            return report;
        };
        if *published != tally(election.options, &self.ballots) {
            report.check(
                "tally",
                Fail,
                "the tally is not the sum of the ballots on the board",
            );
            return report;
        }
        report.check("tally", Pass, "the sum of the ballots on the board");

        // Shares may come in any order; each must be a trustee's, once.
        let mut problem = None;
        let mut seen = vec![false; self.trustees.len()];
        for d in &self.decryptions {
            match self.trustees.iter().position(|t| t.key == d.trustee) {
                None => problem = Some("shares from a key that is not a trustee's".to_owned()),
                Some(i) if seen[i] => problem = Some(format!("trustee {i}'s shares twice")),
                Some(i) => {
                    seen[i] = true;
                    if let Some(option) = d.first_wrong(&election.poll, published) {
                        problem = Some(format!(
                            "trustee {i}'s share for option {option} does not hold"
                        ));
                    }
                }
            }
            if problem.is_some() {
                break;
            }
        }
        let published_shares = seen.iter().filter(|s| **s).count();
        match problem {
            Some(p) => {
                report.check("decryptions", Fail, p);
                return report;
            }
            None if published_shares < self.trustees.len() => {
                report.check(
                    "decryptions",
                    Pending,
                    format!(
                        "{published_shares} of {} trustees' shares are published, each proved",
                        self.trustees.len()
                    ),
                );
                return report;
            }
            None => report.check("decryptions", Pass, "every trustee's share is proved"),
        }

        let Some(result) = &self.result else {
            report.check("result", Pending, "no result yet");
            return report;
        };
        let wrong = if result.len() != published.len() {
            Some(result.len().min(published.len()))
        } else {
            published
                .iter()
                .zip(result)
                .enumerate()
                .position(|(option, (ct, count))| {
                    !decrypts_to(ct, &self.decryptions, option, *count)
                })
        };
        match wrong {
            Some(i) => report.check(
                "result",
                Fail,
                format!("the result for option {i} is not what the tally decrypts to"),
            ),
            None => {
                let counts: Vec<String> = election
                    .option_names
                    .iter()
                    .zip(result)
                    .map(|(name, count)| format!("{name}: {count}"))
                    .collect();
                report.check("result", Pass, counts.join(", "));
            }
        }
        report.verified = report.checks.iter().all(|c| c.status == Pass);
        report
    }
}

/// Why a device will not encrypt under a board's head.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("the board's head is not as `GET /polls/{{id}}/board` gives it: {0}")]
    Malformed(String),
    #[error(
        "the election key is not the sum of two or more trustees' proved keys; not encrypting under it"
    )]
    Trustees,
    #[error(transparent)]
    Election(#[from] BallotError),
}

/// The part of a board's head (`GET /polls/{id}/board`) a ballot-making
/// device reads.
#[derive(Deserialize)]
struct Head {
    election: Election,
    trustees: Vec<TrusteePublic>,
}

/// The election a board's head describes, once its trustees are checked:
/// two or more, each key proved for this poll, and the election key their
/// sum. A device encrypts only under such a key, so a server that swaps in
/// a key of its own is caught before any choice is encrypted.
pub fn election_of_head(head: &serde_json::Value) -> Result<Election, HeadError> {
    let head = Head::deserialize(head).map_err(|e| HeadError::Malformed(e.to_string()))?;
    let poll = &head.election.poll;
    if head.trustees.len() < 2
        || !head.trustees.iter().all(|t| t.verify(poll))
        || election_key(&head.trustees) != head.election.key
    {
        return Err(HeadError::Trustees);
    }
    head.election.check()?;
    Ok(head.election)
}
