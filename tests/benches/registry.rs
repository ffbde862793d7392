//! Registry benchmark; prints figures rather than asserting them.
//!
//! 1. Resolution of a requirement over an index of 10,000 releases of one
//!    package, a seventh of them yanked and a fifth built for another host
//!    API, in memory.
//! 2. The same package in a directory registry whose log holds the 10,000
//!    publishes (and the yanks): deriving the index from the log, and a full
//!    verified fetch by a host that has never seen the registry (the whole
//!    chain checked) and by one that has (only the new entries).
//! 3. Installing `examples/hello` from a registry when the package is already
//!    in the host's package cache (and its compiled artifact on disk), beside
//!    the same install from local files, on SQLite and PostgreSQL.
//!
//! Run with `cargo bench -p hutong-tests --bench registry`.
//! `HUTONG_BENCH_QUICK=1` runs fewer rounds.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hutong_host::installs::registry::RegistryInstall;
use hutong_host::kernel::manifest::{HOST_API_VERSION, Permission};
use hutong_registry::log::GENESIS;
use hutong_registry::release::ReleaseRecord;
use hutong_registry::release::{release_statement, yank_statement};
use hutong_registry::{
    DirRegistry, Fetch, Index, IndexEntry, KeyPair, LogEntry, LogEvent, LogHead, PackageRequest,
    PublishRequest, Registry, TrustedKey, fetch, resolve, sha256_hex,
};
use hutong_tests::{Backend, TestHost, components};
use semver::Version;

const RELEASES: usize = 10_000;

fn quick() -> bool {
    std::env::var("HUTONG_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// Release `i` of 10,000: versions 0.0.0 to 99.99.0, every seventh yanked,
/// every fifth for host API ^0.2 (which this host does not implement).
fn version(i: usize) -> Version {
    Version::new((i / 100) as u64, (i % 100) as u64, 0)
}

fn host_api(i: usize) -> &'static str {
    if i % 5 == 4 { "^0.2" } else { "^0.1" }
}

fn yanked(i: usize) -> bool {
    i % 7 == 3
}

fn in_memory_index() -> Index {
    Index {
        name: "care".into(),
        releases: (0..RELEASES)
            .map(|i| IndexEntry {
                version: version(i),
                host_api: host_api(i).into(),
                component_sha256: "0".repeat(64),
                manifest_sha256: "0".repeat(64),
                component_size: 0,
                key_id: "k".into(),
                yanked: yanked(i),
                yank_reason: None,
                log_index: i as u64,
            })
            .collect(),
    }
}

fn per_op(elapsed: Duration, n: usize) -> String {
    let us = elapsed.as_secs_f64() * 1e6 / n as f64;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

fn bench_resolution() {
    let index = in_memory_index();
    let rounds = if quick() { 200 } else { 2_000 };
    println!("resolution over {RELEASES} releases (1/7 yanked, 1/5 for host API ^0.2), in memory:");
    for req in [
        "care@^50",
        "care",
        "care@~42.3",
        "care@=12.34.0",
        "care@>=10, <20",
    ] {
        let request = PackageRequest::parse(req).expect("request");
        let picked = resolve(&index, &request, &HOST_API_VERSION)
            .map(|e| e.version.to_string())
            .unwrap_or_else(|e| format!("refused: {e}"));
        let started = Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(resolve(
                std::hint::black_box(&index),
                &request,
                &HOST_API_VERSION,
            ))
            .ok();
        }
        println!(
            "  {req:<16} -> {picked:<10} {} per resolution",
            per_op(started.elapsed(), rounds)
        );
    }
}

/// A directory registry whose log holds the 10,000 publishes of `care`
/// (the component is the example app) and the yanks, written directly.
fn big_registry(dir: &std::path::Path, key: &KeyPair) -> DirRegistry {
    let registry = DirRegistry::create(dir).expect("registry");
    let component = std::fs::read(components::HELLO).expect("hello");
    let component_sha256 = sha256_hex(&component);
    let blobs = registry.root().join("blobs/sha256");
    std::fs::write(blobs.join(&component_sha256), &component).expect("blob");
    let hello = std::fs::read_to_string(components::HELLO_MANIFEST).expect("manifest");
    let mut entries: Vec<LogEntry> = Vec::with_capacity(RELEASES * 8 / 7);
    let mut push = |event: LogEvent| {
        let prev = entries
            .last()
            .map_or_else(|| GENESIS.to_owned(), |e| e.hash.clone());
        entries.push(LogEntry::seal(entries.len() as u64, &prev, 0, event));
    };
    for i in 0..RELEASES {
        let v = version(i);
        let manifest = hello
            .replacen("name = \"hello\"", "name = \"care\"", 1)
            .replacen("version = \"0.1.0\"", &format!("version = \"{v}\""), 1)
            .replacen(
                "host-api = \"^0.1\"",
                &format!("host-api = \"{}\"", host_api(i)),
                1,
            );
        let manifest_sha256 = sha256_hex(manifest.as_bytes());
        std::fs::write(blobs.join(&manifest_sha256), &manifest).expect("blob");
        let host_api = semver::VersionReq::parse(host_api(i))
            .expect("req")
            .to_string();
        let statement =
            release_statement("care", &v, &host_api, &component_sha256, &manifest_sha256);
        push(LogEvent::Publish(ReleaseRecord {
            name: "care".into(),
            version: v.clone(),
            host_api,
            component_sha256: component_sha256.clone(),
            manifest_sha256,
            component_size: component.len() as u64,
            public_key: key.public().to_hex(),
            key_id: key.public().id(),
            signature: key.sign(statement.as_bytes()),
        }));
        if yanked(i) {
            push(LogEvent::Yank(hutong_registry::release::YankRecord {
                name: "care".into(),
                version: v.clone(),
                reason: "bench".into(),
                public_key: key.public().to_hex(),
                key_id: key.public().id(),
                signature: key.sign(yank_statement("care", &v, "bench").as_bytes()),
            }));
        }
    }
    let mut text = String::new();
    for e in &entries {
        text.push_str(&serde_json::to_string(e).expect("json"));
        text.push('\n');
    }
    std::fs::write(registry.root().join("log.jsonl"), text).expect("log");
    registry
}

async fn bench_big_registry() {
    let tmp = tempfile::tempdir().expect("tmp");
    let key = KeyPair::from_secret([1; 32]);
    let registry = big_registry(&tmp.path().join("reg"), &key);
    let size = registry.entries().expect("log").len();
    println!("directory registry with {size} log entries ({RELEASES} releases of one package):");
    let rounds = if quick() { 3 } else { 10 };
    // A host opens a directory registry afresh for each fetch, so every
    // figure here starts from an unparsed log.
    let root = registry.root().to_owned();
    let fresh = || DirRegistry::open(&root).expect("open");
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(fresh().index("care").await.expect("index"));
    }
    println!(
        "  log parsed and index derived:               {} per read",
        per_op(started.elapsed(), rounds)
    );
    let trusted = [TrustedKey {
        key_id: key.public().id(),
        public_key: key.public().to_hex(),
        revoked: false,
    }];
    let request = PackageRequest::parse("care@^50").expect("request");
    let cache_dir = tempfile::tempdir().expect("tmp");
    let cache = hutong_registry::PackageCache::new(cache_dir.path());
    let go = async |remembered: Option<&LogHead>| {
        fetch(
            &fresh(),
            Fetch {
                district: "bench",
                request: &request,
                host_api: &HOST_API_VERSION,
                remembered,
                trusted: &trusted,
                cache: Some(&cache),
            },
        )
        .await
        .expect("fetch")
    };
    let first = go(None).await;
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(go(None).await);
    }
    println!(
        "  verified fetch, new to the registry:        {} (whole chain checked; picked {})",
        per_op(started.elapsed(), rounds),
        first.release.version
    );
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(go(Some(&first.head)).await);
    }
    println!(
        "  verified fetch, head remembered, cached:    {}",
        per_op(started.elapsed(), rounds)
    );
}

