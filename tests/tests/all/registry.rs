//! Installs, upgrades and rollbacks from a registry, driving the real host
//! with real components, against a directory registry and the same directory
//! served over HTTP, on SQLite and PostgreSQL. Every refusal installs
//! nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hutong_host::PlatformError;
use hutong_host::installs::registry::{RegistryInstall, UpgradeRequest};
use hutong_host::kernel::manifest::Permission;
use hutong_registry::log::GENESIS;
use hutong_registry::{
    DirRegistry, KeyPair, LogEntry, LogEvent, PublishRequest, Refusal, Registry, RegistryError,
    YankRequest, sha256_hex,
};
use hutong_tests::tls::{TestCa, serve_https, trusted_ca};
use hutong_tests::{Backend, TestHost, components, on_both_backends};

/// A registry for one test: a directory, and what the host talks to (the
/// directory itself, or an HTTP server over it).
struct TestRegistry {
    kind: Kind,
    dir: DirRegistry,
    location: String,
    server: Option<tokio::task::JoinHandle<()>>,
    _tmp: tempfile::TempDir,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Directory,
    Http,
}

impl TestRegistry {
    async fn new(kind: Kind) -> Self {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let dir = DirRegistry::create(tmp.path().join("registry")).expect("create registry");
        let (location, server) = match kind {
            Kind::Directory => (dir.root().display().to_string(), None),
            Kind::Http => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("address");
                let app = hutong_registry::serve::router(dir.clone());
                let server = tokio::spawn(async move {
                    let _ = axum::serve(listener, app).await;
                });
                (format!("http://{addr}"), Some(server))
            }
        };
        TestRegistry {
            kind,
            dir,
            location,
            server,
            _tmp: tmp,
        }
    }

    /// The directory served over https with a certificate signed by `ca`.
    async fn https(ca: &TestCa) -> Self {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let dir = DirRegistry::create(tmp.path().join("registry")).expect("create registry");
        let addr = serve_https(hutong_registry::serve::router(dir.clone()), ca).await;
        TestRegistry {
            kind: Kind::Http,
            dir,
            location: format!("https://{addr}"),
            server: None,
            _tmp: tmp,
        }
    }

    fn client(&self) -> Box<dyn Registry> {
        hutong_registry::open(&self.location, false).expect("open registry")
    }

    async fn publish_as(
        &self,
        key: &KeyPair,
        manifest: &str,
        component: &str,
    ) -> Result<LogEntry, RegistryError> {
        let bytes = std::fs::read(component).expect("read component");
        let request = PublishRequest::sign(manifest.as_bytes().to_vec(), bytes, key)?;
        self.client().publish(request).await
    }

    async fn publish(&self, manifest: &str, component: &str) -> LogEntry {
        self.publish_as(&publisher(), manifest, component)
            .await
            .expect("publish")
    }

    async fn yank(&self, name: &str, version: &str) {
        let version = semver::Version::parse(version).expect("version");
        self.client()
            .yank(YankRequest::sign(name, &version, "broken", &publisher()))
            .await
            .expect("yank");
    }

    fn blob_path(&self, sha256: &str) -> PathBuf {
        self.dir.root().join("blobs").join("sha256").join(sha256)
    }

    /// Rewrite the log through `edit` and re-chain every hash, as an
    /// operator with write access to the registry could.
    fn rewrite_log(&self, edit: impl FnOnce(&mut Vec<LogEntry>)) {
        let mut entries = self.dir.entries().expect("read log").to_vec();
        edit(&mut entries);
        let mut prev = GENESIS.to_owned();
        let mut text = String::new();
        for (i, entry) in entries.iter_mut().enumerate() {
            *entry = LogEntry::seal(i as u64, &prev, entry.at, entry.event.clone());
            prev = entry.hash.clone();
            text.push_str(&serde_json::to_string(entry).expect("entry JSON"));
            text.push('\n');
        }
        std::fs::write(self.dir.root().join("log.jsonl"), text).expect("write log");
    }
}

fn publisher() -> KeyPair {
    KeyPair::from_secret([42; 32])
}

/// The example app's manifest at `version`, asking for `kv` and whatever
/// `more` adds under [permissions], with `sections` appended.
fn hello(version: &str, host_api: &str, more: &str, sections: &str) -> String {
    format!(
        r#"name = "hello"
version = "{version}"
description = "Greets visitors and counts their visits."
host-api = "{host_api}"

[permissions]
kv = "Counts how many times each visitor was greeted."
{more}

[http]
public = ["/", "/greet/*", "/visits", "/ping"]

{sections}
"#
    )
}

fn hello_v(version: &str) -> String {
    hello(version, "^0.1", "", "")
}

/// Version 1.1.0 also asks to be called every hour.
fn hello_with_schedule(version: &str) -> String {
    hello(
        version,
        "^0.1",
        r#"schedules = "Tidies the visit counts every hour.""#,
        "[[schedules]]\nname = \"tidy\"\nevery = \"1h\"\n",
    )
}

/// The raw app's component under the name `hello`: a new version that uses
/// no capability at all.
fn hello_as_raw(version: &str) -> String {
    format!(
        "name = \"hello\"\nversion = \"{version}\"\ndescription = \"Rewritten without kv.\"\nhost-api = \"^0.1\"\n[http]\npublic = [\"/*\"]\n"
    )
}

