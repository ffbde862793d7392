//! The one path by which a host takes a package from a registry, whatever
//! kind it is: check the log, resolve, check the proof, the publisher's key
//! and signature, and the digests of what was downloaded.
//!
//! [`fetch`] does, in order (the first failure refuses, and nothing is
//! installed):
//!
//! 1. reads the log from the head this host remembers and checks it extends
//!    it ([`LogRewound`](RegistryError::LogRewound),
//!    [`LogRewritten`](RegistryError::LogRewritten));
//! 2. checks that the package's index lists every publish and yank of it
//!    among those new log entries, and resolves the request against it
//!    ([`resolve`](crate::resolve));
//! 3. checks the proof that the release is in the log, up to that head, and
//!    that the index told the truth about it (digests, key, yanked);
//! 4. finds the signing key among the district's trusted keys and verifies
//!    the signature over the release statement;
//! 5. takes the manifest and the component from the local cache or the
//!    registry and checks their sha256 against the signed digests.

use std::path::{Path, PathBuf};

use semver::Version;

use crate::index::{PackageRequest, resolve};
use crate::log::{ChainError, LogEvent, LogHead, check_extends, check_proof};
use crate::release::{PackageInfo, ReleaseRecord};
use crate::{Registry, RegistryError, is_sha256_hex, sha256_hex};

/// A publisher key a district trusts (or did).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedKey {
    /// The key's id.
    pub key_id: String,
    /// The key, hex.
    pub public_key: String,
    /// Whether the district revoked it.
    pub revoked: bool,
}

/// Packages already downloaded and verified, by sha256: a reinstall or a
/// rollback to an earlier download reads them here instead of the network.
/// A file whose bytes no longer match its name is ignored and replaced.
#[derive(Clone, Debug)]
pub struct PackageCache {
    dir: std::sync::Arc<Path>,
}

impl PackageCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        PackageCache {
            dir: dir.into().into(),
        }
    }

    fn path(&self, sha256: &str) -> Option<PathBuf> {
        is_sha256_hex(sha256).then(|| self.dir.join("sha256").join(sha256))
    }

    /// The bytes with this digest, if cached intact.
    pub fn get(&self, sha256: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.path(sha256)?).ok()?;
        (sha256_hex(&bytes) == sha256).then_some(bytes)
    }

    /// Keep `bytes` under their digest. A cache that cannot be written only
    /// costs a later download, so failure is logged, not returned.
    pub fn put(&self, bytes: &[u8]) {
        let Some(path) = self.path(&sha256_hex(bytes)) else {
            return;
        };
        if path.is_file() {
            return;
        }
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .map_err(|e| RegistryError::io(&path, e))
            .and_then(|()| crate::dir::write_atomically(&path, bytes));
        if let Err(err) = written {
            tracing::warn!(error = %err, "could not cache a package");
        }
    }
}

/// What to fetch, and what the host knows.
pub struct Fetch<'a> {
    /// The district installing (named in refusals).
    pub district: &'a str,
    /// The package and version requirement.
    pub request: &'a PackageRequest,
    /// The `hutong:platform` version this host implements.
    pub host_api: &'a Version,
    /// The log head this host saw last from this registry, if any.
    pub remembered: Option<&'a LogHead>,
    /// The district's publisher keys.
    pub trusted: &'a [TrustedKey],
    /// Where verified packages are kept.
    pub cache: Option<&'a PackageCache>,
}

/// A verified package.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The signed release.
    pub release: ReleaseRecord,
    /// The log entry that published it.
    pub log_index: u64,
    /// The log head it was checked against (remember it).
    pub head: LogHead,
    /// Whether it is yanked (installed only when pinned exactly).
    pub yanked: bool,
    /// The manifest's bytes.
    pub manifest: Vec<u8>,
    /// The component's bytes.
    pub component: Vec<u8>,
    /// Whether anything had to be downloaded (false: all from the cache).
    pub downloaded: bool,
}

