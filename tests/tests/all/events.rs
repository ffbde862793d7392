//! Device events: registering devices, posting events (one or a batch) with
//! a device's token, refusing bad posts without storing anything, handing
//! each event to the subscribed and granted installs in order per device,
//! retries and dead letters that hold up no one else, the binding masked per
//! grants, offline devices, and two host processes sharing the outbox.

use axum::http::{Method, StatusCode};
use hutong_host::Platform;
use hutong_host::accounts::Role;
use hutong_host::community::Record;
use hutong_host::devices::delivery::MAX_EVENT_ATTEMPTS;
use hutong_host::devices::ops::EventCounts;
use hutong_host::kernel::manifest::Permission;
use hutong_host::kernel::outbox::retry_pause_ms;
use hutong_host::platform::DeliveryReport;
use hutong_tests::{TestHost, TestResponse, components, on_both_backends, test_app_manifest};
use serde_json::{Value, json};

on_both_backends!(
    a_registered_device_posts_one_event_and_a_batch,
    bad_posts_are_refused_with_a_clear_error_and_store_nothing,
    registration_checks_kind_binding_and_access,
    a_rotated_or_removed_devices_old_token_stops_working,
    events_reach_only_subscribed_and_granted_installs,
    a_devices_events_stay_in_order_while_an_earlier_one_is_retried,
    a_dead_lettered_event_does_not_block_the_next_device_or_another_app,
    the_binding_reaches_an_app_only_as_its_grants_and_scope_allow,
    a_silent_device_is_reported_offline,
    two_processes_hand_each_event_to_each_install_once,
    an_event_posted_again_under_its_key_is_the_same_event,
);

/// `kv` for the handler's record of what it heard, and `receive-events`.
const SUBSCRIBER: &[Permission] = &[Permission::Kv, Permission::ReceiveEvents];

/// A district with the sample community data; the records.
async fn district(host: &TestHost) -> Vec<Record> {
    host.district("west").await;
    host.sample_district("east").await
}

/// A resident of `community` living in a household: (resident, household).
fn resident_at_home(records: &[Record], community: &str) -> (String, String) {
    records
        .iter()
        .find_map(|r| match r {
            Record::Resident(r) if r.grid_id.starts_with(community) => r
                .household_id
                .clone()
                .map(|household| (r.id.clone(), household)),
            _ => None,
        })
        .expect("a resident with a household in the community")
}