async fn trust(host: &TestHost, district: &str) {
    host.opened
        .platform
        .trust_key(district, &publisher().public().to_hex(), "Example Co.")
        .await
        .expect("trust key");
}

fn grants(list: &[Permission]) -> BTreeSet<Permission> {
    list.iter().copied().collect()
}

async fn install(
    host: &TestHost,
    registry: &TestRegistry,
    package: &str,
    grant: &[Permission],
) -> Result<hutong_host::installs::store::Install, PlatformError> {
    install_in(host, registry, "east", package, grant).await
}

async fn install_in(
    host: &TestHost,
    registry: &TestRegistry,
    district: &str,
    package: &str,
    grant: &[Permission],
) -> Result<hutong_host::installs::store::Install, PlatformError> {
    host.opened
        .platform
        .install_from_registry(RegistryInstall {
            district: district.into(),
            registry: registry.location.clone(),
            package: package.into(),
            grant: grants(grant),
            grant_all: false,
            config: serde_json::json!({}),
            communities: None,
        })
        .await
}

async fn upgrade(
    host: &TestHost,
    registry: &TestRegistry,
    package: &str,
    grant: &[Permission],
) -> Result<hutong_host::installs::registry::UpgradeReport, PlatformError> {
    host.opened
        .platform
        .upgrade(UpgradeRequest {
            district: "east".into(),
            registry: registry.location.clone(),
            package: package.into(),
            grant: grants(grant),
            allow_new_publisher: false,
        })
        .await
}

/// Assert `result` is the refusal `expected` describes and that nothing was
/// installed.
async fn refused<T: std::fmt::Debug>(
    host: &TestHost,
    before: [i64; 4],
    result: Result<T, PlatformError>,
    expected: impl Fn(&PlatformError) -> bool,
) -> String {
    let err = result.expect_err("the install must be refused");
    assert!(expected(&err), "unexpected refusal: {err:?}");
    nothing_installed_in_east(host, before).await;
    err.to_string()
}

/// East and west trust the publisher, 1.0.0 and 1.1.0 are published, and
/// west installed `package`: the host remembers the log's head.
async fn west_saw_the_log(host: &TestHost, registry: &TestRegistry, package: &str) {
    host.district("east").await;
    host.district("west").await;
    trust(host, "east").await;
    trust(host, "west").await;
    registry.publish(&hello_v("1.0.0"), components::HELLO).await;
    registry.publish(&hello_v("1.1.0"), components::HELLO).await;
    install_in(host, registry, "west", package, &[Permission::Kv])
        .await
        .expect("install in west");
}

/// A refusal changed no row and installed nothing in east.
async fn nothing_installed_in_east(host: &TestHost, before: [i64; 4]) {
    assert_eq!(host.row_counts().await, before, "a refusal changed nothing");
    assert!(
        host.opened
            .platform
            .store()
            .list_installs(Some("east"))
            .await
            .expect("list")
            .is_empty(),
        "nothing installed"
    );
}

async fn visits(host: &TestHost, name: &str) -> Option<u64> {
    let response = host.get("/d/east/apps/hello/visits").await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["visits"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == name)
        .and_then(|v| v["visits"].as_u64())
}

