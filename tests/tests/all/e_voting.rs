//! The community voting app (`plugins/e-voting`) on the real host, on both
//! back ends: who is on the roll under each rule and gets a credential,
//! trustees' keys and shares, encrypted ballots cast with credentials, the
//! last ballot of a credential counting, a result that `hutong-evote`'s
//! verifier checks from the board fetched over HTTP, each attack of an
//! insider caught (an administrator's account for a voter, a forged,
//! stuffed or dropped ballot, a rewritten result), nothing stored that
//! links a voter to a choice, refusals that store nothing, and polls that
//! open, close and notify on schedule ticks.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use hutong_evote::{Ballot, Board, Credential, Election, TrusteeKey};
use hutong_host::AccountRequest;
use hutong_host::accounts::Role;
use hutong_host::community::import::Format;
use hutong_host::kernel::manifest::Permission;
use hutong_tests::gateway::Gateway;
use hutong_tests::{TestHost, TestResponse, account_request, components, listen, on_both_backends};
use rand_core::OsRng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::{Column, Connection, Row};

on_both_backends!(
    the_roll_follows_each_eligibility_rule_with_a_credential_per_unit,
    a_whole_poll_verifies_from_its_board_and_counts_each_credentials_last_ballot,
    an_administrators_account_for_a_voter_cannot_cast_a_counted_ballot,
    a_forged_stuffed_or_dropped_ballot_and_a_rewritten_result_are_detected,
    nothing_stored_links_a_voter_to_a_choice,
    storage_keeps_no_order_of_casting_and_no_replaced_ballot,
    a_credential_authority_outside_the_platform_hands_out_the_credentials,
    a_ballot_changed_in_storage_before_the_close_is_left_out_and_shown,
    a_poll_whose_trustees_never_all_upload_is_cancelled_at_its_close,
    bad_ballots_are_refused_and_store_nothing,
    trustees_upload_one_proved_key_and_one_proved_share_each,
    bad_polls_are_refused_and_store_nothing,
    quorum_is_met_or_not_by_turnout_against_the_roll,
    polls_open_close_and_notify_on_schedule_ticks,
    the_app_needs_its_grants,
    a_roll_of_many_pages_is_frozen_whole_and_fingerprinted_in_order,
    two_processes_advancing_one_poll_make_each_step_once,
    notices_beyond_the_rate_go_grid_by_grid_minute_by_minute_once_each,
    the_pages_escape_the_poll_speak_both_languages_and_serve_the_ballot_maker,
);

pub(super) const BASE: &str = "/d/east/apps/e-voting";

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

/// The trustees' accounts.
const TRUSTEES: [&str; 3] = ["t1", "t2", "t3"];

pub(super) struct District {
    pub(super) worker: String,
    pub(super) voters: BTreeMap<&'static str, String>,
    pub(super) trustees: Vec<String>,
}

impl District {
    pub(super) fn voter(&self, resident: &str) -> &str {
        self.voters.get(resident).map_or("", String::as_str)
    }
}

pub(super) async fn district(host: &TestHost) -> District {
    district_with(host, &all_grants()).await
}

