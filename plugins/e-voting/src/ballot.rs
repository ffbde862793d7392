//! The app's side of the cryptography (which is `hutong-evote`'s): the
//! host's randomness as a generator, a poll's election parameters, and the
//! roll fingerprint's hashes (see the README's verification procedure).

use hutong_evote::{Election, Point};
use sha2::{Digest, Sha256};

use crate::Fail;
use crate::model::Poll;

/// The SHA-256 of `text`, in lower-case hex.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// `bytes` random bytes from the host, in hex.
pub fn random_hex(bytes: usize) -> Result<String, Fail> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(no_randomness)?;
    Ok(hex::encode(buf))
}

fn no_randomness(e: getrandom::Error) -> Fail {
    Fail::Host(hutong_sdk::Error::Internal(format!(
        "no randomness from the host: {e}"
    )))
}

/// The host's randomness (WASI's `random`), for making credentials.
pub struct HostRng;

impl HostRng {
    /// A generator, once the host has shown it gives randomness (so that
    /// [`rand_core::RngCore::fill_bytes`], which cannot fail, will not).
    pub fn new() -> Result<Self, Fail> {
        getrandom::fill(&mut [0u8; 8]).map_err(no_randomness)?;
        Ok(HostRng)
    }
}

impl rand_core::RngCore for HostRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // The host answered `new`; a host that stops giving randomness
        // mid-call is broken, and the call must not go on without it.
        if let Err(e) = getrandom::fill(dest) {
            panic!("the host stopped giving randomness: {e}");
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        getrandom::fill(dest).map_err(|e| {
            rand_core::Error::from(
                std::num::NonZeroU32::new(e.raw_os_error().unwrap_or(1).unsigned_abs().max(1))
                    .unwrap_or(std::num::NonZeroU32::MIN),
            )
        })
    }
}

impl rand_core::CryptoRng for HostRng {}

/// The election of `poll` under `key`: its title and options' names (which
/// every ballot's proofs are bound to), at least one option chosen and at
/// most the poll's `max_choices`.
pub fn election(poll: &Poll, key: Point) -> Election {
    Election {
        poll: poll.id.clone(),
        question: poll.title.clone(),
        option_names: poll.options.clone(),
        options: u32::try_from(poll.options.len()).unwrap_or(u32::MAX),
        min: 1,
        max: poll.max_choices,
        key,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_follow_the_documented_formulas() {
        // sha256("abc"), the standard test vector.
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let start = roll_chain_start("p");
        assert_eq!(
            roll_chain_step(&start, "r1", "r-r1"),
            sha256_hex(&format!("{start}\nr1\tr-r1"))
        );
    }
}
