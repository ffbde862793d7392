//! Zero-knowledge proofs, all non-interactive by the Fiat–Shamir heuristic
//! over a [`Transcript`] that names the proof's purpose and context:
//!
//! - [`Schnorr`]: knowledge of `x` with `X = x·G` (a trustee's key) and,
//!   with a message in the transcript, a signature (a voter's credential).
//! - [`Dleq`]: `log_G X = log_A D` (Chaum–Pedersen): a trustee's share of
//!   a decryption is made with the key it published.
//! - [`Disjunctive`]: an ElGamal ciphertext encrypts one of a range of
//!   small values (Cramer–Damgård–Schoenmakers OR-composition of
//!   Chaum–Pedersen proofs), without saying which.

use std::ops::RangeInclusive;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::VartimeMultiscalarMul;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use crate::elgamal::Ciphertext;
use crate::group::{Num, Point, Transcript, generator, random_scalar};

/// A Schnorr proof: the challenge and the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schnorr {
    pub challenge: Num,
    pub response: Num,
}

impl Schnorr {
    /// Prove knowledge of `x` (`public = x·G`); `context` already holds
    /// the purpose and anything the proof is bound to (a message to sign).
    pub fn prove(
        context: Transcript,
        x: &Scalar,
        public: &Point,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let w = random_scalar(rng);
        let commitment = Point::base(&w);
        let c = context.point(public).point(&commitment).challenge();
        Schnorr {
            challenge: Num(c),
            response: Num(w + c * x),
        }
    }

    /// Whether the proof holds for `public` in `context`.
    pub fn verify(&self, context: Transcript, public: &Point) -> bool {
        let (c, s) = (self.challenge.0, self.response.0);
        // s·G − c·X is the commitment when the proof is honest.
        let commitment = Point::new(RistrettoPoint::vartime_double_scalar_mul_basepoint(
            &-c,
            &public.point,
            &s,
        ));
        context.point(public).point(&commitment).challenge() == c
    }
}

/// A Chaum–Pedersen proof that `log_G X = log_A D`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dleq {
    pub challenge: Num,
    pub response: Num,
}

impl Dleq {
    /// Prove `X = x·G` and `D = x·A`.
    pub fn prove(
        context: Transcript,
        x: &Scalar,
        public: &Point,
        base: &Point,
        result: &Point,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let w = random_scalar(rng);
        let (a, b) = (Point::base(&w), Point::new(base.point * w));
        let c = context
            .point(public)
            .point(base)
            .point(result)
            .point(&a)
            .point(&b)
            .challenge();
        Dleq {
            challenge: Num(c),
            response: Num(w + c * x),
        }
    }

    /// Whether the proof holds for `X = public`, `A = base`, `D = result`.
    pub fn verify(
        &self,
        context: Transcript,
        public: &Point,
        base: &Point,
        result: &Point,
    ) -> bool {
        let (c, s) = (self.challenge.0, self.response.0);
        let a = Point::new(RistrettoPoint::vartime_double_scalar_mul_basepoint(
            &-c,
            &public.point,
            &s,
        ));
        let b = Point::new(RistrettoPoint::vartime_multiscalar_mul(
            [s, -c],
            [base.point, result.point],
        ));
        context
            .point(public)
            .point(base)
            .point(result)
            .point(&a)
            .point(&b)
            .challenge()
            == c
    }
}

/// A proof that a ciphertext `(α, β)` under the election key `Y` encrypts
/// `v·G` for some `v` in a range `lo..=hi`: one (challenge, response) pair
/// per value, the challenges summing to the transcript's hash of every
/// value's commitments. For each value `v`, `s·G − c·α` and
/// `s·Y − c·(β − v·G)` are the commitments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Disjunctive(pub Vec<Schnorr>);

impl Disjunctive {
    /// Prove that `ciphertext`, made with randomness `r`, encrypts
    /// `actual`, one of `range`.
    pub fn prove(
        context: Transcript,
        key: &Point,
        ciphertext: &Ciphertext,
        r: &Scalar,
        actual: u32,
        range: RangeInclusive<u32>,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let mut pairs = Vec::with_capacity(range.clone().count());
        let mut transcript = context
            .point(key)
            .point(&ciphertext.alpha)
            .point(&ciphertext.beta);
        let mut simulated_sum = Scalar::ZERO;
        let mut honest_w = Scalar::ZERO;
        for v in range.clone() {
            if v == actual {
                let w = random_scalar(rng);
                honest_w = w;
                transcript = transcript
                    .point(&Point::base(&w))
                    .point(&Point::new(key.point * w));
                pairs.push(None);
            } else {
                // A simulated transcript: pick the challenge and response,
                // and compute the commitments they imply.
                let (c, s) = (random_scalar(rng), random_scalar(rng));
                let (a, b) = commitments(key, ciphertext, v, c, s);
                transcript = transcript.point(&a).point(&b);
                simulated_sum += c;
                pairs.push(Some(Schnorr {
                    challenge: Num(c),
                    response: Num(s),
                }));
            }
        }
        let c = transcript.challenge() - simulated_sum;
        let honest = Schnorr {
            challenge: Num(c),
            response: Num(honest_w + c * r),
        };
        Disjunctive(pairs.into_iter().map(|p| p.unwrap_or(honest)).collect())
    }

