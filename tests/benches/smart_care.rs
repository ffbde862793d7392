//! Smart-care benchmark, on SQLite and on PostgreSQL; prints figures rather
//! than asserting them.
//!
//! A district of 10,000 watched residents (elderly, living alone), each
//! with a door sensor, in 100 grids, and the smart-care app
//! (`plugins/smart-care`) installed with every permission it declares. The
//! load is one door event per resident per 10 minutes: 10,000 events, or
//! about 17 events/s, which the app must sustain with room to spare.
//!
//! Figures:
//! - the first watch list load (10,000 residents read from the community
//!   data and written to kv, spread over ticks so none runs past the
//!   deadline);
//! - events/s the app handles: 10,000 door events posted by a gateway in
//!   batches of 1,000, then delivered to the app;
//! - the duration of the periodic tick (the five-minute watch) over 10,000
//!   residents with activity, none of them alerting.
//!
//! Run with `bash scripts/bench` or `cargo bench -p hutong-tests --bench
//! smart_care`. `HUTONG_BENCH_QUICK=1` uses 2,000 residents instead.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use hutong_host::InstallRequest;
use hutong_host::cases::store::Category;
use hutong_host::community::import::{self, Format};
use hutong_host::community::{Building, Grid, Household, Record, Resident};
use hutong_host::devices::ops::DeviceRegistration;
use hutong_host::kernel::manifest::Manifest;
use hutong_tests::{Backend, TestHost, components, event_batches, street_and_community};
use serde_json::{Value, json};

const D: &str = "bench";
const GRIDS: usize = 100;
const BATCH: usize = 1000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

fn residents() -> usize {
    if std::env::var("HUTONG_BENCH_QUICK").is_ok_and(|v| v == "1") {
        2_000
    } else {
        10_000
    }
}

fn records(n: usize) -> Vec<Record> {
    let mut out = street_and_community();
    for g in 0..GRIDS {
        out.push(Record::Grid(Grid {
            id: format!("g{g:03}"),
            community_id: "c1".into(),
            name: format!("{g}网格"),
        }));
        out.push(Record::Building(Building {
            id: format!("b{g:03}"),
            community_id: "c1".into(),
            grid_id: format!("g{g:03}"),
            name: format!("{g}号楼"),
        }));
    }
    for i in 0..n {
        let g = i % GRIDS;
        out.push(Record::Household(Household {
            id: format!("h{i:05}"),
            building_id: format!("b{g:03}"),
            unit: String::new(),
            room: format!("{i}"),
        }));
    }
    for i in 0..n {
        out.push(Record::Resident(Resident {
            id: format!("r{i:05}"),
            household_id: Some(format!("h{i:05}")),
            grid_id: format!("g{:03}", i % GRIDS),
            tags: vec!["elderly".into(), "living-alone".into()],
            name: format!("张{i}"),
            phone: Some(format!("138{i:08}")),
            id_number: None,
            birth_date: Some("1942-05-01".into()),
            address: None,
            family_contact_name: Some("李四".into()),
            family_contact_phone: Some(format!("139{i:08}")),
        }));
    }
    out
}

