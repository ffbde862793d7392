//! Case benchmarks, on SQLite and on PostgreSQL; prints figures rather than
//! asserting them.
//!
//! 1. Case transitions per second through the HTTP API (accept, dispatch,
//!    start, handle, verify, close), one client and eight at once.
//! 2. Listing a page of 100 cases from a district holding 1,000,000 cases:
//!    the first page, a page deep in (by cursor), filtered pages, and a
//!    grid worker's view. The target is under 50 ms a page.
//!
//! Run with `bash scripts/bench` or `cargo bench -p hutong-tests --bench
//! cases`. `HUTONG_BENCH_QUICK=1` uses 100,000 cases and fewer transitions;
//! `HUTONG_BENCH_ONLY=transitions|listing` runs one phase.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use hutong_host::accounts::Role;
use hutong_host::cases::store::Category;
use hutong_tests::{Backend, TestHost};
use serde_json::{Value, json};

const D: &str = "bench";
const G1: &str = "c-xingfu-g1";

fn quick() -> bool {
    std::env::var("HUTONG_BENCH_QUICK").is_ok_and(|v| v == "1")
}

fn only(phase: &str) -> bool {
    std::env::var("HUTONG_BENCH_ONLY").map_or(true, |p| p == phase)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn max(samples: &[Duration]) -> Duration {
    samples.iter().copied().max().unwrap_or_default()
}

async fn set_up(host: &TestHost) -> (String, String) {
    host.sample_district(D).await;
    let p = &host.opened.platform;
    p.cases()
        .put_category(
            D,
            Category {
                code: "road".into(),
                name: "Road".into(),
                description: String::new(),
                group: String::new(),
            },
        )
        .await
        .expect("category");
    let worker = host.worker("w1", D, &[G1]).await;
    let resident = host.account("res1", Role::Resident, Some(D)).await;
    (worker, resident)
}

async fn post(host: &TestHost, token: &str, uri: &str, body: Value) -> Value {
    let r = host.post_as(Some(token), uri, body.to_string()).await;
    assert!(r.status.is_success(), "{uri}: {}", r.text());
    r.json()
}

const LIFECYCLE: [(&str, &str); 6] = [
    ("accept", "{}"),
    ("dispatch", r#"{"assignee": "worker:w1"}"#),
    ("start", "{}"),
    ("handle", r#"{"note": "done"}"#),
    ("verify", "{}"),
    ("close", "{}"),
];

/// Move `ids` through the whole lifecycle; returns transitions made.
async fn drive(host: &TestHost, worker: &str, ids: &[i64]) -> u64 {
    let mut n = 0;
    for id in ids {
        for (action, body) in LIFECYCLE {
            let r = host
                .post_as(
                    Some(worker),
                    &format!("/api/v1/districts/{D}/cases/{id}/{action}"),
                    body,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{action}: {}", r.text());
            n += 1;
        }
    }
    n
}

async fn transitions(backend: Backend) {
    let host = TestHost::new(backend).await;
    let (worker, resident) = set_up(&host).await;
    let per_client = if quick() { 30 } else { 150 };
    let report = json!({"category": "road", "grid_id": G1, "description": "pothole"});
    let mut ids = Vec::new();
    for _ in 0..per_client * 9 {
        let v = post(
            &host,
            &resident,
            &format!("/api/v1/districts/{D}/cases"),
            report.clone(),
        )
        .await;
        ids.push(v["id"].as_i64().expect("id"));
    }
    let (one, many) = ids.split_at(per_client);
    let started = Instant::now();
    let n = drive(&host, &worker, one).await;
    let serial = n as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let chunks: Vec<&[i64]> = many.chunks(per_client).collect();
    let counts = futures_join(&host, &worker, &chunks).await;
    let parallel = counts as f64 / started.elapsed().as_secs_f64();
    println!(
        "case transitions through the API, {backend:?}: {serial:.0}/s with one client, {parallel:.0}/s with {} clients ({} transitions)",
        chunks.len(),
        n + counts
    );
}

async fn futures_join(host: &TestHost, worker: &str, chunks: &[&[i64]]) -> u64 {
    let mut set = tokio::task::JoinSet::new();
    for chunk in chunks {
        let chunk = chunk.to_vec();
        let worker = worker.to_owned();
        let platform = host.opened.platform.clone();
        let metrics = host.opened.metrics.clone();
        set.spawn(async move {
            let app = hutong_host::api::app(hutong_host::api::ApiState::new(platform, metrics));
            let mut n = 0u64;
            for id in chunk {
                for (action, body) in LIFECYCLE {
                    let request = axum::http::Request::builder()
                        .method(Method::POST)
                        .uri(format!("/api/v1/districts/{D}/cases/{id}/{action}"))
                        .header("authorization", format!("Bearer {worker}"))
                        .header("content-type", "application/json")
                        .body(axum::body::Body::from(body))
                        .expect("request");
                    let response = tower::ServiceExt::oneshot(app.clone(), request)
                        .await
                        .expect("infallible");
                    assert_eq!(response.status(), StatusCode::OK, "{action} on {id}");
                    n += 1;
                }
            }
            n
        });
    }
    let mut total = 0;
    while let Some(n) = set.join_next().await {
        total += n.expect("client task");
    }
    total
}

/// Fill the district with `n` cases in one statement: states, tiers,
/// grids, categories and assignees spread over the rows as a busy
/// district's would be.
async fn fill(host: &TestHost, backend: Backend, n: u64) {
    let rows = match backend {
        Backend::Postgres => format!("SELECT i FROM generate_series(1, {n}) AS s(i)"),
        Backend::Sqlite => format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s"
        ),
    };
    let states = "CASE i % 8 WHEN 0 THEN 'reported' WHEN 1 THEN 'accepted' WHEN 2 THEN 'dispatched' \
         WHEN 3 THEN 'in-progress' WHEN 4 THEN 'handled' WHEN 5 THEN 'verified' WHEN 6 THEN 'closed' \
         ELSE 'rejected' END";
    let grids = "CASE i % 6 WHEN 0 THEN 'c-xingfu-g1' WHEN 1 THEN 'c-xingfu-g2' WHEN 2 THEN 'c-xingfu-g3' \
         WHEN 3 THEN 'c-heping-g1' WHEN 4 THEN 'c-heping-g2' ELSE 'c-heping-g3' END";
    let communities = "CASE WHEN i % 6 < 3 THEN 'c-xingfu' ELSE 'c-heping' END";
    let sql = format!(
        "INSERT INTO cases (district, category, priority, state, tier, grid_id, community_id, street_id, \
         building_id, address, lat, lon, description, resident_id, reporter_kind, reporter_id, \
         assignee_kind, assignee_id, attachments, deadline_at, overdue, satisfaction, evaluation, token, \
         version, created_at, updated_at, closed_at) \
         SELECT '{D}', CASE WHEN i % 3 = 0 THEN 'noise' ELSE 'road' END, 'normal', {states}, \
         CASE WHEN i % 10 = 0 THEN 'community' ELSE 'grid' END, {grids}, {communities}, 's-donghu', \
         NULL, NULL, NULL, NULL, 'bulk case', NULL, 'account', 'res1', \
         CASE WHEN i % 4 = 0 THEN 'worker' ELSE NULL END, CASE WHEN i % 4 = 0 THEN 'w1' ELSE NULL END, \
         '[]', NULL, CASE WHEN i % 50 = 0 THEN 1 ELSE 0 END, NULL, NULL, 'bulk-' || i, 1, \
         1700000000000 + i * 1000, 1700000000000 + i * 1000, NULL FROM ({rows}) AS r"
    );
    let started = Instant::now();
    let inserted = host.execute_raw(&sql).await;
    assert_eq!(inserted, n);
    host.execute_raw("ANALYZE").await;
    println!(
        "  filled {n} cases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

async fn listing(backend: Backend) {
    let host = TestHost::new(backend).await;
    let (worker, _) = set_up(&host).await;
    let admin = host
        .account("bench-admin", Role::DistrictAdmin, Some(D))
        .await;
    let n = if quick() { 100_000 } else { 1_000_000 };
    fill(&host, backend, n).await;
    // A cursor halfway down the district's cases.
    let half = hutong_host::cases::store::CaseFilter {
        limit: 1,
        before: Some(1 + n as i64 / 2),
        ..Default::default()
    };
    let deep = host
        .opened
        .platform
        .store()
        .list_cases(D, &half)
        .await
        .expect("list")
        .items[0]
        .id;
    let queries = [
        ("first page", admin.clone(), String::new()),
        (
            "page half-way down",
            admin.clone(),
            format!("&cursor={deep}"),
        ),
        (
            "state=in-progress",
            admin.clone(),
            "&state=in-progress".to_owned(),
        ),
        ("overdue=true", admin.clone(), "&overdue=true".to_owned()),
        (
            "grid + category",
            admin.clone(),
            format!("&grid={G1}&category=noise"),
        ),
        (
            "assignee=worker:w1",
            admin.clone(),
            "&assignee=worker:w1".to_owned(),
        ),
        (
            "tier=community, deep",
            admin.clone(),
            format!("&tier=community&cursor={deep}"),
        ),
        ("a grid worker's view", worker.clone(), String::new()),
    ];
    let rounds = if quick() { 10 } else { 30 };
    for (name, token, q) in queries {
        let uri = format!("/api/v1/districts/{D}/cases?limit=100{q}");
        let mut samples = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let started = Instant::now();
            let r = host.get_as(Some(&token), &uri).await;
            samples.push(started.elapsed());
            assert_eq!(r.status, StatusCode::OK, "{name}: {}", r.text());
            let cases = r.json()["cases"].as_array().map_or(0, Vec::len);
            assert_eq!(cases, 100, "{name}: a full page");
        }
        let worst = max(&samples);
        println!(
            "  page of 100 of {n} cases, {backend:?}, {name}: median {:.2} ms, max {:.2} ms (target < 50 ms)",
            median(samples).as_secs_f64() * 1e3,
            worst.as_secs_f64() * 1e3,
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if only("transitions") {
            transitions(backend).await;
        }
        if only("listing") {
            println!("listing cases, {backend:?}:");
            listing(backend).await;
        }
    }
}