/// Register a device through the API; its token.
async fn register(host: &TestHost, district: &str, body: Value) -> String {
    let r = host
        .post(
            &format!("/api/v1/districts/{district}/devices"),
            body.to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let token = r.json()["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("hdv_"), "{token}");
    token
}

async fn door(host: &TestHost, id: &str) -> String {
    register(host, "east", json!({ "id": id, "kind": "door-sensor" })).await
}

async fn post(host: &TestHost, token: Option<&str>, district: &str, body: Value) -> TestResponse {
    host.post_as(token, &format!("/d/{district}/events"), body.to_string())
        .await
}

/// Post and expect it accepted; the events' ids.
async fn accepted(host: &TestHost, token: &str, body: Value) -> Vec<String> {
    let r = post(host, Some(token), "east", body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    r.json()["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e.as_str().expect("id").to_owned())
        .collect()
}

async fn deliver(platform: &Platform) -> DeliveryReport {
    platform.deliver_events().await.expect("deliver")
}

async fn counts(platform: &Platform) -> EventCounts {
    platform.event_counts("east").await.expect("counts")
}

/// What app `name` heard from `device`, in order.
async fn heard(host: &TestHost, name: &str, device: &str) -> Vec<Value> {
    let r = host
        .get(&format!("/d/east/apps/{name}/events/heard?device={device}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["heard"].as_array().cloned().unwrap_or_default()
}

/// The event ids `name` heard from `device`, in order.
async fn heard_ids(host: &TestHost, name: &str, device: &str) -> Vec<String> {
    heard(host, name, device)
        .await
        .iter()
        .map(|h| h["event_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn set_kv(host: &TestHost, name: &str, key: &str) {
    let r = host
        .put(&format!("/d/east/apps/{name}/kv/set?key={key}"), "1")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
}

async fn delete_kv(host: &TestHost, name: &str, key: &str) {
    let r = host
        .delete(&format!("/d/east/apps/{name}/kv/delete?key={key}"))
        .await;
    assert_eq!(r.json()["existed"], true, "{}", r.text());
}

async fn a_registered_device_posts_one_event_and_a_batch(host: TestHost) {
    let records = district(&host).await;
    let (_, household) = resident_at_home(&records, "c-xingfu");
    let token = register(
        &host,
        "east",
        json!({ "id": "door-1", "kind": "door-sensor", "household_id": household, "heartbeat_secs": 600 }),
    )
    .await;
    let platform = &host.opened.platform;

    let one = accepted(
        &host,
        &token,
        json!({ "type": "door.open", "payload": { "battery": 87 } }),
    )
    .await;
    assert_eq!(one.len(), 1);
    let at = platform.store().clock().now_ms() - 1_000;
    let batch = accepted(
        &host,
        &token,
        json!({ "events": [
            { "type": "door.close", "occurred_at_ms": at },
            { "device": "door-1", "type": "heartbeat" },
            { "type": "battery.low", "payload": { "battery": 9 } },
        ]}),
    )
    .await;
    assert_eq!(batch.len(), 3);

    let r = host.get("/api/v1/districts/east/events").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let body = r.json();
    assert_eq!(body["counts"]["stored"], 4);
    let events = body["events"].as_array().expect("events");
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        types,
        ["door.open", "door.close", "heartbeat", "battery.low"]
    );
    assert_eq!(events[0]["payload"], r#"{"battery":87}"#);
    assert_eq!(events[1]["occurred_at"], at);
    assert_eq!(events[0]["household_id"], household.as_str());
    assert_eq!(events[0]["community_id"], "c-xingfu");

    let r = host.get("/api/v1/districts/east/devices/door-1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let device = r.json();
    assert_eq!(device["status"], "online");
    assert!(device["last_seen_at"].is_i64(), "{device}");
    assert!(device.get("token").is_none(), "a token is shown only once");
    assert!(!r.text().contains(&token[4..]));
}

async fn bad_posts_are_refused_with_a_clear_error_and_store_nothing(host: TestHost) {
    district(&host).await;
    let token = door(&host, "door-1").await;
    door(&host, "door-2").await;
    let gateway = register(&host, "east", json!({ "id": "gw", "kind": "gateway" })).await;
    let west = register(
        &host,
        "west",
        json!({ "id": "door-w", "kind": "door-sensor" }),
    )
    .await;
    let now = host.opened.platform.store().clock().now_ms();
    let good = json!({ "type": "door.open" });
    let unknown_token = format!("hdv_{}", "0".repeat(64));
    let too_many: Vec<Value> = (0..1001).map(|_| json!({ "type": "heartbeat" })).collect();

    let cases: Vec<(&str, Option<&str>, String, StatusCode, &str)> = vec![
        ("no token", None, good.to_string(), StatusCode::UNAUTHORIZED, "device's token"),
        ("an account's token", Some(host.admin_token.as_str()), good.to_string(), StatusCode::UNAUTHORIZED, "not a device token"),
        ("an unknown token", Some(unknown_token.as_str()), good.to_string(), StatusCode::UNAUTHORIZED, "unknown device token"),
        ("another district's device", Some(west.as_str()), good.to_string(), StatusCode::FORBIDDEN, "district `west`"),
        ("not JSON", Some(token.as_str()), "{door".into(), StatusCode::BAD_REQUEST, "not JSON"),
        ("a list", Some(token.as_str()), "[]".into(), StatusCode::BAD_REQUEST, "JSON object"),
        ("an unknown field", Some(token.as_str()), json!({ "events": [good, { "type": "door.open", "colour": "red" }] }).to_string(), StatusCode::BAD_REQUEST, "events[1]: unknown field `colour`"),
        ("no type", Some(token.as_str()), json!({ "payload": {} }).to_string(), StatusCode::BAD_REQUEST, "missing field `type`"),
        ("an unknown type", Some(token.as_str()), json!({ "events": [good, { "type": "door.opened" }] }).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "events[1].type: `door.opened` is not an event type of a door-sensor"),
        ("another kind's type", Some(token.as_str()), json!({ "type": "smoke.alarm" }).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "it reports: door.open, door.close, heartbeat"),
        ("a time far in the future", Some(token.as_str()), json!({ "events": [good, good, { "type": "door.open", "occurred_at_ms": now + 3_600_000 }] }).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "events[2].occurred_at_ms"),
        ("a payload that is no object", Some(token.as_str()), json!({ "type": "door.open", "payload": [1] }).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "events[0].payload: must be a JSON object"),
        ("another device's event", Some(token.as_str()), json!({ "device": "door-2", "type": "door.open" }).to_string(), StatusCode::FORBIDDEN, "posts only its own events"),
        ("an unknown device through a gateway", Some(gateway.as_str()), json!({ "events": [{ "device": "door-1", "type": "door.open" }, { "device": "door-9", "type": "door.open" }] }).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "events[1].device: device `door-9` is not registered"),
        ("another district's device through a gateway", Some(gateway.as_str()), json!({ "device": "door-w", "type": "door.open" }).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "not registered in district `east`"),
        ("a gateway event naming no device", Some(gateway.as_str()), good.to_string(), StatusCode::UNPROCESSABLE_ENTITY, "events[0].device: missing"),
        ("too many events", Some(token.as_str()), json!({ "events": too_many }).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "at most 1000"),
    ];
    for (what, token, body, status, says) in cases {
        let r = host.post_as(token, "/d/east/events", body).await;
        assert_eq!(r.status, status, "{what}: {}", r.text());
        let message = r.error_message();
        assert!(message.contains(says), "{what}: {message}");
    }
    let platform = &host.opened.platform;
    assert_eq!(counts(platform).await, EventCounts::default());
    for id in ["door-1", "door-2", "gw"] {
        let device = platform.device("east", id).await.expect("device");
        assert_eq!(device.device.last_seen_at, None, "{id} was not seen");
    }
    // The same events, fixed, go through.
    assert_eq!(
        accepted(
            &host,
            &gateway,
            json!({ "events": [{ "device": "door-1", "type": "door.open" }, { "device": "door-2", "type": "door.open" }] })
        )
        .await
        .len(),
        2
    );
}

async fn registration_checks_kind_binding_and_access(host: TestHost) {
    let records = district(&host).await;
    let (resident, household) = resident_at_home(&records, "c-xingfu");
    let (_, other_household) = resident_at_home(&records, "c-heping");
    let refused = [
        (
            json!({ "id": "d1", "kind": "toaster" }),
            "kinds are: door-sensor",
        ),
        (
            json!({ "id": "d1", "kind": "door-sensor", "household_id": "nope" }),
            "household `nope` does not exist",
        ),
        (
            json!({ "id": "d1", "kind": "door-sensor", "resident_id": "nope" }),
            "resident `nope` does not exist",
        ),
        (
            json!({ "id": "d1", "kind": "door-sensor", "resident_id": resident, "household_id": other_household }),
            "does not live in household",
        ),
        (
            json!({ "id": "d 1", "kind": "door-sensor" }),
            "device id `d 1` contains",
        ),
        (
            json!({ "id": "d1", "kind": "door-sensor", "heartbeat_secs": 1 }),
            "use 10 to",
        ),
    ];
    for (body, says) in refused {
        let r = host
            .post("/api/v1/districts/east/devices", body.to_string())
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text()
        );
        assert!(r.text().contains(says), "{body}: {}", r.text());
    }
    register(
        &host,
        "east",
        json!({ "id": "d1", "kind": "smoke-detector", "resident_id": resident, "household_id": household }),
    )
    .await;
    let r = host
        .post(
            "/api/v1/districts/east/devices",
            json!({ "id": "d1", "kind": "door-sensor" }).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());

    let auditor = host.account("aud", Role::Auditor, Some("east")).await;
    let west_admin = host
        .account("wadmin", Role::DistrictAdmin, Some("west"))
        .await;
    let worker = host.account("wk", Role::Worker, Some("east")).await;
    let new = json!({ "id": "d2", "kind": "door-sensor" }).to_string();
    for (who, token, method, uri, status) in [
        (
            "auditor registers",
            &auditor,
            Method::POST,
            "/api/v1/districts/east/devices",
            StatusCode::FORBIDDEN,
        ),
        (
            "auditor lists",
            &auditor,
            Method::GET,
            "/api/v1/districts/east/devices",
            StatusCode::OK,
        ),
        (
            "west admin lists east",
            &west_admin,
            Method::GET,
            "/api/v1/districts/east/devices",
            StatusCode::FORBIDDEN,
        ),
        (
            "west admin registers in east",
            &west_admin,
            Method::POST,
            "/api/v1/districts/east/devices",
            StatusCode::FORBIDDEN,
        ),
        (
            "worker lists",
            &worker,
            Method::GET,
            "/api/v1/districts/east/devices",
            StatusCode::FORBIDDEN,
        ),
        (
            "auditor reads dead letters",
            &auditor,
            Method::GET,
            "/api/v1/districts/east/event-dead-letters",
            StatusCode::OK,
        ),
        (
            "auditor retries dead letters",
            &auditor,
            Method::POST,
            "/api/v1/districts/east/event-dead-letters/retry",
            StatusCode::FORBIDDEN,
        ),
        (
            "auditor rotates a token",
            &auditor,
            Method::POST,
            "/api/v1/districts/east/devices/d1/token",
            StatusCode::FORBIDDEN,
        ),
    ] {
        let r = host.request_as(Some(token), method, uri, new.clone()).await;
        assert_eq!(r.status, status, "{who}: {}", r.text());
    }
    let r = host.get("/api/v1/districts/east/devices").await;
    let list = r.json();
    let ids: Vec<&str> = list["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .map(|d| d["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids, ["d1"]);
    assert_eq!(list["devices"][0]["community_id"], "c-xingfu");
}

async fn a_rotated_or_removed_devices_old_token_stops_working(host: TestHost) {
    district(&host).await;
    let old = door(&host, "door-1").await;
    let r = host
        .post("/api/v1/districts/east/devices/door-1/token", "")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let new = r.json()["token"].as_str().expect("token").to_owned();
    let r = post(&host, Some(&old), "east", json!({ "type": "door.open" })).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    accepted(&host, &new, json!({ "type": "door.open" })).await;

    let r = host.delete("/api/v1/districts/east/devices/door-1").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = post(&host, Some(&new), "east", json!({ "type": "door.open" })).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    let r = host.get("/api/v1/districts/east/devices/door-1").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    // Its event stays on record.
    assert_eq!(counts(&host.opened.platform).await.stored, 1);
}

async fn events_reach_only_subscribed_and_granted_installs(host: TestHost) {
    district(&host).await;
    host.install_app("east", "subscriber", SUBSCRIBER).await;
    host.install_app("east", "ungranted", &[Permission::Kv])
        .await;
    let smoke_only = test_app_manifest("smoke-only", "").replace(
        r#"types = ["door.open", "door.close", "smoke.alarm", "heartbeat"]"#,
        r#"types = ["smoke.alarm"]"#,
    );
    host.install("east", &smoke_only, components::TEST_APP, SUBSCRIBER)
        .await
        .expect("install smoke-only");
    let token = door(&host, "door-1").await;
    let platform = &host.opened.platform;

    let ids = accepted(
        &host,
        &token,
        json!({ "events": [{ "type": "door.open" }, { "type": "battery.low" }] }),
    )
    .await;
    // One delivery: door.open to the subscriber; nobody takes battery.low.
    assert_eq!(
        counts(platform).await,
        EventCounts {
            stored: 2,
            pending: 1,
            dead: 0
        }
    );
    assert_eq!(deliver(platform).await.delivered, 1);
    let heard = heard(&host, "subscriber", "door-1").await;
    assert_eq!(heard.len(), 1);
    assert_eq!(heard[0]["event_id"], ids[0].as_str());
    assert_eq!(heard[0]["type"], "door.open");
    assert_eq!(heard[0]["device_kind"], "door-sensor");
    assert!(heard_ids(&host, "ungranted", "door-1").await.is_empty());
    assert!(heard_ids(&host, "smoke-only", "door-1").await.is_empty());

    // An install that loses the grant before delivery is not handed the
    // event: the delivery is dropped.
    accepted(&host, &token, json!({ "type": "door.close" })).await;
    platform
        .uninstall("east", "subscriber", true)
        .await
        .expect("uninstall");
    host.install_app("east", "subscriber", &[Permission::Kv])
        .await;
    let report = deliver(platform).await;
    assert_eq!((report.delivered, report.dropped), (0, 1), "{report:?}");
    assert_eq!(heard_ids(&host, "subscriber", "door-1").await.len(), 1);
    assert_eq!(counts(platform).await.pending, 0);
}

async fn a_devices_events_stay_in_order_while_an_earlier_one_is_retried(host: TestHost) {
    district(&host).await;
    host.install_app("east", "care", SUBSCRIBER).await;
    let platform = &host.opened.platform;
    let clock = platform.store().clock().clone();
    clock.set_ms(1_795_336_200_000);
    let gateway = register(&host, "east", json!({ "id": "gw", "kind": "gateway" })).await;
    door(&host, "door-1").await;
    door(&host, "door-2").await;
    set_kv(&host, "care", "events/fail/door-1").await;

    let ids = accepted(
        &host,
        &gateway,
        json!({ "events": [
            { "device": "door-1", "type": "door.open" },
            { "device": "door-2", "type": "door.open" },
            { "device": "door-1", "type": "door.close" },
            { "device": "door-1", "type": "door.open" },
            { "device": "door-2", "type": "door.close" },
        ]}),
    )
    .await;

    // door-1's first event fails and the rest wait behind it; door-2's both
    // arrive.
    let report = deliver(platform).await;
    assert_eq!((report.delivered, report.retrying), (2, 1), "{report:?}");
    assert_eq!(
        heard_ids(&host, "care", "door-2").await,
        [ids[1].clone(), ids[4].clone()]
    );
    assert!(heard_ids(&host, "care", "door-1").await.is_empty());

    // Not due again before its pause; then still failing, still in front.
    clock.advance_ms(retry_pause_ms(1) - 1);
    assert_eq!(deliver(platform).await, DeliveryReport::default());
    clock.advance_ms(1);
    assert_eq!(deliver(platform).await.retrying, 1);

    // Once the app works, all three arrive in the order posted.
    delete_kv(&host, "care", "events/fail/door-1").await;
    clock.advance_ms(retry_pause_ms(2));
    assert_eq!(deliver(platform).await.delivered, 3);
    assert_eq!(
        heard_ids(&host, "care", "door-1").await,
        [ids[0].clone(), ids[2].clone(), ids[3].clone()]
    );
    assert_eq!(counts(platform).await.pending, 0);
}

async fn a_dead_lettered_event_does_not_block_the_next_device_or_another_app(host: TestHost) {
    district(&host).await;
    host.install_app("east", "failing", SUBSCRIBER).await;
    host.install_app("east", "fine", SUBSCRIBER).await;
    let platform = &host.opened.platform;
    let clock = platform.store().clock().clone();
    clock.set_ms(1_795_336_200_000);
    let d1 = door(&host, "door-1").await;
    let d2 = door(&host, "door-2").await;
    set_kv(&host, "failing", "events/fail/door-1").await;
    let first = accepted(&host, &d1, json!({ "type": "door.open" })).await;
    let second = accepted(&host, &d1, json!({ "type": "door.close" })).await;
    let other = accepted(&host, &d2, json!({ "type": "door.open" })).await;

    // The other app hears door-1 at once; the failing app hears door-2.
    let report = deliver(platform).await;
    assert_eq!((report.delivered, report.retrying), (4, 1), "{report:?}");
    assert_eq!(
        heard_ids(&host, "fine", "door-1").await,
        [first[0].clone(), second[0].clone()]
    );
    assert_eq!(heard_ids(&host, "failing", "door-2").await, other);

    // Retried until its last attempt, which sets it aside.
    for attempt in 1..MAX_EVENT_ATTEMPTS {
        clock.advance_ms(retry_pause_ms(attempt));
        let report = deliver(platform).await;
        let expected = if attempt + 1 < MAX_EVENT_ATTEMPTS {
            (1, 0)
        } else {
            // The dead letter's successor is tried at once, and fails too.
            (1, 1)
        };
        assert_eq!(
            (report.retrying, report.dead),
            expected,
            "attempt {}: {report:?}",
            attempt + 1
        );
    }
    let r = host.get("/api/v1/districts/east/event-dead-letters").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let dead = r.json();
    let dead = dead.as_array().expect("dead letters");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["app"], "failing");
    assert_eq!(dead[0]["attempts"], MAX_EVENT_ATTEMPTS);
    assert_eq!(dead[0]["event"]["id"].to_string(), first[0]);
    assert!(
        dead[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("test-app was told to fail")),
        "{dead:?}"
    );

    // Once the app works, the next event of the device goes through; the
    // dead letter stays until an administrator retries it.
    delete_kv(&host, "failing", "events/fail/door-1").await;
    clock.advance_ms(retry_pause_ms(1));
    assert_eq!(deliver(platform).await.delivered, 1);
    assert_eq!(heard_ids(&host, "failing", "door-1").await, second);
    let id = dead[0]["id"].as_i64().expect("id");
    let r = host
        .post(
            &format!("/api/v1/districts/east/event-dead-letters/{id}/retry"),
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["revived"], 1);
    assert_eq!(deliver(platform).await.delivered, 1);
    assert_eq!(
        heard_ids(&host, "failing", "door-1").await,
        [second[0].clone(), first[0].clone()]
    );
    assert_eq!(
        counts(platform).await,
        EventCounts {
            stored: 3,
            pending: 0,
            dead: 0
        }
    );
    let r = host
        .post("/api/v1/districts/east/event-dead-letters/99999/retry", "")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
}

async fn the_binding_reaches_an_app_only_as_its_grants_and_scope_allow(host: TestHost) {
    let records = district(&host).await;
    let (resident, household) = resident_at_home(&records, "c-xingfu");
    let data = [Permission::ReadResidents, Permission::ReadHouseholds];
    let all: Vec<Permission> = SUBSCRIBER.iter().chain(&data).copied().collect();
    host.install_app("east", "full", &all).await;
    host.install_app(
        "east",
        "households-only",
        &[
            Permission::Kv,
            Permission::ReceiveEvents,
            Permission::ReadHouseholds,
        ],
    )
    .await;
    host.install_app("east", "bare", SUBSCRIBER).await;
    host.install_app_in("east", "elsewhere", &all, Some(&["c-heping"]))
        .await;
    let token = register(
        &host,
        "east",
        json!({ "id": "door-1", "kind": "door-sensor", "resident_id": resident, "household_id": household }),
    )
    .await;
    accepted(&host, &token, json!({ "type": "door.open" })).await;
    let platform = &host.opened.platform;
    assert_eq!(deliver(platform).await.delivered, 4);

    let binding = |h: &Value| (h["household_id"].clone(), h["resident_id"].clone());
    let expect = [
        ("full", (json!(household), json!(resident))),
        ("households-only", (json!(household), Value::Null)),
        ("bare", (Value::Null, Value::Null)),
        ("elsewhere", (Value::Null, Value::Null)),
    ];
    for (app, want) in expect {
        let heard = heard(&host, app, "door-1").await;
        assert_eq!(heard.len(), 1, "{app}");
        assert_eq!(binding(&heard[0]), want, "{app}");
    }

    // What was handed over is in the access log, and nothing else.
    let log = |app: &'static str| async move {
        platform
            .access_log("east", Some(app), None, 100)
            .await
            .expect("access log")
            .into_iter()
            .filter(|e| e.operation == "event-handler.on-event")
            .map(|e| (e.permission.clone(), e.record_ids.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        log("full").await,
        [
            ("read-households".to_owned(), vec![household.clone()]),
            ("read-residents".to_owned(), vec![resident.clone()]),
        ]
    );
    assert_eq!(
        log("households-only").await,
        [("read-households".to_owned(), vec![household.clone()])]
    );
    assert!(log("bare").await.is_empty());
    assert!(log("elsewhere").await.is_empty());
}

async fn a_silent_device_is_reported_offline(host: TestHost) {
    district(&host).await;
    let platform = &host.opened.platform;
    let clock = platform.store().clock().clone();
    clock.set_ms(1_795_336_200_000);
    let fast = register(
        &host,
        "east",
        json!({ "id": "fast", "kind": "smoke-detector", "heartbeat_secs": 60 }),
    )
    .await;
    register(
        &host,
        "east",
        json!({ "id": "slow", "kind": "gas-detector", "heartbeat_secs": 600 }),
    )
    .await;
    assert!(offline_ids(&host).await.is_empty());

    clock.advance_ms(60_001);
    assert_eq!(offline_ids(&host).await, ["fast"]);
    let r = host.get("/api/v1/districts/east/devices/fast").await;
    assert_eq!(r.json()["status"], "offline");

    // A heartbeat brings it back.
    accepted(&host, &fast, json!({ "type": "heartbeat" })).await;
    assert!(offline_ids(&host).await.is_empty());
    let r = host.get("/api/v1/districts/east/devices/fast").await;
    assert_eq!(r.json()["status"], "online");
    assert_eq!(r.json()["last_seen_at"], clock.now_ms());

    clock.advance_ms(600_000);
    assert_eq!(offline_ids(&host).await, ["fast", "slow"]);
    let r = host
        .get("/api/v1/districts/east/devices?status=sleepy")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
}

/// The ids of the district's devices listed as offline.
async fn offline_ids(host: &TestHost) -> Vec<String> {
    let r = host
        .get("/api/v1/districts/east/devices?status=offline")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .map(|d| d["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn two_processes_hand_each_event_to_each_install_once(host: TestHost) {
    district(&host).await;
    host.install_app("east", "a", SUBSCRIBER).await;
    host.install_app("east", "b", SUBSCRIBER).await;
    let gateway = register(&host, "east", json!({ "id": "gw", "kind": "gateway" })).await;
    let devices: Vec<String> = (0..5).map(|i| format!("door-{i}")).collect();
    for d in &devices {
        door(&host, d).await;
    }
    let events: Vec<Value> = (0..10)
        .flat_map(|n| {
            devices.iter().map(move |d| {
                json!({ "device": d, "type": if n % 2 == 0 { "door.open" } else { "door.close" } })
            })
        })
        .collect();
    let ids = accepted(&host, &gateway, json!({ "events": events })).await;
    assert_eq!(ids.len(), 50);

    let other = host.another_process().await;
    let (one, two) = (&host.opened.platform, &other.platform);
    for _ in 0..30 {
        let (a, b) = tokio::join!(one.deliver_events(), two.deliver_events());
        let (a, b) = (a.expect("deliver"), b.expect("deliver"));
        assert_eq!((a.retrying + b.retrying, a.dead + b.dead), (0, 0));
        if counts(one).await.pending == 0 {
            break;
        }
    }
    assert_eq!(counts(one).await.pending, 0);
    for app in ["a", "b"] {
        for (i, d) in devices.iter().enumerate() {
            let want: Vec<String> = ids.iter().skip(i).step_by(devices.len()).cloned().collect();
            assert_eq!(heard_ids(&host, app, d).await, want, "{app} {d}");
        }
    }
}

async fn an_event_posted_again_under_its_key_is_the_same_event(host: TestHost) {
    district(&host).await;
    host.install_app("east", "subscriber", SUBSCRIBER).await;
    let token = door(&host, "door-1").await;
    let other = door(&host, "door-2").await;
    let platform = &host.opened.platform;

    let first = accepted(
        &host,
        &token,
        json!({ "type": "door.open", "key": "door-1:8812" }),
    )
    .await;
    // The gateway is unsure the post arrived and posts it again, alone and
    // in a batch beside a new one: the same id, nothing stored twice.
    let again = accepted(
        &host,
        &token,
        json!({ "type": "door.open", "key": "door-1:8812" }),
    )
    .await;
    assert_eq!(again, first);
    let batch = accepted(
        &host,
        &token,
        json!({ "events": [
            { "type": "door.close", "key": "door-1:8813" },
            { "type": "door.open", "key": "door-1:8812" },
            { "type": "door.close", "key": "door-1:8813" },
        ] }),
    )
    .await;
    assert_eq!(batch[1], first[0]);
    assert_eq!(batch[0], batch[2], "one key twice in one post is one event");
    assert_ne!(batch[0], first[0]);
    // Another device's key is its own.
    let theirs = accepted(
        &host,
        &other,
        json!({ "type": "door.open", "key": "door-1:8812" }),
    )
    .await;
    assert_ne!(theirs, first);
    // Events without a key are each new.
    let a = accepted(&host, &token, json!({ "type": "door.open" })).await;
    let b = accepted(&host, &token, json!({ "type": "door.open" })).await;
    assert_ne!(a, b);

    assert_eq!(counts(platform).await.stored, 5);
    deliver(platform).await;
    assert_eq!(
        heard_ids(&host, "subscriber", "door-1").await,
        [
            first[0].clone(),
            batch[0].clone(),
            a[0].clone(),
            b[0].clone()
        ],
        "each event handed over once"
    );

    // A key that is not one is refused, naming the rule.
    let r = post(
        &host,
        Some(&token),
        "east",
        json!({ "type": "door.open", "key": "has space" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.text().contains("events[0].key"), "{}", r.text());
    assert_eq!(counts(platform).await.stored, 5);
}
