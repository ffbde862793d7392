//! Party-building benchmark, on SQLite and on PostgreSQL; prints figures
//! rather than asserting them.
//!
//! A district with 200 party branches of 100 members each (20,000 members,
//! a secretary and four committee members per branch) and a year (2025) of
//! activities per branch: a committee meeting, a group meeting and a themed
//! day every month, a general meeting and a lecture every quarter (44
//! activities), about 80% of those expected checking in, and confirmed
//! volunteer hours. The year of one branch is made through the app's own
//! routes (scheduling, checking in at each activity's time, logging and
//! confirming hours); the other 199 are copies of its `kv` rows with the
//! branch and member ids changed, so the app's data is exactly what the app
//! writes, about 1.3 million keys in all.
//!
//! Figures: the time to produce the monthly report over every branch in one
//! call (`GET /reports?period=2025-06`), the quarterly one, the same in
//! pages of 50 branches, and one branch's detailed report with names.
//!
//! Run with `cargo bench -p hutong-tests --bench party_building`.
//! `HUTONG_BENCH_QUICK=1` uses 20 branches; `HUTONG_BENCH_BACKEND=sqlite`
//! (or `postgres`) runs one back end.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use hutong_host::AccountRequest;
use hutong_host::accounts::Role;
use hutong_host::community::import::Format;
use hutong_host::kernel::manifest::{Manifest, Permission};
use hutong_tests::{Backend, TestHost, TestResponse, account_request, components, cst_ms};
use serde_json::{Value, json};

const D: &str = "bench";
const MEMBERS: usize = 100;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn quick() -> bool {
    std::env::var("HUTONG_BENCH_QUICK").is_ok_and(|v| v == "1")
}

fn branches() -> usize {
    if quick() { 20 } else { 200 }
}

fn branch(i: usize) -> String {
    format!("br_{i:03}")
}

/// The community data: one community, grid and branch per branch, 100
/// residents each, all members of their branch.
async fn data(host: &TestHost) {
    host.district(D).await;
    let mut lines = vec![json!({"kind": "street", "id": "s1", "name": "Street"}).to_string()];
    for b in 0..branches() {
        let id = branch(b);
        lines.push(json!({"kind": "community", "id": format!("c_{b:03}"), "street_id": "s1", "name": format!("社区{b}")}).to_string());
        lines.push(json!({"kind": "grid", "id": format!("g_{b:03}"), "community_id": format!("c_{b:03}"), "name": "G"}).to_string());
        lines.push(json!({"kind": "organisation", "id": id, "community_id": format!("c_{b:03}"), "organisation_kind": "party-branch", "name": format!("第{b}党支部")}).to_string());
        for m in 0..MEMBERS {
            let resident = format!("{id}-m{m:03}");
            lines.push(json!({"kind": "resident", "id": resident, "grid_id": format!("g_{b:03}"), "tags": ["party-member"], "name": format!("党员{m}")}).to_string());
            let role = match m {
                0 => "secretary",
                1..=4 => "committee-member",
                _ => "",
            };
            lines.push(json!({"kind": "membership", "organisation_id": id, "resident_id": resident, "role": role}).to_string());
        }
    }
    host.opened
        .platform
        .import_data(D, &lines.join("\n"), Format::JsonLines)
        .await
        .expect("import");
}

async fn account(host: &TestHost, id: &str, role: Role, resident: Option<String>) -> String {
    host.opened
        .platform
        .create_account(AccountRequest {
            resident_id: resident,
            ..account_request(id, role, Some(D))
        })
        .await
        .expect("account");
    host.opened
        .platform
        .issue_token(id, "bench", 30)
        .await
        .expect("token")
        .token
}

async fn call(
    host: &TestHost,
    token: &str,
    method: Method,
    path: &str,
    body: Value,
) -> TestResponse {
    host.json_as(
        token,
        method,
        &format!("/d/{D}/apps/party-building{path}"),
        body,
    )
    .await
}

fn ok(r: &TestResponse) -> Value {
    assert!(r.status.is_success(), "{}: {}", r.status, r.text());
    if r.headers
        .get("content-type")
        .is_some_and(|v| v == "application/json")
    {
        r.json()
    } else {
        Value::Null
    }
}

