//! Runtime benchmarks; prints figures rather than asserting them.
//!
//! 1. A fresh instance plus a trivial call (median and p99).
//! 2. HTTP requests per second through a trivial app against the same
//!    handler written natively in the host, measured in one run.
//! 3. Start-up of `hutong serve` with 1,000 installs of 10 distinct
//!    components from the precompiled cache, and its resident memory.
//!
//! Run with `bash scripts/bench` (which builds the `hutong` binary first).
//! `HUTONG_BENCH_QUICK=1` shortens every phase.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::routing::get;
use http_body_util::{BodyExt, Empty};
use hutong_host::AppRequest;

use hutong_host::kernel::access_log::NewAccess;
use hutong_host::kernel::manifest::Permission;
use hutong_tests::{Backend, TestHost, components, hutong_binary, listen, test_app_manifest};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

fn quick() -> bool {
    std::env::var("HUTONG_BENCH_QUICK").is_ok_and(|v| v == "1")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn fresh_instance(host: &TestHost, app: &str) {
    let runtime = host.opened.platform.runtime();
    let request = AppRequest::get("/ping");
    let n = if quick() { 2_000 } else { 20_000 };
    for _ in 0..n / 10 {
        runtime
            .handle_http("bench", app, request.clone())
            .await
            .expect("warm-up call");
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let r = request.clone();
        let started = Instant::now();
        let response = runtime.handle_http("bench", app, r).await.expect("call");
        samples.push(started.elapsed());
        assert_eq!(response.status, 200);
    }
    samples.sort();
    println!(
        "fresh instance + trivial call, {app} ({n} calls): median {:.1} us, p99 {:.1} us, min {:.1} us",
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples[0].as_secs_f64() * 1e6,
    );
}

/// Keep-alive HTTP/1.1 clients hammering `path` for `duration`; requests/s.
async fn load(addr: SocketAddr, path: &'static str, clients: usize, duration: Duration) -> f64 {
    load_as(addr, path, None, b"pong", clients, duration).await
}

/// Like [`load`], with a bearer token and a body prefix to check.
async fn load_as(
    addr: SocketAddr,
    path: &'static str,
    token: Option<String>,
    expect_prefix: &'static [u8],
    clients: usize,
    duration: Duration,
) -> f64 {
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let done = done.clone();
        let count = count.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            while !done.load(Ordering::Relaxed) {
                let mut req = hyper::Request::get(path).header("host", "bench");
                if let Some(t) = &token {
                    req = req.header("authorization", format!("Bearer {t}"));
                }
                let req = req.body(Empty::<Bytes>::new()).expect("request");
                let res = sender.send_request(req).await.expect("send");
                assert_eq!(res.status(), 200);
                let body = res.into_body().collect().await.expect("body").to_bytes();
                assert!(
                    body.starts_with(expect_prefix),
                    "{}",
                    String::from_utf8_lossy(&body)
                );
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    done.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    for t in tasks {
        t.await.expect("client");
    }
    count.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64()
}

async fn http_vs_native(host: &TestHost) {
    let addr = listen(host.app().route("/native/ping", get(|| async { "pong" }))).await;

    let rounds = if quick() { 1 } else { 3 };
    let secs = Duration::from_secs(if quick() { 1 } else { 3 });
    let clients = 8;
    let (mut native, mut wasm) = (0.0, 0.0);
    // Alternate, so drift on a shared machine hits both sides alike.
    for _ in 0..rounds {
        native += load(addr, "/native/ping", clients, secs).await;
        wasm += load(addr, "/d/bench/apps/hello/ping", clients, secs).await;
    }
    native /= rounds as f64;
    wasm /= rounds as f64;
    println!(
        "HTTP requests/s, hello /ping vs a native handler ({clients} keep-alive clients, {rounds}x{}s each): native {native:.0}/s, through the app {wasm:.0}/s = {:.0}% of native",
        secs.as_secs(),
        wasm / native * 100.0
    );
}

/// Append a custom section so the same app gets a distinct digest.
fn distinct(bytes: &[u8], n: u32) -> Vec<u8> {
    let name = b"hutong-bench";
    let payload = n.to_le_bytes();
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(&payload);
    let mut out = bytes.to_vec();
    out.push(0); // custom section id
    let mut size = section.len() as u32;
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        if size == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(&section);
    out
}

/// The access-log entry of one data call reading `ids`.
fn bench_entry(ids: &[String]) -> NewAccess<'_> {
    NewAccess {
        district: "bench",
        app: "reader",
        version: "0.1.0",
        request_id: "bench",
        operation: "query-residents",
        permission: "read-residents",
        allowed: true,
        record_ids: ids,
        field_class: "masked",
    }
}

/// The CPU time (user and system) this process has used.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command's closing parenthesis; utime and stime
    // are the 14th and 15th of the whole line.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    // In USER_HZ ticks: 100 a second on the platforms the host builds for
    // (`getconf CLK_TCK`).
    Duration::from_millis(ticks * 10)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

async fn startup() {
    let binary = hutong_binary();
    if !binary.exists() {
        println!(
            "start-up: skipped, {} is not built (run `cargo build --release -p hutong-host`)",
            binary.display()
        );
        return;
    }
    let host = TestHost::new(Backend::Sqlite).await;
    let base = std::fs::read(components::TEST_APP).expect("component");
    let (districts, per_district) = (100, 10);
    let setup = Instant::now();
    for d in 0..districts {
        host.district(&format!("d{d:03}")).await;
    }
    let dir = host.dir();
    for v in 0..per_district {
        let path = dir.join(format!("variant-{v}.wasm"));
        std::fs::write(&path, distinct(&base, v)).expect("write variant");
        for d in 0..districts {
            host.install(
                &format!("d{d:03}"),
                &test_app_manifest(&format!("app-{v}"), ""),
                path.to_str().expect("path"),
                &[Permission::Kv],
            )
            .await
            .expect("install");
        }
    }
    let installs = districts * per_district;
    println!(
        "start-up: set up {installs} installs of {per_district} distinct components in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    host.opened.platform.store().close().await;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let started = Instant::now();
    let mut child = std::process::Command::new(&binary)
        .arg("--data-dir")
        .arg(&host.settings.data_dir)
        .args(["serve", "--listen", &addr.to_string()])
        .env("HUTONG_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn hutong serve");
    let ready = loop {
        if started.elapsed() > Duration::from_secs(60) {
            break None;
        }
        if let Ok(stream) = tokio::net::TcpStream::connect(addr).await {
            drop(stream);
            break Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let rss = rss_kib(child.id());
    // A request to the last install proves they were all loaded.
    let mut ok = false;
    if let Ok(stream) = tokio::net::TcpStream::connect(addr).await
        && let Ok((mut sender, conn)) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        tokio::spawn(conn);
        let req = hyper::Request::get("/d/d099/apps/app-9/ping")
            .header("host", "bench")
            .body(Empty::<Bytes>::new())
            .expect("request");
        ok = sender
            .send_request(req)
            .await
            .is_ok_and(|r| r.status() == 200);
    }
    let _ = child.kill();
    let _ = child.wait();
    match ready {
        Some(t) => println!(
            "start-up of `hutong serve` with {installs} installs ({per_district} distinct components, precompiled cache): {:.0} ms to accepting connections; resident memory {:.1} MiB; serving: {ok}",
            t.as_secs_f64() * 1e3,
            rss.unwrap_or(0) as f64 / 1024.0
        ),
        None => println!("start-up: hutong serve did not start within 60 s"),
    }
}

/// Reading residents through the data interface against the same reads done
/// natively in the host, and the cost of the access log.
async fn data(host: &TestHost) {
    use hutong_host::community::import::{self, Format};
    use hutong_host::community::store::ResidentFilter;
    use hutong_host::community::{mask, sample};

    host.opened
        .platform
        .import_data(
            "bench",
            &import::to_json_lines(&sample::sample_district(1)),
            Format::JsonLines,
        )
        .await
        .expect("sample data");
    host.install_app("bench", "reader", &[Permission::ReadResidents])
        .await;
    let runtime = host.opened.platform.runtime();
    let store = host.opened.platform.store();
    let n = if quick() { 200 } else { 1_000 };

    // Native: the same query, masking and JSON the app's answer holds.
    let native = || async {
        let filter = ResidentFilter {
            limit: 100,
            ..ResidentFilter::default()
        };
        let rows = store
            .query_residents("bench", &filter)
            .await
            .expect("query");
        let json: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.resident.id,
                    "grid_id": r.resident.grid_id,
                    "tags": r.resident.tags,
                    "name": mask::name(&r.resident.name),
                    "phone": r.resident.phone.as_deref().map(mask::phone),
                    "id_number": r.resident.id_number.as_deref().map(mask::id_number),
                    "birth_year": r.resident.birth_date.as_deref().and_then(mask::birth_year),
                    "address": r.building_name,
                })
            })
            .collect();
        assert_eq!(json.len(), 100);
        serde_json::to_vec(&json).expect("json")
    };
    // The reader's /data routes are not public: call as a signed-in caller.
    let caller = hutong_host::accounts::Caller {
        account_id: "root".into(),
        role: hutong_host::accounts::Role::PlatformAdmin,
        district: None,
        resident_id: None,
        grids: vec![],
    };
    let app_call = || {
        let caller = caller.clone();
        async move {
            runtime
                .handle_http(
                    "bench",
                    "reader",
                    AppRequest {
                        query: "limit=100".into(),
                        caller: Some(caller),
                        ..AppRequest::get("/data/residents")
                    },
                )
                .await
                .expect("app read")
        }
    };
    let mut native_t = Vec::new();
    let mut app_t = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let body = native().await;
        native_t.push(t.elapsed());
        assert!(!body.is_empty());
        let t = Instant::now();
        let r = app_call().await;
        app_t.push(t.elapsed());
        assert_eq!(r.status, 200);
    }
    native_t.sort();
    app_t.sort();
    let (nat, app) = (percentile(&native_t, 0.5), percentile(&app_t, 0.5));
    println!(
        "read 100 residents (masked, as JSON), {n} times each: native median {:.0} us, through the app {:.0} us = {:.2}x native",
        nat.as_secs_f64() * 1e6,
        app.as_secs_f64() * 1e6,
        app.as_secs_f64() / nat.as_secs_f64()
    );

    // The access log's share: one entry per data call.
    let ids: Vec<String> = (0..10).map(|i| format!("r-{i:04}")).collect();
    let mut log_t = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        store.log_access(bench_entry(&ids)).await.expect("log");
        log_t.push(t.elapsed());
    }
    log_t.sort();
    // Many calls at once, as under load: their entries are committed in
    // groups, so what one costs is the process's CPU over the entries.
    for callers in [8, 64] {
        // Enough entries that the CPU clock's 10 ms ticks are noise.
        let each = 80 * n / callers;
        let (cpu_before, t) = (process_cpu(), Instant::now());
        let calls: Vec<_> = (0..callers)
            .map(|_| {
                let store = store.clone();
                let ids = ids.clone();
                tokio::spawn(async move {
                    for _ in 0..each {
                        store.log_access(bench_entry(&ids)).await.expect("log");
                    }
                })
            })
            .collect();
        for call in calls {
            call.await.expect("caller");
        }
        let (cpu, wall) = (process_cpu() - cpu_before, t.elapsed());
        let entries = (callers * each) as f64;
        println!(
            "access log, {callers} callers at once, {} entries: {:.0} entries/s, {:.1} us of CPU per entry (entries committed together)",
            callers * each,
            entries / wall.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / entries
        );
    }
    // Sealing links entries into the hash chain off the request path.
    let t = Instant::now();
    let sealed = store.seal_access_log().await.expect("seal");
    let seal = t.elapsed();
    println!(
        "sealing {sealed} access-log entries into the hash chain: {:.0} ms, {:.0} us per entry (background, batched)",
        seal.as_secs_f64() * 1e3,
        seal.as_secs_f64() * 1e6 / sealed.max(1) as f64
    );

    // Requests/s of an app reading 10 residents per request, over HTTP.
    let addr = listen(host.app()).await;
    let secs = Duration::from_secs(if quick() { 1 } else { 3 });
    let rps = load_as(
        addr,
        "/d/bench/apps/reader/data/residents?limit=10",
        Some(host.admin_token.clone()),
        b"{",
        8,
        secs,
    )
    .await;
    let per_request_us = 1e6 / rps * 2.0; // two cores' worth of time per request
    let log_us = percentile(&log_t, 0.5).as_secs_f64() * 1e6;
    println!(
        "app reading 10 residents per request, access log on: {rps:.0} requests/s; one access-log write costs {log_us:.0} us median = {:.0}% of the ~{per_request_us:.0} us of machine time per request",
        log_us / per_request_us * 100.0
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let host = TestHost::new(Backend::Sqlite).await;
        host.district("bench").await;
        host.install_test_app("bench", "test-app", false, "").await;
        let hello = std::fs::read_to_string(components::HELLO_MANIFEST).expect("manifest");
        host.install("bench", &hello, components::HELLO, &[Permission::Kv])
            .await
            .expect("install hello");
        // HUTONG_BENCH_ONLY=instance|http|startup runs one phase.
        let only = std::env::var("HUTONG_BENCH_ONLY").unwrap_or_default();
        if only.is_empty() || only == "instance" {
            // The example app (SDK, kv and log imports) and the test app,
            // which imports far more of WASI for its sandbox probes.
            fresh_instance(&host, "hello").await;
            fresh_instance(&host, "test-app").await;
        }
        if only.is_empty() || only == "http" {
            http_vs_native(&host).await;
        }
        if only.is_empty() || only == "data" {
            data(&host).await;
        }
        if only.is_empty() || only == "startup" {
            startup().await;
        }
    });
}
