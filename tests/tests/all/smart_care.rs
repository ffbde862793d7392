//! The smart-care app (`plugins/smart-care`) on the real host, on both back
//! ends: a simulated timeline per rule, driven by the host's clock, device
//! events posted with device tokens and delivered by the host, and the
//! app's ticks. Inactivity, night absence, alarms, device faults, episode
//! de-duplication, escalation to a case, missed check-ins, the worker view
//! and its permissions, and that the app works on masked data alone.
//!
//! The platform additions the app relies on are tested here too, each
//! allowed and denied: the install's configuration, `kv.list-entries`,
//! `notify.send-to-family-contact`, `data.worker-grids`, and the host's
//! `device.offline` / `device.online` events.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use hutong_host::accounts::Role;
use hutong_host::cases::store::Category;
use hutong_host::community::import::{self, Format};
use hutong_host::community::{Building, Community, Grid, Household, Record, Resident};
use hutong_host::kernel::access_log::AccessEntry;
use hutong_host::kernel::manifest::{Manifest, Permission};
use hutong_host::notify::ops::GatewayUpdate;
use hutong_host::notify::store::Notification;
use hutong_host::{AccountRequest, InstallRequest, PlatformError};
use hutong_tests::{
    TestHost, TestResponse, account_request, components, on_both_backends, street_and_community,
    test_app_manifest,
};
use serde_json::{Value, json};

on_both_backends!(
    no_door_activity_for_n_hours_alerts_the_grid_worker_once_until_a_door_event_ends_it,
    a_night_outing_without_return_alerts_after_m_hours_and_a_day_outing_does_not,
    an_unacknowledged_alert_becomes_an_elderly_care_case_and_an_acknowledged_one_does_not,
    a_smoke_alarm_at_once_opens_an_urgent_case_and_calls_worker_and_family_once_per_episode,
    a_retried_alarm_event_opens_one_case_and_sends_each_message_once,
    a_silent_sensor_is_a_device_fault_for_the_worker_not_a_welfare_alert,
    a_missed_check_in_becomes_an_alert_and_an_answer_or_door_activity_counts,
    the_app_works_on_masked_data_and_cannot_read_personal_fields,
    workers_see_and_act_only_on_their_own_grids,
    the_install_configuration_reaches_the_app_and_a_bad_one_is_named,
    kv_list_entries_pages_by_count_and_size_and_needs_kv,
    family_contact_sends_need_the_channel_permission_and_stay_in_scope,
    worker_grids_need_read_residents_and_stay_in_scope,
    devices_cannot_post_host_events_and_a_silence_is_reported_once,
);

const D: &str = "east";
const APP: &str = "smart-care";
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// The district's offset from UTC (the app's default, +08:00).
const OFFSET: i64 = 8 * HOUR;
const FAMILY_PHONE: &str = "13900000001";

/// The test district: one community, grids g1 and g2; r1 (living alone)
/// and r6 (not watched) share h1, r2 lives in h2, all in g1; r3 (disabled)
/// in h3 in g2; r5 (not watched) in h2.
fn records() -> Vec<Record> {
    let resident = |id: &str, household: &str, grid: &str, tags: &[&str], family: bool| {
        Record::Resident(Resident {
            id: id.into(),
            household_id: Some(household.into()),
            grid_id: grid.into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            name: format!("张{id}"),
            phone: Some(format!(
                "1380000{:04}",
                id.len() * 1000 + id.as_bytes()[1] as usize
            )),
            id_number: None,
            birth_date: Some("1940-03-02".into()),
            address: Some(format!("幸福路 8 号 {household}")),
            family_contact_name: family.then(|| "李四".to_owned()),
            family_contact_phone: family.then(|| FAMILY_PHONE.to_owned()),
        })
    };
    let household = |id: &str, building: &str| {
        Record::Household(Household {
            id: id.into(),
            building_id: building.into(),
            unit: String::new(),
            room: id.into(),
        })
    };
    let mut records = street_and_community();
    records.extend([
        Record::Grid(Grid {
            id: "g1".into(),
            community_id: "c1".into(),
            name: "一网格".into(),
        }),
        Record::Grid(Grid {
            id: "g2".into(),
            community_id: "c1".into(),
            name: "二网格".into(),
        }),
        Record::Building(Building {
            id: "b1".into(),
            community_id: "c1".into(),
            grid_id: "g1".into(),
            name: "1号楼".into(),
        }),
        Record::Building(Building {
            id: "b2".into(),
            community_id: "c1".into(),
            grid_id: "g2".into(),
            name: "2号楼".into(),
        }),
        household("h1", "b1"),
        household("h2", "b1"),
        household("h3", "b2"),
        resident("r1", "h1", "g1", &["elderly", "living-alone"], true),
        resident("r2", "h2", "g1", &["elderly"], true),
        resident("r3", "h3", "g2", &["disabled"], false),
        resident("r5", "h2", "g1", &[], false),
        resident("r6", "h1", "g1", &["party-member"], true),
    ]);
    records
}

/// Every permission the manifest declares.
fn declared() -> Vec<Permission> {
    manifest().permissions.keys().copied().collect()
}

fn manifest() -> Manifest {
    let text = std::fs::read_to_string(components::SMART_CARE_MANIFEST).expect("manifest");
    Manifest::from_toml(&text).expect("valid manifest")
}

/// A district with the test data, the elderly-care category, workers w1
/// (g1) and w2 (g2) with phones, and door sensors: door-1 (r1 and h1),
/// door-2 (h2 only), door-3 (r3 and h3).
struct World {
    w1: String,
    w2: String,
    tokens: std::collections::HashMap<String, String>,
    /// A local 10:00, a day or more after the install; the first tick due.
    t0: i64,
}

/// The district's residents, households and grids, and the case category
/// the app opens cases in.
async fn import_records_and_care_category(host: &TestHost) {
    let platform = &host.opened.platform;
    platform
        .import_data(D, &import::to_json_lines(&records()), Format::JsonLines)
        .await
        .expect("import");
    platform
        .cases()
        .put_category(
            D,
            Category {
                code: "elderly-care".into(),
                name: "Elderly care".into(),
                description: "Visits and help for elderly residents".into(),
                group: "care".into(),
            },
        )
        .await
        .expect("category");
}