/// Run each behaviour on SQLite and PostgreSQL, against a directory registry
/// and an HTTP one.
macro_rules! on_every_setup {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::{Backend, Kind, TestHost, TestRegistry};
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_directory() {
                super::$name(TestHost::new(Backend::Sqlite).await, TestRegistry::new(Kind::Directory).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_http() {
                super::$name(TestHost::new(Backend::Sqlite).await, TestRegistry::new(Kind::Http).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_directory() {
                super::$name(TestHost::new(Backend::Postgres).await, TestRegistry::new(Kind::Directory).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_http() {
                super::$name(TestHost::new(Backend::Postgres).await, TestRegistry::new(Kind::Http).await).await
            }
        }
    )*};
}

async fn an_upgrade_signed_by_another_publisher_needs_the_administrators_consent(
    host: TestHost,
    registry: TestRegistry,
) {
    host.district("east").await;
    trust(&host, "east").await;
    registry.publish(&hello_v("1.0.0"), components::HELLO).await;
    install(&host, &registry, "hello@=1.0.0", &[Permission::Kv])
        .await
        .expect("install 1.0.0");
    // Another publisher, also trusted by the district, publishes a newer
    // `hello` on a registry of its own.
    let other = KeyPair::from_secret([7; 32]);
    let platform = &host.opened.platform;
    platform
        .trust_key("east", &other.public().to_hex(), "Other Co.")
        .await
        .expect("trust the other key");
    let elsewhere = TestRegistry::new(registry.kind).await;
    elsewhere
        .publish_as(&other, &hello_v("2.0.0"), components::HELLO)
        .await
        .expect("publish 2.0.0 elsewhere");
    let before = platform
        .store()
        .get_install("east", "hello")
        .await
        .expect("install");
    let request = |allow_new_publisher| UpgradeRequest {
        district: "east".into(),
        registry: elsewhere.location.clone(),
        package: "hello@^2".into(),
        grant: BTreeSet::new(),
        allow_new_publisher,
    };

    let got = platform.upgrade(request(false)).await;
    let Err(PlatformError::Conflict(message)) = &got else {
        panic!("expected a refusal, got {got:?}");
    };
    assert!(
        message.contains(&other.public().id()) && message.contains("--allow-new-publisher"),
        "{message}"
    );
    assert_eq!(
        platform
            .store()
            .get_install("east", "hello")
            .await
            .expect("install"),
        before,
        "nothing changed"
    );

    let report = platform
        .upgrade(request(true))
        .await
        .expect("upgrade with consent");
    assert_eq!(report.to, "2.0.0");
    let source = report.install.source.expect("installed from a registry");
    assert_eq!(source.key_id, other.public().id());
}

on_both_backends!(
    an_https_registry_behind_a_private_ca_installs_a_package,
    a_registry_whose_certificate_is_not_trusted_installs_nothing,
);

on_every_setup!(
    an_upgrade_signed_by_another_publisher_needs_the_administrators_consent,
    installs_the_highest_installable_release_and_records_where_it_came_from,
    an_exact_pin_installs_a_yanked_release,
    a_yanked_release_is_refused_unless_pinned_exactly,
    a_release_for_another_host_api_is_refused,
    a_tampered_component_is_refused,
    a_bad_signature_is_refused,
    an_untrusted_or_revoked_key_is_refused,
    republishing_a_version_is_refused_even_with_the_same_bytes,
    a_rewound_log_is_refused,
    a_rewritten_log_is_refused,
    a_log_entry_edited_in_place_is_refused,
    an_upgrade_adding_permissions_waits_until_they_are_granted,
    an_upgrade_revokes_dropped_permissions_and_rollback_restores_grants_and_keeps_data,
    a_reinstall_comes_from_the_package_cache,
    another_process_serves_the_upgraded_version,
    a_rollback_to_a_release_signed_by_a_revoked_key_is_refused,
    an_upgrade_whose_schema_the_configuration_does_not_match_is_refused,
);

hutong_tests::on_both_backends!(
    the_api_trusts_keys_installs_upgrades_and_rolls_back,
    a_district_lists_its_registries_and_what_they_hold,
);

async fn installs_the_highest_installable_release_and_records_where_it_came_from(
    host: TestHost,
    registry: TestRegistry,
) {
    host.district("east").await;
    trust(&host, "east").await;
    for v in ["1.0.0", "1.2.0", "1.2.3"] {
        registry.publish(&hello_v(v), components::HELLO).await;
    }
    registry.yank("hello", "1.2.3").await;
    registry
        .publish(&hello("1.3.0", "^0.2", "", ""), components::HELLO)
        .await;
    registry.publish(&hello_v("2.0.0"), components::HELLO).await;

    let installed = install(&host, &registry, "hello@^1", &[Permission::Kv])
        .await
        .expect("install");
    assert_eq!(
        installed.version, "1.2.0",
        "1.2.3 is yanked, 1.3.0 needs host API 0.2"
    );
    assert_eq!(installed.granted, grants(&[Permission::Kv]));
    let source = installed
        .source
        .clone()
        .expect("a registry install records its source");
    assert_eq!(source.registry, registry.client().location());
    assert_eq!(source.log_index, 1);
    assert_eq!(source.log_size, 6);
    assert_eq!(source.key_id, publisher().public().id());
    assert!(!source.yanked);
    assert_eq!(
        installed.digest,
        sha256_hex(&std::fs::read(components::HELLO).expect("read"))
    );
    // What was recorded is what the host reads back, and the app serves.
    let stored = host
        .opened
        .platform
        .store()
        .get_install("east", "hello")
        .await
        .expect("stored");
    assert_eq!(stored.source, Some(source));
    let greeted = host.get("/d/east/apps/hello/greet/ana").await;
    assert_eq!(greeted.status, 200, "{}", greeted.text());
    assert_eq!(greeted.json()["visits"], 1);
}

async fn an_exact_pin_installs_a_yanked_release(host: TestHost, registry: TestRegistry) {
    host.district("east").await;
    trust(&host, "east").await;
    registry.publish(&hello_v("1.2.3"), components::HELLO).await;
    registry.yank("hello", "1.2.3").await;
    let installed = install(&host, &registry, "hello@=1.2.3", &[Permission::Kv])
        .await
        .expect("an exact pin installs a yanked release");
    assert_eq!(installed.version, "1.2.3");
    assert!(installed.source.expect("source").yanked);
}

async fn a_yanked_release_is_refused_unless_pinned_exactly(host: TestHost, registry: TestRegistry) {
    host.district("east").await;
    trust(&host, "east").await;
    registry.publish(&hello_v("1.2.3"), components::HELLO).await;
    registry.yank("hello", "1.2.3").await;
    let before = host.row_counts().await;
    for request in ["hello@^1.2.3", "hello@~1.2", "hello"] {
        let message = refused(
            &host,
            before,
            install(&host, &registry, request, &[Permission::Kv]).await,
            |e| matches!(e, PlatformError::Registry(RegistryError::Yanked { .. })),
        )
        .await;
        assert!(message.contains("=x.y.z"), "says how to pin: {message}");
    }
}

async fn a_release_for_another_host_api_is_refused(host: TestHost, registry: TestRegistry) {
    host.district("east").await;
    trust(&host, "east").await;
    registry
        .publish(&hello("1.0.0", "^0.2", "", ""), components::HELLO)
        .await;
    let before = host.row_counts().await;
    let message = refused(
        &host,
        before,
        install(&host, &registry, "hello@^1", &[Permission::Kv]).await,
        |e| {
            matches!(
                e,
                PlatformError::Registry(RegistryError::IncompatibleHostApi { .. })
            )
        },
    )
    .await;
    assert!(
        message.contains("^0.2") && message.contains("0.1.0"),
        "{message}"
    );
}

async fn a_tampered_component_is_refused(host: TestHost, registry: TestRegistry) {
    host.district("east").await;
    trust(&host, "east").await;
    let entry = registry.publish(&hello_v("1.0.0"), components::HELLO).await;
    let LogEvent::Publish(release) = entry.event else {
        panic!("not a publish")
    };
    // Another real component under the signed digest's name.
    std::fs::copy(
        components::RAW_APP,
        registry.blob_path(&release.component_sha256),
    )
    .expect("swap blob");
    let before = host.row_counts().await;
    refused(
        &host,
        before,
        install(&host, &registry, "hello@^1", &[Permission::Kv]).await,
        |e| {
            matches!(
                e,
                PlatformError::Registry(RegistryError::Tampered {
                    what: "component",
                    ..
                })
            )
        },
    )
    .await;
}

async fn a_bad_signature_is_refused(host: TestHost, registry: TestRegistry) {
    host.district("east").await;
    trust(&host, "east").await;
    registry.publish(&hello_v("1.0.0"), components::HELLO).await;
    // The operator points the signed release at another component and
    // re-chains the log: every hash holds, the signature does not.
    let raw = std::fs::read(components::RAW_APP).expect("read");
    std::fs::write(registry.blob_path(&sha256_hex(&raw)), &raw).expect("write blob");
    registry.rewrite_log(|entries| {
        if let LogEvent::Publish(r) = &mut entries[0].event {
            r.component_sha256 = sha256_hex(&raw);
            r.component_size = raw.len() as u64;
        }
    });
    let before = host.row_counts().await;
    refused(
        &host,
        before,
        install(&host, &registry, "hello@^1", &[Permission::Kv]).await,
        |e| {
            matches!(
                e,
                PlatformError::Registry(RegistryError::BadSignature { .. })
            )
        },
    )
    .await;
}

async fn an_untrusted_or_revoked_key_is_refused(host: TestHost, registry: TestRegistry) {
    host.district("east").await;
    registry.publish(&hello_v("1.0.0"), components::HELLO).await;
    let before = host.row_counts().await;
    let message = refused(
        &host,
        before,
        install(&host, &registry, "hello", &[Permission::Kv]).await,
        |e| {
            matches!(
                e,
                PlatformError::Registry(RegistryError::UntrustedKey { .. })
            )
        },
    )
    .await;
    assert!(
        message.contains("hutong registry trust --district east"),
        "{message}"
    );

    // Trusting another key, or trusting in another district, does not help.
    let platform = &host.opened.platform;
    platform
        .trust_key(
            "east",
            &KeyPair::from_secret([7; 32]).public().to_hex(),
            "someone else",
        )
        .await
        .expect("trust");
    host.district("west").await;
    trust(&host, "west").await;
    let before = host.row_counts().await;
    refused(
        &host,
        before,
        install(&host, &registry, "hello", &[Permission::Kv]).await,
        |e| {
            matches!(
                e,
                PlatformError::Registry(RegistryError::UntrustedKey { .. })
            )
        },
    )
    .await;

    trust(&host, "east").await;
    platform
        .revoke_key("east", &publisher().public().id())
        .await
        .expect("revoke");
    let before = host.row_counts().await;
    refused(
        &host,
        before,
        install(&host, &registry, "hello", &[Permission::Kv]).await,
        |e| matches!(e, PlatformError::Registry(RegistryError::RevokedKey { .. })),
    )
    .await;
    // A revocation stays on record: trusting the key again is refused.
    assert!(matches!(
        platform
            .trust_key("east", &publisher().public().to_hex(), "again")
            .await,
        Err(PlatformError::Conflict(_))
    ));
    assert!(matches!(
        platform.trust_key("east", "not a key", "").await,
        Err(PlatformError::Registry(RegistryError::Invalid(_)))
    ));
    let keys = platform.trusted_keys("east").await.expect("keys");
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter()
            .any(|k| k.key_id == publisher().public().id() && k.revoked_at.is_some())
    );
}

async fn republishing_a_version_is_refused_even_with_the_same_bytes(
    host: TestHost,
    registry: TestRegistry,
) {
    host.district("east").await;
    trust(&host, "east").await;
    registry.publish(&hello_v("1.0.0"), components::HELLO).await;
    let same = registry
        .publish_as(&publisher(), &hello_v("1.0.0"), components::HELLO)
        .await;
    assert!(
        matches!(same, Err(RegistryError::Refused(Refusal::Republish { .. }))),
        "{same:?}"
    );
    let other = registry
        .publish_as(&publisher(), &hello_as_raw("1.0.0"), components::RAW_APP)
        .await;
    assert!(
        matches!(
            other,
            Err(RegistryError::Refused(Refusal::Republish { .. }))
        ),
        "{other:?}"
    );
    assert_eq!(registry.dir.entries().expect("log").len(), 1);
    // The version installed is the one first published.
    let installed = install(&host, &registry, "hello@=1.0.0", &[Permission::Kv])
        .await
        .expect("install");
    assert_eq!(
        installed.digest,
        sha256_hex(&std::fs::read(components::HELLO).expect("read"))
    );
}

async fn a_rewound_log_is_refused(host: TestHost, registry: TestRegistry) {
    west_saw_the_log(&host, &registry, "hello").await;
    // The registry loses its last entry.
    registry.rewrite_log(|entries| {
        entries.pop();
    });
    let before = host.row_counts().await;
    let err = install(&host, &registry, "hello@^1", &[Permission::Kv])
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            PlatformError::Registry(RegistryError::LogRewound {
                remembered: 2,
                now: 1,
                ..
            })
        ),
        "{err:?}"
    );
    nothing_installed_in_east(&host, before).await;
}

