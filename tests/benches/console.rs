//! Console page benchmarks, on SQLite and on PostgreSQL; prints figures
//! rather than asserting them.
//!
//! Server time to render console pages for a signed-in person (the whole
//! HTTP application, session lookup included, driven in process: the
//! figure is the server's time for one page) in a district holding 1,000
//! installs and an access log of 1,000,000 entries, 900,000 of them one
//! install's. Pages: the district's apps, and that install's audit page
//! (the newest page, a page deep in, denials only, one operation, one
//! record, one day). The target is under 50 ms a page.
//!
//! Run with `bash scripts/bench` or `cargo bench -p hutong-tests --bench
//! console`. `HUTONG_BENCH_QUICK=1` uses 100,000 entries;
//! `HUTONG_BENCH_ONLY=sqlite|postgres` runs one back end.

use std::time::Instant;

use hutong_host::accounts::Role;
use hutong_host::kernel::manifest::Permission;
use hutong_tests::console::{only, page_times, print_page_row, quick, series};
use hutong_tests::{Backend, TestHost};
use sqlx::{Column, Row};

const D: &str = "bench";
const ROUNDS: usize = 30;

/// 999 more installs of the district, copies of `reader` under other
/// names, in one statement.
async fn more_installs(host: &TestHost, backend: Backend) {
    let mut conn = host.raw_connection().await;
    let row = sqlx::query("SELECT * FROM installs WHERE app = 'reader'")
        .fetch_one(&mut conn)
        .await
        .expect("the reader install");
    let columns: Vec<String> = row.columns().iter().map(|c| c.name().to_owned()).collect();
    let select: Vec<String> = columns
        .iter()
        .map(|c| match c.as_str() {
            "app" => "'app-' || i".to_owned(),
            other => other.to_owned(),
        })
        .collect();
    let sql = format!(
        "INSERT INTO installs ({}) SELECT {} FROM installs, ({}) AS r WHERE app = 'reader'",
        columns.join(", "),
        select.join(", "),
        series(backend, 999)
    );
    let inserted = sqlx::query(&sql)
        .execute(&mut conn)
        .await
        .expect("copies")
        .rows_affected();
    assert_eq!(inserted, 999);
}

/// `n` access-log entries: 90 % the reader's, the rest spread over the
/// copies; one in 50 denied, one in 10 with personal fields.
async fn fill_log(host: &TestHost, backend: Backend, n: u64) {
    let sql = format!(
        "INSERT INTO access_log (at, district, app, version, request_id, operation, permission, \
         outcome, record_count, record_ids, field_class, prev_hash, hash) \
         SELECT 1780000000000 + i * 1000, '{D}', \
         CASE WHEN i % 10 = 0 THEN 'app-' || (i % 999 + 1) ELSE 'reader' END, '0.1.0', \
         'bulk-' || i, CASE WHEN i % 3 = 0 THEN 'get-resident' ELSE 'query-residents' END, \
         CASE WHEN i % 50 = 0 THEN 'read-households' ELSE 'read-residents' END, \
         CASE WHEN i % 50 = 0 THEN 'denied' ELSE 'allowed' END, 2, \
         '[\"r-' || (i % 5000) || '\",\"r-' || (i % 7000) || '\"]', \
         CASE WHEN i % 10 = 1 THEN 'personal' ELSE 'masked' END, '', '' FROM ({}) AS r",
        series(backend, n)
    );
    let started = Instant::now();
    assert_eq!(host.execute_raw(&sql).await, n);
    host.execute_raw("ANALYZE").await;
    println!(
        "  filled {n} access-log entries in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

async fn run(backend: Backend, name: &str) {
    println!("{name}:");
    let host = TestHost::new(backend).await;
    host.sample_district(D).await;
    host.install(
        D,
        &hutong_tests::test_app_manifest("reader", ""),
        hutong_tests::components::TEST_APP,
        &[Permission::ReadResidents],
    )
    .await
    .expect("install");
    more_installs(&host, backend).await;
    let entries = if quick() { 100_000 } else { 1_000_000 };
    fill_log(&host, backend, entries).await;
    host.account("auditor", Role::Auditor, Some(D)).await;
    let cookie = host.console_session("auditor").await.cookie();
    let app = host.app();
    let deep = entries / 2;
    let pages = [
        ("apps (1,000 installs)", "/apps".to_owned()),
        ("audit, newest page", "/audit/reader".to_owned()),
        (
            "audit, a page deep in",
            format!("/audit/reader?before={deep}"),
        ),
        (
            "audit, denials only",
            "/audit/reader?outcome=denied".to_owned(),
        ),
        (
            "audit, one operation",
            "/audit/reader?operation=get-resident".to_owned(),
        ),
        (
            "audit, personal fields",
            "/audit/reader?field_class=personal".to_owned(),
        ),
        (
            "audit, one record",
            "/audit/reader?record=r-4321".to_owned(),
        ),
        (
            "audit, one day",
            "/audit/reader?from=2026-05-29&until=2026-05-29".to_owned(),
        ),
    ];
    println!("  | Page | p50 | max of {ROUNDS} | Bytes |");
    println!("  |---|---|---|---|");
    for (what, uri) in pages {
        let (times, bytes) = page_times(&app, &cookie, &uri, ROUNDS).await;
        print_page_row(what, &times, bytes);
    }
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    if only("sqlite") {
        run(Backend::Sqlite, "SQLite").await;
    }
    if only("postgres") {
        run(Backend::Postgres, "PostgreSQL").await;
    }
}
