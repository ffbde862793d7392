//! Hutong's app registry: where third-party developers publish signed app
//! packages and where district hosts fetch, check and install them.
//!
//! A **package** is an app's component, its `hutong.toml` manifest and an
//! ed25519 signature by its publisher, addressed as `name@version` (semver).
//! The signature is over a canonical [release statement](release) that binds
//! the name, the version, the host-API requirement and the sha256 digests of
//! the component *and* the manifest, so neither can be swapped for another
//! (a manifest that asks for more permissions than the one signed, say).
//!
//! The design decision to know: **the registry is not trusted.** Every
//! publish and yank is an entry of an append-only, hash-chained [log]; each
//! client remembers the last log head it saw and refuses a registry whose log
//! went backwards or was rewritten, checks that the release it installs is in
//! the log (with the chain from its entry to the head), and accepts only
//! signatures by keys its district trusts. A registry can lose data or lie,
//! but it cannot make a host install something no trusted publisher signed,
//! or hide that it changed its history.
//!
//! Two kinds of registry sit behind one [`Registry`] trait: a plain
//! directory ([`DirRegistry`], for offline districts: copy it onto a disk)
//! and the same directory served over HTTP ([`serve::router`], read by
//! [`HttpRegistry`]). [`client::fetch`] is the one verification path both
//! go through. `registry/README.md` documents the layout, the statement, the
//! log format and the proof procedure.

pub mod client;
pub mod dir;
pub mod http;
pub mod index;
pub mod keys;
pub mod log;
pub mod release;
pub mod serve;
pub mod tls;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

pub use client::{Fetch, Fetched, PackageCache, TrustedKey, fetch};
pub use dir::DirRegistry;
pub use http::HttpRegistry;
pub use index::{Index, IndexEntry, PackageRequest, resolve};
pub use keys::{KeyPair, PublicKey};
pub use log::{LogEntry, LogEvent, LogHead, LogSlice, Proof};
pub use release::{PackageInfo, PublishRequest, ReleaseRecord, YankRequest};

/// A boxed future, so [`Registry`] can be used as `dyn Registry`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, RegistryError>> + Send + 'a>>;

/// A registry: read its index, log, proofs and blobs; publish and yank.
/// Implemented by a directory ([`DirRegistry`]) and by an HTTP client
/// ([`HttpRegistry`]); the same behaviours hold for both.
pub trait Registry: Send + Sync {
    /// Where the registry is: its URL or its directory. A host remembers the
    /// log head it saw under this name.
    fn location(&self) -> &str;
    /// A package's index: every release, yanked or not.
    fn index<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Index>;
    /// The log from entry `from` to the head.
    fn log(&self, from: u64) -> BoxFuture<'_, LogSlice>;
    /// A proof that `name@version` was published: its log entry and every
    /// entry after it up to the head.
    fn proof<'a>(&'a self, name: &'a str, version: &'a semver::Version) -> BoxFuture<'a, Proof>;
    /// A component or manifest by its sha256 digest (hex).
    fn blob<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, Vec<u8>>;
    /// Publish a signed package; the new log entry.
    fn publish(&self, request: PublishRequest) -> BoxFuture<'_, LogEntry>;
    /// Yank a release (signed by one of the package's publishers); the new
    /// log entry.
    fn yank(&self, request: YankRequest) -> BoxFuture<'_, LogEntry>;
}

/// Open the registry at `location`: an `http://` or `https://` URL, or else
/// a directory.
/// A directory must already hold a registry unless `create` is set.
pub fn open(location: &str, create: bool) -> Result<Box<dyn Registry>, RegistryError> {
    if location.starts_with("http://") || location.starts_with("https://") {
        Ok(Box::new(HttpRegistry::new(location)?))
    } else if create {
        Ok(Box::new(DirRegistry::create(location)?))
    } else {
        Ok(Box::new(DirRegistry::open(location)?))
    }
}

/// Why the registry refused a publish, yank or lookup. Travels as JSON from
/// an HTTP registry to its client, so both kinds of registry refuse with the
/// same value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "refusal", content = "detail", rename_all = "kebab-case")]
pub enum Refusal {
    /// No package of this name was ever published.
    #[error("no package `{name}` in the registry")]
    UnknownPackage {
        /// The package.
        name: String,
    },
    /// The package exists but not this version.
    #[error("`{name}` has no release {version}")]
    UnknownRelease {
        /// The package.
        name: String,
        /// The version.
        version: String,
    },
    /// The version was published already; versions are immutable.
    #[error(
        "{name}@{version} is already published and versions are immutable (even with the same bytes); publish a new version, or yank this one"
    )]
    Republish {
        /// The package.
        name: String,
        /// The version.
        version: String,
    },
    /// The signature does not verify against the given key.
    #[error(
        "the signature on {name}@{version} does not verify with key {key_id}; sign the release statement of exactly this component and manifest"
    )]
    BadSignature {
        /// The package.
        name: String,
        /// The version.
        version: String,
        /// The key it claims.
        key_id: String,
    },
    /// The package was first published with other keys.
    #[error(
        "key {key_id} may not publish or yank `{name}`: its releases are signed by {owners}; sign with one of those keys"
    )]
    NotOwner {
        /// The package.
        name: String,
        /// The key used.
        key_id: String,
        /// The package's publisher keys.
        owners: String,
    },
    /// The release is yanked already.
    #[error("{name}@{version} is already yanked")]
    AlreadyYanked {
        /// The package.
        name: String,
        /// The version.
        version: String,
    },
    /// No blob with this digest.
    #[error("no blob with sha256 {sha256} in the registry")]
    UnknownBlob {
        /// The digest.
        sha256: String,
    },
    /// The package or request is malformed.
    #[error("{0}")]
    Invalid(String),
}

