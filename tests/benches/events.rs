//! Device-event benchmark, on SQLite and on PostgreSQL; prints figures
//! rather than asserting them.
//!
//! Door events per second accepted through the HTTP app (a gateway posting
//! batches of 500 for 1,000 door sensors) and delivered to a trivial
//! subscribed app (`examples/hello`, whose `on-event` is the SDK's default
//! and does nothing): first each on its own, then posting and delivering at
//! once, which is how a serving host runs. The target is at least 5,000
//! events/s end to end on SQLite.
//!
//! Run with `bash scripts/bench` or `cargo bench -p hutong-tests --bench
//! events`. `HUTONG_BENCH_QUICK=1` posts 10,000 events instead of 50,000.

use std::time::Instant;

use axum::http::StatusCode;
use hutong_host::kernel::manifest::Permission;
use hutong_tests::{Backend, TestHost, components, event_batches};
use serde_json::{Value, json};

const D: &str = "bench";
const DEVICES: usize = 1000;
const BATCH: usize = 500;

fn quick() -> bool {
    std::env::var("HUTONG_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// `examples/hello`, subscribed to door events.
fn subscriber_manifest() -> String {
    let text = std::fs::read_to_string(components::HELLO_MANIFEST).expect("hello manifest");
    let text = text.replacen(
        "[permissions]\n",
        "[permissions]\nreceive-events = \"Counts door events.\"\n",
        1,
    );
    format!("{text}\n[events]\ntypes = [\"door.open\", \"door.close\"]\n")
}

async fn set_up(host: &TestHost) -> String {
    host.district(D).await;
    host.install(
        D,
        &subscriber_manifest(),
        components::HELLO,
        &[Permission::Kv, Permission::ReceiveEvents],
    )
    .await
    .expect("install hello");
    for i in 0..DEVICES {
        register(
            host,
            json!({ "id": format!("door-{i:04}"), "kind": "door-sensor" }),
        )
        .await;
    }
    register(host, json!({ "id": "gw", "kind": "gateway" })).await
}

/// Register a device; its token.
async fn register(host: &TestHost, body: Value) -> String {
    let r = host
        .post(&format!("/api/v1/districts/{D}/devices"), body.to_string())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["token"].as_str().expect("token").to_owned()
}

/// The bodies of `n` events in batches, spread over the devices.
fn batches(n: usize, round: usize) -> Vec<String> {
    event_batches(n, BATCH, |i| {
        json!({
            "device": format!("door-{:04}", (i + round) % DEVICES),
            "type": if i % 2 == 0 { "door.open" } else { "door.close" },
            "payload": { "seq": i },
        })
    })
}

async fn post_all(host: &TestHost, gateway: &str, bodies: Vec<String>) -> usize {
    let mut n = 0;
    for body in bodies {
        let r = host
            .post_as(Some(gateway), &format!("/d/{D}/events"), body)
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
        n += r.json()["accepted"].as_u64().unwrap_or(0) as usize;
    }
    n
}

async fn drain(host: &TestHost) -> u64 {
    let platform = &host.opened.platform;
    let mut delivered = 0;
    loop {
        let report = platform.deliver_events().await.expect("deliver");
        delivered += report.delivered;
        assert_eq!(report.retrying + report.dead, 0, "{report:?}");
        if report.delivered == 0 {
            let counts = platform.event_counts(D).await.expect("counts");
            if counts.pending == 0 {
                return delivered;
            }
        }
    }
}

async fn run(backend: Backend) {
    let host = TestHost::new(backend).await;
    let gateway = set_up(&host).await;
    let n = if quick() { 10_000 } else { 50_000 };

    let bodies = batches(n, 0);
    let started = Instant::now();
    let accepted = post_all(&host, &gateway, bodies).await;
    let accept_rate = accepted as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let delivered = drain(&host).await;
    let deliver_rate = delivered as f64 / started.elapsed().as_secs_f64();
    assert_eq!(delivered as usize, accepted);

    // Both at once, as a serving host runs them.
    let bodies = batches(n, 7);
    let started = Instant::now();
    let posting = post_all(&host, &gateway, bodies);
    let delivering = async {
        let platform = &host.opened.platform;
        let mut delivered = 0;
        while delivered < n as u64 {
            let report = platform.deliver_events().await.expect("deliver");
            delivered += report.delivered;
            if report.delivered == 0 {
                tokio::task::yield_now().await;
            }
        }
        delivered
    };
    let (accepted_both, delivered_both) = tokio::join!(posting, delivering);
    let both_rate = delivered_both as f64 / started.elapsed().as_secs_f64();
    assert_eq!(accepted_both, n);

    println!(
        "device events, {backend:?}: {n} door events in batches of {BATCH} over {DEVICES} devices"
    );
    println!("  accepted through POST /d/{{district}}/events: {accept_rate:>9.0} events/s");
    println!("  delivered to a trivial subscribed app:      {deliver_rate:>9.0} events/s");
    println!("  posted and delivered at once, end to end:   {both_rate:>9.0} events/s");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        run(backend).await;
    }
}