/// Every publish and yank of the package among the log entries this host
/// just checked must be in the index as the log says: a registry cannot
/// withhold a release (or a yank) that appeared since the host last looked.
fn check_index_against(index: &crate::Index, entries: &[crate::LogEntry]) -> Result<(), String> {
    // A host new to a registry checks every entry: look releases up by
    // version, not by walking the index each time.
    let listed: std::collections::HashMap<&Version, &crate::IndexEntry> =
        index.releases.iter().map(|r| (&r.version, r)).collect();
    for entry in entries {
        match &entry.event {
            LogEvent::Publish(r) if r.name == index.name => match listed.get(&r.version) {
                Some(listed)
                    if listed.component_sha256 == r.component_sha256
                        && listed.manifest_sha256 == r.manifest_sha256
                        && listed.key_id == r.key_id
                        && listed.log_index == entry.index => {}
                Some(_) => {
                    return Err(format!(
                        "{} is listed differently from log entry {}",
                        r.version, entry.index
                    ));
                }
                None => {
                    return Err(format!(
                        "{} (log entry {}) is not listed",
                        r.version, entry.index
                    ));
                }
            },
            LogEvent::Yank(y)
                if y.name == index.name && !listed.get(&y.version).is_some_and(|r| r.yanked) =>
            {
                return Err(format!(
                    "the yank of {} (log entry {}) is not shown",
                    y.version, entry.index
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Fetch and verify a package; see the module docs.
pub async fn fetch(registry: &dyn Registry, f: Fetch<'_>) -> Result<Fetched, RegistryError> {
    let location = registry.location().to_owned();
    let remembered = f.remembered.cloned().unwrap_or_else(LogHead::empty);
    let slice = registry.log(remembered.size).await?;
    let head = check_extends(&remembered, &slice).map_err(|e| match e {
        ChainError::Shorter { expected, actual } => RegistryError::LogRewound {
            registry: location.clone(),
            remembered: expected,
            now: actual,
        },
        ChainError::Broken(detail) => RegistryError::LogRewritten {
            registry: location.clone(),
            detail,
        },
    })?;

    let name = &f.request.name;
    let index = registry.index(name).await?;
    check_index_against(&index, &slice.entries).map_err(|detail| RegistryError::IndexMismatch {
        registry: location.clone(),
        name: name.clone(),
        detail,
    })?;
    let chosen = resolve(&index, f.request, f.host_api)?;
    let version = chosen.version.clone();

    let bad_proof = |detail: String| RegistryError::BadProof {
        registry: location.clone(),
        name: name.clone(),
        version: version.to_string(),
        detail,
    };
    let proof = registry.proof(name, &version).await?;
    let (log_index, release, yanked) =
        check_proof(&proof, name, &version, &head).map_err(bad_proof)?;
    if release.component_sha256 != chosen.component_sha256
        || release.manifest_sha256 != chosen.manifest_sha256
        || release.key_id != chosen.key_id
        || release.host_api != chosen.host_api
        || log_index != chosen.log_index
    {
        return Err(bad_proof(format!(
            "its index describes the release differently from log entry {log_index}"
        )));
    }
    if yanked && f.request.exact().as_ref() != Some(&version) {
        return Err(RegistryError::Yanked {
            name: name.clone(),
            requirement: f.request.requirement.to_string(),
            yanked: format!("{version} (the log records the yank its index left out)"),
        });
    }

    let trusted = f
        .trusted
        .iter()
        .find(|k| k.key_id == release.key_id && k.public_key == release.public_key);
    match trusted {
        None => {
            return Err(RegistryError::UntrustedKey {
                district: f.district.to_owned(),
                name: name.clone(),
                version: version.to_string(),
                key_id: release.key_id.clone(),
            });
        }
        Some(k) if k.revoked => {
            return Err(RegistryError::RevokedKey {
                district: f.district.to_owned(),
                name: name.clone(),
                version: version.to_string(),
                key_id: release.key_id.clone(),
            });
        }
        Some(_) => {}
    }
    if !release.signature_valid() {
        return Err(RegistryError::BadSignature {
            name: name.clone(),
            version: version.to_string(),
            key_id: release.key_id.clone(),
        });
    }

    let mut downloaded = false;
    let mut take = async |what: &'static str, sha256: &str| {
        if let Some(bytes) = f.cache.and_then(|c| c.get(sha256)) {
            return Ok(bytes);
        }
        downloaded = true;
        let bytes = registry.blob(sha256).await?;
        let actual = sha256_hex(&bytes);
        if actual != sha256 {
            return Err(RegistryError::Tampered {
                what,
                name: name.clone(),
                version: version.to_string(),
                expected: sha256.to_owned(),
                actual,
            });
        }
        Ok(bytes)
    };
    let manifest = take("manifest", &release.manifest_sha256).await?;
    let component = take("component", &release.component_sha256).await?;

    let info = PackageInfo::from_manifest(&manifest).map_err(|e| RegistryError::Corrupt {
        registry: location.clone(),
        detail: format!("the manifest of {name}@{version}: {e}"),
    })?;
    if info.name != release.name
        || info.version != release.version
        || info.host_api.to_string() != release.host_api
    {
        return Err(RegistryError::Corrupt {
            registry: location.clone(),
            detail: format!(
                "the release {name}@{version} (host-api {}) was signed for a manifest that says {}@{} (host-api {})",
                release.host_api, info.name, info.version, info.host_api
            ),
        });
    }
    if !info.host_api.matches(f.host_api) {
        return Err(RegistryError::IncompatibleHostApi {
            name: name.clone(),
            version: version.to_string(),
            required: release.host_api.clone(),
            host: f.host_api.to_string(),
        });
    }
    if let Some(cache) = f.cache {
        cache.put(&manifest);
        cache.put(&component);
    }
    Ok(Fetched {
        release,
        log_index,
        head,
        yanked,
        manifest,
        component,
        downloaded,
    })
}

#[cfg(test)]
mod tests {
    //! The same behaviours against a directory registry and the same
    //! directory served over HTTP.

    use super::*;
    use crate::keys::KeyPair;
    use crate::log::{GENESIS, LogEntry, LogEvent};
    use crate::release::{PublishRequest, YankRequest};
    use crate::{DirRegistry, HttpRegistry, Refusal};

    const HOST: Version = Version::new(0, 1, 0);

    fn manifest(version: &str, host_api: &str) -> Vec<u8> {
        format!("name = \"care\"\nversion = \"{version}\"\nhost-api = \"{host_api}\"\n")
            .into_bytes()
    }

    fn component(version: &str) -> Vec<u8> {
        format!("\0asm care {version}").into_bytes()
    }

    fn publisher() -> KeyPair {
        KeyPair::from_secret([9; 32])
    }

    fn trusted(key: &KeyPair) -> Vec<TrustedKey> {
        vec![TrustedKey {
            key_id: key.public().id(),
            public_key: key.public().to_hex(),
            revoked: false,
        }]
    }

    /// A directory registry, and the registry to talk to: the directory
    /// itself or an HTTP server over it.
    struct Fixture {
        _dir: tempfile::TempDir,
        dir: DirRegistry,
        registry: Box<dyn Registry>,
        server: Option<tokio::task::JoinHandle<()>>,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            if let Some(server) = &self.server {
                server.abort();
            }
        }
    }

    async fn fixture(http: bool) -> Fixture {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = DirRegistry::create(tmp.path().join("reg")).unwrap_or_else(|e| panic!("{e}"));
        let (registry, server): (Box<dyn Registry>, _) = if http {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
            let app = crate::serve::router(dir.clone());
            let server = tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            let client =
                HttpRegistry::new(&format!("http://{addr}/")).unwrap_or_else(|e| panic!("{e}"));
            (Box::new(client), Some(server))
        } else {
            (Box::new(dir.clone()), None)
        };
        Fixture {
            _dir: tmp,
            dir,
            registry,
            server,
        }
    }

    async fn publish(
        f: &Fixture,
        version: &str,
        host_api: &str,
    ) -> Result<LogEntry, RegistryError> {
        let req = PublishRequest::sign(
            manifest(version, host_api),
            component(version),
            &publisher(),
        )?;
        f.registry.publish(req).await
    }

    async fn get(
        f: &Fixture,
        req: &str,
        remembered: Option<&LogHead>,
        keys: &[TrustedKey],
    ) -> Result<Fetched, RegistryError> {
        let request = PackageRequest::parse(req)?;
        fetch(
            f.registry.as_ref(),
            Fetch {
                district: "east",
                request: &request,
                host_api: &HOST,
                remembered,
                trusted: keys,
                cache: None,
            },
        )
        .await
    }

    /// Rewrite the directory's log through `edit`, re-chaining every hash
    /// after it, as a registry operator with write access could.
    fn rewrite(f: &Fixture, edit: impl FnOnce(&mut Vec<LogEntry>)) {
        let mut entries = f.dir.entries().unwrap_or_else(|e| panic!("{e}")).to_vec();
        edit(&mut entries);
        let mut prev = GENESIS.to_owned();
        let mut text = String::new();
        for (i, e) in entries.iter_mut().enumerate() {
            *e = LogEntry::seal(i as u64, &prev, e.at, e.event.clone());
            prev = e.hash.clone();
            text.push_str(&serde_json::to_string(e).unwrap_or_default());
            text.push('\n');
        }
        std::fs::write(f.dir.root().join("log.jsonl"), text).unwrap_or_else(|e| panic!("{e}"));
    }

    macro_rules! on_both_kinds {
        ($($name:ident),* $(,)?) => {$(
            mod $name {
                #[tokio::test]
                async fn directory() {
                    super::$name(super::fixture(false).await).await
                }
                #[tokio::test]
                async fn http() {
                    super::$name(super::fixture(true).await).await
                }
            }
        )*};
    }

    on_both_kinds!(
        resolves_verifies_and_returns_the_signed_bytes,
        a_version_is_never_published_twice,
        a_malformed_package_is_refused_with_what_is_wrong,
        only_the_first_publisher_may_publish_or_yank_more,
        yanked_releases_need_an_exact_pin_even_when_the_index_hides_the_yank,
        a_release_withheld_from_the_index_is_noticed,
        a_tampered_blob_is_refused,
        a_forged_signature_is_refused,
        unknown_and_revoked_keys_are_refused,
        a_rewound_or_rewritten_log_is_refused,
        a_release_for_another_host_api_is_refused,
    );

    async fn resolves_verifies_and_returns_the_signed_bytes(f: Fixture) {
        for v in ["1.0.0", "1.2.0", "1.2.7", "2.0.0"] {
            publish(&f, v, "^0.1")
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let got = get(&f, "care@^1.2", None, &trusted(&publisher()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.release.version, Version::new(1, 2, 7));
        assert_eq!(got.component, component("1.2.7"));
        assert_eq!(got.manifest, manifest("1.2.7", "^0.1"));
        assert_eq!((got.log_index, got.head.size, got.yanked), (2, 4, false));
        let index = f
            .registry
            .index("care")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(index.releases.len(), 4);
        assert_eq!(index.releases[2].key_id, publisher().public().id());
        assert!(matches!(
            f.registry.index("nothing").await,
            Err(RegistryError::Refused(Refusal::UnknownPackage { .. }))
        ));
    }

    async fn a_version_is_never_published_twice(f: Fixture) {
        publish(&f, "1.0.0", "^0.1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // The very same bytes, and other bytes, are both refused.
        let again = publish(&f, "1.0.0", "^0.1").await;
        assert!(
            matches!(
                again,
                Err(RegistryError::Refused(Refusal::Republish { .. }))
            ),
            "{again:?}"
        );
        let other = PublishRequest::sign(
            manifest("1.0.0", "^0.1"),
            b"\0asm other".to_vec(),
            &publisher(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let other = f.registry.publish(other).await;
        assert!(
            matches!(
                other,
                Err(RegistryError::Refused(Refusal::Republish { .. }))
            ),
            "{other:?}"
        );
        assert_eq!(f.dir.entries().map(|e| e.len()).ok(), Some(1));
    }

    async fn a_malformed_package_is_refused_with_what_is_wrong(f: Fixture) {
        let key = publisher();
        let bad = PublishRequest {
            manifest: b"name = \"care\"".to_vec(),
            component: component("1.0.0"),
            public_key: key.public().to_hex(),
            signature: key.sign(b"anything"),
        };
        let got = f.registry.publish(bad).await;
        assert!(
            matches!(&got, Err(RegistryError::Refused(Refusal::Invalid(d))) if d.contains("lacks name, version or host-api")),
            "{got:?}"
        );
        let got = f.registry.blob("../../etc/passwd").await;
        assert!(got.is_err(), "{got:?}");
        assert_eq!(f.dir.entries().map(|e| e.len()).ok(), Some(0));
    }

    async fn only_the_first_publisher_may_publish_or_yank_more(f: Fixture) {
        publish(&f, "1.0.0", "^0.1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let stranger = KeyPair::from_secret([10; 32]);
        let req = PublishRequest::sign(manifest("1.1.0", "^0.1"), component("1.1.0"), &stranger)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            f.registry.publish(req).await,
            Err(RegistryError::Refused(Refusal::NotOwner { .. }))
        ));
        let yank = YankRequest::sign("care", &Version::new(1, 0, 0), "mine now", &stranger);
        assert!(matches!(
            f.registry.yank(yank).await,
            Err(RegistryError::Refused(Refusal::NotOwner { .. }))
        ));
        let mut forged =
            PublishRequest::sign(manifest("1.1.0", "^0.1"), component("1.1.0"), &publisher())
                .unwrap_or_else(|e| panic!("{e}"));
        forged.component = component("1.1.0-evil");
        assert!(matches!(
            f.registry.publish(forged).await,
            Err(RegistryError::Refused(Refusal::BadSignature { .. }))
        ));
        assert_eq!(f.dir.entries().map(|e| e.len()).ok(), Some(1));
    }

    async fn yanked_releases_need_an_exact_pin_even_when_the_index_hides_the_yank(f: Fixture) {
        publish(&f, "1.2.0", "^0.1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        publish(&f, "1.2.5", "^0.1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let yank = YankRequest::sign(
            "care",
            &Version::new(1, 2, 5),
            "crashes on start",
            &publisher(),
        );
        f.registry
            .yank(yank.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            f.registry.yank(yank).await,
            Err(RegistryError::Refused(Refusal::AlreadyYanked { .. }))
        ));
        let keys = trusted(&publisher());
        let got = get(&f, "care@^1.2", None, &keys)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.release.version, Version::new(1, 2, 0));
        assert!(matches!(
            get(&f, "care@^1.2.5", None, &keys).await,
            Err(RegistryError::Yanked { .. })
        ));
        let pinned = get(&f, "care@=1.2.5", None, &keys)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(pinned.yanked);

        // A registry that leaves the yank out of its index: a host that
        // reads the log entry of the yank sees the index disagree; one that
        // saw that entry before finds the yank in the proof.
        let head = pinned.head.clone();
        let hiding = Misstating(f.registry.as_ref(), |index: &mut crate::Index| {
            for r in &mut index.releases {
                r.yanked = false;
            }
        });
        let request = PackageRequest::parse("care@^1.2").unwrap_or_else(|e| panic!("{e}"));
        let fetch_from = async |remembered: Option<&LogHead>| {
            fetch(
                &hiding,
                Fetch {
                    district: "east",
                    request: &request,
                    host_api: &HOST,
                    remembered,
                    trusted: &keys,
                    cache: None,
                },
            )
            .await
        };
        let fresh = fetch_from(None).await;
        assert!(
            matches!(fresh, Err(RegistryError::IndexMismatch { .. })),
            "{fresh:?}"
        );
        let seen = fetch_from(Some(&head)).await;
        assert!(
            matches!(seen, Err(RegistryError::Yanked { .. })),
            "{seen:?}"
        );
    }

    /// A registry whose index is edited by `edit` on the way out.
    struct Misstating<'a, F>(&'a dyn Registry, F);

    impl<F: Fn(&mut crate::Index) + Send + Sync> Registry for Misstating<'_, F> {
        fn location(&self) -> &str {
            self.0.location()
        }
        fn index<'a>(&'a self, name: &'a str) -> crate::BoxFuture<'a, crate::Index> {
            Box::pin(async move {
                let mut index = self.0.index(name).await?;
                (self.1)(&mut index);
                Ok(index)
            })
        }
        fn log(&self, from: u64) -> crate::BoxFuture<'_, crate::LogSlice> {
            self.0.log(from)
        }
        fn proof<'a>(&'a self, n: &'a str, v: &'a Version) -> crate::BoxFuture<'a, crate::Proof> {
            self.0.proof(n, v)
        }
        fn blob<'a>(&'a self, s: &'a str) -> crate::BoxFuture<'a, Vec<u8>> {
            self.0.blob(s)
        }
        fn publish(&self, r: PublishRequest) -> crate::BoxFuture<'_, LogEntry> {
            self.0.publish(r)
        }
        fn yank(&self, r: YankRequest) -> crate::BoxFuture<'_, LogEntry> {
            self.0.yank(r)
        }
    }

    async fn a_release_withheld_from_the_index_is_noticed(f: Fixture) {
        publish(&f, "1.0.0", "^0.1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let keys = trusted(&publisher());
        let seen = get(&f, "care", None, &keys)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .head;
        publish(&f, "1.0.1", "^0.1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // The registry keeps the fix out of its index, so hosts stay on the
        // old release.
        let withholding = Misstating(f.registry.as_ref(), |index: &mut crate::Index| {
            index
                .releases
                .retain(|r| r.version != Version::new(1, 0, 1));
        });
        let request = PackageRequest::parse("care").unwrap_or_else(|e| panic!("{e}"));
        let got = fetch(
            &withholding,
            Fetch {
                district: "east",
                request: &request,
                host_api: &HOST,
                remembered: Some(&seen),
                trusted: &keys,
                cache: None,
            },
        )
        .await;
        assert!(
            matches!(&got, Err(RegistryError::IndexMismatch { detail, .. }) if detail.contains("1.0.1")),
            "{got:?}"
        );
    }

    async fn a_tampered_blob_is_refused(f: Fixture) {
        let entry = publish(&f, "1.0.0", "^0.1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let LogEvent::Publish(release) = entry.event else {
            panic!("not a publish")
        };
        let path = f
            .dir
            .root()
            .join("blobs/sha256")
            .join(&release.component_sha256);
        std::fs::write(&path, b"\0asm evil").unwrap_or_else(|e| panic!("{e}"));
        let got = get(&f, "care@^1", None, &trusted(&publisher())).await;
        assert!(
            matches!(
                got,
                Err(RegistryError::Tampered {
                    what: "component",
                    ..
                })
            ),
            "{got:?}"
        );
    }

    async fn a_forged_signature_is_refused(f: Fixture) {
        publish(&f, "1.0.0", "^0.1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // The operator points the release at other bytes and re-chains the
        // log: every hash holds, the signature does not.
        let evil = component("evil");
        std::fs::write(
            f.dir.root().join("blobs/sha256").join(sha256_hex(&evil)),
            &evil,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        rewrite(&f, |entries| {
            if let LogEvent::Publish(r) = &mut entries[0].event {
                r.component_sha256 = sha256_hex(&evil);
            }
        });
        let got = get(&f, "care@^1", None, &trusted(&publisher())).await;
        assert!(
            matches!(got, Err(RegistryError::BadSignature { .. })),
            "{got:?}"
        );
    }

    async fn unknown_and_revoked_keys_are_refused(f: Fixture) {
        publish(&f, "1.0.0", "^0.1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let other = trusted(&KeyPair::from_secret([11; 32]));
        assert!(matches!(
            get(&f, "care", None, &other).await,
            Err(RegistryError::UntrustedKey { .. })
        ));
        assert!(matches!(
            get(&f, "care", None, &[]).await,
            Err(RegistryError::UntrustedKey { .. })
        ));
        let mut revoked = trusted(&publisher());
        revoked[0].revoked = true;
        assert!(matches!(
            get(&f, "care", None, &revoked).await,
            Err(RegistryError::RevokedKey { .. })
        ));
    }

    async fn a_rewound_or_rewritten_log_is_refused(f: Fixture) {
        publish(&f, "1.0.0", "^0.1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        publish(&f, "1.1.0", "^0.1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let keys = trusted(&publisher());
        let seen = get(&f, "care", None, &keys)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .head;
        assert_eq!(seen.size, 2);

        rewrite(&f, |entries| {
            entries.pop();
        });
        let got = get(&f, "care", Some(&seen), &keys).await;
        assert!(
            matches!(
                got,
                Err(RegistryError::LogRewound {
                    remembered: 2,
                    now: 1,
                    ..
                })
            ),
            "{got:?}"
        );

        // Grown back to the same size, and beyond, with another history.
        publish(&f, "1.1.1", "^0.1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let got = get(&f, "care", Some(&seen), &keys).await;
        assert!(
            matches!(got, Err(RegistryError::LogRewritten { .. })),
            "{got:?}"
        );
        publish(&f, "1.2.0", "^0.1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let got = get(&f, "care", Some(&seen), &keys).await;
        assert!(
            matches!(got, Err(RegistryError::LogRewritten { .. })),
            "{got:?}"
        );
        // A host that never saw the old history takes the new one.
        assert!(get(&f, "care", None, &keys).await.is_ok());
    }

    async fn a_release_for_another_host_api_is_refused(f: Fixture) {
        publish(&f, "1.0.0", "^0.1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        publish(&f, "1.1.0", "^0.2")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let keys = trusted(&publisher());
        let got = get(&f, "care@^1", None, &keys)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.release.version, Version::new(1, 0, 0));
        assert!(matches!(
            get(&f, "care@^1.1", None, &keys).await,
            Err(RegistryError::IncompatibleHostApi { .. })
        ));
    }

    #[tokio::test]
    async fn the_cache_serves_verified_bytes_and_ignores_damaged_ones() {
        let f = fixture(false).await;
        publish(&f, "1.0.0", "^0.1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let cache_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cache = PackageCache::new(cache_dir.path());
        let request = PackageRequest::parse("care").unwrap_or_else(|e| panic!("{e}"));
        let keys = trusted(&publisher());
        let fetch_once = async || {
            fetch(
                f.registry.as_ref(),
                Fetch {
                    district: "east",
                    request: &request,
                    host_api: &HOST,
                    remembered: None,
                    trusted: &keys,
                    cache: Some(&cache),
                },
            )
            .await
        };
        assert!(
            fetch_once()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .downloaded
        );
        assert!(
            !fetch_once()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .downloaded
        );
        let digest = sha256_hex(&component("1.0.0"));
        std::fs::write(cache_dir.path().join("sha256").join(&digest), b"rot")
            .unwrap_or_else(|e| panic!("{e}"));
        let again = fetch_once().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(again.downloaded);
        assert_eq!(again.component, component("1.0.0"));
    }
}
