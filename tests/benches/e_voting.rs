//! Community voting benchmark, on SQLite and on PostgreSQL; prints figures
//! rather than asserting them.
//!
//! A poll over a community of 50,000 residents (50 grids of 1,000), three
//! trustees:
//!
//! 1. Roll freeze: the time to read every resident onto the roll, making a
//!    credential for each, move the credential keys onto the roll in key
//!    order and open the poll, in as many `advance` calls as
//!    it takes (each stops after about 4 s of work, under the app's 10 s
//!    deadline). The credentials are read from storage here, as if
//!    delivered (their delivery is the notification benchmark's).
//! 2. Ballots: each made as a voter's device makes it (encrypted, proved,
//!    signed; natively, on every core), then cast from 8 concurrent
//!    callers, each ballot checked in a fresh instance of the app.
//! 3. Close: every stored ballot checked again, added up and moved to the
//!    counted ones in key order, in as many calls as it takes; the
//!    trustees' shares; the result.
//! 4. The whole board verified as `hutong-evote verify` does.
//!
//! Once, on SQLite: the ballot page's module, as the app serves it, making
//! ballots on the poll's head in V8 (Node.js; `evote/web/bench.mjs`).
//!
//! Requests go to the runtime with the caller already established, as the
//! HTTP layer hands them over. `HUTONG_BENCH_QUICK=1` uses 5,000 residents.

use std::time::{Duration, Instant};

use hutong_evote::{
    BOARD_FORMAT, Ballot, Board, Ciphertext, Credential, Election, Point, TrusteeKey,
};
use hutong_host::accounts::{Caller, Role};
use hutong_host::community::import::Format;
use hutong_host::kernel::manifest::Permission;
use hutong_host::{AppRequest, Platform};
use hutong_tests::{Backend, TestHost, components};
use rand_core::OsRng;
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
    let (status, body) = call_raw(platform, caller, method, path, body).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// A request to the app; its status and the body's bytes.
async fn call_raw(
    platform: &Platform,
    caller: &Caller,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Vec<u8>) {
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
    (response.status, response.body)
}