async fn a_rewritten_log_is_refused(host: TestHost, registry: TestRegistry) {
    west_saw_the_log(&host, &registry, "hello").await;
    // The registry replaces 1.1.0 with other bytes, re-signed by the
    // publisher and re-chained, and grows past what the host saw: every
    // entry verifies on its own, but the history changed.
    registry.rewrite_log(|entries| {
        entries.pop();
    });
    registry
        .publish(&hello_as_raw("1.1.0"), components::RAW_APP)
        .await;
    registry.publish(&hello_v("1.2.0"), components::HELLO).await;
    let before = host.row_counts().await;
    let message = refused_in_east(
        &host,
        before,
        install(&host, &registry, "hello@^1", &[Permission::Kv]).await,
    )
    .await;
    assert!(message.contains("rewrote its log"), "{message}");
}

/// [`refused`] because the registry rewrote its log.
async fn refused_in_east<T: std::fmt::Debug>(
    host: &TestHost,
    before: [i64; 4],
    result: Result<T, PlatformError>,
) -> String {
    refused(host, before, result, |e| {
        matches!(
            e,
            PlatformError::Registry(RegistryError::LogRewritten { .. })
        )
    })
    .await
}

async fn an_upgrade_adding_permissions_waits_until_they_are_granted(
    host: TestHost,
    registry: TestRegistry,
) {
    host.district("east").await;
    trust(&host, "east").await;
    registry.publish(&hello_v("1.0.0"), components::HELLO).await;
    registry
        .publish(&hello_with_schedule("1.1.0"), components::HELLO)
        .await;
    install(&host, &registry, "hello@=1.0.0", &[Permission::Kv])
        .await
        .expect("install 1.0.0");
    let store = host.opened.platform.store();
    let before = store.get_install("east", "hello").await.expect("install");

    let plan = host
        .opened
        .platform
        .plan_from_registry("east", &registry.location, "hello@^1.1")
        .await
        .expect("plan");
    assert_eq!(plan.installed.as_deref(), Some("1.0.0"));
    assert_eq!(plan.version, "1.1.0");
    assert_eq!(
        plan.added.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        vec![Permission::Schedules]
    );
    assert!(plan.removed.is_empty());
    let err = upgrade(&host, &registry, "hello@^1.1", &[])
        .await
        .expect_err("held until granted");
    match &err {
        PlatformError::PermissionsNeeded { needed, .. } => {
            assert_eq!(needed, &vec![Permission::Schedules]);
        }
        other => panic!("unexpected: {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("--grant schedules") && message.contains("Tidies the visit counts"),
        "says which grant is needed and why: {message}"
    );
    let after = store.get_install("east", "hello").await.expect("install");
    assert_eq!(after, before, "nothing changed");
    assert!(
        store
            .install_history("east", "hello")
            .await
            .expect("history")
            .is_empty()
    );

    // Granting something the new version does not declare is refused too.
    assert!(matches!(
        upgrade(
            &host,
            &registry,
            "hello@^1.1",
            &[Permission::Schedules, Permission::OpenCases]
        )
        .await,
        Err(PlatformError::GrantNotDeclared { .. })
    ));

    let report = upgrade(&host, &registry, "hello@^1.1", &[Permission::Schedules])
        .await
        .expect("upgrade");
    assert_eq!(
        (report.from.as_str(), report.to.as_str()),
        ("1.0.0", "1.1.0")
    );
    assert_eq!(report.added.len(), 1);
    assert_eq!(report.added[0].0, Permission::Schedules);
    assert!(report.removed.is_empty());
    assert_eq!(
        report.install.granted,
        grants(&[Permission::Kv, Permission::Schedules])
    );
    let history = store
        .install_history("east", "hello")
        .await
        .expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].version, "1.0.0");

    // Nothing newer: a second upgrade says so and changes nothing.
    assert!(matches!(
        upgrade(&host, &registry, "hello@^1.1", &[]).await,
        Err(PlatformError::Conflict(_))
    ));

    // Uninstalling forgets the earlier versions: a reinstall has nothing to
    // roll back to.
    host.opened
        .platform
        .uninstall("east", "hello", true)
        .await
        .expect("uninstall");
    install(
        &host,
        &registry,
        "hello@=1.1.0",
        &[Permission::Kv, Permission::Schedules],
    )
    .await
    .expect("reinstall");
    assert!(matches!(
        host.opened.platform.rollback("east", "hello").await,
        Err(PlatformError::NotFound(_))
    ));
}

