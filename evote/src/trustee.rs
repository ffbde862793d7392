//! Trustees: each makes a key pair on their own machine and publishes the
//! public key with a proof they know its secret; the election key is the
//! sum of the public keys, so decrypting needs every trustee. Each trustee
//! decrypts only the tally (the sum of all ballots), publishing their share
//! with a proof it was made with their key.

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use crate::elgamal::Ciphertext;
use crate::group::{Num, Point, Transcript, random_scalar, small_log};
use crate::proof::{Dleq, Schnorr};

/// A trustee's secret key file: kept by the trustee, never uploaded.
#[derive(Clone, Serialize, Deserialize)]
pub struct TrusteeKey {
    /// The poll the key is for.
    pub poll: String,
    /// The secret.
    pub secret: Num,
    /// What is published.
    pub public: TrusteePublic,
}

impl std::fmt::Debug for TrusteeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrusteeKey({}, {})", self.poll, self.public.key.to_hex())
    }
}

/// A trustee's public key and the proof they know its secret (which stops
/// a trustee from choosing a key that cancels the others').
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrusteePublic {
    pub key: Point,
    pub proof: Schnorr,
}

fn key_context(poll: &str) -> Transcript {
    Transcript::new("trustee").text(poll)
}

fn share_context(poll: &str, option: usize) -> Transcript {
    Transcript::new("decryption")
        .text(poll)
        .number(option as u64)
}

impl TrusteeKey {
    /// A new key pair for `poll`.
    pub fn generate(poll: &str, rng: &mut impl CryptoRngCore) -> Self {
        let secret = random_scalar(rng);
        let key = Point::base(&secret);
        let proof = Schnorr::prove(key_context(poll), &secret, &key, rng);
        TrusteeKey {
            poll: poll.to_owned(),
            secret: Num(secret),
            public: TrusteePublic { key, proof },
        }
    }

    /// This trustee's share of decrypting each of `tally`'s ciphertexts.
    pub fn decrypt(&self, tally: &[Ciphertext], rng: &mut impl CryptoRngCore) -> Decryption {
        let shares = tally
            .iter()
            .enumerate()
            .map(|(option, ct)| {
                let share = Point::new(ct.alpha.point * self.secret.0);
                let proof = Dleq::prove(
                    share_context(&self.poll, option),
                    &self.secret.0,
                    &self.public.key,
                    &ct.alpha,
                    &share,
                    rng,
                );
                Share { share, proof }
            })
            .collect();
        Decryption {
            trustee: self.public.key,
            shares,
        }
    }
}

impl TrusteePublic {
    /// Whether the proof of knowledge holds for `poll` (never for the
    /// neutral element, whose secret everyone knows).
    pub fn verify(&self, poll: &str) -> bool {
        self.key != Point::identity() && self.proof.verify(key_context(poll), &self.key)
    }
}

/// The election key of these trustees: the sum of their keys.
pub fn election_key(trustees: &[TrusteePublic]) -> Point {
    Point::new(
        trustees
            .iter()
            .fold(RistrettoPoint::identity(), |sum, t| sum + t.key.point),
    )
}

/// One trustee's decryption shares of the tally, one per option.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decryption {
    /// The trustee's public key.
    pub trustee: Point,
    pub shares: Vec<Share>,
}

/// `x·α` for the trustee's secret `x`, with its proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub share: Point,
    pub proof: Dleq,
}

impl Decryption {
    /// The first option whose share does not hold, if any (a share count
    /// that does not match the tally fails at the first missing one).
    pub fn first_wrong(&self, poll: &str, tally: &[Ciphertext]) -> Option<usize> {
        if self.shares.len() != tally.len() {
            return Some(self.shares.len().min(tally.len()));
        }
        tally
            .iter()
            .zip(&self.shares)
            .enumerate()
            .find(|(option, (ct, s))| {
                !s.proof.verify(
                    share_context(poll, *option),
                    &self.trustee,
                    &ct.alpha,
                    &s.share,
                )
            })
            .map(|(option, _)| option)
    }
}

/// The counts the shares decrypt `tally` to: `β − Σ shares = m·G`, with `m`
/// at most `most` (the number of ballots). `None` for an option whose
/// shares do not decrypt to such an `m`. Assumes the shares were checked.
pub fn combine(tally: &[Ciphertext], decryptions: &[Decryption], most: u64) -> Vec<Option<u64>> {
    tally
        .iter()
        .enumerate()
        .map(|(option, ct)| {
            let shares = decryptions
                .iter()
                .filter_map(|d| d.shares.get(option))
                .fold(RistrettoPoint::identity(), |sum, s| sum + s.share.point);
            small_log(&(ct.beta.point - shares), most)
        })
        .collect()
}

/// Whether `count` is what the shares decrypt option `option` to: one
/// scalar multiplication, for a verifier that has the claimed result.
pub fn decrypts_to(ct: &Ciphertext, decryptions: &[Decryption], option: usize, count: u64) -> bool {
    let shares = decryptions
        .iter()
        .filter_map(|d| d.shares.get(option))
        .fold(RistrettoPoint::identity(), |sum, s| sum + s.share.point);
    ct.beta.point - shares == Point::base(&Scalar::from(count)).point
}
