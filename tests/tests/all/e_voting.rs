//! The community voting app (`plugins/e-voting`) on the real host, on both
//! back ends: who is on the roll under each rule, one counted vote per voter
//! under concurrent submissions, changing a vote with its secret, a tally
//! that a recount of the board reproduces, quorum, secrecy in what is
//! stored, refusals that store nothing, and polls that open, close and
//! notify on schedule ticks.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use hutong_host::AccountRequest;
use hutong_host::accounts::Role;
use hutong_host::community::import::Format;
use hutong_host::kernel::manifest::Permission;
use hutong_tests::{TestHost, TestResponse, account_request, components, on_both_backends};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::{Connection, Row};

on_both_backends!(
    the_roll_follows_each_eligibility_rule,
    concurrent_double_votes_count_exactly_once,
    a_changed_vote_keeps_only_the_last_and_needs_the_secret,
    the_tally_equals_a_recount_of_the_board_and_the_roll_its_fingerprint,
    quorum_is_met_or_not_by_turnout_against_the_roll,
    nothing_stored_links_a_voter_to_a_choice,
    bad_votes_and_bad_polls_are_refused_and_store_nothing,
    polls_open_close_and_notify_on_schedule_ticks,
    the_app_needs_its_grants,
    a_roll_of_many_pages_is_frozen_whole_and_fingerprinted_in_order,
    two_processes_advancing_one_poll_make_each_step_once,
    notices_beyond_the_rate_go_grid_by_grid_minute_by_minute_once_each,
);

const BASE: &str = "/d/east/apps/e-voting";

/// Residents: (id, household, grid, birth date). Community c1 has grids g1
/// (buildings b1, b2) and g2 (b3); community c2 has g3 (b4).
const RESIDENTS: &[(&str, Option<&str>, &str, &str)] = &[
    ("r01", Some("h1"), "g1", "1980-01-01"),
    ("r02", Some("h1"), "g1", "1982-05-05"),
    ("r03", Some("h1"), "g1", "2015-01-01"),
    ("r04", Some("h2"), "g1", "1970-03-03"),
    ("r05", Some("h3"), "g1", "1990-07-07"),
    ("r06", Some("h4"), "g2", "1960-09-09"),
    ("r07", None, "g2", "1975-11-11"),
    ("r08", Some("h5"), "g3", "1985-12-12"),
];

struct District {
    worker: String,
    voters: BTreeMap<&'static str, String>,
}

impl District {
    fn voter(&self, resident: &str) -> &str {
        self.voters.get(resident).map_or("", String::as_str)
    }
}

async fn district(host: &TestHost) -> District {
    district_with(host, &all_grants()).await
}

fn all_grants() -> Vec<Permission> {
    vec![
        Permission::Kv,
        Permission::ReadResidents,
        Permission::ReadBuildings,
        Permission::NotifyInbox,
        Permission::Schedules,
    ]
}

async fn district_with(host: &TestHost, grants: &[Permission]) -> District {
    host.district("east").await;
    let mut records = vec![
        json!({"kind": "street", "id": "s1", "name": "Street"}),
        json!({"kind": "community", "id": "c1", "street_id": "s1", "name": "One"}),
        json!({"kind": "community", "id": "c2", "street_id": "s1", "name": "Two"}),
        json!({"kind": "grid", "id": "g1", "community_id": "c1", "name": "G1"}),
        json!({"kind": "grid", "id": "g2", "community_id": "c1", "name": "G2"}),
        json!({"kind": "grid", "id": "g3", "community_id": "c2", "name": "G3"}),
        json!({"kind": "building", "id": "b1", "community_id": "c1", "grid_id": "g1", "name": "1号楼"}),
        json!({"kind": "building", "id": "b2", "community_id": "c1", "grid_id": "g1", "name": "2号楼"}),
        json!({"kind": "building", "id": "b3", "community_id": "c1", "grid_id": "g2", "name": "3号楼"}),
        json!({"kind": "building", "id": "b4", "community_id": "c2", "grid_id": "g3", "name": "4号楼"}),
        json!({"kind": "household", "id": "h1", "building_id": "b1", "room": "101"}),
        json!({"kind": "household", "id": "h2", "building_id": "b1", "room": "102"}),
        json!({"kind": "household", "id": "h3", "building_id": "b2", "room": "101"}),
        json!({"kind": "household", "id": "h4", "building_id": "b3", "room": "101"}),
        json!({"kind": "household", "id": "h5", "building_id": "b4", "room": "101"}),
    ];
    for (id, household, grid, born) in RESIDENTS {
        records.push(json!({
            "kind": "resident", "id": id, "household_id": household, "grid_id": grid,
            "name": "张三", "birth_date": born,
        }));
    }
    let text: Vec<String> = records.iter().map(Value::to_string).collect();
    host.opened
        .platform
        .import_data("east", &text.join("\n"), Format::JsonLines)
        .await
        .expect("import");
    let manifest = std::fs::read_to_string(components::E_VOTING_MANIFEST).expect("manifest");
    host.install("east", &manifest, components::E_VOTING, grants)
        .await
        .expect("install e-voting");
    let mut voters = BTreeMap::new();
    for (id, ..) in RESIDENTS {
        let token = host
            .create_account(AccountRequest {
                resident_id: Some((*id).to_owned()),
                ..account_request(&format!("v-{id}"), Role::Resident, Some("east"))
            })
            .await;
        voters.insert(*id, token);
    }
    let worker = host.worker("w1", "east", &["g1"]).await;
    District { worker, voters }
}