async fn an_upgrade_revokes_dropped_permissions_and_rollback_restores_grants_and_keeps_data(
    host: TestHost,
    registry: TestRegistry,
) {
    host.district("east").await;
    trust(&host, "east").await;
    registry.publish(&hello_v("1.0.0"), components::HELLO).await;
    registry
        .publish(&hello_as_raw("2.0.0"), components::RAW_APP)
        .await;
    install(&host, &registry, "hello@^1", &[Permission::Kv])
        .await
        .expect("install");
    for _ in 0..3 {
        assert_eq!(host.get("/d/east/apps/hello/greet/ana").await.status, 200);
    }
    assert_eq!(visits(&host, "ana").await, Some(3));

    let report = upgrade(&host, &registry, "hello@^2", &[])
        .await
        .expect("an upgrade that drops permissions needs no grant");
    assert_eq!(report.removed, vec![Permission::Kv]);
    assert!(report.install.granted.is_empty(), "kv was revoked");
    // The running component was swapped: the new version answers.
    let answer = host.get("/d/east/apps/hello/visits").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.text(), "raw app at /visits");

    let (from, restored) = host
        .opened
        .platform
        .rollback("east", "hello")
        .await
        .expect("rollback");
    assert_eq!(from, "2.0.0");
    assert_eq!(restored.version, "1.0.0");
    assert_eq!(
        restored.granted,
        grants(&[Permission::Kv]),
        "its grants are back"
    );
    assert_eq!(
        restored.digest,
        sha256_hex(&std::fs::read(components::HELLO).expect("read"))
    );
    // The old component serves again, with the app's data as it was.
    assert_eq!(visits(&host, "ana").await, Some(3));
    assert_eq!(
        host.get("/d/east/apps/hello/greet/ana").await.json()["visits"],
        4
    );

    // Nothing earlier to go back to.
    assert!(matches!(
        host.opened.platform.rollback("east", "hello").await,
        Err(PlatformError::NotFound(_))
    ));
}

