//! Notification benchmark, on SQLite and on PostgreSQL; prints figures
//! rather than asserting them.
//!
//! 1. Sends accepted per second: SMS to one resident through the test app
//!    (an HTTP request, the `notify` capability, resolution, the rate
//!    charge and the outbox write).
//! 2. Notifications delivered per second through the outbox to a local
//!    gateway: claim, sign, POST, record, by one host process.
//!
//! Run with `bash scripts/bench` or `cargo bench -p hutong-tests --bench
//! notify`. `HUTONG_BENCH_QUICK=1` sends fewer messages.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::http::StatusCode;
use hutong_host::community::import::Format;
use hutong_host::kernel::manifest::Permission;
use hutong_tests::{Backend, TestHost};
use serde_json::json;

const D: &str = "bench";

fn messages() -> u64 {
    if std::env::var("HUTONG_BENCH_QUICK").is_ok_and(|v| v == "1") {
        500
    } else {
        5_000
    }
}

/// A gateway that accepts everything and counts it.
async fn gateway() -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    let app = axum::Router::new().fallback(move |_body: axum::body::Bytes| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::Relaxed);
            StatusCode::OK
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), count)
}

async fn run(backend: Backend) {
    let host = TestHost::new(backend).await;
    host.district(D).await;
    let records = [
        json!({"kind": "street", "id": "s1", "name": "Street"}),
        json!({"kind": "community", "id": "c1", "street_id": "s1", "name": "One"}),
        json!({"kind": "grid", "id": "c1-g1", "community_id": "c1", "name": "G1"}),
        json!({"kind": "resident", "id": "r1", "grid_id": "c1-g1", "name": "张三", "phone": "13800000001"}),
    ];
    let text: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    host.opened
        .platform
        .import_data(D, &text.join("\n"), Format::JsonLines)
        .await
        .expect("import");
    host.install_app(D, "sender", &[Permission::NotifySms])
        .await;
    let (url, delivered) = gateway().await;
    let r = host
        .put(
            &format!("/api/v1/districts/{D}/notify/settings"),
            json!({
                "sms_url": format!("{url}/sms"),
                "secret": "a-bench-secret-of-some-length",
                "rate_per_minute": 1_000_000,
            })
            .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    let n = messages();
    let start = Instant::now();
    for i in 0..n {
        let body = json!({
            "to": {"resident": "r1"}, "channel": "sms", "subject": "Notice",
            "body": "Water will be off from 9 to 11 tomorrow.", "key": format!("k{i}"),
        });
        let r = host
            .post(&format!("/d/{D}/apps/sender/notify/send"), body.to_string())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let accepting = start.elapsed();

    let start = Instant::now();
    let mut total = 0;
    while total < n {
        let report = host
            .opened
            .platform
            .deliver_notifications()
            .await
            .expect("deliver");
        assert_eq!(report.retrying + report.failed, 0, "{report:?}");
        total += report.delivered;
    }
    let delivering = start.elapsed();
    assert_eq!(delivered.load(Ordering::Relaxed), n);
    println!(
        "{backend:?}: {n} sends accepted in {:.2} s ({:.0}/s); delivered to a local gateway in {:.2} s ({:.0} notifications/s)",
        accepting.as_secs_f64(),
        n as f64 / accepting.as_secs_f64(),
        delivering.as_secs_f64(),
        n as f64 / delivering.as_secs_f64(),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        run(backend).await;
    }
}