/// Stop the host's clock now and return the time.
fn stop_clock(host: &TestHost) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(0))
        .unwrap_or(0);
    host.clock().set_ms(now);
    now
}

const HOUR: i64 = 3_600_000;

/// A poll body: single choice of three options, open now for an hour.
fn poll_body(now: i64, eligibility: Value) -> Value {
    json!({
        "title": "Replace the courtyard gate?",
        "description": "Vote by the end of the day.",
        "kind": "single",
        "options": ["yes", "no", "abstain"],
        "eligibility": eligibility,
        "opens_at_ms": now,
        "closes_at_ms": now + HOUR,
    })
}

async fn call(
    host: &TestHost,
    token: &str,
    method: Method,
    path: &str,
    body: Value,
) -> TestResponse {
    host.json_as(token, method, &format!("{BASE}{path}"), body)
        .await
}

/// A GET by the district's worker.
async fn worker_get(host: &TestHost, d: &District, path: &str) -> TestResponse {
    call(host, &d.worker, Method::GET, path, Value::Null).await
}

/// The worker moves a poll on by one step.
async fn advance(host: &TestHost, d: &District, id: &str) -> TestResponse {
    call(
        host,
        &d.worker,
        Method::POST,
        &format!("/polls/{id}/advance"),
        Value::Null,
    )
    .await
}

/// Create a poll as the district's worker; returns its id.
async fn create_poll(host: &TestHost, d: &District, body: Value) -> String {
    let r = call(host, &d.worker, Method::POST, "/polls", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["poll"]["id"].as_str().expect("id").to_owned()
}

/// Create a poll and drive it open; returns its id.
async fn open_poll(host: &TestHost, d: &District, body: Value) -> String {
    let id = create_poll(host, d, body).await;
    let r = advance(host, d, &id).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["phase"], "open", "{}", r.text());
    id
}

async fn vote(host: &TestHost, token: &str, id: &str, body: Value) -> TestResponse {
    call(
        host,
        token,
        Method::POST,
        &format!("/polls/{id}/vote"),
        body,
    )
    .await
}

/// Drive a poll past its close: the tally, then the moving of the voted
/// marks, each in its own call.
async fn finish(host: &TestHost, d: &District, id: &str) {
    let r = advance(host, d, id).await;
    assert_eq!(r.json()["phase"], "closed", "{}", r.text());
    let r = advance(host, d, id).await;
    assert_eq!(r.json()["marks_moved"], true, "{}", r.text());
}

