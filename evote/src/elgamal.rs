//! Exponential ElGamal: `m` under key `Y` is `(r·G, m·G + r·Y)`. The
//! product of two ciphertexts encrypts the sum of their values, so the
//! tally is the ciphertexts of all ballots added up, decrypted once.

use std::ops::Add;

use curve25519_dalek::scalar::Scalar;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use crate::group::{Point, random_scalar};

/// One encrypted value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ciphertext {
    /// `r·G`.
    pub alpha: Point,
    /// `m·G + r·Y`.
    pub beta: Point,
}

impl Ciphertext {
    /// The encryption of 0 with randomness 0: the start of a sum.
    pub fn zero() -> Self {
        Ciphertext {
            alpha: Point::identity(),
            beta: Point::identity(),
        }
    }

    /// Encrypt `m` under `key`; returns the randomness too, which proofs
    /// (and an audit of the ballot) need.
    pub fn encrypt(key: &Point, m: u32, rng: &mut impl CryptoRngCore) -> (Self, Scalar) {
        let r = random_scalar(rng);
        (Self::encrypt_with(key, m, &r), r)
    }

    /// Encrypt `m` under `key` with randomness `r`.
    pub fn encrypt_with(key: &Point, m: u32, r: &Scalar) -> Self {
        Ciphertext {
            alpha: Point::base(r),
            beta: Point::new(Point::base(&Scalar::from(m)).point + key.point * r),
        }
    }
}

impl Add for Ciphertext {
    type Output = Ciphertext;

    fn add(self, other: Ciphertext) -> Ciphertext {
        Ciphertext {
            alpha: Point::new(self.alpha.point + other.alpha.point),
            beta: Point::new(self.beta.point + other.beta.point),
        }
    }
}

/// Adds ciphertexts without encoding each partial sum: the tally of many
/// ballots.
#[derive(Clone, Copy)]
pub(crate) struct Sum {
    alpha: curve25519_dalek::ristretto::RistrettoPoint,
    beta: curve25519_dalek::ristretto::RistrettoPoint,
}

impl Sum {
    pub(crate) fn new() -> Self {
        use curve25519_dalek::traits::Identity;
        Sum {
            alpha: Identity::identity(),
            beta: Identity::identity(),
        }
    }

    pub(crate) fn add(&mut self, ct: &Ciphertext) {
        self.alpha += ct.alpha.point;
        self.beta += ct.beta.point;
    }

    pub(crate) fn finish(self) -> Ciphertext {
        Ciphertext {
            alpha: Point::new(self.alpha),
            beta: Point::new(self.beta),
        }
    }
}