/// Why a registry operation failed. Every refusal says what was wrong and
/// what to do; a failed install changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry refused.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// A request or argument is malformed (a package spec, a key, a URL).
    #[error("{0}")]
    Invalid(String),
    /// Downloaded bytes do not have the digest the signed release names.
    #[error(
        "the {what} of {name}@{version} was tampered with: the signed release names sha256 {expected} but the registry served {actual}"
    )]
    Tampered {
        /// `component` or `manifest`.
        what: &'static str,
        /// The package.
        name: String,
        /// The version.
        version: String,
        /// The digest that was signed.
        expected: String,
        /// The digest of what was served.
        actual: String,
    },
    /// The signature in the log does not verify.
    #[error(
        "the signature on {name}@{version} by key {key_id} does not verify: the release was altered after it was signed"
    )]
    BadSignature {
        /// The package.
        name: String,
        /// The version.
        version: String,
        /// The key it claims.
        key_id: String,
    },
    /// Signed by a key the district never trusted.
    #[error(
        "{name}@{version} is signed by key {key_id}, which district `{district}` does not trust; if you know this publisher, trust their public key with `hutong registry trust --district {district} --key <public key>`"
    )]
    UntrustedKey {
        /// The district.
        district: String,
        /// The package.
        name: String,
        /// The version.
        version: String,
        /// The signing key's id.
        key_id: String,
    },
    /// Signed by a key the district revoked.
    #[error(
        "{name}@{version} is signed by key {key_id}, which district `{district}` revoked; ask the publisher for a release signed with a key you trust"
    )]
    RevokedKey {
        /// The district.
        district: String,
        /// The package.
        name: String,
        /// The version.
        version: String,
        /// The signing key's id.
        key_id: String,
    },
    /// No release matches the requirement at all.
    #[error("no release of `{name}` matches {requirement} (published: {published})")]
    NoMatch {
        /// The package.
        name: String,
        /// The requirement.
        requirement: String,
        /// The versions there are.
        published: String,
    },
    /// Every matching release is yanked.
    #[error(
        "every release of `{name}` matching {requirement} is yanked ({yanked}); pin one exactly (=x.y.z) to install it anyway"
    )]
    Yanked {
        /// The package.
        name: String,
        /// The requirement.
        requirement: String,
        /// The yanked matches.
        yanked: String,
    },
    /// Every matching, installable release needs a host API this host
    /// does not implement.
    #[error(
        "{name}@{version} requires host API {required}, but this host implements hutong:platform@{host}; pick a release built for this host"
    )]
    IncompatibleHostApi {
        /// The package.
        name: String,
        /// The best match.
        version: String,
        /// Its requirement.
        required: String,
        /// This host's API version.
        host: String,
    },
    /// The registry's log is shorter than the one this host saw before.
    #[error(
        "registry {registry} rewound its log: this host saw {remembered} entries before, now it has {now}; the registry lost or removed history, so nothing from it is trusted until its operator explains"
    )]
    LogRewound {
        /// The registry.
        registry: String,
        /// The size this host remembers.
        remembered: u64,
        /// The size it has now.
        now: u64,
    },
    /// The registry's log no longer extends the one this host saw before.
    #[error(
        "registry {registry} rewrote its log: {detail}; the registry changed history this host already saw, so nothing from it is trusted until its operator explains"
    )]
    LogRewritten {
        /// The registry.
        registry: String,
        /// What does not match.
        detail: String,
    },
    /// The inclusion proof does not prove the release is in the log.
    #[error(
        "registry {registry} gave no valid proof that {name}@{version} is in its log: {detail}"
    )]
    BadProof {
        /// The registry.
        registry: String,
        /// The package.
        name: String,
        /// The version.
        version: String,
        /// What is wrong.
        detail: String,
    },
    /// The package's index leaves out or misstates what the log shows.
    #[error(
        "registry {registry} misstates `{name}` in its index: {detail}; its log is the record, so nothing from it is installed"
    )]
    IndexMismatch {
        /// The registry.
        registry: String,
        /// The package.
        name: String,
        /// What differs.
        detail: String,
    },
    /// The registry's data does not parse or contradicts itself.
    #[error("registry {registry} is corrupt: {detail}")]
    Corrupt {
        /// The registry.
        registry: String,
        /// What is wrong.
        detail: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The registry could not be reached or answered badly.
    #[error("registry {registry} could not be reached: {detail}")]
    Unreachable {
        /// The registry.
        registry: String,
        /// What happened.
        detail: String,
    },
}

impl RegistryError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        RegistryError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// sha256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Whether `s` is a sha256 digest in lowercase hex.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `s` is a package name: 1 to 63 characters of a-z, 0-9 and '-',
/// starting with a letter (the same rule as app names in manifests).
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