/// Move the clock past the close and drive the poll to its result.
async fn close(host: &TestHost, d: &District, id: &str) -> Value {
    host.clock().advance_ms(2 * HOUR);
    finish(host, d, id).await;
    let r = worker_get(host, d, &format!("/polls/{id}/result")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

async fn on_roll(host: &TestHost, d: &District, id: &str, resident: &str) -> bool {
    let r = call(
        host,
        d.voter(resident),
        Method::GET,
        &format!("/polls/{id}/me"),
        Value::Null,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["on_roll"] == true
}

async fn the_roll_follows_each_eligibility_rule(host: TestHost) {
    let d = district(&host).await;
    let now = stop_clock(&host);
    let cases: &[(Value, &[&str], u64)] = &[
        (
            json!({"community": "c1"}),
            &["r01", "r02", "r03", "r04", "r05", "r06", "r07"],
            7,
        ),
        (json!({"building": "b1"}), &["r01", "r02", "r03", "r04"], 4),
        (json!({"grid": "g2"}), &["r06", "r07"], 2),
        (
            json!({"community": "c1", "adults_only": true}),
            &["r01", "r02", "r04", "r05", "r06", "r07"],
            6,
        ),
        // Households h1..h4; r07 has none.
        (
            json!({"community": "c1", "per_household": true}),
            &["r01", "r02", "r03", "r04", "r05", "r06"],
            4,
        ),
    ];
    for (eligibility, roll, units) in cases {
        let id = open_poll(&host, &d, poll_body(now, eligibility.clone())).await;
        let r = worker_get(&host, &d, &format!("/polls/{id}")).await;
        let view = r.json();
        assert_eq!(
            view["roll"]["residents"],
            roll.len(),
            "{eligibility}: {view}"
        );
        assert_eq!(view["roll"]["units"], *units, "{eligibility}: {view}");
        assert!(
            view["roll"]["fingerprint"]
                .as_str()
                .is_some_and(|f| f.len() == 64)
        );
        for (resident, ..) in RESIDENTS {
            let expected = roll.contains(resident);
            assert_eq!(
                on_roll(&host, &d, &id, resident).await,
                expected,
                "{eligibility}: {resident}"
            );
            if !expected {
                let r = vote(&host, d.voter(resident), &id, json!({"choices": [0]})).await;
                assert_eq!(
                    r.status,
                    StatusCode::FORBIDDEN,
                    "{eligibility}: {resident}: {}",
                    r.text()
                );
                assert_eq!(r.json()["error"]["code"], "not_on_roll");
            }
        }
    }

    // One vote per household: the first member's counts, the others are
    // told their household voted; another household still votes.
    let id = open_poll(
        &host,
        &d,
        poll_body(now, json!({"community": "c1", "per_household": true})),
    )
    .await;
    let r = vote(&host, d.voter("r01"), &id, json!({"choices": [0]})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    for member in ["r02", "r03"] {
        let r = vote(&host, d.voter(member), &id, json!({"choices": [1]})).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
        assert!(r.text().contains("household"), "{}", r.text());
    }
    let r = vote(&host, d.voter("r04"), &id, json!({"choices": [1]})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let result = close(&host, &d, &id).await;
    assert_eq!(result["tally"]["counts"], json!([1, 1, 0]));
    assert_eq!(result["tally"]["voted"], 2);
    assert_eq!(result["tally"]["roll_units"], 4);
}

async fn concurrent_double_votes_count_exactly_once(host: TestHost) {
    let d = district(&host).await;
    let now = stop_clock(&host);
    let id = open_poll(
        &host,
        &d,
        poll_body(now, json!({"community": "c1", "per_household": true})),
    )
    .await;
    let host = std::sync::Arc::new(host);
    let mut tasks = Vec::new();
    // Twelve submissions by r05 alone, and twelve by the three members of
    // household h1 at once.
    for i in 0..24usize {
        let host = host.clone();
        let token = if i % 2 == 0 {
            d.voter("r05").to_owned()
        } else {
            d.voter(["r01", "r02", "r03"][i % 3]).to_owned()
        };
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            vote(&host, &token, &id, json!({"choices": [i % 3]})).await
        }));
    }
    let mut accepted = Vec::new();
    for t in tasks {
        let r = t.await.expect("task");
        match r.status {
            StatusCode::CREATED => accepted.push(r.json()),
            StatusCode::CONFLICT => {
                assert_eq!(r.json()["error"]["code"], "already_voted", "{}", r.text())
            }
            other => panic!("unexpected {other}: {}", r.text()),
        }
    }
    assert_eq!(
        accepted.len(),
        2,
        "one for r05, one for household h1: {accepted:?}"
    );
    let host = &*host;
    let result = close(host, &d, &id).await;
    assert_eq!(result["tally"]["ballots"], 2);
    assert_eq!(result["tally"]["voted"], 2);
    assert_eq!(
        result["tally"]["counts"]
            .as_array()
            .map(|c| c.iter().filter_map(Value::as_u64).sum::<u64>()),
        Some(2)
    );
    for receipt in accepted {
        let tracker = receipt["tracker"].as_str().unwrap_or_default();
        let r = worker_get(host, &d, &format!("/polls/{id}/board/{tracker}")).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "receipt on the board: {}",
            r.text()
        );
    }
}

async fn a_changed_vote_keeps_only_the_last_and_needs_the_secret(host: TestHost) {
    let d = district(&host).await;
    let now = stop_clock(&host);
    let mut body = poll_body(now, json!({"community": "c1"}));
    body["changeable"] = json!(true);
    body["board"] = json!("live");
    let id = open_poll(&host, &d, body).await;
    let r = vote(&host, d.voter("r01"), &id, json!({"choices": [0]})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let first = r.json();
    let secret = first["secret"]
        .as_str()
        .expect("a changeable poll's receipt has a secret")
        .to_owned();
    let other = vote(&host, d.voter("r02"), &id, json!({"choices": [2]}))
        .await
        .json();

    // Another vote without the secret is a second vote.
    let r = vote(&host, d.voter("r01"), &id, json!({"choices": [1]})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    // A wrong secret changes nothing.
    let wrong = "0".repeat(64);
    let r = vote(
        &host,
        d.voter("r01"),
        &id,
        json!({"choices": [1], "secret": wrong}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "unknown_secret");

    // The secret changes it, twice; only the last stays on the board.
    let r = vote(
        &host,
        d.voter("r01"),
        &id,
        json!({"choices": [1], "secret": secret}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let second = r.json();
    assert_eq!(second["replaced"], true);
    let r = vote(
        &host,
        d.voter("r01"),
        &id,
        json!({"choices": [2], "secret": secret}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let last = r.json();
    for (receipt, present) in [
        (&first, false),
        (&second, false),
        (&last, true),
        (&other, true),
    ] {
        let tracker = receipt["tracker"].as_str().unwrap_or_default();
        let r = worker_get(&host, &d, &format!("/polls/{id}/board/{tracker}")).await;
        assert_eq!(
            r.status == StatusCode::OK,
            present,
            "{receipt}: {}",
            r.text()
        );
    }
    let board = worker_get(&host, &d, &format!("/polls/{id}/board")).await;
    assert_eq!(
        board.json()["entries"].as_array().map(Vec::len),
        Some(2),
        "{}",
        board.text()
    );

    // Eight changes with the same secret at once: each that succeeds
    // replaces the one before, and one ballot stays.
    let host = std::sync::Arc::new(host);
    let mut tasks = Vec::new();
    for i in 0..8u32 {
        let (host, token, id, secret) = (
            host.clone(),
            d.voter("r01").to_owned(),
            id.clone(),
            secret.clone(),
        );
        tasks.push(tokio::spawn(async move {
            vote(
                &host,
                &token,
                &id,
                json!({"choices": [i % 2], "secret": secret}),
            )
            .await
        }));
    }
    let mut changed = 0;
    for t in tasks {
        let r = t.await.expect("task");
        match r.status {
            StatusCode::OK => changed += 1,
            StatusCode::CONFLICT => assert_eq!(
                r.json()["error"]["code"],
                "changed_meanwhile",
                "{}",
                r.text()
            ),
            other => panic!("unexpected {other}: {}", r.text()),
        }
    }
    assert!(changed >= 1);
    let host = std::sync::Arc::try_unwrap(host).unwrap_or_else(|_| panic!("the tasks are done"));
    let board = worker_get(&host, &d, &format!("/polls/{id}/board")).await;
    assert_eq!(
        board.json()["entries"].as_array().map(Vec::len),
        Some(2),
        "{}",
        board.text()
    );
    // The secret still names the ballot that stayed.
    let r = vote(
        &host,
        d.voter("r01"),
        &id,
        json!({"choices": [2], "secret": secret}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    let result = close(&host, &d, &id).await;
    assert_eq!(result["tally"]["counts"], json!([0, 0, 2]));
    assert_eq!(result["tally"]["ballots"], 2);
    // After the close the secret changes nothing either.
    let r = vote(
        &host,
        d.voter("r01"),
        &id,
        json!({"choices": [0], "secret": secret}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "closed");

    // A poll that does not allow changes refuses a secret.
    host.clock().set_ms(now);
    let id = open_poll(&host, &d, poll_body(now, json!({"community": "c1"}))).await;
    let r = vote(&host, d.voter("r01"), &id, json!({"choices": [0]})).await;
    assert_eq!(r.json()["secret"], Value::Null, "{}", r.text());
    let r = vote(
        &host,
        d.voter("r01"),
        &id,
        json!({"choices": [1], "secret": secret}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "not_changeable");
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The verification procedure of `plugins/e-voting/README.md`, done here
/// independently of the app: every board entry's tracker, the counts, the
/// board digest, and the roll fingerprint.
async fn recount_independently(
    host: &TestHost,
    d: &District,
    id: &str,
    options: usize,
) -> (Vec<u64>, String, String) {
    let mut counts = vec![0u64; options];
    let mut digest = sha256_hex(&format!("hutong-e-voting/board/v1\n{id}"));
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("?limit=2&cursor={c}"))
            .unwrap_or_else(|| "?limit=2".into());
        let page = worker_get(host, d, &format!("/polls/{id}/board{q}"))
            .await
            .json();
        for e in page["entries"].as_array().cloned().unwrap_or_default() {
            let choices: Vec<String> = e["choices"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|c| c.to_string())
                .collect();
            let choices = choices.join(".");
            let nonce = e["nonce"].as_str().unwrap_or_default();
            let tracker = e["tracker"].as_str().unwrap_or_default();
            assert_eq!(
                tracker,
                sha256_hex(&format!(
                    "hutong-e-voting/tracker/v1\n{id}\n{nonce}\n{choices}"
                ))
            );
            digest = sha256_hex(&format!("{digest}\n{tracker}\t{nonce}\t{choices}"));
            for c in e["choices"].as_array().cloned().unwrap_or_default() {
                counts[c.as_u64().unwrap_or(0) as usize] += 1;
            }
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    (counts, digest, roll_fingerprint(host, d, id).await)
}

/// The roll fingerprint recomputed from the published roll, all pages.
async fn roll_fingerprint(host: &TestHost, d: &District, id: &str) -> String {
    let mut roll = sha256_hex(&format!("hutong-e-voting/roll/v1\n{id}"));
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("?cursor={c}"))
            .unwrap_or_default();
        let page = worker_get(host, d, &format!("/polls/{id}/roll{q}"))
            .await
            .json();
        for e in page["entries"].as_array().cloned().unwrap_or_default() {
            roll = sha256_hex(&format!(
                "{roll}\n{}\t{}",
                e["resident"].as_str().unwrap_or_default(),
                e["unit"].as_str().unwrap_or_default()
            ));
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            return roll;
        }
    }
}

/// 1,200 more residents in a third community, `c3`: three roll pages.
async fn import_many(host: &TestHost) {
    let mut lines = vec![
        json!({"kind": "community", "id": "c3", "street_id": "s1", "name": "Three"}).to_string(),
        json!({"kind": "grid", "id": "g4", "community_id": "c3", "name": "G4"}).to_string(),
    ];
    for i in 0..1200 {
        lines.push(
            json!({"kind": "resident", "id": format!("m{i:04}"), "grid_id": "g4", "name": "李四"})
                .to_string(),
        );
    }
    host.opened
        .platform
        .import_data("east", &lines.join("\n"), Format::JsonLines)
        .await
        .expect("import");
}

async fn a_roll_of_many_pages_is_frozen_whole_and_fingerprinted_in_order(host: TestHost) {
    let d = district(&host).await;
    import_many(&host).await;
    let now = stop_clock(&host);
    let id = open_poll(&host, &d, poll_body(now, json!({"community": "c3"}))).await;
    let view = worker_get(&host, &d, &format!("/polls/{id}")).await.json();
    assert_eq!(view["roll"]["residents"], 1200, "{view}");
    assert_eq!(view["roll"]["units"], 1200, "{view}");
    let fingerprint = roll_fingerprint(&host, &d, &id).await;
    assert_eq!(
        view["roll"]["fingerprint"].as_str(),
        Some(fingerprint.as_str())
    );
    let rows = kv_rows(&host).await;
    assert_eq!(
        rows.iter()
            .filter(|(k, ..)| k.starts_with(&format!("roll/{id}/")))
            .count(),
        1200
    );
}

async fn the_tally_equals_a_recount_of_the_board_and_the_roll_its_fingerprint(host: TestHost) {
    let d = district(&host).await;
    let now = stop_clock(&host);
    let mut body = poll_body(now, json!({"community": "c1"}));
    body["kind"] = json!("multiple");
    body["max_choices"] = json!(2);
    body["options"] = json!(["gate", "lights", "benches", "bike shed"]);
    let id = open_poll(&host, &d, body).await;
    let ballots: &[(&str, &[u32])] = &[
        ("r01", &[0, 1]),
        ("r02", &[1]),
        ("r03", &[3, 1]),
        ("r04", &[0]),
        ("r06", &[2, 3]),
    ];
    let mut trackers = Vec::new();
    for (voter, choices) in ballots {
        let r = vote(&host, d.voter(voter), &id, json!({"choices": choices})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        trackers.push(r.json()["tracker"].as_str().unwrap_or_default().to_owned());
    }
    // The board is published after the close only.
    let r = worker_get(&host, &d, &format!("/polls/{id}/board")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let result = close(&host, &d, &id).await;
    let tally = &result["tally"];
    assert_eq!(tally["counts"], json!([2, 3, 1, 2]));
    assert_eq!(
        result["options"][1],
        json!({"option": 1, "name": "lights", "votes": 3})
    );

    let (counts, digest, roll) = recount_independently(&host, &d, &id, 4).await;
    assert_eq!(json!(counts), tally["counts"]);
    assert_eq!(digest, tally["board_digest"].as_str().unwrap_or_default());
    assert_eq!(roll, tally["roll_fingerprint"].as_str().unwrap_or_default());
    let view = worker_get(&host, &d, &format!("/polls/{id}")).await.json();
    assert_eq!(
        view["roll"]["fingerprint"], tally["roll_fingerprint"],
        "published when it opened"
    );

    let r = call(
        &host,
        d.voter("r05"),
        Method::GET,
        &format!("/polls/{id}/verify"),
        Value::Null,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["verified"], true, "{}", r.text());

    // A ballot slipped into storage behind the app's back shows.
    let forged = format!("ballot/{id}/{}/00/0", "f".repeat(64));
    host.execute_raw(&format!(
        "INSERT INTO kv (district, app, key, value, updated_at) VALUES ('east', 'e-voting', '{forged}', '', 0)"
    ))
    .await;
    let r = call(
        &host,
        d.voter("r05"),
        Method::GET,
        &format!("/polls/{id}/verify"),
        Value::Null,
    )
    .await;
    let v = r.json();
    assert_eq!(v["verified"], false, "{v}");
    assert_eq!(v["checks"]["trackers"], false, "{v}");
    assert_eq!(v["checks"]["board_digest"], false, "{v}");
}

async fn quorum_is_met_or_not_by_turnout_against_the_roll(host: TestHost) {
    let d = district(&host).await;
    let now = stop_clock(&host);
    // Building b1: r01..r04, quorum half the roll.
    for (voters, met) in [(&["r01", "r02"][..], true), (&["r03"][..], false)] {
        let mut body = poll_body(now, json!({"building": "b1"}));
        body["quorum_percent"] = json!(50);
        let id = open_poll(&host, &d, body).await;
        for v in voters {
            let r = vote(&host, d.voter(v), &id, json!({"choices": [1]})).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        }
        let result = close(&host, &d, &id).await;
        let tally = &result["tally"];
        assert_eq!(tally["roll_units"], 4);
        assert_eq!(tally["voted"], voters.len());
        assert_eq!(tally["turnout_percent"], json!(voters.len() as f64 * 25.0));
        assert_eq!(tally["quorum_met"], met, "{tally}");
        host.clock().set_ms(now);
    }
}

/// Every kv row of the voting app: key, value, update time.
async fn kv_rows(host: &TestHost) -> Vec<(String, Vec<u8>, i64)> {
    let mut conn = host.raw_connection().await;
    let rows =
        sqlx::query("SELECT key, value, updated_at FROM kv WHERE app = 'e-voting' ORDER BY key")
            .fetch_all(&mut conn)
            .await
            .expect("kv rows");
    let _ = conn.close().await;
    rows.iter()
        .map(|r| {
            (
                r.get::<String, _>("key"),
                r.get::<Vec<u8>, _>("value"),
                r.get::<i64, _>("updated_at"),
            )
        })
        .collect()
}

async fn nothing_stored_links_a_voter_to_a_choice(host: TestHost) {
    let d = district(&host).await;
    let now = stop_clock(&host);
    let mut body = poll_body(now, json!({"community": "c1"}));
    body["changeable"] = json!(true);
    let id = open_poll(&host, &d, body).await;
    let log_before = host
        .get("/api/v1/districts/east/audit/access?app=e-voting")
        .await
        .json();
    let mut receipts = Vec::new();
    for (i, voter) in ["r01", "r02", "r04", "r05"].iter().enumerate() {
        let r = vote(&host, d.voter(voter), &id, json!({"choices": [i % 3]})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        receipts.push(r.json());
    }
    // Voting reads no community data: the access log has nothing new.
    let log_after = host
        .get("/api/v1/districts/east/audit/access?app=e-voting")
        .await
        .json();
    assert_eq!(log_before, log_after, "votes leave no access-log entries");

    let identities: Vec<String> = RESIDENTS
        .iter()
        .flat_map(|(r, h, ..)| {
            let mut ids = vec![(*r).to_owned(), format!("v-{r}")];
            ids.extend(h.map(str::to_owned));
            ids
        })
        .collect();
    let secrets: Vec<&str> = receipts
        .iter()
        .filter_map(|r| r["secret"].as_str())
        .collect();
    let check = |rows: &[(String, Vec<u8>, i64)]| {
        for (key, value, _) in rows {
            let value = String::from_utf8_lossy(value);
            if key.starts_with("ballot/") || key.starts_with("slot/") || key.starts_with("result/")
            {
                for ident in &identities {
                    let segments: Vec<&str> =
                        key.split('/').chain(value.split(['/', '"'])).collect();
                    assert!(
                        !segments.contains(&ident.as_str()),
                        "{key} = {value} names {ident}"
                    );
                }
            }
            if key.starts_with("voted/") || key.starts_with("turnout/") {
                assert!(
                    value.is_empty(),
                    "a voted mark holds nothing: {key} = {value}"
                );
            }
            for secret in &secrets {
                assert!(
                    !key.contains(secret) && !value.contains(secret),
                    "the secret is never stored: {key}"
                );
            }
        }
    };
    let rows = kv_rows(&host).await;
    check(&rows);
    assert_eq!(
        rows.iter()
            .filter(|(k, ..)| k.starts_with(&format!("voted/{id}/")))
            .count(),
        4
    );

    host.clock().advance_ms(2 * HOUR);
    finish(&host, &d, &id).await;
    let rows = kv_rows(&host).await;
    check(&rows);
    // After the tally no row says when a voter voted: the marks moved, and
    // no mark shares an update time with a ballot.
    assert!(
        !rows.iter().any(|(k, ..)| k.starts_with("voted/")),
        "voted marks moved"
    );
    let ballot_times: Vec<i64> = rows
        .iter()
        .filter(|(k, ..)| k.starts_with("ballot/"))
        .map(|r| r.2)
        .collect();
    let marks: Vec<&(String, Vec<u8>, i64)> = rows
        .iter()
        .filter(|(k, ..)| k.starts_with("turnout/"))
        .collect();
    assert_eq!(marks.len(), 4);
    assert_eq!(ballot_times.len(), 4);
    for (key, _, at) in marks {
        assert!(
            !ballot_times.contains(at),
            "{key} shares its time with a ballot"
        );
    }
    // Nor do the notices the app sent name anything of a ballot.
    let inbox = host.get_as(Some(d.voter("r01")), "/api/v1/inbox").await;
    for receipt in &receipts {
        let tracker = receipt["tracker"].as_str().unwrap_or_default();
        assert!(!inbox.text().contains(tracker));
    }
}

async fn bad_votes_and_bad_polls_are_refused_and_store_nothing(host: TestHost) {
    let d = district(&host).await;
    let now = stop_clock(&host);
    let count = |rows: Vec<(String, Vec<u8>, i64)>| {
        rows.iter()
            .filter(|(k, ..)| {
                ["ballot/", "voted/", "turnout/", "slot/"]
                    .iter()
                    .any(|p| k.starts_with(p))
            })
            .count()
    };

    // Before it opens.
    let mut body = poll_body(now + HOUR, json!({"community": "c1"}));
    body["closes_at_ms"] = json!(now + 2 * HOUR);
    let later = create_poll(&host, &d, body).await;
    let r = vote(&host, d.voter("r01"), &later, json!({"choices": [0]})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "not_open");
    assert!(r.text().contains("opens at"), "{}", r.text());

    // Past its opening time, but nobody has frozen the roll yet: a vote
    // does not freeze it, and is refused until the roll is complete.
    let unfrozen = create_poll(&host, &d, poll_body(now, json!({"community": "c1"}))).await;
    let r = vote(&host, d.voter("r01"), &unfrozen, json!({"choices": [0]})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "not_open");
    assert!(r.text().contains("roll is being frozen"), "{}", r.text());

    let mut body = poll_body(now, json!({"community": "c1"}));
    body["kind"] = json!("multiple");
    body["max_choices"] = json!(2);
    let multiple = open_poll(&host, &d, body).await;
    let single = open_poll(&host, &d, poll_body(now, json!({"community": "c1"}))).await;
    let mut body = poll_body(now, json!({"community": "c1"}));
    body["kind"] = json!("approval");
    let approval = open_poll(&host, &d, body).await;
    let refusals: &[(&str, &str, Value, StatusCode, &str, &str)] = &[
        (
            &single,
            "r01",
            json!({"choices": [7]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_ballot",
            "does not exist",
        ),
        (
            &single,
            "r01",
            json!({"choices": [0, 1]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_ballot",
            "single-choice",
        ),
        (
            &multiple,
            "r01",
            json!({"choices": [0, 1, 2]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_ballot",
            "at most 2",
        ),
        (
            &multiple,
            "r01",
            json!({"choices": [1, 1]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_ballot",
            "twice",
        ),
        (
            &single,
            "r01",
            json!({"choices": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_ballot",
            "at least one",
        ),
        (
            &single,
            "r01",
            json!({"choices": ["yes"]}),
            StatusCode::BAD_REQUEST,
            "malformed_ballot",
            "choices",
        ),
        (
            &single,
            "r01",
            json!({"choice": 0}),
            StatusCode::BAD_REQUEST,
            "malformed_ballot",
            "choice",
        ),
        (
            &single,
            "r01",
            json!([0]),
            StatusCode::BAD_REQUEST,
            "malformed_ballot",
            "choices",
        ),
        (
            &single,
            "r08",
            json!({"choices": [0]}),
            StatusCode::FORBIDDEN,
            "not_on_roll",
            "roll",
        ),
        (
            &approval,
            "r01",
            json!({"choices": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_ballot",
            "at least one",
        ),
        (
            &approval,
            "r01",
            json!({"choices": [0, 3]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_ballot",
            "does not exist",
        ),
    ];
    for (id, voter, body, status, code, says) in refusals {
        let r = vote(&host, d.voter(voter), id, body.clone()).await;
        assert_eq!(r.status, *status, "{body}: {}", r.text());
        assert_eq!(r.json()["error"]["code"], *code, "{body}: {}", r.text());
        assert!(r.text().contains(says), "{body}: {}", r.text());
    }
    // Not a resident: a worker has no vote.
    let r = vote(&host, &d.worker, &single, json!({"choices": [0]})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "not_a_voter");
    // Anonymous callers are stopped by the host.
    let r = host
        .post_as(
            None,
            &format!("{BASE}/polls/{single}/vote"),
            json!({"choices": [0]}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    assert_eq!(count(kv_rows(&host).await), 0, "no refusal stored anything");
    // An approval ballot may approve every option.
    let r = vote(
        &host,
        d.voter("r02"),
        &approval,
        json!({"choices": [2, 0, 1]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["choices"], json!([0, 1, 2]));
    assert_eq!(
        count(kv_rows(&host).await),
        2,
        "the approval's mark and ballot"
    );

    // A second vote; a vote after the close.
    let r = vote(&host, d.voter("r01"), &single, json!({"choices": [0]})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let stored = count(kv_rows(&host).await);
    let r = vote(&host, d.voter("r01"), &single, json!({"choices": [1]})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "already_voted");
    host.clock().advance_ms(2 * HOUR);
    let r = vote(&host, d.voter("r02"), &single, json!({"choices": [1]})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "closed");
    assert_eq!(
        count(kv_rows(&host).await),
        stored,
        "neither refusal stored anything"
    );

    // Bad polls.
    host.clock().set_ms(now);
    let polls: &[(Value, StatusCode, &str)] = &[
        (
            json!({"title": "x"}),
            StatusCode::BAD_REQUEST,
            "missing field",
        ),
        (
            poll_body(now, json!({})),
            StatusCode::BAD_REQUEST,
            "exactly one",
        ),
        (
            poll_body(now, json!({"community": "c1", "grid": "g1"})),
            StatusCode::BAD_REQUEST,
            "exactly one",
        ),
        (
            poll_body(now, json!({"building": "b9"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no building",
        ),
        (
            poll_body(now, json!({"community": "c9"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no residents",
        ),
        (
            {
                let mut b = poll_body(now, json!({"community": "c1"}));
                b["options"] = json!(["only"]);
                b
            },
            StatusCode::BAD_REQUEST,
            "2..=50",
        ),
        (
            {
                let mut b = poll_body(now, json!({"community": "c1"}));
                b["quorum_percent"] = json!(120);
                b
            },
            StatusCode::BAD_REQUEST,
            "0..=100",
        ),
        (
            {
                let mut b = poll_body(now, json!({"community": "c1"}));
                b["kind"] = json!("multiple");
                b
            },
            StatusCode::BAD_REQUEST,
            "max_choices",
        ),
        (
            {
                let mut b = poll_body(now, json!({"community": "c1"}));
                b["closes_at_ms"] = json!(now - 1);
                b
            },
            StatusCode::BAD_REQUEST,
            "after opens_at_ms",
        ),
    ];
    let before = kv_rows(&host).await.len();
    for (body, status, says) in polls {
        let r = call(&host, &d.worker, Method::POST, "/polls", body.clone()).await;
        assert_eq!(r.status, *status, "{body}: {}", r.text());
        assert!(r.text().contains(says), "{body}: {}", r.text());
    }
    let r = call(
        &host,
        d.voter("r01"),
        Method::POST,
        "/polls",
        poll_body(now, json!({"community": "c1"})),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "residents do not create polls: {}",
        r.text()
    );
    assert_eq!(
        kv_rows(&host).await.len(),
        before,
        "no refused poll was stored"
    );
}

async fn inbox(host: &TestHost, token: &str) -> Vec<Value> {
    let r = host.get_as(Some(token), "/api/v1/inbox").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A poll's phase read straight from kv, so that no request moves it on.
async fn phase_in_kv(host: &TestHost, id: &str) -> Value {
    let key = format!("state/{id}");
    let rows = kv_rows(host).await;
    let state = rows
        .iter()
        .find(|(k, ..)| *k == key)
        .map(|r| r.1.clone())
        .unwrap_or_default();
    serde_json::from_slice::<Value>(&state)
        .map(|s| s["phase"].clone())
        .unwrap_or(Value::Null)
}

async fn polls_open_close_and_notify_on_schedule_ticks(host: TestHost) {
    let d = district(&host).await;
    let now = stop_clock(&host);
    let mut body = poll_body(now + 60_000, json!({"grid": "g2"}));
    body["closes_at_ms"] = json!(now + 120_000);
    let id = create_poll(&host, &d, body).await;
    let platform = &host.opened.platform;
    platform.run_due_ticks().await.expect("ticks");
    assert_eq!(phase_in_kv(&host, &id).await, "scheduled");
    host.clock().advance_ms(70_000);
    platform.run_due_ticks().await.expect("ticks");
    assert_eq!(phase_in_kv(&host, &id).await, "open", "a tick opened it");
    let opened = inbox(&host, d.voter("r06")).await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert!(
        opened[0]["subject"]
            .as_str()
            .unwrap_or_default()
            .contains("Poll open"),
        "{opened:?}"
    );
    assert!(
        inbox(&host, d.voter("r01")).await.is_empty(),
        "r01 lives in g1"
    );

    let r = vote(&host, d.voter("r06"), &id, json!({"choices": [2]})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    host.clock().advance_ms(60_000);
    platform.run_due_ticks().await.expect("ticks");
    assert_eq!(
        phase_in_kv(&host, &id).await,
        "closed",
        "a tick closed it on time"
    );
    // The tick that tallies stops there; the next one sends the notice.
    host.clock().advance_ms(10_000);
    platform.run_due_ticks().await.expect("ticks");
    let told = inbox(&host, d.voter("r07")).await;
    assert_eq!(told.len(), 2, "{told:?}");
    assert!(
        told.iter().any(|m| m["subject"]
            .as_str()
            .unwrap_or_default()
            .contains("Results")),
        "{told:?}"
    );
    let result = call(
        &host,
        d.voter("r07"),
        Method::GET,
        &format!("/polls/{id}/result"),
        Value::Null,
    )
    .await
    .json();
    assert_eq!(result["tally"]["counts"], json!([0, 0, 1]));
    assert_eq!(result["tally"]["turnout_percent"], json!(50.0));
}

async fn the_app_needs_its_grants(host: TestHost) {
    // Without read-residents no roll can be read: creating a poll is
    // refused naming the permission, and nothing is stored.
    let grants: Vec<Permission> = all_grants()
        .into_iter()
        .filter(|p| *p != Permission::ReadResidents)
        .collect();
    let d = district_with(&host, &grants).await;
    let now = stop_clock(&host);
    let r = call(
        &host,
        &d.worker,
        Method::POST,
        "/polls",
        poll_body(now, json!({"community": "c1"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("read-residents"), "{}", r.text());
    assert!(kv_rows(&host).await.is_empty());
}

async fn two_processes_advancing_one_poll_make_each_step_once(host: TestHost) {
    let d = district(&host).await;
    import_many(&host).await;
    let now = stop_clock(&host);
    let id = create_poll(&host, &d, poll_body(now, json!({"community": "c3"}))).await;
    let other = host.another_process().await;
    other.platform.store().clock().set_ms(now);
    let worker = hutong_host::accounts::Caller {
        account_id: "w1".into(),
        role: Role::Worker,
        district: Some("east".into()),
        resident_id: None,
        grids: vec!["g1".into()],
    };
    let advance = |platform: hutong_host::Platform| {
        let request = hutong_host::AppRequest {
            method: "POST".into(),
            path: format!("/polls/{id}/advance"),
            query: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
            caller: Some(worker.clone()),
            request_id: String::new(),
        };
        async move {
            platform
                .runtime()
                .handle_http("east", "e-voting", request)
                .await
                .map(|r| r.status)
        }
    };
    // Both processes read the roll page by page at once, twice over.
    for _ in 0..2 {
        let (a, b) = tokio::join!(
            advance(host.opened.platform.clone()),
            advance(other.platform.clone())
        );
        assert_eq!(
            (a.expect("first process"), b.expect("second process")),
            (200, 200)
        );
    }
    let view = worker_get(&host, &d, &format!("/polls/{id}")).await.json();
    assert_eq!(view["phase"], "open", "{view}");
    assert_eq!(
        view["roll"]["residents"], 1200,
        "each page counted once: {view}"
    );
    let fingerprint = roll_fingerprint(&host, &d, &id).await;
    assert_eq!(
        view["roll"]["fingerprint"].as_str(),
        Some(fingerprint.as_str())
    );
}

async fn notices_beyond_the_rate_go_grid_by_grid_minute_by_minute_once_each(host: TestHost) {
    let d = district(&host).await;
    // Seven residents of c1 have accounts; the app may send five a minute.
    let r = host
        .put(
            "/api/v1/districts/east/notify/settings",
            json!({"rate_per_minute": 5}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let now = stop_clock(&host);
    let now = now - now.rem_euclid(60_000);
    host.clock().set_ms(now);
    let id = create_poll(&host, &d, poll_body(now, json!({"community": "c1"}))).await;
    let path = format!("/polls/{id}/advance");
    let advance = || call(&host, &d.worker, Method::POST, &path, Value::Null);
    let opened = |token: &str| {
        let token = token.to_owned();
        let host = &host;
        async move { inbox(host, &token).await.len() }
    };
    // The whole community at once is over the rate: nobody is told yet.
    assert_eq!(advance().await.json()["phase"], "open");
    assert_eq!(opened(d.voter("r01")).await, 0);
    // Grid g1 (five) fits this minute; g2 waits for the next.
    advance().await;
    assert_eq!(opened(d.voter("r01")).await, 1);
    assert_eq!(opened(d.voter("r06")).await, 0);
    host.clock().advance_ms(60_000);
    advance().await;
    for resident in ["r01", "r02", "r03", "r04", "r05", "r06", "r07"] {
        assert_eq!(opened(d.voter(resident)).await, 1, "{resident} told once");
    }
    assert_eq!(opened(d.voter("r08")).await, 0, "r08 lives in c2");
    // Told: no further notice goes out on later calls.
    host.clock().advance_ms(60_000);
    advance().await;
    assert_eq!(opened(d.voter("r06")).await, 1);
}