/// POST `body` to the app's `path` as `token`; the answer, which must be a success.
async fn post_ok(host: &TestHost, token: &str, path: &str, body: Value) -> Value {
    ok(&call(host, token, Method::POST, path, body).await)
}

/// A year of the first branch through the app; returns how many requests.
async fn template_year(host: &TestHost, tokens: &[String], admin: &str) -> usize {
    let b = branch(0);
    let mut requests = 0;
    let task = post_ok(
        host,
        admin,
        &format!("/branches/{b}/tasks"),
        json!({"title": "助老服务"}),
    )
    .await;
    let task = task["id"].as_str().unwrap_or_default().to_owned();
    for month in 1..=12 {
        let mut kinds = vec![
            ("committee-meeting", 5),
            ("group-meeting", 12),
            ("themed-day", 20),
        ];
        if month % 3 == 1 {
            kinds.push(("general-meeting", 25));
        }
        if month % 3 == 2 {
            kinds.push(("lecture", 26));
        }
        for (kind, day) in kinds {
            let start = cst_ms(2025, month, day, 14);
            host.clock().set_ms(start - DAY);
            let a = post_ok(
                host,
                admin,
                &format!("/branches/{b}/activities"),
                json!({"kind": kind, "title": format!("{kind} {month}月"), "place": "党群服务中心",
                       "starts_at_ms": start, "ends_at_ms": start + 2 * HOUR}),
            )
            .await;
            let id = a["id"].as_str().unwrap_or_default().to_owned();
            requests += 1;
            host.clock().set_ms(start);
            let audience = if kind == "committee-meeting" {
                5
            } else {
                MEMBERS
            };
            for (m, token) in tokens.iter().enumerate().take(audience) {
                // About one in five stays away.
                if (m + month as usize).is_multiple_of(5) {
                    continue;
                }
                post_ok(
                    host,
                    token,
                    &format!("/activities/{id}/check-in"),
                    Value::Null,
                )
                .await;
                requests += 1;
            }
        }
        // Twenty members log two hours each; the secretary confirms.
        host.clock().set_ms(cst_ms(2025, month, 28, 20));
        for token in tokens.iter().skip(10).take(20) {
            let log = post_ok(
                host,
                token,
                &format!("/tasks/{task}/hours"),
                json!({"hours": 2, "date": format!("2025-{month:02}-28")}),
            )
            .await;
            let id = log["log"]["id"].as_str().unwrap_or_default().to_owned();
            post_ok(host, admin, &format!("/hours/{id}/confirm"), Value::Null).await;
            requests += 2;
        }
    }
    requests
}

/// Copy the first branch's `kv` rows to every other branch in one
/// statement, renaming the branch (and so its members, whose ids start with
/// it). Keys without the branch in them (`act/…`, `due/…`) stay the first
/// branch's: reports read index keys only.
async fn clone_branches(host: &TestHost) {
    let last = branches() - 1;
    let from = branch(0);
    let sql = match host.backend {
        Backend::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
             INSERT INTO kv (district, app, key, value) \
             SELECT k.district, k.app, replace(k.key, '{from}', 'br_' || printf('%03d', n.i)), \
                    CAST(replace(CAST(k.value AS TEXT), '{from}', 'br_' || printf('%03d', n.i)) AS BLOB) \
             FROM kv AS k, n WHERE k.district = '{D}' AND k.app = 'party-building' AND k.key LIKE '%{from}%' \
             ON CONFLICT DO NOTHING"
        ),
        Backend::Postgres => format!(
            "INSERT INTO kv (district, app, key, value) \
             SELECT k.district, k.app, replace(k.key, '{from}', 'br_' || lpad(n.i::text, 3, '0')), \
                    convert_to(replace(convert_from(k.value, 'UTF8'), '{from}', 'br_' || lpad(n.i::text, 3, '0')), 'UTF8') \
             FROM kv AS k CROSS JOIN generate_series(1, {last}) AS n(i) \
             WHERE k.district = '{D}' AND k.app = 'party-building' AND k.key LIKE '%{from}%' \
             ON CONFLICT DO NOTHING"
        ),
    };
    let rows = host.execute_raw(&sql).await;
    println!("[{:?}] {rows} kv rows copied", host.backend);
}

