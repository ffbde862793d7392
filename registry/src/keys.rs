//! Publisher keys: ed25519 key pairs, their public half as 64 hex digits,
//! and key ids (the first 16 hex digits of the sha256 of the public key),
//! which indexes and log entries name.

use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::RegistryError;

/// A publisher's public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parse 64 hex digits.
    pub fn parse(text: &str) -> Result<Self, RegistryError> {
        let bad = || {
            RegistryError::Invalid(format!(
                "`{text}` is not an ed25519 public key: give the 64 hex digits `hutong registry keygen` printed"
            ))
        };
        let bytes: [u8; 32] = hex::decode(text.trim())
            .map_err(|_| bad())?
            .try_into()
            .map_err(|_| bad())?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| bad())
    }

    /// The key as 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// The key's id: the first 16 hex digits of sha256 of its bytes.
    pub fn id(&self) -> String {
        let mut id = crate::sha256_hex(self.0.as_bytes());
        id.truncate(16);
        id
    }

    /// Whether `signature` (128 hex digits) is this key's signature of
    /// `message`. Strict verification: no malleable or small-order forms.
    pub fn verifies(&self, message: &[u8], signature: &str) -> bool {
        let Ok(bytes) = hex::decode(signature) else {
            return false;
        };
        let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
            return false;
        };
        self.0
            .verify_strict(message, &Signature::from_bytes(&bytes))
            .is_ok()
    }
}

/// A publisher's key pair.
pub struct KeyPair(SigningKey);

/// How a key pair is kept on disk: JSON, readable only by its owner.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    kind: String,
    secret: String,
    public: String,
}

const KEY_FILE_KIND: &str = "hutong-ed25519-secret-key";

impl KeyPair {
    /// A new key pair from the operating system's random source.
    pub fn generate() -> Result<Self, RegistryError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| RegistryError::Invalid(format!("no randomness for a new key: {e}")))?;
        Ok(KeyPair(SigningKey::from_bytes(&secret)))
    }

    /// The key pair whose secret is these 32 bytes (tests and benchmarks
    /// use fixed keys).
    pub fn from_secret(secret: [u8; 32]) -> Self {
        KeyPair(SigningKey::from_bytes(&secret))
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Sign `message`; the signature as 128 hex digits.
    pub fn sign(&self, message: &[u8]) -> String {
        hex::encode(self.0.sign(message).to_bytes())
    }

    /// Write the key pair to a new file (refusing to overwrite one),
    /// readable only by its owner.
    pub fn save(&self, path: &Path) -> Result<(), RegistryError> {
        let file = KeyFile {
            kind: KEY_FILE_KIND.to_owned(),
            secret: hex::encode(self.0.to_bytes()),
            public: self.public().to_hex(),
        };
        let text = serde_json::to_string_pretty(&file)
            .map_err(|e| RegistryError::Invalid(e.to_string()))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(path).map_err(|e| RegistryError::io(path, e))?;
        std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| RegistryError::io(path, e))
    }

    /// Read a key pair written by [`KeyPair::save`].
    pub fn load(path: &Path) -> Result<Self, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(|e| RegistryError::io(path, e))?;
        let bad = |why: &str| {
            RegistryError::Invalid(format!(
                "{} is not a Hutong secret key file ({why}); make one with `hutong registry keygen`",
                path.display()
            ))
        };
        let file: KeyFile = serde_json::from_str(&text).map_err(|_| bad("not the key JSON"))?;
        if file.kind != KEY_FILE_KIND {
            return Err(bad("wrong kind"));
        }
        let secret: [u8; 32] = hex::decode(&file.secret)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("the secret is not 64 hex digits"))?;
        let pair = KeyPair::from_secret(secret);
        if pair.public().to_hex() != file.public {
            return Err(bad("its public key does not belong to its secret"));
        }
        Ok(pair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_message_and_key() {
        let a = KeyPair::from_secret([1; 32]);
        let b = KeyPair::from_secret([2; 32]);
        let sig = a.sign(b"release");
        assert!(a.public().verifies(b"release", &sig));
        assert!(!a.public().verifies(b"releasf", &sig));
        assert!(!b.public().verifies(b"release", &sig));
        assert!(!a.public().verifies(b"release", "00"));
        assert!(!a.public().verifies(b"release", "not hex"));
    }

    #[test]
    fn public_keys_round_trip_through_hex_and_ids_are_short() {
        let pair = KeyPair::from_secret([7; 32]);
        let hex = pair.public().to_hex();
        assert_eq!(hex.len(), 64);
        let parsed = PublicKey::parse(&hex).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, pair.public());
        assert_eq!(parsed.id().len(), 16);
        assert!(PublicKey::parse("abc").is_err());
        assert!(PublicKey::parse(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn a_saved_key_loads_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("key.json");
        let pair = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        pair.save(&path).unwrap_or_else(|e| panic!("{e}"));
        let loaded = KeyPair::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.public(), pair.public());
        assert!(pair.save(&path).is_err(), "an existing key file is kept");
        std::fs::write(&path, "{}").unwrap_or_else(|e| panic!("{e}"));
        assert!(KeyPair::load(&path).is_err());
    }
}