async fn world(host: &TestHost, config: Value, grants: &[Permission]) -> World {
    host.district(D).await;
    import_records_and_care_category(host).await;
    let w1 = person(host, "w1", Role::Worker, &["g1"], None).await;
    let w2 = person(host, "w2", Role::Worker, &["g2"], None).await;
    let install = install(host, config, grants)
        .await
        .expect("install smart-care");
    let next_local_midnight = ((install.installed_at + OFFSET) / DAY + 1) * DAY - OFFSET;
    let t0 = next_local_midnight + 10 * HOUR;
    host.clock().set_ms(t0 - MINUTE);
    let mut tokens = std::collections::HashMap::new();
    for (id, kind, household, resident) in [
        ("door-1", "door-sensor", "h1", Some("r1")),
        ("door-2", "door-sensor", "h2", None),
        ("door-3", "door-sensor", "h3", Some("r3")),
        ("smoke-1", "smoke-detector", "h1", None),
        ("gas-2", "gas-detector", "h2", None),
    ] {
        let mut body =
            json!({ "id": id, "kind": kind, "household_id": household, "heartbeat_secs": 3600 });
        if let Some(r) = resident {
            body["resident_id"] = json!(r);
        }
        let r = host
            .post(&format!("/api/v1/districts/{D}/devices"), body.to_string())
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        tokens.insert(
            id.to_owned(),
            r.json()["token"].as_str().expect("token").to_owned(),
        );
    }
    World { w1, w2, tokens, t0 }
}

async fn install(
    host: &TestHost,
    config: Value,
    grants: &[Permission],
) -> Result<hutong_host::installs::store::Install, PlatformError> {
    host.opened
        .platform
        .install(InstallRequest {
            district: D.into(),
            manifest: manifest(),
            component: std::fs::read(components::SMART_CARE).expect("component"),
            grant: grants.iter().copied().collect(),
            config,
            communities: None,
        })
        .await
}

/// An account with a phone, and a token for it.
async fn person(
    host: &TestHost,
    id: &str,
    role: Role,
    grids: &[&str],
    resident: Option<&str>,
) -> String {
    host.create_account(AccountRequest {
        resident_id: resident.map(str::to_owned),
        grids: grids.iter().map(|g| (*g).to_owned()).collect(),
        phone: (role == Role::Worker).then(|| format!("1370000000{}", id.len())),
        ..account_request(id, role, Some(D))
    })
    .await
}

/// Post one event of `device` at the clock's now, and deliver.
async fn event(host: &TestHost, w: &World, device: &str, event_type: &str) {
    let r = host
        .post_as(
            Some(&w.tokens[device]),
            &format!("/d/{D}/events"),
            json!({ "type": event_type }).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    deliver(host).await;
}

/// Deliver every due event, and check none was refused.
async fn deliver(host: &TestHost) {
    let report = host
        .opened
        .platform
        .deliver_events()
        .await
        .expect("deliver");
    assert_eq!(report.retrying + report.dead, 0, "{report:?}");
}

/// Set the clock to `at` and run the ticks due; the app must handle one.
async fn tick(host: &TestHost, at: i64) {
    host.clock().set_ms(at);
    let report = host.opened.platform.run_due_ticks().await.expect("ticks");
    assert_eq!(
        (report.handled, report.failed),
        (1, 0),
        "tick at {at}: {report:?}"
    );
}

async fn get_as(host: &TestHost, token: &str, path: &str) -> TestResponse {
    host.get_as(Some(token), &format!("/d/{D}/apps/{APP}{path}"))
        .await
}

async fn call_as(
    host: &TestHost,
    token: &str,
    method: Method,
    path: &str,
    body: Value,
) -> TestResponse {
    host.request_as(
        Some(token),
        method,
        &format!("/d/{D}/apps/{APP}{path}"),
        body.to_string(),
    )
    .await
}

/// The open alerts `token` sees.
async fn alerts(host: &TestHost, token: &str) -> Vec<Value> {
    let r = get_as(host, token, "/api/alerts").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["alerts"].as_array().cloned().unwrap_or_default()
}

/// The district's notification deliveries from the app, oldest first.
async fn sent(host: &TestHost) -> Vec<Notification> {
    let mut all = host
        .opened
        .platform
        .list_notifications(D, None, None, 500)
        .await
        .expect("notifications")
        .items;
    all.retain(|n| n.app == APP);
    all.reverse();
    all
}

/// (channel, recipient kind, recipient id) of each delivery.
fn who(notes: &[Notification]) -> Vec<(String, String, String)> {
    notes
        .iter()
        .map(|n| {
            (
                n.channel.clone(),
                n.recipient_kind.clone(),
                n.recipient_id.clone(),
            )
        })
        .collect()
}

/// The cases of the district, newest first.
async fn cases(host: &TestHost) -> Vec<Value> {
    let r = host.get(&format!("/api/v1/districts/{D}/cases")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["cases"].as_array().cloned().unwrap_or_default()
}

/// Every value the app keeps in kv, as text.
async fn kv_text(host: &TestHost) -> String {
    let page = host
        .opened
        .platform
        .store()
        .kv_list_entries(D, APP, "", None, 1000, usize::MAX)
        .await
        .expect("kv");
    page.items
        .iter()
        .map(|(k, v)| format!("{k}={}\n", String::from_utf8_lossy(v)))
        .collect()
}

fn config() -> Value {
    json!({ "inactivity_hours": 6, "night_absence_hours": 3, "ack_window_minutes": 30 })
}

async fn no_door_activity_for_n_hours_alerts_the_grid_worker_once_until_a_door_event_ends_it(
    host: TestHost,
) {
    let w = world(&host, config(), &declared()).await;
    tick(&host, w.t0).await;
    host.clock().set_ms(w.t0 + MINUTE);
    event(&host, &w, "door-1", "door.open").await;
    let door_at = w.t0 + MINUTE;
    // Five hours of quiet: nothing yet.
    tick(&host, door_at + 5 * HOUR + MINUTE).await;
    assert!(alerts(&host, &w.w1).await.is_empty());
    assert!(sent(&host).await.is_empty());
    // Six hours: one alert, told to g1's worker by inbox and SMS.
    tick(&host, door_at + 6 * HOUR + 5 * MINUTE).await;
    let open = alerts(&host, &w.w1).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["kind"], "inactivity");
    assert_eq!(open[0]["resident"], "r1");
    assert_eq!(open[0]["since_ms"], door_at);
    let told = who(&sent(&host).await);
    assert_eq!(
        told,
        [
            ("inbox".into(), "account".into(), "w1".into()),
            ("sms".into(), "account".into(), "w1".into())
        ]
    );
    // The quiet goes on: the same episode, no second alert or message.
    tick(&host, door_at + 7 * HOUR).await;
    tick(&host, door_at + 9 * HOUR).await;
    assert_eq!(alerts(&host, &w.w1).await.len(), 1);
    assert_eq!(sent(&host).await.len(), 2);
    // Grid g2's worker does not see g1's alert.
    assert!(alerts(&host, &w.w2).await.is_empty());
    // A door event ends the episode.
    host.clock().set_ms(door_at + 9 * HOUR + MINUTE);
    event(&host, &w, "door-1", "door.close").await;
    tick(&host, door_at + 9 * HOUR + 5 * MINUTE).await;
    assert!(alerts(&host, &w.w1).await.is_empty());
    // A new quiet stretch is a new episode, with its own alert.
    tick(&host, door_at + 15 * HOUR + 5 * MINUTE).await;
    let open = alerts(&host, &w.w1).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["since_ms"], door_at + 9 * HOUR + MINUTE);
    assert_eq!(sent(&host).await.len(), 4);
}

