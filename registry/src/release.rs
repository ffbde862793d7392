//! What a publisher signs: the release statement, and the publish and yank
//! requests that carry signatures to a registry.
//!
//! The release statement is UTF-8 text, one `key: value` line each, in this
//! order, every line ending in `\n`:
//!
//! ```text
//! hutong-release-v1
//! name: smart-care
//! version: 1.2.0
//! host-api: ^0.1
//! component-sha256: <64 hex digits>
//! manifest-sha256: <64 hex digits>
//! ```
//!
//! `version` and `host-api` are written in semver's normal form (so `^0.1`
//! and `^0.1` spelt with spaces sign the same). None of the values can hold a
//! newline, so the text is unambiguous. A yank statement has the same shape:
//! `hutong-yank-v1`, `name`, `version`, and `reason` as a JSON string.

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

use crate::keys::{KeyPair, PublicKey};
use crate::{Refusal, RegistryError, is_valid_name, sha256_hex};

/// The package fields a registry reads from a manifest: the rest of the
/// manifest is the host's business, but these three are signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageInfo {
    /// The app's name.
    pub name: String,
    /// Its version.
    pub version: Version,
    /// The `hutong:platform` versions it works with.
    pub host_api: VersionReq,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ManifestHead {
    name: String,
    version: String,
    host_api: String,
}

impl PackageInfo {
    /// Read name, version and host-api from a `hutong.toml`.
    pub fn from_manifest(manifest: &[u8]) -> Result<Self, Refusal> {
        let text = std::str::from_utf8(manifest)
            .map_err(|_| Refusal::Invalid("the manifest is not UTF-8 text".into()))?;
        let head: ManifestHead = toml::from_str(text).map_err(|e| {
            Refusal::Invalid(format!(
                "the manifest does not parse or lacks name, version or host-api: {}",
                e.message()
            ))
        })?;
        if !is_valid_name(&head.name) {
            return Err(Refusal::Invalid(format!(
                "package name `{}` is invalid: use 1 to 63 characters of a-z, 0-9 and '-', starting with a letter",
                head.name
            )));
        }
        let version = Version::parse(&head.version).map_err(|_| {
            Refusal::Invalid(format!(
                "version `{}` is not a semantic version (for example 1.2.0)",
                head.version
            ))
        })?;
        let host_api = VersionReq::parse(&head.host_api).map_err(|_| {
            Refusal::Invalid(format!(
                "host-api `{}` is not a semver requirement (for example ^0.1)",
                head.host_api
            ))
        })?;
        Ok(PackageInfo {
            name: head.name,
            version,
            host_api,
        })
    }
}

/// The canonical release statement a publisher signs; see the module docs.
pub fn release_statement(
    name: &str,
    version: &Version,
    host_api: &str,
    component_sha256: &str,
    manifest_sha256: &str,
) -> String {
    format!(
        "hutong-release-v1\nname: {name}\nversion: {version}\nhost-api: {host_api}\ncomponent-sha256: {component_sha256}\nmanifest-sha256: {manifest_sha256}\n"
    )
}

/// The canonical yank statement; see the module docs.
pub fn yank_statement(name: &str, version: &Version, reason: &str) -> String {
    // A JSON string has no raw newlines, so the reason cannot forge lines.
    let reason = serde_json::Value::String(reason.to_owned()).to_string();
    format!("hutong-yank-v1\nname: {name}\nversion: {version}\nreason: {reason}\n")
}

/// A signed release, as the log and the index record it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// The package.
    pub name: String,
    /// The version.
    pub version: Version,
    /// The host-API requirement, in normal form.
    pub host_api: String,
    /// sha256 of the component, hex.
    pub component_sha256: String,
    /// sha256 of the manifest, hex.
    pub manifest_sha256: String,
    /// The component's size in bytes.
    pub component_size: u64,
    /// The publisher's public key, hex.
    pub public_key: String,
    /// Its id.
    pub key_id: String,
    /// The publisher's signature of [`ReleaseRecord::statement`], hex.
    pub signature: String,
}

impl ReleaseRecord {
    /// The statement the signature is over.
    pub fn statement(&self) -> String {
        release_statement(
            &self.name,
            &self.version,
            &self.host_api,
            &self.component_sha256,
            &self.manifest_sha256,
        )
    }