    /// Whether the proof holds: `ciphertext` under `key` encrypts one of
    /// `range`.
    pub fn verify(
        &self,
        context: Transcript,
        key: &Point,
        ciphertext: &Ciphertext,
        range: RangeInclusive<u32>,
    ) -> bool {
        if self.0.len() != range.clone().count() {
            return false;
        }
        let mut transcript = context
            .point(key)
            .point(&ciphertext.alpha)
            .point(&ciphertext.beta);
        let mut sum = Scalar::ZERO;
        for (v, pair) in range.zip(&self.0) {
            let (c, s) = (pair.challenge.0, pair.response.0);
            let (a, b) = commitments(key, ciphertext, v, c, s);
            transcript = transcript.point(&a).point(&b);
            sum += c;
        }
        transcript.challenge() == sum
    }
}

/// For value `v`: `s·G − c·α` and `s·Y − c·β + c·v·G`.
fn commitments(key: &Point, ct: &Ciphertext, v: u32, c: Scalar, s: Scalar) -> (Point, Point) {
    let a = RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c, &ct.alpha.point, &s);
    let b = RistrettoPoint::vartime_multiscalar_mul(
        [s, -c, c * Scalar::from(v)],
        [key.point, ct.beta.point, generator()],
    );
    (Point::new(a), Point::new(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elgamal::Ciphertext;
    use rand_core::OsRng;

    fn keypair() -> (Scalar, Point) {
        let x = random_scalar(&mut OsRng);
        (x, Point::base(&x))
    }

    #[test]
    fn a_schnorr_proof_holds_only_in_its_context_and_for_its_key() {
        let (x, public) = keypair();
        let proof = Schnorr::prove(Transcript::new("t").text("m"), &x, &public, &mut OsRng);
        assert!(proof.verify(Transcript::new("t").text("m"), &public));
        assert!(!proof.verify(Transcript::new("t").text("other message"), &public));
        assert!(!proof.verify(Transcript::new("t").text("m"), &keypair().1));
    }

    #[test]
    fn a_decryption_share_proof_holds_only_for_the_right_share() {
        let (x, public) = keypair();
        let base = Point::base(&random_scalar(&mut OsRng));
        let share = Point::new(base.point * x);
        let proof = Dleq::prove(Transcript::new("d"), &x, &public, &base, &share, &mut OsRng);
        assert!(proof.verify(Transcript::new("d"), &public, &base, &share));
        let wrong = Point::new(share.point + generator());
        assert!(!proof.verify(Transcript::new("d"), &public, &base, &wrong));
    }

    #[test]
    fn a_range_proof_holds_for_values_in_range_and_cannot_be_made_for_others() {
        let (_, key) = keypair();
        for (m, range) in [(0, 0..=1), (1, 0..=1), (3, 1..=5)] {
            let (ct, r) = Ciphertext::encrypt(&key, m, &mut OsRng);
            let proof = Disjunctive::prove(
                Transcript::new("b"),
                &key,
                &ct,
                &r,
                m,
                range.clone(),
                &mut OsRng,
            );
            assert!(proof.verify(Transcript::new("b"), &key, &ct, range.clone()));
            assert!(!proof.verify(Transcript::new("other"), &key, &ct, range.clone()));
        }
        // An encryption of 2 "proved" to be 0 or 1 does not verify.
        let (ct, r) = Ciphertext::encrypt(&key, 2, &mut OsRng);
        let forged = Disjunctive::prove(Transcript::new("b"), &key, &ct, &r, 1, 0..=1, &mut OsRng);
        assert!(!forged.verify(Transcript::new("b"), &key, &ct, 0..=1));
        // A proof for one ciphertext does not hold for another.
        let (ct0, r0) = Ciphertext::encrypt(&key, 0, &mut OsRng);
        let proof = Disjunctive::prove(Transcript::new("b"), &key, &ct0, &r0, 0, 0..=1, &mut OsRng);
        let (ct1, _) = Ciphertext::encrypt(&key, 0, &mut OsRng);
        assert!(!proof.verify(Transcript::new("b"), &key, &ct1, 0..=1));
        assert!(
            !proof.verify(Transcript::new("b"), &key, &ct0, 0..=2),
            "a proof has one pair per value"
        );
    }
}