async fn a_night_outing_without_return_alerts_after_m_hours_and_a_day_outing_does_not(
    host: TestHost,
) {
    let w = world(&host, config(), &declared()).await;
    tick(&host, w.t0).await;
    // r1 goes out at 14:00 local; r2 (through the household's sensor) at
    // 23:00 local.
    host.clock().set_ms(w.t0 + 4 * HOUR);
    event(&host, &w, "door-1", "door.open").await;
    let night = w.t0 + 13 * HOUR;
    host.clock().set_ms(night);
    event(&host, &w, "door-2", "door.open").await;
    tick(&host, night + 2 * HOUR + 5 * MINUTE).await;
    let open = alerts(&host, &w.w1).await;
    assert!(
        open.iter().all(|a| a["kind"] != "night-absence"),
        "{open:?}"
    );
    tick(&host, night + 3 * HOUR + 5 * MINUTE).await;
    let open = alerts(&host, &w.w1).await;
    let night_alerts: Vec<&Value> = open
        .iter()
        .filter(|a| a["kind"] == "night-absence")
        .collect();
    assert_eq!(night_alerts.len(), 1, "{open:?}");
    assert_eq!(night_alerts[0]["resident"], "r2");
    // r1's afternoon outing is judged by the inactivity rule: 6 hours
    // after 14:00 local it is an inactivity alert, not a night absence.
    assert!(
        open.iter()
            .any(|a| a["kind"] == "inactivity" && a["resident"] == "r1")
    );
    assert!(
        !open
            .iter()
            .any(|a| a["kind"] == "night-absence" && a["resident"] == "r1")
    );
    // The night absence runs on: still one alert for r2.
    tick(&host, night + 8 * HOUR).await;
    let r2: Vec<Value> = alerts(&host, &w.w1)
        .await
        .into_iter()
        .filter(|a| a["resident"] == "r2")
        .collect();
    assert_eq!(r2.len(), 1, "{r2:?}");
}