async fn timed(host: &TestHost, token: &str, path: &str) -> (Duration, TestResponse) {
    let started = Instant::now();
    let r = call(host, token, Method::GET, path, Value::Null).await;
    (started.elapsed(), r)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn run(backend: Backend) {
    let host = TestHost::new(backend).await;
    let started = Instant::now();
    data(&host).await;
    println!(
        "[{backend:?}] community data: {} branches, {} members, imported in {:.1?}",
        branches(),
        branches() * MEMBERS,
        started.elapsed()
    );

    let manifest = Manifest::from_toml(
        &std::fs::read_to_string(components::PARTY_BUILDING_MANIFEST).expect("manifest"),
    )
    .expect("manifest");
    host.opened
        .platform
        .install(hutong_host::InstallRequest {
            district: D.into(),
            manifest,
            component: std::fs::read(components::PARTY_BUILDING).expect("component"),
            grant: [
                Permission::Kv,
                Permission::ReadOrganisations,
                Permission::ReadResidents,
                Permission::ReadPersonalFields,
                Permission::NotifyInbox,
            ]
            .into_iter()
            .collect(),
            config: json!({}),
            communities: None,
        })
        .await
        .expect("install");
    let admin = account(&host, "admin", Role::DistrictAdmin, None).await;
    let mut tokens = Vec::new();
    for m in 0..MEMBERS {
        tokens.push(
            account(
                &host,
                &format!("m{m:03}"),
                Role::Resident,
                Some(format!("{}-m{m:03}", branch(0))),
            )
            .await,
        );
    }
    let started = Instant::now();
    let requests = template_year(&host, &tokens, &admin).await;
    let took = started.elapsed();
    println!(
        "[{backend:?}] one branch's year through the app: {requests} requests in {took:.1?} ({:.2} ms a request)",
        took.as_secs_f64() * 1000.0 / requests as f64
    );
    let started = Instant::now();
    clone_branches(&host).await;
    println!(
        "[{backend:?}] copied to {} more branches in {:.1?}",
        branches() - 1,
        started.elapsed()
    );

    host.clock().set_ms(cst_ms(2026, 1, 5, 9));
    for (label, path) in [
        (
            "monthly report, every branch, one call",
            "/reports?period=2025-06",
        ),
        (
            "quarterly report, every branch, one call",
            "/reports?period=2025-Q2",
        ),
        (
            "monthly report, every branch, CSV",
            "/reports?period=2025-06&format=csv",
        ),
        (
            "one branch's monthly report with names",
            "/branches/br_007/report?period=2025-06",
        ),
    ] {
        let mut samples = Vec::new();
        let mut last = None;
        for _ in 0..3 {
            let (took, r) = timed(&host, &admin, path).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
            samples.push(took);
            last = Some(r);
        }
        let body = last.map(|r| r.body.len()).unwrap_or(0);
        println!(
            "[{backend:?}] {label}: median {:.1?} of 3 (max {:.1?}), {body} bytes",
            median(samples.clone()),
            samples.iter().max().copied().unwrap_or_default()
        );
    }
    // The same month in pages of 50 branches.
    let started = Instant::now();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    let mut seen = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/reports?period=2025-06&limit=50&cursor={c}"),
            None => "/reports?period=2025-06&limit=50".to_owned(),
        };
        let r = ok(&call(&host, &admin, Method::GET, &path, Value::Null).await);
        pages += 1;
        seen += r["branches"].as_array().map(Vec::len).unwrap_or(0);
        match r["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    println!(
        "[{backend:?}] monthly report in {pages} pages of 50: {:.1?} for {seen} branches",
        started.elapsed()
    );
    let check = ok(&call(
        &host,
        &admin,
        Method::GET,
        "/reports?period=2025-06&limit=2",
        Value::Null,
    )
    .await);
    println!("[{backend:?}] sample: {}", check["branches"][1]["totals"]);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only = std::env::var("HUTONG_BENCH_BACKEND").ok();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let name = format!("{backend:?}").to_lowercase();
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        run(backend).await;
    }
}