async fn a_reinstall_comes_from_the_package_cache(host: TestHost, registry: TestRegistry) {
    host.district("east").await;
    trust(&host, "east").await;
    let entry = registry.publish(&hello_v("1.0.0"), components::HELLO).await;
    install(&host, &registry, "hello", &[Permission::Kv])
        .await
        .expect("install");
    host.opened
        .platform
        .uninstall("east", "hello", false)
        .await
        .expect("uninstall");
    // The registry can no longer serve the bytes; the host has them.
    let LogEvent::Publish(release) = entry.event else {
        panic!("not a publish")
    };
    std::fs::remove_file(registry.blob_path(&release.component_sha256)).expect("remove blob");
    std::fs::remove_file(registry.blob_path(&release.manifest_sha256)).expect("remove blob");
    let again = install(&host, &registry, "hello", &[Permission::Kv])
        .await
        .expect("reinstall from the cache");
    assert_eq!(again.version, "1.0.0");
    let cached: PathBuf = host
        .settings
        .data_dir
        .join("packages")
        .join("sha256")
        .join(&release.component_sha256);
    assert!(Path::new(&cached).is_file());
}

async fn another_process_serves_the_upgraded_version(host: TestHost, registry: TestRegistry) {
    host.district("east").await;
    trust(&host, "east").await;
    registry.publish(&hello_v("1.0.0"), components::HELLO).await;
    registry
        .publish(&hello_as_raw("2.0.0"), components::RAW_APP)
        .await;
    install(&host, &registry, "hello@^1", &[Permission::Kv])
        .await
        .expect("install");
    let other = host.another_process().await;
    other.platform.runtime().load_all().await.expect("load");
    let ping = async || {
        let answer = other
            .platform
            .runtime()
            .handle_http("east", "hello", hutong_host::AppRequest::get("/ping"))
            .await
            .expect("call");
        String::from_utf8_lossy(&answer.body).into_owned()
    };
    assert_eq!(ping().await, "pong");
    upgrade(&host, &registry, "hello@^2", &[])
        .await
        .expect("upgrade");
    other.platform.runtime().refresh().await.expect("refresh");
    assert_eq!(ping().await, "raw app at /ping");
}

