//! The console pages of grid workers and residents over a big district, on
//! SQLite and on PostgreSQL; prints figures rather than asserting them.
//!
//! The district holds 1,000,000 cases (one in ten still open, one in five
//! of those overdue) over the sample district's grids, and 1,000,000
//! access-log entries naming its residents (each indexed as the host
//! indexes a read). Server time per page for a signed-in person, the
//! whole HTTP application in process (session lookup included): a grid
//! worker's queue (overdue first, then the first page of the rest), the
//! queue filtered by state and by category, a case page, and a resident's
//! "who read my data" (newest page and a page deep in). The target is
//! under 50 ms a page.
//!
//! Run with `bash scripts/bench` or `cargo bench -p hutong-tests --bench
//! residents`. `HUTONG_BENCH_QUICK=1` uses 100,000 of each;
//! `HUTONG_BENCH_ONLY=sqlite|postgres` runs one back end.

use std::time::Instant;

use hutong_host::accounts::Role;
use hutong_host::accounts::ops::AccountRequest;
use hutong_host::cases::store::Category;
use hutong_tests::console::{only, page_times, print_page_row, quick, series};
use hutong_tests::{Backend, TestHost, account_request};

const D: &str = "bench";
const ROUNDS: usize = 30;
const G1: &str = "c-xingfu-g1";

/// `r-0001` … `r-0300` from `i`, in each back end's words.
fn resident_of(backend: Backend, i: &str) -> String {
    match backend {
        Backend::Postgres => format!("'r-' || lpad((({i}) % 300 + 1)::text, 4, '0')"),
        Backend::Sqlite => format!("'r-' || printf('%04d', ({i}) % 300 + 1)"),
    }
}

/// `n` cases over the district's grids: every tenth open, every fiftieth
/// open and overdue; a resident concerned by each.
async fn fill_cases(host: &TestHost, backend: Backend, n: u64) {
    let started = Instant::now();
    let grids = [
        ("c-xingfu-g1", "c-xingfu"),
        ("c-xingfu-g2", "c-xingfu"),
        ("c-heping-g1", "c-heping"),
        ("c-heping-g2", "c-heping"),
    ];
    let grid = |col: usize| {
        let arms: Vec<String> = grids
            .iter()
            .enumerate()
            .map(|(k, g)| format!("WHEN {k} THEN '{}'", if col == 0 { g.0 } else { g.1 }))
            .collect();
        format!("CASE i % {} {} END", grids.len(), arms.join(" "))
    };
    let sql = format!(
        "INSERT INTO cases (district, category, priority, state, tier, grid_id, community_id, \
         street_id, building_id, address, lat, lon, description, resident_id, reporter_kind, \
         reporter_id, assignee_kind, assignee_id, attachments, deadline_at, overdue, \
         satisfaction, evaluation, token, version, created_at, updated_at, closed_at, for_resident) \
         SELECT '{D}', CASE WHEN i % 2 = 0 THEN 'road' ELSE 'noise' END, 'normal', \
         CASE WHEN i % 10 = 0 THEN 'reported' ELSE 'closed' END, 'grid', {}, {}, 's-donghu', \
         NULL, NULL, NULL, NULL, 'case ' || i, {}, 'account', 'res-' || (i % 1000), NULL, NULL, \
         '[]', CASE WHEN i % 10 = 0 THEN 1780000000000 + i * 1000 ELSE NULL END, \
         CASE WHEN i % 50 = 0 THEN 1 ELSE 0 END, NULL, NULL, 'tok-' || i, 1, \
         1780000000000 + i * 1000, 1780000000000 + i * 1000, \
         CASE WHEN i % 10 = 0 THEN NULL ELSE 1780000000000 + i * 1000 END, 0 FROM ({}) AS r",
        grid(0),
        grid(1),
        resident_of(backend, "i"),
        series(backend, n)
    );
    assert_eq!(host.execute_raw(&sql).await, n);
    println!(
        "  filled {n} cases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// `n` access-log entries, each one app's read of one resident, sealed
/// (with made-up chain positions: the chain is not checked here) and with
/// the index row the host writes for it when it seals.
async fn fill_log(host: &TestHost, backend: Backend, n: u64) {
    let started = Instant::now();
    let sql = format!(
        "INSERT INTO access_log (at, district, app, version, request_id, operation, permission, \
         outcome, record_count, record_ids, field_class, prev_hash, hash, chain_pos) \
         SELECT 1780000000000 + i * 1000, '{D}', CASE WHEN i % 7 = 0 THEN 'care' ELSE 'reader' END, \
         '0.1.0', 'bulk-' || i, 'get-resident', 'read-residents', \
         CASE WHEN i % 50 = 0 THEN 'denied' ELSE 'allowed' END, 1, \
         '[\"' || {} || '\"]', 'masked', '', '', i FROM ({}) AS r",
        resident_of(backend, "i"),
        series(backend, n)
    );
    assert_eq!(host.execute_raw(&sql).await, n);
    let first = match backend {
        Backend::Postgres => "record_ids::jsonb->>0",
        Backend::Sqlite => "json_extract(record_ids, '$[0]')",
    };
    let index = format!(
        "INSERT INTO access_subjects (district, kind, record_id, seq) \
         SELECT district, 'resident', {first}, seq FROM access_log WHERE request_id LIKE 'bulk-%'"
    );
    assert_eq!(host.execute_raw(&index).await, n);
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
    for code in ["road", "noise"] {
        host.opened
            .platform
            .cases()
            .put_category(
                D,
                Category {
                    code: code.into(),
                    name: code.into(),
                    description: String::new(),
                    group: "streets".into(),
                },
            )
            .await
            .expect("category");
    }
    let n = if quick() { 100_000 } else { 1_000_000 };
    fill_cases(&host, backend, n).await;
    fill_log(&host, backend, n).await;
    host.worker("w1", D, &[G1]).await;
    host.create_account(AccountRequest {
        resident_id: Some("r-0001".into()),
        // Cases are reported by `res-0` … `res-999`: a thousandth are hers.
        ..account_request("res-1", Role::Resident, Some(D))
    })
    .await;
    let worker = host.console_session("w1").await.cookie();
    let resident = host.console_session("res-1").await.cookie();
    let app = host.app();
    // An open case of the worker's grid: case i is in grid i % 4 (G1 is
    // the first) and open when i % 10 is 0.
    let open_case = n / 2 / 20 * 20;
    let deep = n / 2;
    let pages = [
        (
            "worker: queue (overdue first)",
            worker.as_str(),
            "/cases".to_owned(),
        ),
        (
            "worker: queue, one state",
            worker.as_str(),
            "/cases?state=reported".to_owned(),
        ),
        (
            "worker: queue, one category",
            worker.as_str(),
            "/cases?category=road".to_owned(),
        ),
        (
            "worker: queue, a page deep in",
            worker.as_str(),
            format!("/cases?before={deep}"),
        ),
        (
            "worker: a case",
            worker.as_str(),
            format!("/cases/{open_case}"),
        ),
        (
            "resident: who read my data",
            resident.as_str(),
            "/my-data".to_owned(),
        ),
        (
            "resident: … a page deep in",
            resident.as_str(),
            format!("/my-data?before={deep}"),
        ),
        ("resident: my cases", resident.as_str(), "/cases".to_owned()),
    ];
    println!("  | Page | p50 | max of {ROUNDS} | Bytes |");
    println!("  |---|---|---|---|");
    for (what, cookie, uri) in pages {
        let (times, bytes) = page_times(&app, cookie, &uri, ROUNDS).await;
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
