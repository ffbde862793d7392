//! Community voting benchmark, on SQLite and on PostgreSQL; prints figures
//! rather than asserting them.
//!
//! A poll over a community of 50,000 residents (50 grids of 1,000):
//!
//! 1. Roll freeze: the time to read every resident onto the roll and open
//!    the poll, in as many `advance` calls as it takes (each call stops
//!    after about 4 s of work, under the app's 10 s deadline).
//! 2. Votes accepted per second: every resident votes once, from 8
//!    concurrent callers, each vote a fresh instance of the app and one
//!    `kv::commit`.
//! 3. Time to tally: the call that closes the poll and counts the board,
//!    then the calls that move the voted marks, then a full verification.
//!
//! Requests go to the runtime with the caller already established, as the
//! HTTP layer hands them over; bearer-token checks are measured by the
//! runtime benchmark, not here. `HUTONG_BENCH_QUICK=1` uses 5,000 residents.

use std::time::{Duration, Instant};

use hutong_host::accounts::{Caller, Role};
use hutong_host::community::import::Format;
use hutong_host::kernel::manifest::Permission;
use hutong_host::{AppRequest, Platform};
use hutong_tests::{Backend, TestHost, components};
use serde_json::{Value, json};

const D: &str = "bench";
const GRIDS: usize = 50;
const CONCURRENCY: usize = 8;

fn residents() -> usize {
    if std::env::var("HUTONG_BENCH_QUICK").is_ok_and(|v| v == "1") {
        5_000
    } else {
        50_000
    }
}

async fn call(
    platform: &Platform,
    caller: &Caller,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let request = AppRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        query: String::new(),
        headers: Vec::new(),
        body: if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        },
        caller: Some(caller.clone()),
        request_id: String::new(),
    };
    let response = platform
        .runtime()
        .handle_http(D, "e-voting", request)
        .await
        .expect("app call");
    let value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    (response.status, value)
}

fn resident(i: usize) -> Caller {
    Caller {
        account_id: format!("v{i:06}"),
        role: Role::Resident,
        district: Some(D.to_owned()),
        resident_id: Some(format!("r{i:06}")),
        grids: Vec::new(),
    }
}

async fn run(backend: Backend) {
    let n = residents();
    let host = TestHost::new(backend).await;
    host.district(D).await;
    let mut lines = vec![
        json!({"kind": "street", "id": "s1", "name": "Street"}).to_string(),
        json!({"kind": "community", "id": "c1", "street_id": "s1", "name": "One"}).to_string(),
    ];
    for g in 0..GRIDS {
        lines.push(
            json!({"kind": "grid", "id": format!("g{g:02}"), "community_id": "c1", "name": "G"})
                .to_string(),
        );
    }
    for i in 0..n {
        lines.push(
            json!({"kind": "resident", "id": format!("r{i:06}"), "grid_id": format!("g{:02}", i % GRIDS), "name": "张三", "birth_date": "1980-01-01"})
                .to_string(),
        );
    }
    let start = Instant::now();
    host.opened
        .platform
        .import_data(D, &lines.join("\n"), Format::JsonLines)
        .await
        .expect("import");
    let importing = start.elapsed();
    let manifest = std::fs::read_to_string(components::E_VOTING_MANIFEST).expect("manifest");
    host.install(
        D,
        &manifest,
        components::E_VOTING,
        &[
            Permission::Kv,
            Permission::ReadResidents,
            Permission::ReadBuildings,
            Permission::Schedules,
        ],
    )
    .await
    .expect("install");
    let platform = host.opened.platform.clone();
    let worker = Caller {
        account_id: "w1".into(),
        role: Role::Worker,
        district: Some(D.to_owned()),
        resident_id: None,
        grids: Vec::new(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(0))
        .unwrap_or(0);
    host.clock().set_ms(now);
    let (status, created) = call(
        &platform,
        &worker,
        "POST",
        "/polls",
        json!({
            "title": "Community budget 2027", "kind": "single",
            "options": ["parks", "lighting", "elderly canteen"],
            "eligibility": {"community": "c1"},
            "opens_at_ms": now, "closes_at_ms": now + 86_400_000, "quorum_percent": 30,
        }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["poll"]["id"].as_str().expect("id").to_owned();
    let advance = format!("/polls/{id}/advance");

    // 1. Freeze the roll.
    let start = Instant::now();
    let mut calls = 0;
    loop {
        calls += 1;
        let (status, view) = call(&platform, &worker, "POST", &advance, Value::Null).await;
        assert_eq!(status, 200, "{view}");
        if view["phase"] == "open" {
            assert_eq!(view["roll"]["units"], n, "{view}");
            break;
        }
    }
    let freezing = start.elapsed();

    // 2. Everyone votes once.
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker_no in 0..CONCURRENCY {
        let platform = platform.clone();
        let path = format!("/polls/{id}/vote");
        tasks.push(tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            for i in (worker_no..n).step_by(CONCURRENCY) {
                let t = Instant::now();
                let (status, receipt) = call(
                    &platform,
                    &resident(i),
                    "POST",
                    &path,
                    json!({"choices": [i % 3]}),
                )
                .await;
                assert_eq!(status, 201, "{receipt}");
                slowest = slowest.max(t.elapsed());
            }
            slowest
        }));
    }
    let mut slowest = Duration::ZERO;
    for t in tasks {
        slowest = slowest.max(t.await.expect("voter"));
    }
    let voting = start.elapsed();
    // A second vote is still refused at this size.
    let (status, _) = call(
        &platform,
        &resident(7),
        "POST",
        &format!("/polls/{id}/vote"),
        json!({"choices": [0]}),
    )
    .await;
    assert_eq!(status, 409);

    // 3. Close, tally, move the marks, verify.
    host.clock().advance_ms(2 * 86_400_000);
    let start = Instant::now();
    let (status, view) = call(&platform, &worker, "POST", &advance, Value::Null).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["phase"], "closed", "{view}");
    let tallying = start.elapsed();
    let start = Instant::now();
    let mut scrub_calls = 0;
    loop {
        scrub_calls += 1;
        let (_, view) = call(&platform, &worker, "POST", &advance, Value::Null).await;
        if view["marks_moved"] == true {
            break;
        }
    }
    let scrubbing = start.elapsed();
    let start = Instant::now();
    let (status, verified) = call(
        &platform,
        &worker,
        "GET",
        &format!("/polls/{id}/verify"),
        Value::Null,
    )
    .await;
    let verifying = start.elapsed();
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["verified"], true, "{verified}");
    assert_eq!(verified["published"]["ballots"], n);

    println!(
        "{backend:?}: {n} residents imported in {:.1} s; roll frozen and poll opened in {:.2} s ({calls} calls); \
         {n} votes in {:.1} s ({:.0} votes/s, {CONCURRENCY} concurrent, slowest {:.0} ms); \
         closed and tallied in {:.2} s; voted marks moved in {:.2} s ({scrub_calls} calls); verified in {:.2} s",
        importing.as_secs_f64(),
        freezing.as_secs_f64(),
        voting.as_secs_f64(),
        n as f64 / voting.as_secs_f64(),
        slowest.as_secs_f64() * 1000.0,
        tallying.as_secs_f64(),
        scrubbing.as_secs_f64(),
        verifying.as_secs_f64(),
    );
    drop(host);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        run(backend).await;
    }
}