    /// Whether the record's key id belongs to its key and the signature
    /// verifies.
    pub fn signature_valid(&self) -> bool {
        signed(
            &self.public_key,
            &self.key_id,
            &self.statement(),
            &self.signature,
        )
    }

    /// The host-API requirement, parsed.
    pub fn host_api_req(&self) -> Option<VersionReq> {
        VersionReq::parse(&self.host_api).ok()
    }
}

/// A yank, as the log records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct YankRecord {
    /// The package.
    pub name: String,
    /// The version yanked.
    pub version: Version,
    /// Why, for administrators.
    pub reason: String,
    /// The publisher's public key, hex.
    pub public_key: String,
    /// Its id.
    pub key_id: String,
    /// The publisher's signature of the yank statement, hex.
    pub signature: String,
}

impl YankRecord {
    /// Whether the record's key id belongs to its key and the signature
    /// verifies.
    pub fn signature_valid(&self) -> bool {
        signed(
            &self.public_key,
            &self.key_id,
            &yank_statement(&self.name, &self.version, &self.reason),
            &self.signature,
        )
    }
}

/// Whether `public_key` (hex) has the id `key_id` and `signature` (hex)
/// is its signature of `statement`.
fn signed(public_key: &str, key_id: &str, statement: &str, signature: &str) -> bool {
    PublicKey::parse(public_key)
        .is_ok_and(|k| k.id() == key_id && k.verifies(statement.as_bytes(), signature))
}

/// A publisher's key as a request carries it (hex), parsed.
fn request_key(public_key: &str) -> Result<PublicKey, Refusal> {
    PublicKey::parse(public_key).map_err(|e| Refusal::Invalid(e.to_string()))
}

/// The refusal of a request whose signature does not verify.
fn bad_signature(name: String, version: &Version, key_id: String) -> Refusal {
    Refusal::BadSignature {
        name,
        version: version.to_string(),
        key_id,
    }
}

mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

/// A signed package on its way to a registry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PublishRequest {
    /// The `hutong.toml`, as published.
    #[serde(with = "base64_bytes")]
    pub manifest: Vec<u8>,
    /// The component.
    #[serde(with = "base64_bytes")]
    pub component: Vec<u8>,
    /// The publisher's public key, hex.
    pub public_key: String,
    /// The signature of the release statement, hex.
    pub signature: String,
}

impl PublishRequest {
    /// Sign a package with `key`.
    pub fn sign(
        manifest: Vec<u8>,
        component: Vec<u8>,
        key: &KeyPair,
    ) -> Result<Self, RegistryError> {
        let info = PackageInfo::from_manifest(&manifest)?;
        let statement = release_statement(
            &info.name,
            &info.version,
            &info.host_api.to_string(),
            &sha256_hex(&component),
            &sha256_hex(&manifest),
        );
        Ok(PublishRequest {
            signature: key.sign(statement.as_bytes()),
            public_key: key.public().to_hex(),
            manifest,
            component,
        })
    }

    /// Check the package and its signature; the record the log will hold.
    pub fn check(&self) -> Result<ReleaseRecord, Refusal> {
        let info = PackageInfo::from_manifest(&self.manifest)?;
        if !self.component.starts_with(b"\0asm") {
            return Err(Refusal::Invalid(
                "the component is not WebAssembly (it does not start with \\0asm)".into(),
            ));
        }
        let key = request_key(&self.public_key)?;
        let record = ReleaseRecord {
            name: info.name,
            version: info.version,
            host_api: info.host_api.to_string(),
            component_sha256: sha256_hex(&self.component),
            manifest_sha256: sha256_hex(&self.manifest),
            component_size: self.component.len() as u64,
            public_key: key.to_hex(),
            key_id: key.id(),
            signature: self.signature.clone(),
        };
        if !record.signature_valid() {
            return Err(bad_signature(record.name, &record.version, record.key_id));
        }
        Ok(record)
    }
}

/// A signed request to yank a release.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct YankRequest {
    /// The package.
    pub name: String,
    /// The version.
    pub version: Version,
    /// Why.
    pub reason: String,
    /// The publisher's public key, hex.
    pub public_key: String,
    /// The signature of the yank statement, hex.
    pub signature: String,
}