async fn bench_cached_install(backend: Backend) {
    let host = TestHost::new(backend).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let registry = DirRegistry::create(tmp.path().join("reg")).expect("registry");
    let key = KeyPair::from_secret([2; 32]);
    let manifest = std::fs::read(components::HELLO_MANIFEST).expect("manifest");
    let component = std::fs::read(components::HELLO).expect("component");
    registry
        .publish(PublishRequest::sign(manifest.clone(), component, &key).expect("sign"))
        .await
        .expect("publish");
    let rounds = if quick() { 10 } else { 50 };
    for i in 0..=rounds * 2 {
        let d = format!("d{i}");
        host.district(&d).await;
        host.opened
            .platform
            .trust_key(&d, &key.public().to_hex(), "bench")
            .await
            .expect("trust");
    }
    let location = registry.root().display().to_string();
    let from_registry = async |d: String| {
        host.opened
            .platform
            .install_from_registry(RegistryInstall {
                district: d,
                registry: location.clone(),
                package: "hello@^0.1".into(),
                grant: BTreeSet::from([Permission::Kv]),
                grant_all: false,
                config: serde_json::json!({}),
                communities: None,
            })
            .await
            .expect("install")
    };
    // The first install downloads the package and compiles the component.
    from_registry("d0".into()).await;
    let text = String::from_utf8(manifest).expect("utf-8");
    let mut registry_times = Vec::new();
    let mut local_times = Vec::new();
    // Interleaved, so both see the same machine.
    for i in 0..rounds {
        let started = Instant::now();
        from_registry(format!("d{}", 1 + 2 * i)).await;
        registry_times.push(started.elapsed());
        let started = Instant::now();
        host.install(
            &format!("d{}", 2 + 2 * i),
            &text,
            components::HELLO,
            &[Permission::Kv],
        )
        .await
        .expect("local install");
        local_times.push(started.elapsed());
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (r, l) = (median(&mut registry_times), median(&mut local_times));
    println!(
        "install of examples/hello already in the package cache ({backend:?}, median of {rounds}): \
         from the registry {:.2} ms, from local files {:.2} ms (x{:.2})",
        r.as_secs_f64() * 1e3,
        l.as_secs_f64() * 1e3,
        r.as_secs_f64() / l.as_secs_f64()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    bench_resolution();
    bench_big_registry().await;
    bench_cached_install(Backend::Sqlite).await;
    bench_cached_install(Backend::Postgres).await;
}
