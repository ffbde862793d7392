//! The group (ristretto255), how its elements and scalars are written, the
//! hash every proof's challenge comes from, and small discrete logarithms.

use std::collections::HashMap;
use std::fmt;

use curve25519_dalek::constants::{RISTRETTO_BASEPOINT_POINT, RISTRETTO_BASEPOINT_TABLE};
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha512};

/// Every hash of this crate starts with this, then a label naming its use.
pub const DOMAIN: &str = "hutong-e-voting/v2";

/// A group element, kept with its 32-byte encoding (written as 64 hex
/// digits). Decoding refuses any string that is not a canonical
/// ristretto255 encoding.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub(crate) point: RistrettoPoint,
    pub(crate) bytes: [u8; 32],
}

impl Point {
    pub(crate) fn new(point: RistrettoPoint) -> Self {
        Point {
            point,
            bytes: point.compress().to_bytes(),
        }
    }

    /// `k·G`, `G` the group's standard generator.
    pub(crate) fn base(k: &Scalar) -> Self {
        Point::new(RISTRETTO_BASEPOINT_TABLE * k)
    }

    /// The neutral element.
    pub fn identity() -> Self {
        Point::new(RistrettoPoint::identity())
    }

    /// The 32-byte encoding.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The encoding in lower-case hex, as written on the board.
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// Parse 64 hex digits of a canonical encoding.
    pub fn from_hex(text: &str) -> Result<Self, String> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes)
            .map_err(|_| format!("{text:?} is not 64 hex digits"))?;
        let point = CompressedRistretto(bytes)
            .decompress()
            .ok_or_else(|| format!("{text:?} is not a ristretto255 element"))?;
        Ok(Point { point, bytes })
    }
}

impl PartialOrd for Point {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// By encoding: the order of credentials and ballots on the board.
impl Ord for Point {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}

impl fmt::Debug for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Point({})", self.to_hex())
    }
}

impl Serialize for Point {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Point {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Point::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// A scalar (an integer modulo the group's order), written as 64 hex digits
/// of its canonical little-endian encoding.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Num(pub(crate) Scalar);

impl fmt::Debug for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Num({})", hex::encode(self.0.as_bytes()))
    }
}

impl Num {
    /// Parse 64 hex digits of a canonical encoding.
    pub fn from_hex(text: &str) -> Result<Self, String> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes)
            .map_err(|_| format!("{text:?} is not 64 hex digits"))?;
        Option::from(Scalar::from_canonical_bytes(bytes))
            .map(Num)
            .ok_or_else(|| format!("{text:?} is not a canonical scalar"))
    }
}

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0.as_bytes()))
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Num::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// A uniformly random scalar.
pub(crate) fn random_scalar(rng: &mut impl CryptoRngCore) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// The standard generator `G`.
pub(crate) fn generator() -> RistrettoPoint {
    RISTRETTO_BASEPOINT_POINT
}

/// The hash a challenge comes from: SHA-512 of [`DOMAIN`], `/`, the label,
/// then each part as its length (8 bytes, little-endian) and its bytes,
/// reduced modulo the group order. Every field is length-prefixed, so no
/// two different lists of parts hash alike.
#[derive(Clone)]
pub struct Transcript(Sha512);

impl Transcript {
    /// A hash for `label` (`"ballot"`, `"signature"`, …).
    pub fn new(label: &str) -> Self {
        let mut hash = Sha512::new();
        hash.update(DOMAIN.as_bytes());
        hash.update(b"/");
        hash.update(label.as_bytes());
        Transcript(hash)
    }

    /// Append one part.
    pub fn bytes(mut self, bytes: &[u8]) -> Self {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    /// Append a text part (its UTF-8 bytes).
    pub fn text(self, text: &str) -> Self {
        self.bytes(text.as_bytes())
    }

    /// Append a number (as its decimal text).
    pub fn number(self, n: u64) -> Self {
        self.text(&n.to_string())
    }

    /// Append a group element (its encoding).
    pub fn point(self, point: &Point) -> Self {
        self.bytes(&point.bytes)
    }

    /// Append a scalar (its encoding).
    pub fn scalar(self, scalar: &Scalar) -> Self {
        self.bytes(scalar.as_bytes())
    }

    /// The 64-byte digest.
    pub fn digest(self) -> [u8; 64] {
        self.0.finalize().into()
    }

    /// The digest as a scalar.
    pub fn challenge(self) -> Scalar {
        Scalar::from_bytes_mod_order_wide(&self.digest())
    }
}

/// Solves `m·G = target` for `m` in `0..=most`, by baby steps and giant
/// steps (about `2·√most` group operations). `None` when no such `m`
/// exists: then the decryption is wrong.
pub fn small_log(target: &RistrettoPoint, most: u64) -> Option<u64> {
    let step = (most as f64 + 1.0).sqrt().ceil().max(1.0) as u64;
    let g = generator();
    let mut baby = HashMap::with_capacity(step as usize);
    let mut point = RistrettoPoint::identity();
    for j in 0..step {
        baby.entry(point.compress().to_bytes()).or_insert(j);
        point += g;
    }
    let giant = g * Scalar::from(step);
    let mut current = *target;
    let mut i = 0;
    while i * step <= most {
        if let Some(j) = baby.get(current.compress().as_bytes()) {
            let m = i * step + j;
            return (m <= most).then_some(m);
        }
        current -= giant;
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    #[test]
    fn small_logs_are_found_up_to_the_bound_and_not_beyond() {
        for (m, most) in [
            (0, 0),
            (0, 10),
            (7, 10),
            (10, 10),
            (49_999, 50_000),
            (50_000, 50_000),
        ] {
            let target = generator() * Scalar::from(m);
            assert_eq!(small_log(&target, most), Some(m), "m={m} most={most}");
        }
        let target = generator() * Scalar::from(11u64);
        assert_eq!(small_log(&target, 10), None);
        let random = generator() * random_scalar(&mut OsRng);
        assert_eq!(small_log(&random, 1000), None);
    }

    #[test]
    fn encodings_round_trip_and_bad_ones_are_refused() {
        let p = Point::base(&random_scalar(&mut OsRng));
        assert_eq!(Point::from_hex(&p.to_hex()), Ok(p));
        assert!(Point::from_hex("00").unwrap_err().contains("64 hex digits"));
        // Not a valid encoding: ristretto255 refuses odd "negative" field elements.
        let bad = format!("01{}", "00".repeat(31));
        assert!(
            Point::from_hex(&bad)
                .unwrap_err()
                .contains("not a ristretto255")
        );
        let n = Num(random_scalar(&mut OsRng));
        let text = serde_json::to_string(&n).unwrap_or_default();
        assert_eq!(serde_json::from_str::<Num>(&text).ok(), Some(n));
        // The group order itself is not canonical.
        let order = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";
        assert!(Num::from_hex(order).unwrap_err().contains("canonical"));
    }

    #[test]
    fn transcripts_separate_their_parts() {
        let a = Transcript::new("t").text("ab").text("c").challenge();
        let b = Transcript::new("t").text("a").text("bc").challenge();
        let c = Transcript::new("u").text("ab").text("c").challenge();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