async fn an_unacknowledged_alert_becomes_an_elderly_care_case_and_an_acknowledged_one_does_not(
    host: TestHost,
) {
    let w = world(&host, config(), &declared()).await;
    tick(&host, w.t0).await;
    host.clock().set_ms(w.t0 + MINUTE);
    event(&host, &w, "door-1", "door.open").await;
    event(&host, &w, "door-2", "door.open").await;
    let raised = w.t0 + 6 * HOUR + 5 * MINUTE;
    tick(&host, raised).await;
    let open = alerts(&host, &w.w1).await;
    assert_eq!(open.len(), 2, "{open:?}");
    let r2 = open
        .iter()
        .find(|a| a["resident"] == "r2")
        .expect("r2's alert");
    let r2_id = r2["id"].as_str().expect("id").to_owned();
    let r = call_as(
        &host,
        &w.w1,
        Method::POST,
        &format!("/api/alerts/{r2_id}/ack"),
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["acknowledged_now"], true);
    // Acknowledging again changes nothing.
    let r = call_as(
        &host,
        &w.w1,
        Method::POST,
        &format!("/api/alerts/{r2_id}/ack"),
        json!({}),
    )
    .await;
    assert_eq!(r.json()["acknowledged_now"], false);
    assert_eq!(r.json()["acknowledged"]["by"], "w1");
    // Within the window: no case.
    tick(&host, raised + 25 * MINUTE).await;
    assert!(cases(&host).await.is_empty());
    // Past it: r1's alert becomes a case; r2's, acknowledged, does not.
    tick(&host, raised + 35 * MINUTE).await;
    let all = cases(&host).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["category"], "elderly-care");
    assert_eq!(all[0]["resident_id"], "r1");
    assert_eq!(all[0]["grid_id"], "g1");
    assert_eq!(all[0]["priority"], "high");
    // Later ticks open no second case, even if the app had stopped between
    // opening the case and recording it: it finds the case it opened.
    tick(&host, raised + 2 * HOUR).await;
    assert_eq!(cases(&host).await.len(), 1);
    let r1_id = open
        .iter()
        .find(|a| a["resident"] == "r1")
        .and_then(|a| a["id"].as_str())
        .expect("r1's alert")
        .to_owned();
    let store = host.opened.platform.store();
    let key = format!("case/{r1_id}");
    store.kv_set(D, APP, &key, b"opening").await.expect("kv");
    tick(&host, raised + 3 * HOUR).await;
    assert_eq!(cases(&host).await.len(), 1);
    let recorded = store.kv_get(D, APP, &key).await.expect("kv");
    assert_eq!(
        recorded.map(|v| String::from_utf8_lossy(&v).into_owned()),
        all[0]["id"].as_i64().map(|id| id.to_string())
    );
    // The case's progress reaches the alert through the case watcher.
    let case_id = all[0]["id"].as_i64().expect("case id");
    let r = host
        .post(
            &format!("/api/v1/districts/{D}/cases/{case_id}/accept"),
            json!({}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    host.opened
        .platform
        .deliver_case_notices()
        .await
        .expect("case notices");
    let open = alerts(&host, &w.w1).await;
    let r1 = open
        .iter()
        .find(|a| a["resident"] == "r1")
        .expect("r1's alert");
    assert_eq!(r1["case"]["id"], case_id.to_string());
    assert_eq!(r1["case"]["state"], "accepted");
}

async fn a_smoke_alarm_at_once_opens_an_urgent_case_and_calls_worker_and_family_once_per_episode(
    host: TestHost,
) {
    let w = world(&host, config(), &declared()).await;
    host.clock().set_ms(w.t0);
    event(&host, &w, "smoke-1", "smoke.alarm").await;
    let all = cases(&host).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["priority"], "urgent");
    assert_eq!(all[0]["category"], "elderly-care");
    assert_eq!(all[0]["grid_id"], "g1");
    let mut told = who(&sent(&host).await);
    told.sort();
    // Voice and SMS to g1's worker and to the family contacts of h1's
    // residents (r1, watched, and r6, who is not).
    let expected: Vec<(String, String, String)> = [
        ("sms", "account", "w1"),
        ("sms", "family", "r1"),
        ("sms", "family", "r6"),
        ("voice", "account", "w1"),
        ("voice", "family", "r1"),
        ("voice", "family", "r6"),
    ]
    .iter()
    .map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into()))
    .collect();
    assert_eq!(told, expected);
    // The alarm keeps sounding: the same episode, nothing more.
    host.clock().advance_ms(30_000);
    event(&host, &w, "smoke-1", "smoke.alarm").await;
    assert_eq!(cases(&host).await.len(), 1);
    assert_eq!(sent(&host).await.len(), 6);
    let open = alerts(&host, &w.w1).await;
    assert_eq!(open.iter().filter(|a| a["kind"] == "alarm").count(), 1);
    // Cleared, then a new alarm: a new episode.
    event(&host, &w, "smoke-1", "smoke.clear").await;
    host.clock().advance_ms(HOUR);
    event(&host, &w, "gas-2", "gas.alarm").await;
    event(&host, &w, "smoke-1", "smoke.alarm").await;
    assert_eq!(cases(&host).await.len(), 3);
    // The family's number reached the gateway's outbox, never the app.
    assert!(!kv_text(&host).await.contains(FAMILY_PHONE));
}