/// The district, its devices and the app; a gateway token and the first
/// tick's time.
async fn set_up(host: &TestHost, n: usize) -> (String, i64) {
    host.district(D).await;
    let platform = &host.opened.platform;
    let started = Instant::now();
    platform
        .import_data(D, &import::to_json_lines(&records(n)), Format::JsonLines)
        .await
        .expect("import");
    platform
        .cases()
        .put_category(
            D,
            Category {
                code: "elderly-care".into(),
                name: "Elderly care".into(),
                description: String::new(),
                group: String::new(),
            },
        )
        .await
        .expect("category");
    for i in 0..n {
        platform
            .register_device(
                D,
                DeviceRegistration {
                    id: format!("door-{i:05}"),
                    kind: "door-sensor".into(),
                    household_id: Some(format!("h{i:05}")),
                    resident_id: Some(format!("r{i:05}")),
                    heartbeat_secs: Some(3600),
                },
            )
            .await
            .expect("register");
    }
    let gateway = platform
        .register_device(
            D,
            DeviceRegistration {
                id: "gw".into(),
                kind: "gateway".into(),
                ..DeviceRegistration::default()
            },
        )
        .await
        .expect("gateway")
        .token;
    let text = std::fs::read_to_string(components::SMART_CARE_MANIFEST).expect("manifest");
    let manifest = Manifest::from_toml(&text).expect("manifest");
    let grant = manifest.permissions.keys().copied().collect();
    let install = platform
        .install(InstallRequest {
            district: D.into(),
            manifest,
            component: std::fs::read(components::SMART_CARE).expect("component"),
            grant,
            config: json!({}),
            communities: None,
        })
        .await
        .expect("install");
    println!(
        "  set-up (import, {n} devices, install): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let offset = 8 * HOUR;
    let t0 = ((install.installed_at + offset) / DAY + 1) * DAY - offset + 14 * HOUR;
    (gateway, t0)
}

/// Run the tick due at `at`; how long it took.
async fn tick(host: &TestHost, at: i64) -> Duration {
    host.clock().set_ms(at);
    let started = Instant::now();
    let report = host.opened.platform.run_due_ticks().await.expect("ticks");
    let took = started.elapsed();
    assert_eq!((report.handled, report.failed), (1, 0), "{report:?}");
    took
}

async fn roster_pending(host: &TestHost) -> bool {
    let meta = host
        .opened
        .platform
        .store()
        .kv_get(D, "smart-care", "roster-meta")
        .await
        .expect("kv")
        .expect("roster-meta written");
    let meta: Value = serde_json::from_slice(&meta).expect("json");
    meta["pending"].as_bool().unwrap_or(true)
}

async fn run(backend: Backend) {
    let n = residents();
    println!("smart-care, {backend:?}: {n} watched residents in {GRIDS} grids");
    let host = TestHost::new(backend).await;
    let (gateway, t0) = set_up(&host, n).await;
    let mut at = t0;

    // The first load of the watch list, over as many ticks as it takes.
    let mut load = Vec::new();
    loop {
        load.push(tick(&host, at).await);
        at += 5 * MINUTE;
        if !roster_pending(&host).await {
            break;
        }
    }
    let total: Duration = load.iter().sum();
    println!(
        "  first watch-list load: {} ticks, {:.2} s in all (longest {:.2} s)",
        load.len(),
        total.as_secs_f64(),
        load.iter().max().unwrap_or(&Duration::ZERO).as_secs_f64()
    );

    // Ten minutes of door events: one per resident, posted by a gateway.
    host.clock().set_ms(at);
    let bodies = event_batches(n, BATCH, |i| {
        json!({
            "device": format!("door-{i:05}"),
            "type": if i % 2 == 0 { "door.open" } else { "door.close" },
            "occurred_at_ms": at - 600_000 + (i as i64 * 600_000 / n as i64),
        })
    });
    let started = Instant::now();
    for body in bodies {
        let r = host
            .post_as(Some(&gateway), &format!("/d/{D}/events"), body)
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    }
    let posted = started.elapsed();
    let started = Instant::now();
    let platform = &host.opened.platform;
    let mut delivered = 0;
    loop {
        let report = platform.deliver_events().await.expect("deliver");
        assert_eq!(report.retrying + report.dead, 0, "{report:?}");
        delivered += report.delivered;
        if report.delivered == 0 && platform.event_counts(D).await.expect("counts").pending == 0 {
            break;
        }
    }
    let delivering = started.elapsed();
    assert_eq!(delivered as usize, n);
    let rate = n as f64 / delivering.as_secs_f64();
    let needed = n as f64 / 600.0;
    println!(
        "  {n} door events accepted in {:.2} s ({:.0} events/s)",
        posted.as_secs_f64(),
        n as f64 / posted.as_secs_f64()
    );
    println!(
        "  handled by the app: {rate:.0} events/s (the load needs {needed:.1} events/s: {:.0}x headroom)",
        rate / needed
    );

    // The periodic watch over every resident, all recently active.
    let mut watch = Vec::new();
    for _ in 0..3 {
        watch.push(tick(&host, at).await);
        at += 5 * MINUTE;
    }
    watch.sort();
    println!(
        "  periodic tick over {n} residents: {:.0} ms median ({:.0} to {:.0} ms; deadline 20000 ms)",
        watch[1].as_secs_f64() * 1000.0,
        watch[0].as_secs_f64() * 1000.0,
        watch[2].as_secs_f64() * 1000.0
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        run(backend).await;
    }
}