async fn the_api_trusts_keys_installs_upgrades_and_rolls_back(host: TestHost) {
    use axum::http::{Method, StatusCode};
    let registry = TestRegistry::new(Kind::Http).await;
    host.district("east").await;
    registry.publish(&hello_v("1.0.0"), components::HELLO).await;
    registry
        .publish(&hello_with_schedule("1.1.0"), components::HELLO)
        .await;
    let base = "/api/v1/districts/east";
    let post = async |uri: &str, body: serde_json::Value| {
        host.post(&format!("{base}{uri}"), body.to_string()).await
    };
    let install_body = serde_json::json!({
        "registry": registry.location, "package": "hello@=1.0.0", "grant": ["kv"],
    });
    let r = post("/registry-installs", install_body.clone()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.text().contains("does not trust"), "{}", r.text());

    let r = post(
        "/trusted-keys",
        serde_json::json!({ "public_key": publisher().public().to_hex(), "name": "Example Co." }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["key_id"], publisher().public().id());
    let r = host.get(&format!("{base}/trusted-keys")).await;
    assert_eq!(r.json().as_array().map(Vec::len), Some(1));

    // A registry directory is the operator's business, not the API's.
    let r = post(
        "/registry-installs",
        serde_json::json!({ "registry": registry.dir.root(), "package": "hello" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());

    let r = post("/registry-installs", install_body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["source"]["log_index"], 0);

    let r = post(
        "/installs/hello/upgrade",
        serde_json::json!({ "registry": registry.location }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "permissions_needed");
    assert!(r.text().contains("--grant schedules"), "{}", r.text());
    let r = post(
        "/installs/hello/upgrade",
        serde_json::json!({ "registry": registry.location, "requirement": "^1.1", "grant": ["schedules"] }),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["to"], "1.1.0");
    assert_eq!(r.json()["added"][0][0], "schedules");
    let r = host.get(&format!("{base}/installs/hello/history")).await;
    assert_eq!(r.json()[0]["version"], "1.0.0");

    let r = post("/installs/hello/rollback", serde_json::json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["version"], "1.0.0");
    assert_eq!(r.json()["granted"], serde_json::json!(["kv"]));

    let r = host
        .delete(&format!(
            "{base}/trusted-keys/{}",
            publisher().public().id()
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = host.get(&format!("{base}/trusted-keys")).await;
    assert!(r.json()[0]["revoked_at"].is_i64(), "{}", r.text());

    // A worker of the district may do none of it.
    let worker = host.worker("w1", "east", &[]).await;
    let r = host
        .request_as(
            Some(&worker),
            Method::GET,
            &format!("{base}/trusted-keys"),
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
}

async fn a_log_entry_edited_in_place_is_refused(host: TestHost, registry: TestRegistry) {
    // West has seen the log; east's host is the same, so both districts
    // check against the remembered head below.
    west_saw_the_log(&host, &registry, "hello@=1.1.0").await;
    // Someone with write access changes entry 0's size without re-chaining.
    let path = registry.dir.root().join("log.jsonl");
    let text = std::fs::read_to_string(&path).expect("log");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut entry: serde_json::Value = serde_json::from_str(&lines[0]).expect("entry");
    entry["component_size"] = serde_json::json!(1);
    lines[0] = entry.to_string();
    std::fs::write(&path, lines.join("\n") + "\n").expect("write log");

    // The entry lies before the remembered head, so the proof that 1.0.0 is
    // in the log is where the change shows.
    let before = host.row_counts().await;
    let err = install(&host, &registry, "hello@=1.0.0", &[Permission::Kv])
        .await
        .expect_err("refused");
    assert!(
        matches!(err, PlatformError::Registry(RegistryError::BadProof { .. })),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("changed after it was written"),
        "{err}"
    );
    nothing_installed_in_east(&host, before).await;
}

async fn a_rollback_to_a_release_signed_by_a_revoked_key_is_refused(
    host: TestHost,
    registry: TestRegistry,
) {
    host.district("east").await;
    trust(&host, "east").await;
    registry.publish(&hello_v("1.0.0"), components::HELLO).await;
    registry.publish(&hello_v("1.1.0"), components::HELLO).await;
    install(&host, &registry, "hello@=1.0.0", &[Permission::Kv])
        .await
        .expect("install 1.0.0");
    upgrade(&host, &registry, "hello@^1.1", &[])
        .await
        .expect("upgrade to 1.1.0");
    let platform = &host.opened.platform;
    platform
        .revoke_key("east", &publisher().public().id())
        .await
        .expect("revoke");
    let store = platform.store();
    let before = store.get_install("east", "hello").await.expect("install");
    let got = platform.rollback("east", "hello").await;
    assert!(
        matches!(
            &got,
            Err(PlatformError::Registry(RegistryError::RevokedKey { version, .. })) if version == "1.0.0"
        ),
        "{got:?}"
    );
    assert_eq!(
        store.get_install("east", "hello").await.expect("install"),
        before,
        "the install stays at 1.1.0"
    );
    let history = store
        .install_history("east", "hello")
        .await
        .expect("history");
    assert_eq!(
        history
            .iter()
            .map(|v| v.version.as_str())
            .collect::<Vec<_>>(),
        vec!["1.0.0"],
        "the earlier version is still on record"
    );
}

async fn an_https_registry_behind_a_private_ca_installs_a_package(host: TestHost) {
    // Signed by the CA the host trusts as its `--ca-file`.
    let registry = TestRegistry::https(trusted_ca()).await;
    assert!(registry.location.starts_with("https://127.0.0.1:"));
    host.district("east").await;
    trust(&host, "east").await;
    registry.publish(&hello_v("1.0.0"), components::HELLO).await;
    let installed = install(&host, &registry, "hello@^1", &[Permission::Kv])
        .await
        .expect("install over https");
    assert_eq!(installed.version, "1.0.0");
    let source = installed
        .source
        .expect("a registry install records its source");
    assert_eq!(source.registry, registry.location);
    let greeted = host.get("/d/east/apps/hello/greet/ana").await;
    assert_eq!(greeted.status, 200, "{}", greeted.text());
}

async fn a_registry_whose_certificate_is_not_trusted_installs_nothing(host: TestHost) {
    let registry = TestRegistry::https(&TestCa::new("Unknown CA")).await;
    // Published straight into the directory: the client cannot reach it.
    let request = PublishRequest::sign(
        hello_v("1.0.0").into_bytes(),
        std::fs::read(components::HELLO).expect("read component"),
        &publisher(),
    )
    .expect("sign");
    registry.dir.publish_now(&request).expect("publish");
    host.district("east").await;
    trust(&host, "east").await;
    let before = host.row_counts().await;
    let got = install(&host, &registry, "hello@^1", &[Permission::Kv]).await;
    let Err(PlatformError::Registry(RegistryError::Unreachable { detail, .. })) = &got else {
        panic!("an untrusted certificate must refuse the install: {got:?}");
    };
    assert!(detail.contains("certificate"), "{detail}");
    assert_eq!(host.row_counts().await, before, "nothing installed");
}

async fn a_district_lists_its_registries_and_what_they_hold(host: TestHost) {
    use axum::http::StatusCode;
    let registry = TestRegistry::new(Kind::Http).await;
    host.district("east").await;
    registry.publish(&hello_v("1.0.0"), components::HELLO).await;
    registry.publish(&hello_v("1.1.0"), components::HELLO).await;
    registry.publish(&hello_v("1.2.0"), components::HELLO).await;
    registry.yank("hello", "1.2.0").await;
    let base = "/api/v1/districts/east";
    let add = async |location: &str| {
        host.post(
            &format!("{base}/registries"),
            serde_json::json!({ "location": location }).to_string(),
        )
        .await
    };

    // Only http(s) registries; each once.
    let r = add("/etc").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(
        r.text().contains("must be an http:// or https:// URL"),
        "{}",
        r.text()
    );
    let r = add(&registry.location).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = add(&registry.location).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let listed = host.get(&format!("{base}/registries")).await.json();
    assert_eq!(listed[0]["location"], registry.location.as_str());

    // The catalogue: versions newest first without the yanked one, the
    // newest's description and key, not trusted yet, nothing installed.
    let catalogue = host.get(&format!("{base}/catalogue")).await.json();
    let hello = &catalogue["entries"][0];
    assert_eq!(hello["name"], "hello", "{catalogue}");
    assert_eq!(hello["versions"], serde_json::json!(["1.1.0", "1.0.0"]));
    assert_eq!(
        hello["description"],
        "Greets visitors and counts their visits."
    );
    assert_eq!(hello["key_id"], publisher().public().id());
    assert_eq!(hello["trusted"], false);
    assert_eq!(hello["installed"], serde_json::Value::Null);
    trust(&host, "east").await;
    install(&host, &registry, "hello@=1.0.0", &[Permission::Kv])
        .await
        .expect("install");
    let catalogue = host.get(&format!("{base}/catalogue")).await.json();
    assert_eq!(catalogue["entries"][0]["trusted"], true);
    assert_eq!(catalogue["entries"][0]["installed"], "1.0.0");

    // A registry whose log was rewritten is named as unreadable, not shown.
    registry.rewrite_log(|entries| entries.truncate(1));
    let catalogue = host.get(&format!("{base}/catalogue")).await.json();
    assert_eq!(catalogue["entries"], serde_json::json!([]), "{catalogue}");
    assert!(
        catalogue["unreadable"][0][1]
            .as_str()
            .is_some_and(|why| why.contains("rewound or rewritten")),
        "{catalogue}"
    );

    // Removing it leaves the install alone.
    let r = host
        .delete(&format!(
            "{base}/registries?location={}",
            registry.location.replace(':', "%3A").replace('/', "%2F")
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(
        host.get(&format!("{base}/registries")).await.json(),
        serde_json::json!([])
    );
    assert_eq!(
        host.get("/d/east/apps/hello/ping").await.status,
        StatusCode::OK
    );
}

/// A new version whose `[config]` schema the install's configuration does
/// not match is refused, naming the field, and nothing changes; a version
/// whose schema it matches upgrades.
async fn an_upgrade_whose_schema_the_configuration_does_not_match_is_refused(
    host: TestHost,
    registry: TestRegistry,
) {
    host.district("east").await;
    trust(&host, "east").await;
    registry.publish(&hello_v("1.0.0"), components::HELLO).await;
    let schema = |kind: &str| {
        hello(
            "1.1.0",
            "^0.1",
            "",
            &format!(
                "[config.schema]\ntype = \"object\"\nrequired = [\"greeting\"]\n\
                 [config.schema.properties.greeting]\ntype = \"{kind}\"\n"
            ),
        )
    };
    registry
        .publish(&schema("integer"), components::HELLO)
        .await;
    registry
        .publish(
            &schema("string").replace("1.1.0", "1.2.0"),
            components::HELLO,
        )
        .await;
    host.opened
        .platform
        .install_from_registry(RegistryInstall {
            district: "east".into(),
            registry: registry.location.clone(),
            package: "hello@=1.0.0".into(),
            grant: grants(&[Permission::Kv]),
            grant_all: false,
            config: serde_json::json!({ "greeting": "你好" }),
            communities: None,
        })
        .await
        .expect("install 1.0.0");
    let store = host.opened.platform.store();
    let before = store.get_install("east", "hello").await.expect("install");
    let err = upgrade(&host, &registry, "hello@=1.1.0", &[])
        .await
        .expect_err("refused");
    let message = err.to_string();
    assert!(
        message.contains("does not match the schema in hello@1.1.0's manifest")
            && message.contains("at `/greeting`"),
        "{message}"
    );
    assert_eq!(
        store.get_install("east", "hello").await.expect("install"),
        before
    );
    let report = upgrade(&host, &registry, "hello@=1.2.0", &[])
        .await
        .expect("upgrades");
    assert_eq!(report.install.version, "1.2.0");
    assert_eq!(report.install.config["greeting"], "你好");
}