async fn a_retried_alarm_event_opens_one_case_and_sends_each_message_once(host: TestHost) {
    let w = world(&host, config(), &declared()).await;
    let platform = &host.opened.platform;
    // One delivery a minute: the alarm's second message is refused, so the
    // app fails the event half-way and the host hands it over again.
    platform
        .set_gateway_settings(
            D,
            GatewayUpdate {
                rate_per_minute: Some(1),
                ..GatewayUpdate::default()
            },
        )
        .await
        .expect("settings");
    host.clock().set_ms(w.t0);
    let r = host
        .post_as(
            Some(&w.tokens["smoke-1"]),
            &format!("/d/{D}/events"),
            json!({ "type": "smoke.alarm" }).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let report = platform.deliver_events().await.expect("deliver");
    assert_eq!(report.retrying, 1, "{report:?}");
    assert_eq!(cases(&host).await.len(), 1);
    assert_eq!(sent(&host).await.len(), 1);
    // The allowance is back; the retry finishes the job without repeating
    // any of it.
    platform
        .set_gateway_settings(D, GatewayUpdate::default())
        .await
        .expect("settings");
    host.clock().advance_ms(2 * MINUTE);
    deliver(&host).await;
    assert_eq!(cases(&host).await.len(), 1);
    let mut told = who(&sent(&host).await);
    told.sort();
    told.dedup();
    assert_eq!(told.len(), 6, "{told:?}");
    assert_eq!(sent(&host).await.len(), 6);
}

async fn a_silent_sensor_is_a_device_fault_for_the_worker_not_a_welfare_alert(host: TestHost) {
    let w = world(&host, config(), &declared()).await;
    tick(&host, w.t0).await;
    host.clock().set_ms(w.t0 + MINUTE);
    event(&host, &w, "door-1", "door.open").await;
    let door_at = w.t0 + MINUTE;
    // An hour and more of silence (the heartbeat interval): the host
    // reports door-1 offline, once.
    host.clock().set_ms(door_at + HOUR + 2 * MINUTE);
    let reported = host
        .opened
        .platform
        .sweep_offline_devices()
        .await
        .expect("sweep");
    assert!(reported >= 1, "{reported}");
    deliver(&host).await;
    let open = alerts(&host, &w.w1).await;
    let faults: Vec<&Value> = open
        .iter()
        .filter(|a| a["kind"] == "device-offline")
        .collect();
    assert!(faults.iter().any(|a| a["device"] == "door-1"), "{open:?}");
    // A fault goes to the inbox only, saying it is the device.
    let notes = sent(&host).await;
    let fault_note = notes
        .iter()
        .find(|n| n.body.contains("door-1"))
        .expect("a fault message");
    assert_eq!(fault_note.channel, "inbox");
    assert!(
        fault_note.subject.contains("Device fault"),
        "{}",
        fault_note.subject
    );
    assert!(
        !notes
            .iter()
            .any(|n| n.channel == "sms" && n.body.contains("door-1"))
    );
    // While the sensor is down, r1's quiet is not judged.
    tick(&host, door_at + 6 * HOUR + 5 * MINUTE).await;
    let open = alerts(&host, &w.w1).await;
    assert!(
        !open
            .iter()
            .any(|a| a["resident"] == "r1" && a["kind"] == "inactivity"),
        "{open:?}"
    );
    let r = get_as(&host, &w.w1, "/api/residents").await;
    let r1 = r.json()["residents"]
        .as_array()
        .and_then(|rs| rs.iter().find(|x| x["id"] == "r1").cloned())
        .expect("r1 listed");
    assert_eq!(r1["sensor"], "offline");
    // The sensor is back (a heartbeat): the fault is over, and r1's quiet
    // counts from its return.
    let back = door_at + 7 * HOUR;
    host.clock().set_ms(back);
    event(&host, &w, "door-1", "heartbeat").await;
    let open = alerts(&host, &w.w1).await;
    assert!(!open.iter().any(|a| a["device"] == "door-1"), "{open:?}");
    tick(&host, back + 5 * HOUR).await;
    assert!(
        !alerts(&host, &w.w1)
            .await
            .iter()
            .any(|a| a["resident"] == "r1" && a["kind"] == "inactivity")
    );
    tick(&host, back + 6 * HOUR + 5 * MINUTE).await;
    assert!(
        alerts(&host, &w.w1)
            .await
            .iter()
            .any(|a| a["resident"] == "r1" && a["kind"] == "inactivity")
    );
}

async fn a_missed_check_in_becomes_an_alert_and_an_answer_or_door_activity_counts(host: TestHost) {
    let w = world(&host, config(), &declared()).await;
    let r2_token = person(&host, "resident-two", Role::Resident, &[], Some("r2")).await;
    // The first watch reads the watch list.
    tick(&host, w.t0).await;
    // r1's worker opts r1 in; r2 opts in themself; r3's worker opts r3 in.
    for (token, resident) in [(&w.w1, "r1"), (&r2_token, "r2"), (&w.w2, "r3")] {
        let r = call_as(
            &host,
            token,
            Method::PUT,
            &format!("/api/residents/{resident}/check-in"),
            json!({ "enabled": true }),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    // A resident cannot opt in someone else.
    let r = call_as(
        &host,
        &r2_token,
        Method::PUT,
        "/api/residents/r1/check-in",
        json!({ "enabled": true }),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    // The next day, before 09:00 local: no calls.
    let day = w.t0 + DAY - HOUR;
    tick(&host, day - 5 * MINUTE).await;
    assert!(sent(&host).await.is_empty());
    tick(&host, day).await;
    let calls = who(&sent(&host).await);
    assert_eq!(
        calls
            .iter()
            .filter(|(c, k, _)| c == "voice" && k == "resident")
            .count(),
        3,
        "{calls:?}"
    );
    // A second tick in the window calls nobody twice.
    tick(&host, day + 10 * MINUTE).await;
    assert_eq!(sent(&host).await.len(), 3);
    // r2 answers; r3 opens the door; r1 does neither.
    host.clock().set_ms(day + 20 * MINUTE);
    let r = call_as(
        &host,
        &r2_token,
        Method::POST,
        "/api/check-ins/r2/answer",
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["answered_now"], true);
    event(&host, &w, "door-3", "door.open").await;
    // Two hours later the answers are due: one missed check-in, r1's.
    tick(&host, day + 2 * HOUR + 5 * MINUTE).await;
    let missed: Vec<Value> = alerts(&host, &w.w1)
        .await
        .into_iter()
        .chain(alerts(&host, &w.w2).await)
        .filter(|a| a["kind"] == "missed-check-in")
        .collect();
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert_eq!(missed[0]["resident"], "r1");
    tick(&host, day + 3 * HOUR).await;
    let again = alerts(&host, &w.w1)
        .await
        .into_iter()
        .filter(|a| a["kind"] == "missed-check-in")
        .count();
    assert_eq!(again, 1);
    // r1 opens the door: the missed check-in is over.
    host.clock().set_ms(day + 3 * HOUR + MINUTE);
    event(&host, &w, "door-1", "door.open").await;
    tick(&host, day + 3 * HOUR + 5 * MINUTE).await;
    assert!(
        !alerts(&host, &w.w1)
            .await
            .iter()
            .any(|a| a["kind"] == "missed-check-in")
    );
}

async fn the_app_works_on_masked_data_and_cannot_read_personal_fields(host: TestHost) {
    // The manifest does not ask for personal fields, so no one can grant
    // them.
    assert!(
        !manifest()
            .permissions
            .contains_key(&Permission::ReadPersonalFields)
    );
    host.district(D).await;
    let refused = install(
        &host,
        json!({}),
        &[Permission::Kv, Permission::ReadPersonalFields],
    )
    .await;
    assert!(
        matches!(refused, Err(PlatformError::GrantNotDeclared { .. })),
        "{refused:?}"
    );
    // With what it declares, it works: the watch list, the worker view, an
    // alarm reaching the family, all on masked data.
    import_records_and_care_category(&host).await;
    let w1 = person(&host, "w1", Role::Worker, &["g1"], None).await;
    let installed = install(&host, config(), &declared())
        .await
        .expect("install");
    assert!(!installed.granted.contains(&Permission::ReadPersonalFields));
    let t = ((installed.installed_at + OFFSET) / DAY + 1) * DAY - OFFSET + 10 * HOUR;
    tick(&host, t).await;
    let r = get_as(&host, &w1, "/api/residents").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let residents = r.json()["residents"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ids: BTreeSet<&str> = residents.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids, BTreeSet::from(["r1", "r2"]), "g1's watched residents");
    for r in &residents {
        assert_eq!(r["name"], "张**", "{r}");
    }
    let page = get_as(&host, &w1, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("张**"), "{}", page.text());
    assert!(!page.text().contains("张r1"), "{}", page.text());
    // What it read was masked, and the access log says so.
    let entries: Vec<AccessEntry> = host
        .opened
        .platform
        .store()
        .list_access(D, Some(APP), None, 1000)
        .await
        .expect("access log");
    assert!(
        entries
            .iter()
            .any(|e| e.operation == "query-residents" && e.outcome == "allowed")
    );
    assert!(
        entries.iter().all(|e| e.field_class != "personal"),
        "{entries:?}"
    );
    // Nothing personal sits in its storage: no names, phones or addresses.
    let kept = kv_text(&host).await;
    for secret in ["张r1", "13800", "幸福路", FAMILY_PHONE, "1940-03-02"] {
        assert!(!kept.contains(secret), "{secret} in {kept}");
    }
}

async fn workers_see_and_act_only_on_their_own_grids(host: TestHost) {
    let w = world(&host, config(), &declared()).await;
    tick(&host, w.t0).await;
    host.clock().set_ms(w.t0 + MINUTE);
    event(&host, &w, "door-1", "door.open").await;
    tick(&host, w.t0 + 6 * HOUR + 5 * MINUTE).await;
    let open = alerts(&host, &w.w1).await;
    let id = open[0]["id"].as_str().expect("id").to_owned();
    // g2's worker cannot see or acknowledge g1's alert.
    let r = call_as(
        &host,
        &w.w2,
        Method::POST,
        &format!("/api/alerts/{id}/ack"),
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let r = get_as(&host, &w.w2, "/api/residents").await;
    let body = r.json();
    let ids: Vec<&str> = body["residents"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["r3"]);
    // An auditor sees everything and acknowledges nothing.
    let auditor = host.account("aud", Role::Auditor, Some(D)).await;
    assert_eq!(alerts(&host, &auditor).await.len(), 1);
    let r = call_as(
        &host,
        &auditor,
        Method::POST,
        &format!("/api/alerts/{id}/ack"),
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    // A resident gets no worker view; an anonymous caller is turned away
    // by the host.
    let resident = person(&host, "res", Role::Resident, &[], Some("r1")).await;
    assert_eq!(
        get_as(&host, &resident, "/api/residents").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get_as(&host, &resident, "/").await.status,
        StatusCode::FORBIDDEN
    );
    let r = host
        .get_as(None, &format!("/d/{D}/apps/{APP}/api/alerts"))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Visits: w1 logs one for r1 (JSON, then the page's form); w2 cannot;
    // an empty note is refused.
    let r = call_as(
        &host,
        &w.w1,
        Method::POST,
        "/api/residents/r1/visits",
        json!({ "note": "门磁电池已换" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = call_as(
        &host,
        &w.w1,
        Method::POST,
        "/api/residents/r1/visits",
        json!({ "note": "  " }),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("1 to 2000 bytes"), "{}", r.text());
    let r = call_as(
        &host,
        &w.w2,
        Method::POST,
        "/api/residents/r1/visits",
        json!({ "note": "x" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let form = Request::builder()
        .method(Method::POST)
        .uri(format!("/d/{D}/apps/{APP}/residents/r1/visits"))
        .header("authorization", format!("Bearer {}", w.w1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("note=%E5%B7%B2%E6%8E%A2%E8%A7%86+ok"))
        .expect("request");
    let r = host.send(form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let r = get_as(&host, &w.w1, "/api/residents/r1/visits").await;
    let body = r.json();
    let notes: Vec<&str> = body["visits"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v["note"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(notes, ["门磁电池已换", "已探视 ok"]);
    // The page lists the alert with its form, and acknowledging through the
    // form works.
    let page = get_as(&host, &w.w1, "/").await;
    assert!(
        page.text().contains(&format!("action=\"alerts/{id}/ack\"")),
        "{}",
        page.text()
    );
    assert_eq!(
        page.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/html; charset=utf-8")
    );
    let form = Request::builder()
        .method(Method::POST)
        .uri(format!("/d/{D}/apps/{APP}/alerts/{id}/ack"))
        .header("authorization", format!("Bearer {}", w.w1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::empty())
        .expect("request");
    assert_eq!(host.send(form).await.status, StatusCode::SEE_OTHER);
    assert_eq!(alerts(&host, &w.w1).await[0]["acknowledged"]["by"], "w1");
}

async fn the_install_configuration_reaches_the_app_and_a_bad_one_is_named(host: TestHost) {
    // inactivity after 2 hours instead of the default 24.
    let w = world(&host, json!({ "inactivity_hours": 2 }), &declared()).await;
    tick(&host, w.t0).await;
    host.clock().set_ms(w.t0 + MINUTE);
    event(&host, &w, "door-3", "door.open").await;
    tick(&host, w.t0 + 2 * HOUR + 5 * MINUTE).await;
    assert_eq!(alerts(&host, &w.w2).await.len(), 1);
    // Another district installs it with a misspelt setting: its ticks fail,
    // naming the setting.
    host.district("west").await;
    let bad = host
        .opened
        .platform
        .install(InstallRequest {
            district: "west".into(),
            manifest: manifest(),
            component: std::fs::read(components::SMART_CARE).expect("component"),
            grant: declared().into_iter().collect(),
            config: json!({ "inactivity_hour": 2 }),
            communities: None,
        })
        .await
        .expect("install");
    let _ = bad;
    host.clock().set_ms(w.t0 + 3 * HOUR);
    let report = host.opened.platform.run_due_ticks().await.expect("ticks");
    assert_eq!((report.handled, report.failed), (1, 1), "{report:?}");
    let (_, runs) = host
        .opened
        .platform
        .schedules("west", APP)
        .await
        .expect("runs");
    let detail = runs[0].detail.clone().unwrap_or_default();
    assert!(detail.contains("inactivity_hour"), "{detail}");
}

async fn kv_list_entries_pages_by_count_and_size_and_needs_kv(host: TestHost) {
    host.district(D).await;
    host.install_test_app(D, "test-app", true, "").await;
    host.install_test_app(D, "no-kv", false, "").await;
    for i in 0..5 {
        let r = host
            .put(
                &format!("/d/{D}/apps/test-app/kv/set?key=e/{i}"),
                format!("v{i}"),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    }
    // Five values of 1 MiB: a page stops at 4 MiB of values.
    for i in 0..5 {
        let r = host
            .put(
                &format!("/d/{D}/apps/test-app/kv/fill?key=f/{i}&bytes=1048576"),
                "",
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    }
    let r = host
        .get(&format!(
            "/d/{D}/apps/test-app/kv/entries?prefix=e/&limit=3"
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json()["entries"],
        json!([["e/0", 2], ["e/1", 2], ["e/2", 2]])
    );
    assert_eq!(r.json()["next_cursor"], "e/2");
    let r = host
        .get(&format!(
            "/d/{D}/apps/test-app/kv/entries?prefix=e/&limit=3&cursor=e/2"
        ))
        .await;
    assert_eq!(r.json()["entries"], json!([["e/3", 2], ["e/4", 2]]));
    assert_eq!(r.json()["next_cursor"], Value::Null);
    const MIB: usize = 1 << 20;
    let r = host
        .get(&format!("/d/{D}/apps/test-app/kv/entries?prefix=f/"))
        .await;
    assert_eq!(
        r.json()["entries"],
        json!([["f/0", MIB], ["f/1", MIB], ["f/2", MIB], ["f/3", MIB]])
    );
    assert_eq!(r.json()["next_cursor"], "f/3");
    let r = host
        .get(&format!(
            "/d/{D}/apps/test-app/kv/entries?prefix=f/&cursor=f/3"
        ))
        .await;
    assert_eq!(r.json()["entries"], json!([["f/4", MIB]]));
    assert_eq!(r.json()["next_cursor"], Value::Null);
    // Over the page limit, and without the grant.
    let r = host
        .get(&format!("/d/{D}/apps/test-app/kv/entries?limit=1001"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("1..=1000"), "{}", r.text());
    let r = host.get(&format!("/d/{D}/apps/no-kv/kv/entries")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("kv"), "{}", r.text());
}

async fn family_contact_sends_need_the_channel_permission_and_stay_in_scope(host: TestHost) {
    // Without notify-voice and notify-sms, an alarm still opens its case,
    // and the refused sends are recorded as denied.
    let grants: Vec<Permission> = declared()
        .into_iter()
        .filter(|p| !matches!(p, Permission::NotifyVoice | Permission::NotifySms))
        .collect();
    let w = world(&host, config(), &grants).await;
    host.clock().set_ms(w.t0);
    event(&host, &w, "smoke-1", "smoke.alarm").await;
    assert_eq!(cases(&host).await.len(), 1);
    assert!(sent(&host).await.is_empty());
    let entries = host
        .opened
        .platform
        .store()
        .list_access(D, Some(APP), None, 1000)
        .await
        .expect("access log");
    assert!(
        entries.iter().any(|e| e.operation == "notify.send"
            && e.outcome == "denied"
            && e.permission == "notify-voice"),
        "{entries:?}"
    );
    // Granted: the family contact is reached by SMS, through the host.
    let platform = &host.opened.platform;
    platform.uninstall(D, APP, false).await.expect("uninstall");
    install(&host, config(), &declared())
        .await
        .expect("reinstall");
    event(&host, &w, "gas-2", "gas.alarm").await;
    let notes = sent(&host).await;
    let family: Vec<&Notification> = notes
        .iter()
        .filter(|n| n.recipient_kind == "family")
        .collect();
    assert_eq!(
        family
            .iter()
            .map(|n| (n.channel.as_str(), n.recipient_id.as_str()))
            .collect::<Vec<_>>(),
        [("voice", "r2"), ("sms", "r2")],
        "r2 has a family contact, r5 none"
    );
    let entries = platform
        .store()
        .list_access(D, Some(APP), None, 1000)
        .await
        .expect("access log");
    assert!(
        entries.iter().any(|e| e.operation == "notify.send"
            && e.outcome == "allowed"
            && e.field_class == "contact"
            && e.record_ids.iter().any(|r| r == "family:r2")),
        "{entries:?}"
    );
    // Through the SDK directly (the test app): inbox reaches no one, the
    // channel needs its permission, and an install narrowed to another
    // community cannot reach the family of a resident outside it.
    narrow_community(&host).await;
    host.install_app(D, "family", &[Permission::NotifySms])
        .await;
    let send = |app: &'static str, channel: &'static str, resident: &'static str| {
        let host = &host;
        async move {
            host.post(
                &format!("/d/{D}/apps/{app}/notify/family"),
                json!({ "resident": resident, "channel": channel, "subject": "s", "body": "b", "key": format!("{app}-{channel}-{resident}") })
                    .to_string(),
            )
            .await
        }
    };
    let r = send("family", "sms", "r1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["recipients"], 1);
    let r = send("family", "sms", "r3").await;
    assert_eq!(
        (
            r.json()["recipients"].clone(),
            r.json()["unreachable"].clone()
        ),
        (json!(0), json!(1)),
        "r3 has no family phone"
    );
    let r = send("family", "voice", "r1").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("notify-voice"), "{}", r.text());
    let r = send("family", "sms", "nobody").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let narrow = hutong_host::InstallRequest {
        district: D.into(),
        manifest: Manifest::from_toml(&test_app_manifest("narrow", "")).expect("manifest"),
        component: std::fs::read(components::TEST_APP).expect("component"),
        grant: [
            Permission::NotifySms,
            Permission::NotifyInbox,
            Permission::ReadResidents,
        ]
        .into_iter()
        .collect(),
        config: json!({}),
        communities: Some(vec!["c2".into()]),
    };
    platform.install(narrow).await.expect("install narrowed");
    let r = send("narrow", "sms", "r1").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let r = send("narrow", "inbox", "r7").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        (
            r.json()["recipients"].clone(),
            r.json()["unreachable"].clone()
        ),
        (json!(0), json!(1)),
        "no inbox for a family"
    );
}

/// A second community, c2, with grid g3 and resident r7 (with a family
/// contact), and a worker w3 of g3.
async fn narrow_community(host: &TestHost) {
    let records = vec![
        Record::Community(Community {
            id: "c2".into(),
            street_id: "s1".into(),
            name: "和平社区".into(),
        }),
        Record::Grid(Grid {
            id: "g3".into(),
            community_id: "c2".into(),
            name: "三网格".into(),
        }),
        Record::Resident(Resident {
            id: "r7".into(),
            household_id: None,
            grid_id: "g3".into(),
            tags: vec!["elderly".into()],
            name: "王五".into(),
            phone: None,
            id_number: None,
            birth_date: None,
            address: None,
            family_contact_name: Some("王六".into()),
            family_contact_phone: Some("13900000007".into()),
        }),
    ];
    host.opened
        .platform
        .import_data(D, &import::to_json_lines(&records), Format::JsonLines)
        .await
        .expect("import c2");
    person(host, "w3", Role::Worker, &["g1", "g3"], None).await;
}

async fn worker_grids_need_read_residents_and_stay_in_scope(host: TestHost) {
    // Without read-residents the worker view cannot learn a worker's grids:
    // the app answers with the host's denial.
    let grants: Vec<Permission> = declared()
        .into_iter()
        .filter(|p| *p != Permission::ReadResidents)
        .collect();
    let w = world(&host, config(), &grants).await;
    let r = get_as(&host, &w.w1, "/api/alerts").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("read-residents"), "{}", r.text());
    let entries = host
        .opened
        .platform
        .store()
        .list_access(D, Some(APP), None, 1000)
        .await
        .expect("access log");
    assert!(
        entries
            .iter()
            .any(|e| e.operation == "worker-grids" && e.outcome == "denied"),
        "{entries:?}"
    );
    // Granted: the grids, logged with the account they describe.
    let platform = &host.opened.platform;
    platform.uninstall(D, APP, false).await.expect("uninstall");
    install(&host, config(), &declared())
        .await
        .expect("reinstall");
    host.clock().set_ms(w.t0);
    let r = get_as(&host, &w.w1, "/api/residents").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let entries = platform
        .store()
        .list_access(D, Some(APP), None, 1000)
        .await
        .expect("access log");
    assert!(
        entries.iter().any(|e| e.operation == "worker-grids"
            && e.outcome == "allowed"
            && e.record_ids == ["account:w1"]),
        "{entries:?}"
    );
    // Through the SDK directly: w3 serves g1 (c1) and g3 (c2); an install
    // narrowed to c2 sees only g3; a resident's account is no worker.
    narrow_community(&host).await;
    let narrow = InstallRequest {
        district: D.into(),
        manifest: Manifest::from_toml(&test_app_manifest("narrow", "")).expect("manifest"),
        component: std::fs::read(components::TEST_APP).expect("component"),
        grant: [Permission::ReadResidents].into_iter().collect(),
        config: json!({}),
        communities: Some(vec!["c2".into()]),
    };
    platform.install(narrow).await.expect("install narrowed");
    host.install_app(D, "whole", &[Permission::ReadResidents])
        .await;
    host.install_app(D, "blind", &[]).await;
    let grids = |app: &'static str, account: &'static str| {
        let host = &host;
        async move {
            host.get(&format!(
                "/d/{D}/apps/{app}/data/worker-grids?account={account}"
            ))
            .await
        }
    };
    assert_eq!(
        grids("whole", "w3").await.json()["grids"],
        json!(["g1", "g3"])
    );
    assert_eq!(grids("narrow", "w3").await.json()["grids"], json!(["g3"]));
    person(&host, "someone", Role::Resident, &[], Some("r1")).await;
    assert_eq!(
        grids("whole", "someone").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(grids("whole", "nobody").await.status, StatusCode::NOT_FOUND);
    let r = grids("blind", "w3").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("read-residents"), "{}", r.text());
}

async fn devices_cannot_post_host_events_and_a_silence_is_reported_once(host: TestHost) {
    let w = world(&host, config(), &declared()).await;
    let r = host
        .post_as(
            Some(&w.tokens["door-1"]),
            &format!("/d/{D}/events"),
            json!({ "type": "device.offline" }).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.text().contains("door.open"), "{}", r.text());
    let platform = &host.opened.platform;
    // Registered a minute before t0 with an hour's interval: silent past it
    // at t0 + 1 h, all five devices are reported, once, however many
    // processes sweep.
    host.clock().set_ms(w.t0 + HOUR);
    assert_eq!(platform.sweep_offline_devices().await.expect("sweep"), 5);
    let other = host.another_process().await;
    other.platform.store().clock().set_ms(w.t0 + HOUR + MINUTE);
    assert_eq!(
        other.platform.sweep_offline_devices().await.expect("sweep"),
        0
    );
    assert_eq!(platform.sweep_offline_devices().await.expect("sweep"), 0);
    let r = host
        .get(&format!("/api/v1/districts/{D}/devices/door-1"))
        .await;
    assert_eq!(r.json()["offline_since"], w.t0 + HOUR, "{}", r.text());
    deliver(&host).await;
    // The app heard each as a fault.
    let faults = alerts(&host, &w.w1)
        .await
        .into_iter()
        .chain(alerts(&host, &w.w2).await)
        .filter(|a| a["kind"] == "device-offline")
        .count();
    assert_eq!(faults, 5);
    // A device posting again is online: `device.online` first, once.
    event(&host, &w, "door-1", "door.open").await;
    event(&host, &w, "door-1", "door.close").await;
    let stored = platform
        .store()
        .list_events(D, Some("door-1"), 100)
        .await
        .expect("events");
    let types: Vec<&str> = stored.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["device.offline", "device.online", "door.open", "door.close"]
    );
    let r = host
        .get(&format!("/api/v1/districts/{D}/devices/door-1"))
        .await;
    assert_eq!(r.json()["offline_since"], Value::Null, "{}", r.text());
}