/// Time the ballot page's module, as the app serves it, on the poll's
/// head in V8 (`node evote/web/bench.mjs`); says so when Node.js is
/// missing.
async fn the_page_module(platform: &Platform, caller: &Caller, head: &Value) {
    let (status, module) =
        call_raw(platform, caller, "GET", "/assets/evote.wasm", Value::Null).await;
    assert_eq!(status, 200);
    let dir = tempfile::tempdir().expect("temp dir");
    let wasm = dir.path().join("evote.wasm");
    let head_file = dir.path().join("head.json");
    std::fs::write(&wasm, module).expect("write the module");
    std::fs::write(&head_file, head.to_string()).expect("write the head");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../evote/web/bench.mjs");
    match std::process::Command::new("node")
        .arg(script)
        .arg(&wasm)
        .arg(&head_file)
        .output()
    {
        Ok(out) if out.status.success() => print!("{}", String::from_utf8_lossy(&out.stdout)),
        Ok(out) => println!(
            "the ballot page's module: the script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => println!("the ballot page's module: not timed, no Node.js ({e})"),
    }
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

/// Every kv row of the app under `prefix`: key and value.
async fn rows(host: &TestHost, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let mut conn = host.raw_connection().await;
    let rows = sqlx::query(
        "SELECT key, value FROM kv WHERE app = 'e-voting' AND key LIKE $1 ORDER BY key",
    )
    .bind(format!("{prefix}%"))
    .fetch_all(&mut conn)
    .await
    .expect("kv rows");
    let _ = sqlx::Connection::close(conn).await;
    rows.iter()
        .map(|r| (sqlx::Row::get(r, "key"), sqlx::Row::get(r, "value")))
        .collect()
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
    let trustee = |i: usize| Caller {
        account_id: format!("t{i}"),
        ..worker.clone()
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
            "trustees": ["t0", "t1", "t2"],
        }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["poll"]["id"].as_str().expect("id").to_owned();
    let advance = format!("/polls/{id}/advance");
    let board_path = format!("/polls/{id}/board");
    let mut keys = Vec::new();
    for i in 0..3 {
        let key = TrusteeKey::generate(&id, &mut OsRng);
        let body = serde_json::to_value(&key.public).expect("json");
        let (status, answer) = call(
            &platform,
            &trustee(i),
            "POST",
            &format!("/polls/{id}/trustees"),
            body,
        )
        .await;
        assert_eq!(status, 201, "{answer}");
        keys.push(key);
    }

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

    // 2. Every voter's device makes a ballot; then they are cast.
    let (_, head) = call(&platform, &worker, "GET", &board_path, Value::Null).await;
    let election: Election = serde_json::from_value(head["election"].clone()).expect("election");
    if backend == Backend::Sqlite {
        the_page_module(&platform, &worker, &head).await;
    }
    let credentials: Vec<Credential> = rows(&host, &format!("deliver/{id}/"))
        .await
        .iter()
        .map(|(_, text)| {
            Credential::from_text(&id, &String::from_utf8_lossy(text)).expect("credential")
        })
        .collect();
    assert_eq!(credentials.len(), n);
    let start = Instant::now();
    let one = Ballot::create(&election, &credentials[0], &[0], &mut OsRng).expect("ballot");
    let making_one = start.elapsed();
    drop(one);
    let start = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let ballots: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = credentials
            .chunks(n.div_ceil(threads))
            .enumerate()
            .map(|(t, chunk)| {
                let election = &election;
                s.spawn(move || {
                    chunk
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            let choice = ((t * chunk.len() + i) % 3) as u32;
                            let (ballot, _) =
                                Ballot::create(election, c, &[choice], &mut OsRng).expect("ballot");
                            serde_json::to_value(&ballot).expect("json")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("maker"))
            .collect()
    });
    let making = start.elapsed();
    let ballots = std::sync::Arc::new(ballots);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for caller_no in 0..CONCURRENCY {
        let platform = platform.clone();
        let ballots = ballots.clone();
        let path = format!("/polls/{id}/ballots");
        tasks.push(tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            for i in (caller_no..n).step_by(CONCURRENCY) {
                let t = Instant::now();
                let (status, receipt) =
                    call(&platform, &resident(i), "POST", &path, ballots[i].clone()).await;
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
    let casting = start.elapsed();

    // 3. Close, check every ballot again and add them up; the trustees'
    // shares; the result.
    host.clock().advance_ms(2 * 86_400_000);
    let start = Instant::now();
    let mut recount_calls = 0;
    loop {
        recount_calls += 1;
        let (status, view) = call(&platform, &worker, "POST", &advance, Value::Null).await;
        assert_eq!(status, 200, "{view}");
        if view["phase"] == "decrypting" {
            break;
        }
    }
    let recounting = start.elapsed();
    let (_, head) = call(&platform, &worker, "GET", &board_path, Value::Null).await;
    let tally: Vec<Ciphertext> = serde_json::from_value(head["tally"].clone()).expect("tally");
    let start = Instant::now();
    for (i, key) in keys.iter().enumerate() {
        let shares = serde_json::to_value(key.decrypt(&tally, &mut OsRng)).expect("json");
        let (status, answer) = call(
            &platform,
            &trustee(i),
            "POST",
            &format!("/polls/{id}/decryptions"),
            shares,
        )
        .await;
        assert_eq!(status, 201, "{answer}");
    }
    let decrypting = start.elapsed();
    let (status, result) = call(
        &platform,
        &worker,
        "GET",
        &format!("/polls/{id}/result"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["tally"]["ballots"], n, "{result}");

    // 4. The whole board, verified.
    let (_, head) = call(&platform, &worker, "GET", &board_path, Value::Null).await;
    let mut credential_keys: Vec<Point> = rows(&host, &format!("cred/{id}/"))
        .await
        .iter()
        .map(|(k, _)| Point::from_hex(k.rsplit('/').next().unwrap_or_default()).expect("key"))
        .collect();
    credential_keys.sort();
    let board = Board {
        format: BOARD_FORMAT.into(),
        election,
        trustees: serde_json::from_value(head["trustees"].clone()).expect("trustees"),
        credentials: credential_keys,
        ballots: rows(&host, &format!("counted/{id}/"))
            .await
            .iter()
            .map(|(_, v)| serde_json::from_slice(v).expect("ballot"))
            .collect(),
        tally: Some(tally),
        decryptions: serde_json::from_value(head["decryptions"].clone()).expect("shares"),
        result: serde_json::from_value(head["result"].clone()).expect("result"),
    };
    let start = Instant::now();
    let report = board.verify(threads);
    let verifying = start.elapsed();
    assert!(report.verified, "{report:?}");

    println!(
        "{backend:?}: {n} residents imported in {:.1} s; roll frozen with a credential each and poll opened in {:.2} s ({calls} calls); \
         a ballot made in {:.1} ms ({n} on {threads} threads in {:.1} s); \
         {n} ballots cast in {:.1} s ({:.0} ballots/s accepted, {CONCURRENCY} concurrent, slowest {:.0} ms); \
         closed, every ballot checked again and added up in {:.2} s ({recount_calls} calls); \
         3 trustees' shares checked and the result published in {:.2} s; \
         the whole board verified in {:.2} s on {threads} threads",
        importing.as_secs_f64(),
        freezing.as_secs_f64(),
        making_one.as_secs_f64() * 1000.0,
        making.as_secs_f64(),
        casting.as_secs_f64(),
        n as f64 / casting.as_secs_f64(),
        slowest.as_secs_f64() * 1000.0,
        recounting.as_secs_f64(),
        decrypting.as_secs_f64(),
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