fn all_grants() -> Vec<Permission> {
    vec![
        Permission::Kv,
        Permission::ReadResidents,
        Permission::ReadBuildings,
        Permission::NotifyInbox,
        Permission::NotifySms,
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
    for (i, (id, household, grid, born)) in RESIDENTS.iter().enumerate() {
        records.push(json!({
            "kind": "resident", "id": id, "household_id": household, "grid_id": grid,
            "name": "张三", "birth_date": born, "phone": format!("1380000000{i}"),
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
    let mut trustees = Vec::new();
    for t in TRUSTEES {
        trustees.push(host.worker(t, "east", &[]).await);
    }
    District {
        worker,
        voters,
        trustees,
    }
}

/// Stop the host's clock now and return the time.
pub(super) fn stop_clock(host: &TestHost) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(0))
        .unwrap_or(0);
    host.clock().set_ms(now);
    now
}

const HOUR: i64 = 3_600_000;

/// A poll body: single choice of three options, open now for an hour,
/// three trustees, credentials to the voters' inboxes (so that tests can
/// read them as the voters).
pub(super) fn poll_body(now: i64, eligibility: Value) -> Value {
    json!({
        "title": "Replace the courtyard gate?",
        "description": "Vote by the end of the day.",
        "kind": "single",
        "options": ["yes", "no", "abstain"],
        "eligibility": eligibility,
        "opens_at_ms": now,
        "closes_at_ms": now + HOUR,
        "trustees": TRUSTEES,
        "credentials": "inbox",
    })
}

pub(super) async fn call(
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

/// The worker moves a poll on.
async fn advance(host: &TestHost, d: &District, id: &str) -> Value {
    let r = call(
        host,
        &d.worker,
        Method::POST,
        &format!("/polls/{id}/advance"),
        Value::Null,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

/// Create a poll as the district's worker; returns its id.
async fn create_poll(host: &TestHost, d: &District, body: Value) -> String {
    let r = call(host, &d.worker, Method::POST, "/polls", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["poll"]["id"].as_str().expect("id").to_owned()
}

/// A poll with its trustees' secret keys, as each trustee keeps theirs.
pub(super) struct Poll {
    pub(super) id: String,
    pub(super) keys: Vec<TrusteeKey>,
}

/// Each trustee makes a key for the poll and uploads its public part.
async fn upload_keys(host: &TestHost, d: &District, id: &str) -> Vec<TrusteeKey> {
    let mut keys = Vec::new();
    for token in &d.trustees {
        let key = TrusteeKey::generate(id, &mut OsRng);
        let r = call(
            host,
            token,
            Method::POST,
            &format!("/polls/{id}/trustees"),
            serde_json::to_value(&key.public).expect("json"),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        keys.push(key);
    }
    keys
}

/// Create a poll, upload the trustees' keys and drive it open, its
/// credentials sent.
pub(super) async fn open_poll(host: &TestHost, d: &District, body: Value) -> Poll {
    let id = create_poll(host, d, body).await;
    let keys = upload_keys(host, d, &id).await;
    let view = advance(host, d, &id).await;
    assert_eq!(view["phase"], "open", "{view}");
    Poll { id, keys }
}

/// The credential a resident received for a poll, read from their inbox.
pub(super) async fn credential_of(host: &TestHost, token: &str, poll: &str) -> Option<Credential> {
    inbox(host, token)
        .await
        .iter()
        .filter_map(|m| m["body"].as_str().and_then(|b| credential_in(b, poll)))
        .next_back()
}

/// The credential in a credential message for `poll`.
fn credential_in(body: &str, poll: &str) -> Option<Credential> {
    if !body.contains(&format!("(poll {poll})")) {
        return None;
    }
    let line = body
        .lines()
        .find(|l| l.starts_with("Your voting credential"))?;
    let text = line.rsplit(": ").next()?;
    Credential::from_text(poll, text).ok()
}

/// The election of an open poll, from its board.
async fn election_of(host: &TestHost, token: &str, id: &str) -> Election {
    let r = call(
        host,
        token,
        Method::GET,
        &format!("/polls/{id}/board"),
        Value::Null,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    serde_json::from_value(r.json()["election"].clone()).expect("election")
}

/// Make a ballot on the voter's side and post it with `token`.
async fn cast(
    host: &TestHost,
    token: &str,
    id: &str,
    credential: &Credential,
    chosen: &[u32],
) -> (TestResponse, Ballot) {
    let election = election_of(host, token, id).await;
    let (ballot, _) = Ballot::create(&election, credential, chosen, &mut OsRng).expect("ballot");
    let r = post_ballot(host, token, id, &ballot).await;
    (r, ballot)
}

async fn post_ballot(host: &TestHost, token: &str, id: &str, ballot: &Ballot) -> TestResponse {
    call(
        host,
        token,
        Method::POST,
        &format!("/polls/{id}/ballots"),
        serde_json::to_value(ballot).expect("json"),
    )
    .await
}

/// The resident votes with the credential in their inbox.
async fn vote(
    host: &TestHost,
    d: &District,
    poll: &Poll,
    resident: &str,
    chosen: &[u32],
) -> Ballot {
    let token = d.voter(resident);
    let credential = credential_of(host, token, &poll.id)
        .await
        .unwrap_or_else(|| panic!("{resident} has a credential"));
    let (r, ballot) = cast(host, token, &poll.id, &credential, chosen).await;
    assert!(r.status.is_success(), "{resident}: {}", r.text());
    assert_eq!(r.json()["tracker"], ballot.tracker());
    ballot
}

/// Move the clock past the close, drive the recount, have every trustee
/// check the board and upload their shares, and return the result.
pub(super) async fn close(host: &TestHost, d: &District, poll: &Poll) -> Value {
    host.clock().advance_ms(2 * HOUR);
    let view = advance(host, d, &poll.id).await;
    assert_eq!(view["phase"], "decrypting", "{view}");
    let board = board(host, &d.worker, &poll.id).await;
    for (key, token) in poll.keys.iter().zip(&d.trustees) {
        // What `hutong-evote trustee decrypt` does: decrypt only the sum
        // of verified ballots.
        let report = board.verify(1);
        assert_eq!(report.first_failure(), None, "{report:#?}");
        let tally = board.tally.as_ref().expect("a tally");
        let shares = key.decrypt(tally, &mut OsRng);
        let r = call(
            host,
            token,
            Method::POST,
            &format!("/polls/{}/decryptions", poll.id),
            serde_json::to_value(&shares).expect("json"),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }
    let r = worker_get(host, d, &format!("/polls/{}/result", poll.id)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

/// The whole board, fetched as `hutong-evote fetch` fetches it: over
/// HTTP from the host served on a socket.
async fn board(host: &TestHost, token: &str, id: &str) -> Board {
    try_board(host, token, id).await.expect("the board")
}

/// The board, or why fetching it failed.
async fn try_board(host: &TestHost, token: &str, id: &str) -> Result<Board, String> {
    let addr = listen(host.app()).await;
    let url = format!("http://{addr}{BASE}/polls/{id}");
    let token = token.to_owned();
    tokio::task::spawn_blocking(move || hutong_evote::fetch::board(&url, &token))
        .await
        .expect("task")
        .map_err(|e| format!("{e:#}"))
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

async fn the_roll_follows_each_eligibility_rule_with_a_credential_per_unit(host: TestHost) {
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
        let poll = open_poll(&host, &d, poll_body(now, eligibility.clone())).await;
        let id = &poll.id;
        let view = worker_get(&host, &d, &format!("/polls/{id}")).await.json();
        assert_eq!(
            view["roll"]["residents"],
            roll.len(),
            "{eligibility}: {view}"
        );
        assert_eq!(view["roll"]["units"], *units, "{eligibility}: {view}");
        assert_eq!(
            view["credentials"]["sent"],
            roll.len(),
            "{eligibility}: {view}"
        );
        let board = board(&host, &d.worker, id).await;
        assert_eq!(
            board.credentials.len() as u64,
            *units,
            "one credential per unit"
        );
        for (resident, ..) in RESIDENTS {
            let expected = roll.contains(resident);
            assert_eq!(
                on_roll(&host, &d, id, resident).await,
                expected,
                "{eligibility}: {resident}"
            );
            let credential = credential_of(&host, d.voter(resident), id).await;
            assert_eq!(credential.is_some(), expected, "{eligibility}: {resident}");
            if let Some(c) = credential {
                assert!(
                    board.credentials.contains(c.public()),
                    "{resident}'s credential is on the roll"
                );
            }
        }
    }

    // One credential per household: every member gets the same one, and
    // the last ballot cast with it counts.
    let poll = open_poll(
        &host,
        &d,
        poll_body(now, json!({"community": "c1", "per_household": true})),
    )
    .await;
    let mut h1 = Vec::new();
    for member in ["r01", "r02", "r03"] {
        h1.push(
            credential_of(&host, d.voter(member), &poll.id)
                .await
                .expect("credential"),
        );
    }
    assert!(h1.iter().all(|c| c.public() == h1[0].public()));
    assert_ne!(
        credential_of(&host, d.voter("r04"), &poll.id)
            .await
            .expect("credential")
            .public(),
        h1[0].public()
    );
    vote(&host, &d, &poll, "r01", &[0]).await;
    vote(&host, &d, &poll, "r02", &[1]).await;
    vote(&host, &d, &poll, "r04", &[1]).await;
    let result = close(&host, &d, &poll).await;
    assert_eq!(result["tally"]["counts"], json!([0, 2, 0]));
    assert_eq!(result["tally"]["ballots"], 2);
    assert_eq!(result["tally"]["roll_units"], 4);
}

async fn a_whole_poll_verifies_from_its_board_and_counts_each_credentials_last_ballot(
    host: TestHost,
) {
    let d = district(&host).await;
    let now = stop_clock(&host);
    let mut body = poll_body(now, json!({"community": "c1"}));
    body["kind"] = json!("multiple");
    body["max_choices"] = json!(2);
    body["options"] = json!(["gate", "lights", "benches", "bike shed"]);
    body["board"] = json!("live");
    let poll = open_poll(&host, &d, body).await;
    // Credentials sent to the inbox are read there, by the recipients'
    // accounts; the district's notification list shows each message
    // without its body.
    let listed = host
        .get("/api/v1/districts/east/notifications?limit=100")
        .await
        .json();
    let bodies: Vec<&Value> = listed["notifications"]
        .as_array()
        .expect("a list")
        .iter()
        .filter(|n| n["confidential"] == true)
        .map(|n| &n["body"])
        .collect();
    assert!(!bodies.is_empty(), "{listed}");
    assert!(bodies.iter().all(|b| *b == ""), "{listed}");
    let ballots: &[(&str, &[u32])] = &[
        ("r01", &[0, 1]),
        ("r02", &[1]),
        ("r03", &[3, 1]),
        ("r04", &[0]),
        ("r06", &[2, 3]),
    ];
    let mut trackers = Vec::new();
    for (voter, choices) in ballots {
        trackers.push(vote(&host, &d, &poll, voter, choices).await.tracker());
    }
    // r01 changes their mind: the new ballot replaces the first.
    let replaced = trackers[0].clone();
    let token = d.voter("r01");
    let credential = credential_of(&host, token, &poll.id)
        .await
        .expect("credential");
    let (r, again) = cast(&host, token, &poll.id, &credential, &[2]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["replaced"], true);
    trackers[0] = again.tracker();
    // The voter finds their ballot by its credential, with their tracker.
    let r = worker_get(
        &host,
        &d,
        &format!(
            "/polls/{}/board/ballots/{}",
            poll.id,
            credential.public().to_hex()
        ),
    )
    .await;
    assert_eq!(r.json()["tracker"], trackers[0], "{}", r.text());

    // While open, a live board verifies its ballots and is pending.
    let live = board(&host, &d.worker, &poll.id).await;
    assert_eq!(live.ballots.len(), 5);
    let report = live.verify(2);
    assert_eq!(report.first_failure(), None, "{report:#?}");
    assert!(!report.verified);

    let result = close(&host, &d, &poll).await;
    let tally = &result["tally"];
    assert_eq!(tally["counts"], json!([1, 2, 2, 2]));
    assert_eq!(tally["ballots"], 5);
    assert_eq!(tally["rejected"], 0);
    assert_eq!(
        result["options"][1],
        json!({"option": 1, "name": "lights", "votes": 2})
    );

    // Anyone checks everything from the board alone.
    let board = board(&host, d.voter("r07"), &poll.id).await;
    let report = board.verify(2);
    assert!(report.verified, "{report:#?}");
    assert_eq!(board.result.as_deref(), Some(&[1, 2, 2, 2][..]));
    let on_board: Vec<String> = board.ballots.iter().map(Ballot::tracker).collect();
    for tracker in &trackers {
        assert!(
            on_board.contains(tracker),
            "every voter's last ballot is on the board"
        );
    }
    // The replaced ballot is gone, and nothing on the board marks that a
    // credential voted twice: one ballot per credential, in credential order.
    assert!(!on_board.contains(&replaced));
    assert!(
        board
            .ballots
            .windows(2)
            .all(|w| w[0].credential < w[1].credential)
    );
    let text = serde_json::to_string(&board).expect("json");
    assert!(
        !text.contains("replaced") && !text.contains("_at"),
        "no time or history on the board"
    );
    let view = worker_get(&host, &d, &format!("/polls/{}", poll.id))
        .await
        .json();
    assert_eq!(
        view["roll"]["credentials_digest"].as_str(),
        Some(report.roll_digest.as_str())
    );
    assert_eq!(
        tally["credentials_digest"].as_str(),
        Some(report.roll_digest.as_str())
    );

    let r = call(
        &host,
        d.voter("r05"),
        Method::GET,
        &format!("/polls/{}/verify", poll.id),
        Value::Null,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["verified"], true, "{}", r.text());
}

/// A gateway the district's texts (and calls and webhooks) go to.
async fn sms_gateway(host: &TestHost) -> Gateway {
    let gateway = Gateway::start().await;
    let r = host
        .put(
            "/api/v1/districts/east/notify/settings",
            json!({
                "sms_url": gateway.url("/sms"),
                "voice_url": gateway.url("/voice"),
                "webhook_url": gateway.url("/hook"),
                "secret": "a-district-secret-of-some-length",
            })
            .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    gateway
}

async fn an_administrators_account_for_a_voter_cannot_cast_a_counted_ballot(host: TestHost) {
    let d = district(&host).await;
    let gateway = sms_gateway(&host).await;
    let now = stop_clock(&host);
    let mut body = poll_body(now, json!({"building": "b1"}));
    body["credentials"] = json!("sms");
    let poll = open_poll(&host, &d, body).await;

    // The district's administrator makes a second account for r01 and a
    // token for it.
    let admin = host.district_admin("east").await;
    let account =
        json!({"id": "r01-again", "role": "resident", "district": "east", "resident_id": "r01"});
    let r = host
        .post_as(Some(&admin), "/api/v1/accounts", account.to_string())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = host
        .post_as(Some(&admin), "/api/v1/accounts/r01-again/tokens", "{}")
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let fake = r.json()["token"].as_str().expect("token").to_owned();

    // The credentials went to the voters' phones only: neither account's
    // inbox has one.
    host.opened
        .platform
        .deliver_notifications()
        .await
        .expect("deliver");
    assert!(credential_of(&host, &fake, &poll.id).await.is_none());
    assert!(
        credential_of(&host, d.voter("r01"), &poll.id)
            .await
            .is_none()
    );
    let texts: Vec<(String, String)> = gateway
        .accepted()
        .iter()
        .map(|r| {
            (
                r.body["to"].as_str().unwrap_or_default().to_owned(),
                r.body["body"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(texts.len(), 4, "one text per resident of b1: {texts:?}");
    let phone_of_r01 = "13800000000";
    let sent_to_r01 = texts
        .iter()
        .find(|(to, _)| to == phone_of_r01)
        .and_then(|(_, body)| credential_in(body, &poll.id))
        .expect("r01's credential came by text");

    // Nor can the administrator read it on the way: the district's
    // notification list (theirs and the auditor's) shows each credential
    // message without its body, and once the texts are delivered the host
    // keeps no copy of them.
    let listed = host
        .get_as(
            Some(&admin),
            "/api/v1/districts/east/notifications?limit=100",
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
    let listed = listed.json();
    let credential_messages: Vec<&Value> = listed["notifications"]
        .as_array()
        .expect("a list")
        .iter()
        .filter(|n| {
            n["subject"]
                .as_str()
                .is_some_and(|s| s.contains("Voting credential"))
        })
        .collect();
    assert_eq!(credential_messages.len(), 4, "{listed}");
    for message in &credential_messages {
        assert_eq!(message["confidential"], true, "{message}");
        assert_eq!(message["body"], "", "{message}");
    }
    assert!(
        !listed.to_string().contains(sent_to_r01.text()),
        "no credential in the list"
    );
    let mut conn = host.raw_connection().await;
    let kept: Vec<String> =
        sqlx::query_scalar("SELECT body FROM notify_sends WHERE confidential = 1 ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .expect("sends");
    let _ = conn.close().await;
    assert_eq!(kept.len(), 4);
    assert!(
        kept.iter().all(String::is_empty),
        "delivered texts are erased: {kept:?}"
    );

    // The account votes as r01 as well as it can: with a credential of its
    // own making, the ballot is refused.
    let made_up = Credential::generate(&poll.id, &mut OsRng);
    let (r, _) = cast(&host, &fake, &poll.id, &made_up, &[1]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "not_on_roll");
    // r01 votes with the credential from their phone.
    let (r, _) = cast(&host, d.voter("r01"), &poll.id, &sent_to_r01, &[0]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let result = close(&host, &d, &poll).await;
    assert_eq!(result["tally"]["counts"], json!([1, 0, 0]));
}

/// Every kv row of the voting app: key, value, update time.
async fn kv_rows(host: &TestHost) -> Vec<(String, Vec<u8>)> {
    let mut conn = host.raw_connection().await;
    let rows = sqlx::query("SELECT key, value FROM kv WHERE app = 'e-voting' ORDER BY key")
        .fetch_all(&mut conn)
        .await
        .expect("kv rows");
    let _ = conn.close().await;
    rows.iter()
        .map(|r| (r.get::<String, _>("key"), r.get::<Vec<u8>, _>("value")))
        .collect()
}

/// The names of the kv table's columns.
async fn kv_columns(host: &TestHost) -> Vec<String> {
    let mut conn = host.raw_connection().await;
    let rows = sqlx::query("SELECT * FROM kv LIMIT 1")
        .fetch_all(&mut conn)
        .await
        .expect("kv rows");
    let _ = conn.close().await;
    rows.first()
        .map(|r| r.columns().iter().map(|c| c.name().to_owned()).collect())
        .unwrap_or_default()
}

/// Replace the value of one kv row behind the app's back.
async fn overwrite(host: &TestHost, key: &str, value: &[u8]) {
    let mut conn = host.raw_connection().await;
    let done = sqlx::query("UPDATE kv SET value = $1 WHERE app = 'e-voting' AND key = $2")
        .bind(value.to_vec())
        .bind(key.to_owned())
        .execute(&mut conn)
        .await
        .expect("update")
        .rows_affected();
    let _ = conn.close().await;
    assert_eq!(done, 1, "{key}");
}

/// Add a kv row behind the app's back.
async fn insert(host: &TestHost, key: &str, value: &[u8]) {
    let mut conn = host.raw_connection().await;
    sqlx::query("INSERT INTO kv (district, app, key, value) VALUES ('east', 'e-voting', $1, $2)")
        .bind(key.to_owned())
        .bind(value.to_vec())
        .execute(&mut conn)
        .await
        .expect("insert");
    let _ = conn.close().await;
}

async fn a_forged_stuffed_or_dropped_ballot_and_a_rewritten_result_are_detected(host: TestHost) {
    let d = district(&host).await;
    let now = stop_clock(&host);
    let poll = open_poll(&host, &d, poll_body(now, json!({"community": "c1"}))).await;
    for (voter, choice) in [("r01", 0), ("r02", 1), ("r04", 1), ("r06", 2)] {
        vote(&host, &d, &poll, voter, &[choice]).await;
    }
    let result = close(&host, &d, &poll).await;
    assert_eq!(result["tally"]["counts"], json!([1, 2, 1]));
    let honest = board(&host, &d.worker, &poll.id).await;
    assert!(honest.verify(1).verified);
    let published_roll = honest.verify(1).roll_digest;
    let rows = kv_rows(&host).await;
    let ballot_rows: Vec<&(String, Vec<u8>)> = rows
        .iter()
        .filter(|(k, ..)| k.starts_with(&format!("counted/{}/", poll.id)))
        .collect();
    assert_eq!(ballot_rows.len(), 4);
    let first = ballot_rows[0].clone();

    let failure = |board: &Board| {
        let report = board.verify(1);
        assert!(!report.verified);
        report
            .first_failure()
            .map(|c| (c.name, c.detail.clone()))
            .expect("a failed check")
    };

    // A forged ballot: an encryption of 2 in place of one of 0 or 1,
    // changed in storage (its signature no longer holds) ...
    let mut forged: Ballot = serde_json::from_slice(&first.1).expect("ballot");
    let ct = forged.choices[1].ciphertext;
    forged.choices[1].ciphertext = ct + ct;
    overwrite(&host, &first.0, &serde_json::to_vec(&forged).expect("json")).await;
    let (check, detail) = failure(&board(&host, &d.worker, &poll.id).await);
    assert_eq!(check, "ballots", "{detail}");
    assert!(detail.contains("signature"), "{detail}");
    // ... or signed anew by someone holding the credential: its proof
    // that the choice is 0 or 1 does not hold.
    let mut holder = None;
    for voter in ["r01", "r02", "r04", "r06"] {
        let c = credential_of(&host, d.voter(voter), &poll.id)
            .await
            .expect("credential");
        if first.0.ends_with(&c.public().to_hex()) {
            holder = Some(c);
        }
    }
    forged.sign(
        &honest.election,
        &holder.expect("the ballot's voter"),
        &mut OsRng,
    );
    overwrite(&host, &first.0, &serde_json::to_vec(&forged).expect("json")).await;
    let (check, detail) = failure(&board(&host, &d.worker, &poll.id).await);
    assert_eq!(check, "ballots", "{detail}");
    assert!(detail.contains("choice 1 encrypts 0 or 1"), "{detail}");
    overwrite(&host, &first.0, &first.1).await;

    // A stuffed ballot, with a credential of the insider's own, and the
    // credential slipped onto the roll too.
    let intruder = Credential::generate(&poll.id, &mut OsRng);
    let (stuffed, _) =
        Ballot::create(&honest.election, &intruder, &[1], &mut OsRng).expect("ballot");
    let key = format!("counted/{}/{}", poll.id, intruder.public().to_hex());
    insert(
        &host,
        &key,
        serde_json::to_string(&stuffed).expect("json").as_bytes(),
    )
    .await;
    let (check, detail) = failure(&board(&host, &d.worker, &poll.id).await);
    assert_eq!(check, "ballots", "{detail}");
    assert!(detail.contains("not on the roll"), "{detail}");
    let cred = format!("cred/{}/{}", poll.id, intruder.public().to_hex());
    insert(&host, &cred, b"").await;
    // The roll's pages no longer add up to the roll published at the
    // opening: fetching the board says so.
    let error = try_board(&host, &d.worker, &poll.id)
        .await
        .expect_err("a longer roll");
    assert!(error.contains("the pages hold 8 credentials"), "{error}");
    assert!(error.contains(&published_roll), "{error}");
    host.execute_raw(&format!("DELETE FROM kv WHERE key IN ('{key}', '{cred}')"))
        .await;

    // A dropped ballot.
    host.execute_raw(&format!("DELETE FROM kv WHERE key = '{}'", first.0))
        .await;
    let (check, _) = failure(&board(&host, &d.worker, &poll.id).await);
    assert_eq!(check, "tally");
    insert(&host, &first.0, &first.1).await;
    assert!(board(&host, &d.worker, &poll.id).await.verify(1).verified);

    // A rewritten result.
    let result_key = format!("result/{}", poll.id);
    let (_, stored) = rows
        .iter()
        .find(|(k, ..)| *k == result_key)
        .expect("result row")
        .clone();
    let mut rewritten: Value = serde_json::from_slice(&stored).expect("json");
    rewritten["counts"] = json!([3, 0, 1]);
    overwrite(&host, &result_key, rewritten.to_string().as_bytes()).await;
    let (check, detail) = failure(&board(&host, &d.worker, &poll.id).await);
    assert_eq!(check, "result", "{detail}");
    let r = worker_get(&host, &d, &format!("/polls/{}/verify", poll.id)).await;
    assert_eq!(r.json()["verified"], false, "{}", r.text());
    assert_eq!(r.json()["checks"]["result"], false, "{}", r.text());
}

async fn a_ballot_changed_in_storage_before_the_close_is_left_out_and_shown(host: TestHost) {
    let d = district(&host).await;
    let now = stop_clock(&host);
    let poll = open_poll(&host, &d, poll_body(now, json!({"community": "c1"}))).await;
    for (voter, choice) in [("r01", 0), ("r02", 1), ("r04", 1)] {
        vote(&host, &d, &poll, voter, &[choice]).await;
    }
    let rows = kv_rows(&host).await;
    let (key, value) = rows
        .iter()
        .find(|(k, ..)| k.starts_with(&format!("ballot/{}/", poll.id)))
        .expect("a ballot")
        .clone();
    let mut changed: Ballot = serde_json::from_slice(&value).expect("ballot");
    changed.choices.swap(0, 1);
    overwrite(&host, &key, &serde_json::to_vec(&changed).expect("json")).await;
    let result = close(&host, &d, &poll).await;
    let tally = &result["tally"];
    assert_eq!(tally["ballots"], 2, "{tally}");
    assert_eq!(tally["rejected"], 1, "{tally}");
    // It is off the board, which verifies; the app's check says a ballot
    // was rejected.
    let board = board(&host, &d.worker, &poll.id).await;
    assert!(board.verify(1).verified);
    assert_eq!(board.ballots.len(), 2);
    let r = worker_get(&host, &d, &format!("/polls/{}/verify", poll.id)).await;
    assert_eq!(r.json()["verified"], false, "{}", r.text());
    assert_eq!(
        r.json()["checks"]["every_ballot_verified"],
        false,
        "{}",
        r.text()
    );
    let moved = key.replace("ballot/", "rejected/");
    assert!(kv_rows(&host).await.iter().any(|(k, ..)| *k == moved));
}

async fn a_poll_whose_trustees_never_all_upload_is_cancelled_at_its_close(host: TestHost) {
    let d = district(&host).await;
    let now = stop_clock(&host);
    let id = create_poll(&host, &d, poll_body(now, json!({"grid": "g2"}))).await;
    let upload = |token: &str| {
        let key = TrusteeKey::generate(&id, &mut OsRng);
        let path = format!("/polls/{id}/trustees");
        let token = token.to_owned();
        let host = &host;
        async move {
            let body = serde_json::to_value(&key.public).expect("json");
            call(host, &token, Method::POST, &path, body).await
        }
    };
    let r = upload(&d.trustees[0]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(advance(&host, &d, &id).await["phase"], "freezing");
    host.clock().advance_ms(2 * HOUR);
    assert_eq!(advance(&host, &d, &id).await["phase"], "cancelled");
    let r = upload(&d.trustees[1]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "cancelled");
    let r = worker_get(&host, &d, &format!("/polls/{id}/result")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
}

async fn a_credential_authority_outside_the_platform_hands_out_the_credentials(host: TestHost) {
    let d = district(&host).await;
    let authority = host.worker("ca", "east", &[]).await;
    let now = stop_clock(&host);
    let mut body = poll_body(now, json!({"community": "c1", "per_household": true}));
    body["credentials"] = json!("authority");
    body["credential_authority"] = json!("ca");
    let id = create_poll(&host, &d, body).await;
    let poll = Poll {
        keys: upload_keys(&host, &d, &id).await,
        id: id.clone(),
    };
    // Frozen, but not open: the units have no credentials yet, and nothing
    // was sent to anyone.
    let view = advance(&host, &d, &id).await;
    assert_eq!(view["phase"], "freezing", "{view}");
    assert_eq!(view["roll"]["complete"], true, "{view}");
    assert_eq!(view["credentials"]["sent"], 0, "{view}");
    for resident in ["r01", "r04", "r06"] {
        assert!(credential_of(&host, d.voter(resident), &id).await.is_none());
    }
    let addr = listen(host.app()).await;
    let url = format!("http://{addr}{BASE}/polls/{id}");
    let post = |token: &str, keys: Value| {
        let path = format!("/polls/{id}/credentials");
        let token = token.to_owned();
        let host = &host;
        async move {
            call(
                host,
                &token,
                Method::POST,
                &path,
                json!({ "credentials": keys }),
            )
            .await
        }
    };
    // Only the authority uploads, only as many as there are units, once each.
    let stray = Credential::generate(&id, &mut OsRng);
    let r = post(&d.worker, json!([stray.public()])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "not_the_credential_authority");
    let five: Vec<Credential> = (0..5)
        .map(|_| Credential::generate(&id, &mut OsRng))
        .collect();
    let r = post(
        &authority,
        json!(five.iter().map(Credential::public).collect::<Vec<_>>()),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.text().contains("4 units"), "{}", r.text());
    // The authority's own tool: it reads the roll, makes one credential per
    // household and uploads their keys.
    let (made, token) = (url.clone(), authority.clone());
    let letters = tokio::task::spawn_blocking(move || {
        let letters = hutong_evote::fetch::make_credentials(&made, &token)?;
        hutong_evote::fetch::upload_credentials(&made, &token, &letters)?;
        Ok::<_, anyhow::Error>(letters)
    })
    .await
    .expect("task")
    .expect("credentials made and uploaded");
    assert_eq!(letters.len(), 4, "one per household: {letters:?}");
    let h1 = letters
        .iter()
        .find(|l| l.unit == "h-h1")
        .expect("h1's letter");
    assert_eq!(h1.residents, ["r01", "r02", "r03"]);
    let r = post(&authority, json!([letters[0].credential.public()])).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "already_open", "{}", r.text());
    let view = worker_get(&host, &d, &format!("/polls/{id}")).await.json();
    assert_eq!(view["phase"], "open", "{view}");
    assert_eq!(view["credentials"]["uploaded"], 4, "{view}");

    // Nothing of a credential's text reached the platform: no message, no
    // stored row holds one.
    let texts: Vec<&str> = letters.iter().map(|l| l.credential.text()).collect();
    for (key, value) in kv_rows(&host).await {
        let value = String::from_utf8_lossy(&value);
        assert!(
            !texts.iter().any(|t| value.contains(t) || key.contains(t)),
            "{key}"
        );
    }
    let admin = host.district_admin("east").await;
    let sent = host
        .get_as(Some(&admin), "/api/v1/districts/east/notifications")
        .await;
    assert!(
        !texts.iter().any(|t| sent.text().contains(t)),
        "{}",
        sent.text()
    );

    // The households vote with their letters; the result counts them.
    for (unit, choice) in [("h-h1", 0), ("h-h2", 1), ("h-h4", 1)] {
        let letter = letters.iter().find(|l| l.unit == unit).expect("letter");
        let (r, _) = cast(
            &host,
            d.voter(&letter.residents[0]),
            &id,
            &letter.credential,
            &[choice],
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }
    let result = close(&host, &d, &poll).await;
    assert_eq!(result["tally"]["counts"], json!([1, 2, 0]));
    assert_eq!(result["tally"]["roll_units"], 4);
}

async fn nothing_stored_links_a_voter_to_a_choice(host: TestHost) {
    let d = district(&host).await;
    let now = stop_clock(&host);
    let poll = open_poll(&host, &d, poll_body(now, json!({"community": "c1"}))).await;
    let log_before = host
        .get("/api/v1/districts/east/audit/access?app=e-voting")
        .await
        .json();
    let mut ballots = Vec::new();
    for (voter, choice) in [("r01", 0), ("r02", 1), ("r04", 2), ("r05", 0)] {
        ballots.push((vote(&host, &d, &poll, voter, &[choice]).await, choice));
    }
    // Casting reads no community data: the access log has nothing new.
    let log_after = host
        .get("/api/v1/districts/east/audit/access?app=e-voting")
        .await
        .json();
    assert_eq!(log_before, log_after, "ballots leave no access-log entries");

    let identities: Vec<String> = RESIDENTS
        .iter()
        .flat_map(|(r, h, ..)| {
            let mut ids = vec![(*r).to_owned(), format!("v-{r}")];
            ids.extend(h.map(str::to_owned));
            ids
        })
        .collect();
    let check = |rows: &[(String, Vec<u8>)]| {
        for (key, value) in rows {
            let text = String::from_utf8_lossy(value);
            // Once sent, no credential is kept; what remains of the roll
            // (`roll/`) names residents and says nothing of ballots.
            assert!(
                !key.starts_with("deliver/") && !key.starts_with("hcred/"),
                "{key} kept"
            );
            if [
                "ballot/",
                "counted/",
                "made/",
                "cred/",
                "tally/",
                "result/",
                "decryption/",
            ]
            .iter()
            .any(|p| key.starts_with(p))
            {
                for ident in &identities {
                    let segments: Vec<&str> =
                        key.split('/').chain(text.split(['/', '"'])).collect();
                    assert!(!segments.contains(&ident.as_str()), "{key} names {ident}");
                }
            }
        }
        // Every stored ballot is a ciphertext only: each decodes as an
        // encrypted ballot, and nothing in the row holds a choice in the
        // clear (a single ballot's plaintext needs every trustee).
        for (key, value) in rows
            .iter()
            .filter(|(k, _)| k.starts_with("ballot/") || k.starts_with("counted/"))
        {
            let stored: Ballot =
                serde_json::from_slice(value).unwrap_or_else(|e| panic!("{key}: {e}"));
            assert_eq!(stored.choices.len(), 3);
        }
    };
    let rows = kv_rows(&host).await;
    check(&rows);
    // Nor does storage say when a credential voted: a kv row is its key
    // and value only.
    assert_eq!(
        kv_columns(&host).await,
        ["district", "app", "key", "value"],
        "kv rows carry no time"
    );
    // Two trustees together cannot decrypt a ballot: the third's share is
    // missing, and without it no count comes out.
    let (ballot, choice) = &ballots[0];
    let single: Vec<_> = ballot.choices.iter().map(|c| c.ciphertext).collect();
    let two: Vec<_> = poll.keys[..2]
        .iter()
        .map(|k| k.decrypt(&single, &mut OsRng))
        .collect();
    let with_two = hutong_evote::trustee::combine(&single, &two, 1);
    assert_eq!(
        with_two.iter().filter(|c| c.is_some()).count(),
        0,
        "{with_two:?}"
    );
    let all: Vec<_> = poll
        .keys
        .iter()
        .map(|k| k.decrypt(&single, &mut OsRng))
        .collect();
    let mut expected = vec![Some(0), Some(0), Some(0)];
    expected[*choice as usize] = Some(1);
    assert_eq!(
        hutong_evote::trustee::combine(&single, &all, 1),
        expected,
        "all three could"
    );

    close(&host, &d, &poll).await;
    check(&kv_rows(&host).await);
}

async fn storage_keeps_no_order_of_casting_and_no_replaced_ballot(host: TestHost) {
    let d = district(&host).await;
    let gateway = sms_gateway(&host).await;
    let now = stop_clock(&host);
    let mut body = poll_body(now, json!({"community": "c1"}));
    body["credentials"] = json!("sms");
    let poll = open_poll(&host, &d, body).await;
    host.opened
        .platform
        .deliver_notifications()
        .await
        .expect("deliver");
    let mut credentials: Vec<Credential> = gateway
        .accepted()
        .iter()
        .filter_map(|r| credential_in(r.body["body"].as_str().unwrap_or_default(), &poll.id))
        .collect();
    assert!(credentials.len() >= 4, "{} texts", credentials.len());
    // Four vote against the order of their credentials' keys, so rows kept
    // in casting order would read backwards; the last votes twice.
    credentials.sort_by_key(|c| std::cmp::Reverse(c.public().to_hex()));
    let token = d.voter("r01");
    let mut replaced = None;
    for credential in &credentials[..4] {
        let (r, ballot) = cast(&host, token, &poll.id, credential, &[0]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        replaced = Some(ballot);
    }
    let (r, kept) = cast(&host, token, &poll.id, &credentials[3], &[1]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let replaced = replaced.expect("a ballot");
    let result = close(&host, &d, &poll).await;
    assert_eq!(result["tally"]["counts"], json!([3, 1, 0]), "{result}");

    // The recount moved every ballot from where it was cast.
    let rows = kv_rows(&host).await;
    let under = |prefix: &str| {
        rows.iter()
            .filter(|(k, ..)| k.starts_with(&format!("{prefix}/{}/", poll.id)))
            .count()
    };
    assert_eq!((under("ballot"), under("counted")), (0, 4));
    assert_eq!(under("made"), 0);
    assert_eq!(under("cred"), credentials.len());

    let mut conn = host.raw_connection().await;
    if host.postgres().is_some() {
        // Each row version names the transaction that wrote it (xmin): in
        // key order, those only go forward, for the credentials (made in
        // the roll's order) and the ballots (cast against the key order)
        // alike.
        for prefix in ["cred", "counted"] {
            let rows = sqlx::query(
                "SELECT xmin::text AS xmin FROM kv \
                 WHERE app = 'e-voting' AND key LIKE $1 ORDER BY key",
            )
            .bind(format!("{prefix}/{}/%", poll.id))
            .fetch_all(&mut conn)
            .await
            .expect("rows");
            let written: Vec<u64> = rows
                .iter()
                .map(|r| r.get::<String, _>("xmin").parse().expect("xmin"))
                .collect();
            assert!(written.len() >= 4, "{prefix}: {written:?}");
            assert!(
                written.windows(2).all(|w| w[0] <= w[1]),
                "{prefix}: {written:?}"
            );
        }
    } else {
        // SQLite numbers the rows of a table that has a rowid as they are
        // first inserted; the kv table has none.
        let numbered = sqlx::query("SELECT rowid FROM kv LIMIT 1")
            .fetch_all(&mut conn)
            .await;
        assert!(numbered.is_err(), "kv rows have a rowid");
        // What was replaced or removed (the earlier ballot, the texts sent
        // and forgotten) is gone from the file and its WAL, not only from
        // the tables, once the WAL has been written back (the host does so
        // every few hundred writes) and the next commit starts it over.
        // The ballot that counts is there, so the search works.
        host.checkpoint_sqlite().await;
        create_poll(
            &host,
            &d,
            poll_body(now + 3 * HOUR, json!({"community": "c2"})),
        )
        .await;
        let stored = host.sqlite_files();
        let holds = |text: &str| stored.windows(text.len()).any(|w| w == text.as_bytes());
        let ciphertext = |ballot: &Ballot| {
            let json = serde_json::to_string(&ballot.choices[0].ciphertext).expect("json");
            json.split('"')
                .find(|part| part.len() >= 64)
                .expect("a ciphertext in hex")
                .to_owned()
        };
        assert!(holds(&ciphertext(&kept)), "the counted ballot is stored");
        assert!(
            !holds(&ciphertext(&replaced)),
            "the replaced ballot is kept"
        );
        for credential in &credentials {
            // As the app kept it to send, and as the text message said it.
            let text = credential.text();
            let grouped: Vec<&str> = (0..text.len())
                .step_by(5)
                .filter_map(|i| text.get(i..(i + 5).min(text.len())))
                .collect();
            assert!(!holds(text), "a credential sent is kept");
            assert!(!holds(&grouped.join("-")), "a text message sent is kept");
        }
    }
    let _ = conn.close().await;
}

async fn bad_ballots_are_refused_and_store_nothing(host: TestHost) {
    let d = district(&host).await;
    let now = stop_clock(&host);
    let ballots = |rows: Vec<(String, Vec<u8>)>| {
        rows.iter()
            .filter(|(k, ..)| k.starts_with("ballot/"))
            .count()
    };

    // Before it opens: no election yet.
    let mut body = poll_body(now + HOUR, json!({"community": "c1"}));
    body["closes_at_ms"] = json!(now + 2 * HOUR);
    let later = create_poll(&host, &d, body).await;
    let r = call(
        &host,
        d.voter("r01"),
        Method::POST,
        &format!("/polls/{later}/ballots"),
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());

    let poll = open_poll(&host, &d, poll_body(now, json!({"community": "c1"}))).await;
    let id = &poll.id;
    let token = d.voter("r01");
    let credential = credential_of(&host, token, id).await.expect("credential");
    let election = election_of(&host, token, id).await;
    let refused = |r: &TestResponse, status: StatusCode, code: &str| {
        assert_eq!(r.status, status, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], code, "{}", r.text());
    };

    let r = host
        .post_as(
            Some(token),
            &format!("{BASE}/polls/{id}/ballots"),
            "{not json",
        )
        .await;
    refused(&r, StatusCode::BAD_REQUEST, "malformed_ballot");
    assert!(r.text().contains("GET /polls/{id}/board"), "{}", r.text());

    // A ciphertext changed after signing: the signature fails.
    let (mut ballot, _) = Ballot::create(&election, &credential, &[0], &mut OsRng).expect("ballot");
    ballot.choices.swap(0, 1);
    let r = post_ballot(&host, token, id, &ballot).await;
    refused(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_ballot");
    assert!(r.text().contains("signature"), "{}", r.text());

    // Three options chosen in a single-choice poll: each choice taken from
    // a ballot of its own (so each is proved 0 or 1), signed anew; the
    // proof of the total does not hold.
    let mut made = Vec::new();
    for option in 0..3 {
        made.push(
            Ballot::create(&election, &credential, &[option], &mut OsRng)
                .expect("ballot")
                .0,
        );
    }
    let mut three = made[0].clone();
    three.choices = (0..3).map(|o| made[o].choices[o].clone()).collect();
    three.sign(&election, &credential, &mut OsRng);
    let r = post_ballot(&host, token, id, &three).await;
    refused(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_ballot");
    assert!(r.text().contains("chooses 1..=1"), "{}", r.text());

    // A ballot made for another poll's election (its proofs name that poll).
    let other = Election {
        poll: later.clone(),
        ..election.clone()
    };
    let moved = Credential::from_text(&later, credential.text()).expect("credential");
    let (elsewhere, _) = Ballot::create(&other, &moved, &[0], &mut OsRng).expect("ballot");
    let r = post_ballot(&host, token, id, &elsewhere).await;
    refused(&r, StatusCode::FORBIDDEN, "not_on_roll");

    // A credential that is not on the roll (r08 lives in c2).
    assert!(credential_of(&host, d.voter("r08"), id).await.is_none());
    let (r, _) = cast(
        &host,
        d.voter("r08"),
        id,
        &Credential::generate(id, &mut OsRng),
        &[0],
    )
    .await;
    refused(&r, StatusCode::FORBIDDEN, "not_on_roll");
    assert_eq!(
        ballots(kv_rows(&host).await),
        0,
        "nothing refused was stored"
    );

    // After the close.
    host.clock().advance_ms(2 * HOUR);
    let (ballot, _) = Ballot::create(&election, &credential, &[0], &mut OsRng).expect("ballot");
    let r = post_ballot(&host, token, id, &ballot).await;
    refused(&r, StatusCode::CONFLICT, "closed");
    assert_eq!(ballots(kv_rows(&host).await), 0);
}

async fn trustees_upload_one_proved_key_and_one_proved_share_each(host: TestHost) {
    let d = district(&host).await;
    let now = stop_clock(&host);
    let id = create_poll(&host, &d, poll_body(now, json!({"grid": "g2"}))).await;
    let upload = |token: &str, body: Value| {
        let path = format!("/polls/{id}/trustees");
        let token = token.to_owned();
        let host = &host;
        async move { call(host, &token, Method::POST, &path, body).await }
    };
    let key = TrusteeKey::generate(&id, &mut OsRng);
    let public = serde_json::to_value(&key.public).expect("json");
    // Not a trustee.
    let r = upload(&d.worker, public.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "not_a_trustee");
    // A key made for another poll: its proof names that poll.
    let elsewhere = TrusteeKey::generate("another-poll", &mut OsRng);
    let r = upload(
        &d.trustees[0],
        serde_json::to_value(&elsewhere.public).expect("json"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(
        r.text().contains("hutong-evote trustee new"),
        "{}",
        r.text()
    );
    let r = upload(&d.trustees[0], public.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    // Once each, and one key per trustee.
    let r = upload(
        &d.trustees[0],
        serde_json::to_value(&TrusteeKey::generate(&id, &mut OsRng).public).expect("json"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "already_uploaded");
    let r = upload(&d.trustees[1], public.clone()).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "duplicate_key");

    // Without every key the poll does not open, though its roll is frozen.
    let view = advance(&host, &d, &id).await;
    assert_eq!(view["phase"], "freezing", "{view}");
    assert_eq!(view["roll"]["complete"], true, "{view}");
    assert_eq!(
        view["trustees"],
        json!({"expected": 3, "keys": 1, "shares": 0})
    );
    let credential = credential_of(&host, d.voter("r06"), &id)
        .await
        .expect("credentials go out meanwhile");
    let r = worker_get(&host, &d, &format!("/polls/{id}/board")).await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "no election yet: {}",
        r.text()
    );
    // A well-formed ballot, under a key of someone's choosing, is refused
    // until the poll opens.
    let guess = Election {
        poll: id.clone(),
        question: "?".into(),
        option_names: vec!["yes".into(), "no".into(), "abstain".into()],
        options: 3,
        min: 1,
        max: 1,
        key: key.public.key,
    };
    let (early, _) = Ballot::create(&guess, &credential, &[0], &mut OsRng).expect("ballot");
    let r = post_ballot(&host, d.voter("r06"), &id, &early).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "not_open", "{}", r.text());
    let mut keys = vec![key];
    for token in &d.trustees[1..] {
        let k = TrusteeKey::generate(&id, &mut OsRng);
        let r = upload(token, serde_json::to_value(&k.public).expect("json")).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        keys.push(k);
    }
    assert_eq!(advance(&host, &d, &id).await["phase"], "open");
    let r = upload(
        &d.trustees[2],
        serde_json::to_value(&keys[2].public).expect("json"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "already_open");
    let (r, _) = cast(&host, d.voter("r06"), &id, &credential, &[1]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    // While open, an after-close board shows no ballot, not even by its
    // credential: whether a credential voted is not given away.
    let r = worker_get(
        &host,
        &d,
        &format!("/polls/{id}/board/ballots/{}", credential.public().to_hex()),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "board_not_published");

    // Shares: not before the tally; each proved, each trustee's own.
    let shares_path = format!("/polls/{id}/decryptions");
    let early = keys[0].decrypt(&[], &mut OsRng);
    let r = call(
        &host,
        &d.trustees[0],
        Method::POST,
        &shares_path,
        serde_json::to_value(&early).expect("json"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    host.clock().advance_ms(2 * HOUR);
    assert_eq!(advance(&host, &d, &id).await["phase"], "decrypting");
    let board = board(&host, &d.worker, &id).await;
    let tally = board.tally.clone().expect("tally");
    let post = |token: String, shares: Value| {
        let host = &host;
        let path = shares_path.clone();
        async move { call(host, &token, Method::POST, &path, shares).await }
    };
    // Trustee 0's shares sent by trustee 1.
    let r = post(
        d.trustees[1].clone(),
        serde_json::to_value(keys[0].decrypt(&tally, &mut OsRng)).expect("json"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "wrong_key");
    // A share that is not what the key makes.
    let mut wrong = keys[0].decrypt(&tally, &mut OsRng);
    wrong.shares.swap(0, 1);
    let r = post(
        d.trustees[0].clone(),
        serde_json::to_value(&wrong).expect("json"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "invalid_share");
    for (i, k) in keys.iter().enumerate() {
        let r = post(
            d.trustees[i].clone(),
            serde_json::to_value(k.decrypt(&tally, &mut OsRng)).expect("json"),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let phase = r.json()["phase"].clone();
        assert_eq!(
            phase,
            if i < 2 { "decrypting" } else { "closed" },
            "the result follows the last share"
        );
    }
    let r = post(
        d.trustees[0].clone(),
        serde_json::to_value(keys[0].decrypt(&tally, &mut OsRng)).expect("json"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let result = worker_get(&host, &d, &format!("/polls/{id}/result"))
        .await
        .json();
    assert_eq!(result["tally"]["counts"], json!([0, 1, 0]));
}

async fn bad_polls_are_refused_and_store_nothing(host: TestHost) {
    let d = district(&host).await;
    let now = stop_clock(&host);
    let good = poll_body(now, json!({"community": "c1"}));
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (with("title", json!("")), StatusCode::BAD_REQUEST, "title"),
        (
            with("options", json!(["only"])),
            StatusCode::BAD_REQUEST,
            "2..=50 options",
        ),
        (
            with("options", json!(["a", "a"])),
            StatusCode::BAD_REQUEST,
            "twice",
        ),
        (
            with("max_choices", json!(2)),
            StatusCode::BAD_REQUEST,
            "max_choices",
        ),
        (
            with("eligibility", json!({"community": "c1", "grid": "g1"})),
            StatusCode::BAD_REQUEST,
            "exactly one",
        ),
        (
            with("closes_at_ms", json!(now - 1)),
            StatusCode::BAD_REQUEST,
            "closes_at_ms",
        ),
        (
            with("quorum_percent", json!(101)),
            StatusCode::BAD_REQUEST,
            "quorum",
        ),
        (
            with("trustees", json!(["t1"])),
            StatusCode::BAD_REQUEST,
            "trustees",
        ),
        (
            with("trustees", json!(["t1", "t1"])),
            StatusCode::BAD_REQUEST,
            "trustees",
        ),
        (
            with("credentials", json!("carrier-pigeon")),
            StatusCode::BAD_REQUEST,
            "carrier-pigeon",
        ),
        (
            with("credentials", json!("authority")),
            StatusCode::BAD_REQUEST,
            "credential_authority",
        ),
        (
            with("credential_authority", json!("ca")),
            StatusCode::BAD_REQUEST,
            "goes with",
        ),
        (
            with("changeable", json!(true)),
            StatusCode::BAD_REQUEST,
            "changeable",
        ),
        (
            with("eligibility", json!({"community": "nowhere"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "nowhere",
        ),
        (
            with("eligibility", json!({"building": "b9"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "b9",
        ),
    ];
    for (body, status, says) in cases {
        let r = call(&host, &d.worker, Method::POST, "/polls", body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(r.text().contains(says), "{body}: {}", r.text());
    }
    let r = call(&host, d.voter("r01"), Method::POST, "/polls", good).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(
        kv_rows(&host).await.is_empty(),
        "no refused poll was stored"
    );
}

async fn quorum_is_met_or_not_by_turnout_against_the_roll(host: TestHost) {
    let d = district(&host).await;
    let now = stop_clock(&host);
    // Building b1: r01..r04, quorum half the roll.
    for (voters, met) in [(&["r01", "r02"][..], true), (&["r03"][..], false)] {
        let mut body = poll_body(now, json!({"building": "b1"}));
        body["quorum_percent"] = json!(50);
        let poll = open_poll(&host, &d, body).await;
        for v in voters {
            vote(&host, &d, &poll, v, &[1]).await;
        }
        let result = close(&host, &d, &poll).await;
        let tally = &result["tally"];
        assert_eq!(tally["roll_units"], 4);
        assert_eq!(tally["ballots"], voters.len());
        assert_eq!(tally["turnout_percent"], json!(voters.len() as f64 * 25.0));
        assert_eq!(tally["quorum_met"], met, "{tally}");
        host.clock().set_ms(now);
    }
}

async fn inbox(host: &TestHost, token: &str) -> Vec<Value> {
    let r = host.get_as(Some(token), "/api/v1/inbox").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The poll notices (not credentials) in an inbox.
async fn notices(host: &TestHost, token: &str) -> Vec<Value> {
    inbox(host, token)
        .await
        .into_iter()
        .filter(|m| {
            !m["subject"]
                .as_str()
                .unwrap_or_default()
                .contains("credential")
        })
        .collect()
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
    let keys = upload_keys(&host, &d, &id).await;
    let poll = Poll {
        id: id.clone(),
        keys,
    };
    let platform = &host.opened.platform;
    platform.run_due_ticks().await.expect("ticks");
    assert_eq!(phase_in_kv(&host, &id).await, "scheduled");
    host.clock().advance_ms(70_000);
    platform.run_due_ticks().await.expect("ticks");
    assert_eq!(phase_in_kv(&host, &id).await, "open", "a tick opened it");
    host.clock().advance_ms(10_000);
    platform.run_due_ticks().await.expect("ticks");
    let opened = notices(&host, d.voter("r06")).await;
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

    vote(&host, &d, &poll, "r06", &[2]).await;
    host.clock().advance_ms(60_000);
    platform.run_due_ticks().await.expect("ticks");
    assert_eq!(
        phase_in_kv(&host, &id).await,
        "decrypting",
        "a tick closed it on time and tallied"
    );
    // The trustees decrypt; the next tick sends the result notice.
    let board = board(&host, &d.worker, &id).await;
    let tally = board.tally.clone().expect("tally");
    for (key, token) in poll.keys.iter().zip(&d.trustees) {
        let shares = serde_json::to_value(key.decrypt(&tally, &mut OsRng)).expect("json");
        let r = call(
            &host,
            token,
            Method::POST,
            &format!("/polls/{id}/decryptions"),
            shares,
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }
    host.clock().advance_ms(10_000);
    platform.run_due_ticks().await.expect("ticks");
    let told = notices(&host, d.voter("r07")).await;
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

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

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

/// 1,200 more residents in a third community, `c3`: six roll pages.
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
    let poll = open_poll(&host, &d, poll_body(now, json!({"community": "c3"}))).await;
    let id = &poll.id;
    let view = worker_get(&host, &d, &format!("/polls/{id}")).await.json();
    assert_eq!(view["roll"]["residents"], 1200, "{view}");
    assert_eq!(view["roll"]["units"], 1200, "{view}");
    let fingerprint = roll_fingerprint(&host, &d, id).await;
    assert_eq!(
        view["roll"]["fingerprint"].as_str(),
        Some(fingerprint.as_str())
    );
    let board = board(&host, &d.worker, id).await;
    assert_eq!(
        board.credentials.len(),
        1200,
        "1,200 credentials on the roll, over two pages"
    );
    let report = board.verify(1);
    assert_eq!(
        view["roll"]["credentials_digest"].as_str(),
        Some(report.roll_digest.as_str())
    );
}

async fn two_processes_advancing_one_poll_make_each_step_once(host: TestHost) {
    let d = district(&host).await;
    import_many(&host).await;
    let now = stop_clock(&host);
    let id = create_poll(&host, &d, poll_body(now, json!({"community": "c3"}))).await;
    upload_keys(&host, &d, &id).await;
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
    assert_eq!(
        view["roll"]["units"], 1200,
        "one credential per resident: {view}"
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
    // Credentials by text message: they count against the same rate, and
    // are sent before the notices.
    let mut body = poll_body(now, json!({"community": "c1"}));
    body["credentials"] = json!("sms");
    let id = create_poll(&host, &d, body).await;
    upload_keys(&host, &d, &id).await;
    let path = format!("/polls/{id}/advance");
    let advance = || call(&host, &d.worker, Method::POST, &path, Value::Null);
    let opened = |token: &str| {
        let token = token.to_owned();
        let host = &host;
        async move { notices(host, &token).await.len() }
    };
    // Five credentials go out in the first minute, two in the second.
    assert_eq!(advance().await.json()["credentials"]["sent"], 5);
    host.clock().advance_ms(60_000);
    let view = advance().await.json();
    assert_eq!(view["credentials"]["sent"], 7, "{view}");
    assert_eq!(view["phase"], "open", "{view}");
    // The whole community at once is over the rate: nobody is told yet.
    assert_eq!(opened(d.voter("r01")).await, 0);
    host.clock().advance_ms(60_000);
    advance().await;
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

/// `GET` of the app's `path` as `token`, asking for `language`.
async fn page_in(host: &TestHost, token: &str, path: &str, language: &str) -> TestResponse {
    let request = axum::http::Request::builder()
        .uri(format!("{BASE}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .header("accept-language", language)
        .body(axum::body::Body::empty())
        .expect("request");
    host.send(request).await
}

async fn the_pages_escape_the_poll_speak_both_languages_and_serve_the_ballot_maker(host: TestHost) {
    let d = district(&host).await;
    let now = stop_clock(&host);
    let mut body = poll_body(now + HOUR, json!({"community": "c1"}));
    body["closes_at_ms"] = json!(now + 2 * HOUR);
    body["title"] = json!("<script>alert(1)</script> 大门");
    body["description"] = json!("<img src=x onerror=alert(1)>");
    let id = create_poll(&host, &d, body).await;
    let token = d.voter("r01");

    // The list, in Chinese unless the browser asks for English first.
    let list = page_in(&host, token, "/", "zh-CN,zh;q=0.9,en;q=0.8").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    let html = list.text();
    assert!(
        html.contains("<html lang=\"zh-CN\">") && html.contains("社区投票"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; 大门")
            && !html.contains("<script>alert"),
        "the title is escaped: {html}"
    );
    assert!(html.contains("未开始"), "{html}");
    let policy = list
        .headers
        .get_all("content-security-policy")
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    assert!(
        policy.contains("script-src 'self' 'wasm-unsafe-eval'")
            && policy.contains("connect-src 'self'"),
        "{policy}"
    );
    let english = page_in(&host, token, "/", "en-GB,en;q=0.9").await;
    assert!(
        english.text().contains("Community voting") && english.text().contains("Not open yet"),
        "{}",
        english.text()
    );

    // A poll's page: escaped, and in English on `?lang=en` whatever the
    // browser prefers.
    let page = page_in(&host, token, &format!("/vote/{id}"), "zh-CN").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(
        page.text().contains("&lt;img src=x onerror=alert(1)&gt;") && !page.text().contains("<img"),
        "{}",
        page.text()
    );
    assert!(page.text().contains("投票开始后"), "{}", page.text());
    assert!(
        !page.text().contains("id=\"ballot\""),
        "no ballot form before the opening"
    );
    let page = page_in(&host, token, &format!("/vote/{id}?lang=en"), "zh-CN").await;
    assert!(
        page.text().contains("Once the poll opens"),
        "{}",
        page.text()
    );
    let missing = page_in(&host, token, "/vote/no-such-poll", "zh-CN").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.text().contains("没有这个投票"),
        "{}",
        missing.text()
    );

    // The ballot maker: a core WebAssembly module with no imports, well
    // under the app's 1 MiB answer.
    let wasm = page_in(&host, token, "/assets/evote.wasm", "zh-CN").await;
    assert_eq!(wasm.status, StatusCode::OK);
    assert_eq!(
        wasm.headers.get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/wasm"[..])
    );
    assert!(
        wasmparser::Parser::is_core_wasm(&wasm.body),
        "a core module"
    );
    assert!(wasm.body.len() < 1 << 20, "{} bytes", wasm.body.len());
    let imports: u32 = wasmparser::Parser::new(0)
        .parse_all(&wasm.body)
        .filter_map(|payload| match payload.expect("a valid module") {
            wasmparser::Payload::ImportSection(imports) => Some(imports.count()),
            _ => None,
        })
        .sum();
    assert_eq!(imports, 0, "the module reaches nothing of the page");
    let script = page_in(&host, token, "/assets/vote.js", "zh-CN").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.text().contains("from './evote.mjs'"));
    let calling = page_in(&host, token, "/assets/evote.mjs", "zh-CN").await;
    assert_eq!(calling.status, StatusCode::OK);
    assert!(calling.text().contains("evote_call"));
    let other = page_in(&host, token, "/assets/other.js", "zh-CN").await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
}
