//! The cryptography of Hutong's e-voting app (`plugins/e-voting`), and of
//! the `hutong-evote` command that anyone can run to check a poll's
//! published board, and that trustees run to hold and use their keys.
//!
//! The construction is Helios's with Belenios's credentials, over
//! ristretto255 (`curve25519-dalek`):
//!
//! - **Ballots** are exponential ElGamal encryptions of 0 or 1 per option
//!   under the election key, each with a proof that it is 0 or 1, and a
//!   proof that their sum (the options chosen) is within the poll's
//!   minimum and maximum ([`ballot`]). The server stores and publishes
//!   only ciphertexts and proofs.
//! - **Credentials**: every voting unit on the roll gets a secret
//!   credential; its public key is on the roll, and each ballot is signed
//!   with it. A ballot counts only under a roll credential, so an account
//!   someone else creates for a voter cannot cast a counted ballot. The
//!   last ballot under a credential replaces the earlier ones.
//! - **Trustees** ([`trustee`]): each makes a key pair on their own
//!   machine; the election key is the sum of their public keys, so every
//!   trustee is needed to decrypt. Each decrypts the sum of the ballots
//!   (the command refuses a board that does not verify, a roll other than
//!   the one published at the opening, and a second tally of one poll),
//!   publishing a proof that their share is right.
//! - **The board** ([`board`]) holds the roll's credential keys, every
//!   counted ballot, the tally, the trustees' shares and the result, and
//!   [`Board::verify`] checks all of it.
//!
//! The design decision to know: every proof's challenge hashes a context
//! that names, for a ballot, the whole election (poll, question, options'
//! names, limits, key: [`Election::digest`]), its credential and its option
//! ([`group::Transcript`]), so no proof can be moved to another poll,
//! ballot or option, and no option renamed. `plugins/e-voting/README.md`
//! summarises the formats; this crate's code is their reference.

pub mod ballot;
pub mod board;
pub mod elgamal;
#[cfg(feature = "cli")]
pub mod fetch;
pub mod group;
pub mod proof;
pub mod trustee;

pub use ballot::{Ballot, BallotError, Credential, Election, Opening};
pub use board::{BOARD_FORMAT, Board, HeadError, Report, Status, election_of_head};
pub use elgamal::Ciphertext;
pub use group::{Num, Point};
pub use trustee::{Decryption, TrusteeKey, TrusteePublic};

#[cfg(test)]
mod tests;