impl YankRequest {
    /// Sign a yank with `key`.
    pub fn sign(name: &str, version: &Version, reason: &str, key: &KeyPair) -> Self {
        YankRequest {
            name: name.to_owned(),
            version: version.clone(),
            reason: reason.to_owned(),
            public_key: key.public().to_hex(),
            signature: key.sign(yank_statement(name, version, reason).as_bytes()),
        }
    }

    /// Check the signature; the record the log will hold.
    pub fn check(&self) -> Result<YankRecord, Refusal> {
        let key = request_key(&self.public_key)?;
        let record = YankRecord {
            name: self.name.clone(),
            version: self.version.clone(),
            reason: self.reason.clone(),
            public_key: key.to_hex(),
            key_id: key.id(),
            signature: self.signature.clone(),
        };
        if !record.signature_valid() {
            return Err(bad_signature(record.name, &record.version, record.key_id));
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "name = \"smart-care\"\nversion = \"1.2.0\"\nhost-api = \"^0.1\"\n[permissions]\nkv = \"state\"\n";

    fn key() -> KeyPair {
        KeyPair::from_secret([3; 32])
    }

    #[test]
    fn a_signed_package_checks_and_binds_both_digests() {
        let req = PublishRequest::sign(MANIFEST.into(), b"\0asm-1".to_vec(), &key())
            .unwrap_or_else(|e| panic!("{e}"));
        let record = req.check().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(record.name, "smart-care");
        assert_eq!(record.version, Version::new(1, 2, 0));
        assert_eq!(record.component_sha256, sha256_hex(b"\0asm-1"));
        assert_eq!(record.manifest_sha256, sha256_hex(MANIFEST.as_bytes()));
        assert_eq!(record.key_id, key().public().id());

        // Another component under the same signature.
        let mut swapped = req.clone();
        swapped.component = b"\0asm-2".to_vec();
        assert!(matches!(swapped.check(), Err(Refusal::BadSignature { .. })));
        // A manifest asking for more under the same signature.
        let mut widened = req.clone();
        widened.manifest = format!("{MANIFEST}read-residents = \"more\"\n").into_bytes();
        assert!(matches!(widened.check(), Err(Refusal::BadSignature { .. })));
        // Another key claiming the signature.
        let mut other = req;
        other.public_key = KeyPair::from_secret([4; 32]).public().to_hex();
        assert!(matches!(other.check(), Err(Refusal::BadSignature { .. })));
    }

    #[test]
    fn the_statement_is_the_documented_text() {
        let s = release_statement("a", &Version::new(1, 0, 0), "^0.1", "c", "m");
        assert_eq!(
            s,
            "hutong-release-v1\nname: a\nversion: 1.0.0\nhost-api: ^0.1\ncomponent-sha256: c\nmanifest-sha256: m\n"
        );
        let y = yank_statement("a", &Version::new(1, 0, 0), "bad\nname: b");
        assert_eq!(y.lines().count(), 4, "a reason cannot add lines: {y}");
    }

    #[test]
    fn malformed_packages_are_refused_with_what_is_wrong() {
        let bad = |manifest: &str, component: &[u8]| PublishRequest {
            manifest: manifest.into(),
            component: component.to_vec(),
            public_key: key().public().to_hex(),
            signature: "00".into(),
        };
        for (manifest, component, says) in [
            ("name = \"x\"", &b"\0asm"[..], "lacks"),
            (
                "name = \"Bad\"\nversion = \"1.0.0\"\nhost-api = \"^0.1\"",
                b"\0asm",
                "invalid",
            ),
            (
                "name = \"x\"\nversion = \"one\"\nhost-api = \"^0.1\"",
                b"\0asm",
                "semantic",
            ),
            (
                "name = \"x\"\nversion = \"1.0.0\"\nhost-api = \"~~\"",
                b"\0asm",
                "requirement",
            ),
            (
                "name = \"x\"\nversion = \"1.0.0\"\nhost-api = \"^0.1\"",
                b"ELF",
                "WebAssembly",
            ),
        ] {
            let err = bad(manifest, component)
                .check()
                .err()
                .map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(says)),
                "{manifest}: {err:?}"
            );
        }
    }

    #[test]
    fn a_yank_is_signed_over_name_version_and_reason() {
        let req = YankRequest::sign("a", &Version::new(1, 0, 0), "broken", &key());
        assert!(req.check().is_ok());
        let mut changed = req;
        changed.reason = "other".into();
        assert!(matches!(changed.check(), Err(Refusal::BadSignature { .. })));
    }
}
