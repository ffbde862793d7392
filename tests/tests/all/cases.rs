//! Cases through the HTTP API, on both back ends: the whole lifecycle, every
//! refused transition (with nothing changed), racing workers, escalation to
//! the city tier, deadlines with an injected clock, who sees what, and the
//! district's figures.

use axum::http::{Method, StatusCode};
use hutong_host::accounts::Role;
use hutong_host::cases::store::{Category, Department};
use hutong_host::cases::{Action, CaseState};
use hutong_tests::{TestHost, TestResponse, on_both_backends};
use serde_json::{Value, json};

on_both_backends!(
    the_whole_lifecycle_is_recorded_in_the_history,
    every_disallowed_transition_is_refused_and_changes_nothing,
    two_workers_accepting_at_once_one_wins_the_other_gets_409,
    escalation_climbs_to_the_city_and_the_higher_tier_dispatches_under_it,
    an_overdue_case_is_flagged_and_escalates_by_itself_when_the_policy_says_so,
    an_overdue_case_is_only_flagged_without_auto_escalation,
    a_new_phase_takes_its_categorys_own_time_limit_before_the_districts,
    each_role_sees_and_does_only_what_it_may,
    bad_reports_and_actions_are_refused_with_what_is_allowed,
    reopening_is_allowed_only_within_the_window,
    listing_filters_and_pages_by_cursor,
    figures_count_open_overdue_close_time_and_satisfaction,
);

const D: &str = "east";
const G1: &str = "c-xingfu-g1";

/// The tokens of the people in the test district.
struct People {
    admin: String,
    /// Grid worker of G1.
    w1: String,
    /// Another grid worker of G1.
    w2: String,
    /// Grid worker of c-heping-g1.
    w3: String,
    /// In the community office of c-xingfu.
    community: String,
    /// In the street office of s-donghu.
    street: String,
    /// In a district office.
    district: String,
    /// In the city hotline office.
    city: String,
    resident: String,
    other_resident: String,
    auditor: String,
}

async fn set_up(host: &TestHost) -> People {
    host.sample_district(D).await;
    let p = &host.opened.platform;
    for (code, name) in [("road", "Road damage"), ("noise", "Noise")] {
        p.cases()
            .put_category(
                D,
                Category {
                    code: code.into(),
                    name: name.into(),
                    description: String::new(),
                    group: "streets".into(),
                },
            )
            .await
            .expect("category");
    }
    let people = People {
        admin: host.district_admin(D).await,
        w1: host.worker("w1", D, &[G1]).await,
        w2: host.worker("w2", D, &[G1]).await,
        w3: host.worker("w3", D, &["c-heping-g1"]).await,
        community: host.worker("xingfu-staff", D, &[]).await,
        street: host.worker("donghu-staff", D, &[]).await,
        district: host.worker("district-staff", D, &[]).await,
        city: host.worker("city-staff", D, &[]).await,
        resident: host.account("res1", Role::Resident, Some(D)).await,
        other_resident: host.account("res2", Role::Resident, Some(D)).await,
        auditor: host.account("east-auditor", Role::Auditor, Some(D)).await,
    };
    for (id, tier, unit, member) in [
        ("g1-team", "grid", Some(G1), "w1"),
        (
            "xingfu-office",
            "community",
            Some("c-xingfu"),
            "xingfu-staff",
        ),
        ("donghu-office", "street", Some("s-donghu"), "donghu-staff"),
        ("district-office", "district", None, "district-staff"),
        ("city-hotline", "city", None, "city-staff"),
    ] {
        p.cases()
            .put_department(
                D,
                Department {
                    id: id.into(),
                    name: id.into(),
                    tier: tier.parse().expect("tier"),
                    unit_id: unit.map(str::to_owned),
                    members: vec![member.into()],
                },
            )
            .await
            .expect("department");
    }
    people
}

async fn call(
    host: &TestHost,
    token: &str,
    method: Method,
    uri: &str,
    body: Value,
) -> TestResponse {
    host.json_as(token, method, uri, body).await
}

async fn report(host: &TestHost, token: &str, body: Value) -> i64 {
    let r = call(
        host,
        token,
        Method::POST,
        &format!("/api/v1/districts/{D}/cases"),
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"].as_i64().expect("case id")
}

async fn report_in_g1(host: &TestHost, token: &str) -> i64 {
    report(
        host,
        token,
        json!({"category": "road", "grid_id": G1, "description": "pothole by gate 2"}),
    )
    .await
}

async fn act(host: &TestHost, token: &str, id: i64, action: &str, body: Value) -> TestResponse {
    call(
        host,
        token,
        Method::POST,
        &format!("/api/v1/districts/{D}/cases/{id}/{action}"),
        body,
    )
    .await
}

/// Do `action` and check the answer: the case it returns is the case as
/// stored, field by field, and the change it returns is the case's last
/// history entry. (The host answers with the case as the change made it,
/// without reading it back.)
async fn act_ok(host: &TestHost, token: &str, id: i64, action: &str, body: Value) -> Value {
    let r = act(host, token, id, action, body).await;
    assert_eq!(r.status, StatusCode::OK, "{action}: {}", r.text());
    let acted = r.json();
    let stored = view_ok(host, id).await;
    let fields = acted["case"].as_object().expect("the changed case");
    assert!(fields.len() > 20, "{action}: the whole case: {acted}");
    for (field, value) in fields {
        assert_eq!(
            value, &stored[field],
            "{action}: the answer's `{field}` is not what was stored"
        );
    }
    let history = stored["history"].as_array().expect("history");
    assert_eq!(
        history.last(),
        Some(&acted["change"]),
        "{action}: the answer's change is the last history entry"
    );
    acted
}

async fn view(host: &TestHost, token: &str, id: i64) -> TestResponse {
    call(
        host,
        token,
        Method::GET,
        &format!("/api/v1/districts/{D}/cases/{id}"),
        Value::Null,
    )
    .await
}

async fn view_ok(host: &TestHost, id: i64) -> Value {
    let r = view(host, &host.admin_token, id).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

/// The way from reported to closed, one action at a time.
fn lifecycle() -> [(&'static str, Value); 6] {
    [
        ("accept", json!({})),
        ("dispatch", json!({"assignee": "worker:w1"})),
        ("start", json!({})),
        ("handle", json!({"note": "filled"})),
        ("verify", json!({})),
        ("close", json!({})),
    ]
}

/// Drive a fresh case in G1 into `state` along the lifecycle.
async fn case_in(host: &TestHost, p: &People, state: CaseState) -> i64 {
    let id = report_in_g1(host, &p.resident).await;
    let steps = match state {
        CaseState::Reported => 0,
        CaseState::Rejected => {
            act_ok(host, &p.w1, id, "reject", json!({"note": "duplicate"})).await;
            0
        }
        CaseState::Accepted => 1,
        CaseState::Dispatched => 2,
        CaseState::InProgress => 3,
        CaseState::Handled => 4,
        CaseState::Verified => 5,
        CaseState::Closed => 6,
    };
    for (action, body) in lifecycle().into_iter().take(steps) {
        act_ok(host, &p.w1, id, action, body).await;
    }
    assert_eq!(view_ok(host, id).await["state"], state.as_str());
    id
}

fn actions(history: &Value) -> Vec<String> {
    history["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| {
            format!(
                "{}:{}->{}",
                h["action"].as_str().unwrap_or_default(),
                h["from_state"].as_str().unwrap_or_default(),
                h["to_state"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

async fn the_whole_lifecycle_is_recorded_in_the_history(host: TestHost) {
    let p = set_up(&host).await;
    let id = report(
        &host,
        &p.resident,
        json!({"category": "road", "priority": "high", "building_id": "c-xingfu-b1",
               "description": "broken streetlight", "attachments": ["https://img.example/1.jpg"]}),
    )
    .await;
    let v = view_ok(&host, id).await;
    assert_eq!(v["state"], "reported");
    assert_eq!(v["tier"], "grid");
    assert_eq!(v["grid_id"], G1, "the building's grid is implied");
    assert_eq!(v["street_id"], "s-donghu");
    assert_eq!(v["reporter"], json!({"kind": "account", "id": "res1"}));
    assert_eq!(
        v["allowed_actions"],
        json!(["accept", "reject", "escalate", "comment"])
    );

    act_ok(&host, &p.w1, id, "accept", json!({})).await;
    act_ok(
        &host,
        &p.w1,
        id,
        "dispatch",
        json!({"assignee": "department:g1-team"}),
    )
    .await;
    act_ok(
        &host,
        &p.w1,
        id,
        "reassign",
        json!({"assignee": "worker:w2"}),
    )
    .await;
    // w1 no longer has it: starting is for the assignee.
    let r = act(&host, &p.w1, id, "start", json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    act_ok(&host, &p.w2, id, "start", json!({})).await;
    act_ok(
        &host,
        &p.w2,
        id,
        "comment",
        json!({"note": "ordered a new lamp"}),
    )
    .await;
    act_ok(&host, &p.w2, id, "handle", json!({"note": "lamp replaced"})).await;
    act_ok(
        &host,
        &p.w1,
        id,
        "fail-verification",
        json!({"note": "still dark at night"}),
    )
    .await;
    act_ok(
        &host,
        &p.w2,
        id,
        "handle",
        json!({"note": "wiring fixed too"}),
    )
    .await;
    act_ok(&host, &p.w1, id, "verify", json!({})).await;
    let closed = act_ok(&host, &p.w1, id, "close", json!({})).await;
    assert_eq!(closed["case"]["state"], "closed");
    assert!(closed["case"]["closed_at"].is_i64());
    act_ok(
        &host,
        &p.resident,
        id,
        "evaluate",
        json!({"satisfaction": 4, "note": "quick, thanks"}),
    )
    .await;

    let v = view_ok(&host, id).await;
    assert_eq!(v["satisfaction"], 4);
    assert_eq!(v["evaluation"], "quick, thanks");
    assert_eq!(
        actions(&v),
        [
            "report:reported->reported",
            "accept:reported->accepted",
            "dispatch:accepted->dispatched",
            "reassign:dispatched->dispatched",
            "start:dispatched->in-progress",
            "comment:in-progress->in-progress",
            "handle:in-progress->handled",
            "fail-verification:handled->in-progress",
            "handle:in-progress->handled",
            "verify:handled->verified",
            "close:verified->closed",
            "evaluate:closed->closed",
        ]
    );
    let history = v["history"].as_array().expect("history");
    assert_eq!(history[7]["note"], "still dark at night");
    assert_eq!(history[7]["actor"], "account:w1");
    assert_eq!(history[3]["actor"], "account:w1");
    // Evaluating twice is refused.
    let r = act(
        &host,
        &p.resident,
        id,
        "evaluate",
        json!({"satisfaction": 1, "note": "x"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    // A reopened case goes back to acceptance with its reason recorded.
    let reopened = act_ok(
        &host,
        &p.resident,
        id,
        "reopen",
        json!({"note": "broke again"}),
    )
    .await;
    assert_eq!(reopened["case"]["state"], "accepted");
    assert_eq!(reopened["case"]["assignee"], Value::Null);
    // Reject is the other way out of reported.
    let rejected = case_in(&host, &p, CaseState::Rejected).await;
    assert_eq!(
        view_ok(&host, rejected).await["history"][1]["note"],
        "duplicate"
    );
}

async fn every_disallowed_transition_is_refused_and_changes_nothing(host: TestHost) {
    let p = set_up(&host).await;
    let mut refused = 0;
    for &state in CaseState::ALL {
        let id = case_in(&host, &p, state).await;
        let before = view_ok(&host, id).await;
        for &action in Action::ALL {
            if action.next(state).is_some() {
                continue;
            }
            let r = act(
                &host,
                &p.admin,
                id,
                action.as_str(),
                json!({"note": "n", "assignee": "worker:w1", "satisfaction": 3}),
            )
            .await;
            assert_eq!(
                r.status,
                StatusCode::CONFLICT,
                "{action} from {state}: {}",
                r.text()
            );
            let message = r.error_message();
            let allowed: Vec<&str> = Action::allowed_from(state)
                .iter()
                .map(|a| a.as_str())
                .collect();
            assert!(
                message.contains(&format!("the allowed actions are: {}", allowed.join(", "))),
                "{action} from {state}: {message}"
            );
            refused += 1;
        }
        assert_eq!(
            view_ok(&host, id).await,
            before,
            "a refusal changed case {id} ({state})"
        );
    }
    // 13 actions, each allowed from only some of the 8 states.
    let allowed: usize = CaseState::ALL
        .iter()
        .map(|s| Action::allowed_from(*s).len())
        .sum();
    assert_eq!(refused, CaseState::ALL.len() * Action::ALL.len() - allowed);
    assert!(refused > 60, "{refused}");
}

async fn two_workers_accepting_at_once_one_wins_the_other_gets_409(host: TestHost) {
    let p = set_up(&host).await;
    for _ in 0..8 {
        let id = report_in_g1(&host, &p.resident).await;
        let (a, b) = tokio::join!(
            act(&host, &p.w1, id, "accept", json!({})),
            act(&host, &p.w2, id, "accept", json!({}))
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "{} / {}",
            a.text(),
            b.text()
        );
        let v = view_ok(&host, id).await;
        let accepts = actions(&v)
            .iter()
            .filter(|a| a.starts_with("accept"))
            .count();
        assert_eq!(accepts, 1, "exactly one acceptance is recorded");
        assert_eq!(v["version"], 2);
    }
}

async fn escalation_climbs_to_the_city_and_the_higher_tier_dispatches_under_it(host: TestHost) {
    let p = set_up(&host).await;
    let id = report_in_g1(&host, &p.resident).await;
    act_ok(&host, &p.w1, id, "accept", json!({})).await;
    act_ok(
        &host,
        &p.w1,
        id,
        "dispatch",
        json!({"assignee": "worker:w1"}),
    )
    .await;
    // The assignee calls it up: it goes back to acceptance one tier up.
    let up = act_ok(
        &host,
        &p.w1,
        id,
        "escalate",
        json!({"note": "needs the community"}),
    )
    .await;
    assert_eq!(up["case"]["tier"], "community");
    assert_eq!(up["case"]["state"], "accepted");
    assert_eq!(up["case"]["assignee"], Value::Null);
    // The grid worker no longer holds it; the community office does.
    let r = act(
        &host,
        &p.w1,
        id,
        "dispatch",
        json!({"assignee": "worker:w1"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    // A department of another community is not under it.
    p_put_heping_office(&host).await;
    let r = act(
        &host,
        &p.community,
        id,
        "dispatch",
        json!({"assignee": "department:heping-office"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.text().contains("not under"), "{}", r.text());
    let r = act(
        &host,
        &p.community,
        id,
        "dispatch",
        json!({"assignee": "worker:w3"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    // Any department under the community works, down to its grids.
    act_ok(
        &host,
        &p.community,
        id,
        "dispatch",
        json!({"assignee": "department:g1-team"}),
    )
    .await;

    for (holder, next) in [
        (&p.community, "street"),
        (&p.street, "district"),
        (&p.district, "city"),
    ] {
        let r = act_ok(
            &host,
            holder,
            id,
            "escalate",
            json!({"note": format!("to the {next}")}),
        )
        .await;
        assert_eq!(r["case"]["tier"], next);
    }
    // The city tier dispatches to any department of the district.
    act_ok(
        &host,
        &p.city,
        id,
        "dispatch",
        json!({"assignee": "department:donghu-office"}),
    )
    .await;
    let r = act(&host, &p.city, id, "escalate", json!({"note": "higher?"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(r.text().contains("city tier, the top"), "{}", r.text());
    let v = view_ok(&host, id).await;
    let tiers: Vec<String> = v["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|h| h["action"] == "escalate")
        .map(|h| {
            format!(
                "{}->{}",
                h["from_tier"].as_str().unwrap_or_default(),
                h["to_tier"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        tiers,
        [
            "grid->community",
            "community->street",
            "street->district",
            "district->city"
        ]
    );
    // The street office now has it assigned and starts it.
    act_ok(&host, &p.street, id, "start", json!({})).await;
}

async fn p_put_heping_office(host: &TestHost) {
    host.opened
        .platform
        .cases()
        .put_department(
            D,
            Department {
                id: "heping-office".into(),
                name: "和平社区办".into(),
                tier: "community".parse().expect("tier"),
                unit_id: Some("c-heping".into()),
                members: vec![],
            },
        )
        .await
        .expect("department");
}

async fn set_deadlines(host: &TestHost, admin: &str, auto_escalate: bool) {
    let r = call(
        host,
        admin,
        Method::PUT,
        &format!("/api/v1/districts/{D}/case-deadlines"),
        json!([{"category": "*", "priority": "normal", "accept_minutes": 30, "handle_minutes": 600, "verify_minutes": 60}]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = call(
        host,
        admin,
        Method::PUT,
        &format!("/api/v1/districts/{D}/case-policy"),
        json!({"reopen_days": 7, "auto_escalate": auto_escalate}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

async fn an_overdue_case_is_flagged_and_escalates_by_itself_when_the_policy_says_so(
    host: TestHost,
) {
    let p = set_up(&host).await;
    set_deadlines(&host, &p.admin, true).await;
    let clock = host.opened.platform.store().clock().clone();
    clock.set_ms(1_800_000_000_000);
    let id = report_in_g1(&host, &p.resident).await;
    let v = view_ok(&host, id).await;
    assert_eq!(v["deadline_at"], 1_800_000_000_000i64 + 30 * 60_000);
    // Not yet due: nothing happens.
    clock.advance_ms(29 * 60_000);
    let r = sweep(&host).await;
    assert_eq!((r.flagged, r.escalated), (0, 0));
    clock.advance_ms(2 * 60_000);
    let r = sweep(&host).await;
    assert_eq!((r.flagged, r.escalated), (1, 1));
    let v = view_ok(&host, id).await;
    assert_eq!(v["tier"], "community");
    assert_eq!(v["state"], "reported");
    assert_eq!(v["overdue"], true);
    let history = v["history"].as_array().expect("history");
    assert_eq!(history[1]["action"], "overdue");
    assert_eq!(history[1]["actor"], "system");
    assert!(
        history[1]["note"]
            .as_str()
            .unwrap_or_default()
            .contains("acceptance time limit")
    );
    assert_eq!(history[2]["action"], "escalate");
    assert_eq!(history[2]["to_tier"], "community");
    // The new tier gets a fresh acceptance clock; a second sweep at once does nothing.
    let r = sweep(&host).await;
    assert_eq!((r.flagged, r.escalated), (0, 0));
    // Left alone again, it climbs again — flagged once, escalated again.
    clock.advance_ms(31 * 60_000);
    let r = sweep(&host).await;
    assert_eq!((r.flagged, r.escalated), (0, 1));
    assert_eq!(view_ok(&host, id).await["tier"], "street");
    // Another process sweeping at the same time does not escalate twice.
    let other = host.another_process().await;
    other
        .platform
        .store()
        .clock()
        .set_ms(clock.now_ms() + 31 * 60_000);
    clock.advance_ms(31 * 60_000);
    let (mine, theirs) = (host.opened.platform.cases(), other.platform.cases());
    let (a, b) = tokio::join!(mine.sweep_case_deadlines(), theirs.sweep_case_deadlines());
    let escalated = a.expect("sweep").escalated + b.expect("sweep").escalated;
    assert_eq!(escalated, 1);
    assert_eq!(view_ok(&host, id).await["tier"], "district");
    // Acting on it starts the next phase with the flag cleared.
    act_ok(&host, &p.district, id, "accept", json!({})).await;
    let v = view_ok(&host, id).await;
    assert_eq!(v["overdue"], false);
    assert_eq!(v["deadline_at"], clock.now_ms() + 600 * 60_000);
}

/// Each phase's clock starts from the time limits of the case's own
/// category where it has some, else from the district's (`*`): on
/// reporting, and on each change that starts a new phase.
async fn a_new_phase_takes_its_categorys_own_time_limit_before_the_districts(host: TestHost) {
    let p = set_up(&host).await;
    let r = call(
        &host,
        &p.admin,
        Method::PUT,
        &format!("/api/v1/districts/{D}/case-deadlines"),
        json!([
            {"category": "*", "priority": "normal", "accept_minutes": 30, "handle_minutes": 600, "verify_minutes": 60},
            {"category": "road", "priority": "normal", "accept_minutes": 20, "handle_minutes": 120, "verify_minutes": 45}
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let clock = host.opened.platform.store().clock().clone();
    clock.set_ms(1_800_000_000_000);
    let road = report_in_g1(&host, &p.resident).await;
    let noise = report(
        &host,
        &p.resident,
        json!({"category": "noise", "grid_id": G1, "description": "drilling at night"}),
    )
    .await;
    let now = clock.now_ms();
    assert_eq!(view_ok(&host, road).await["deadline_at"], now + 20 * 60_000);
    assert_eq!(
        view_ok(&host, noise).await["deadline_at"],
        now + 30 * 60_000
    );
    clock.advance_ms(5 * 60_000);
    let now = clock.now_ms();
    let accepted = act_ok(&host, &p.w1, road, "accept", json!({})).await;
    assert_eq!(accepted["case"]["deadline_at"], now + 120 * 60_000);
    let accepted = act_ok(&host, &p.w1, noise, "accept", json!({})).await;
    assert_eq!(accepted["case"]["deadline_at"], now + 600 * 60_000);
    // The same phase goes on: its clock does not start again.
    clock.advance_ms(60_000);
    let dispatched = act_ok(
        &host,
        &p.w1,
        road,
        "dispatch",
        json!({"assignee": "worker:w1"}),
    )
    .await;
    assert_eq!(dispatched["case"]["deadline_at"], now + 120 * 60_000);
}

async fn an_overdue_case_is_only_flagged_without_auto_escalation(host: TestHost) {
    let p = set_up(&host).await;
    set_deadlines(&host, &p.admin, false).await;
    let clock = host.opened.platform.store().clock().clone();
    clock.set_ms(1_800_000_000_000);
    let id = report_in_g1(&host, &p.resident).await;
    let other = report_in_g1(&host, &p.resident).await;
    act_ok(&host, &p.w1, other, "accept", json!({})).await;
    clock.advance_ms(31 * 60_000);
    let r = sweep(&host).await;
    assert_eq!((r.flagged, r.escalated), (1, 0));
    let v = view_ok(&host, id).await;
    assert_eq!(
        (v["tier"].as_str(), v["overdue"].as_bool()),
        (Some("grid"), Some(true))
    );
    assert_eq!(v["deadline_at"], Value::Null, "flagged once, not again");
    let r = sweep(&host).await;
    assert_eq!((r.flagged, r.escalated), (0, 0));
    let ids = get(&host, &p.w1, "?overdue=true").await.0;
    assert_eq!(ids, [id]);
}

async fn each_role_sees_and_does_only_what_it_may(host: TestHost) {
    let p = set_up(&host).await;
    let mine = report_in_g1(&host, &p.resident).await;
    let theirs = report_in_g1(&host, &p.other_resident).await;
    // A resident sees their own cases only, and cannot act as staff.
    let ids = get(&host, &p.resident, "").await.0;
    assert_eq!(ids, [mine]);
    assert_eq!(
        view(&host, &p.resident, theirs).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        act(&host, &p.resident, mine, "accept", json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // A worker of another grid neither sees nor acts.
    assert_eq!(view(&host, &p.w3, mine).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        act(&host, &p.w3, mine, "accept", json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(get(&host, &p.w3, "").await.0, Vec::<i64>::new());
    // The community office sees the cases of its community's grids but
    // holds only those at the community tier.
    assert_eq!(view(&host, &p.community, mine).await.status, StatusCode::OK);
    let r = act(&host, &p.community, mine, "accept", json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("grid tier"), "{}", r.text());
    // Auditors read everything and change nothing.
    assert_eq!(view(&host, &p.auditor, mine).await.status, StatusCode::OK);
    let r = act(&host, &p.auditor, mine, "comment", json!({"note": "hm"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = call(
        &host,
        &p.auditor,
        Method::POST,
        &format!("/api/v1/districts/{D}/cases"),
        json!({"category": "road", "grid_id": G1, "description": "x"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    // Another district's administrator is turned away.
    host.district("west").await;
    let west = host.district_admin("west").await;
    assert_eq!(view(&host, &west, mine).await.status, StatusCode::FORBIDDEN);
    // Only administrators shape cases.
    let r = call(
        &host,
        &p.w1,
        Method::PUT,
        &format!("/api/v1/districts/{D}/case-categories/gas"),
        json!({"name": "Gas"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call(
        &host,
        &p.admin,
        Method::PUT,
        &format!("/api/v1/districts/{D}/case-categories/gas"),
        json!({"name": "Gas"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // No credentials, no cases.
    let r = host
        .get_as(None, &format!("/api/v1/districts/{D}/cases"))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

async fn bad_reports_and_actions_are_refused_with_what_is_allowed(host: TestHost) {
    let p = set_up(&host).await;
    let uri = format!("/api/v1/districts/{D}/cases");
    for (body, status, needle) in [
        (
            json!({"category": "fire", "grid_id": G1, "description": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "noise, road",
        ),
        (
            json!({"category": "road", "grid_id": G1, "description": "  "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "description must not be empty",
        ),
        (
            json!({"category": "road", "grid_id": "nowhere", "description": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "grid `nowhere` does not exist",
        ),
        (
            json!({"category": "road", "grid_id": "c-heping-g1", "building_id": "c-xingfu-b1", "description": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "make them agree",
        ),
        (
            json!({"category": "road", "resident_id": "nobody", "description": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "resident `nobody`",
        ),
        (
            json!({"category": "road", "lat": 91.0, "lon": 0.0, "description": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "-90..=90",
        ),
        (
            json!({"category": "road", "priority": "asap", "description": "x"}),
            StatusCode::BAD_REQUEST,
            "expected a JSON object",
        ),
        (
            json!({"category": "road", "description": "x", "colour": "red"}),
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
    ] {
        let r = call(&host, &p.resident, Method::POST, &uri, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(r.text().contains(needle), "{body}: {}", r.text());
    }
    assert_eq!(
        get(&host, &p.admin, "").await.0,
        Vec::<i64>::new(),
        "no refused report was stored"
    );

    // Without a known location a case starts at the district tier.
    let id = report(
        &host,
        &p.resident,
        json!({"category": "road", "address": "东湖路 12 号", "description": "x"}),
    )
    .await;
    assert_eq!(view_ok(&host, id).await["tier"], "district");

    let id = case_in(&host, &p, CaseState::Accepted).await;
    let before = view_ok(&host, id).await;
    for (action, body, status, needle) in [
        (
            "dispatch",
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "needs an assignee",
        ),
        (
            "dispatch",
            json!({"assignee": "w1"}),
            StatusCode::BAD_REQUEST,
            "department:<id>",
        ),
        (
            "dispatch",
            json!({"assignee": "worker:ghost"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "does not exist",
        ),
        (
            "dispatch",
            json!({"assignee": "department:nope"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "departments: city-hotline",
        ),
        (
            "escalate",
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "needs a note",
        ),
        ("finish", json!({}), StatusCode::NOT_FOUND, "accept, reject"),
        (
            "comment",
            json!({"note": "x".repeat(5000)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "at most 4000",
        ),
    ] {
        let r = act(&host, &p.w1, id, action, body).await;
        assert_eq!(r.status, status, "{action}: {}", r.text());
        assert!(r.text().contains(needle), "{action}: {}", r.text());
    }
    assert_eq!(view_ok(&host, id).await, before);
    let closed = case_in(&host, &p, CaseState::Closed).await;
    for (body, status) in [
        (
            json!({"satisfaction": 6, "note": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({"note": "x"}), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        assert_eq!(
            act(&host, &p.resident, closed, "evaluate", body)
                .await
                .status,
            status
        );
    }
    let r = act(&host, &p.w1, closed, "evaluate", json!({"satisfaction": 5})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(
        r.text().contains("the person who reported it"),
        "{}",
        r.text()
    );
    let r = act(&host, &p.w1, 999_999, "accept", json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn reopening_is_allowed_only_within_the_window(host: TestHost) {
    let p = set_up(&host).await;
    set_deadlines(&host, &p.admin, false).await;
    let clock = host.opened.platform.store().clock().clone();
    clock.set_ms(1_800_000_000_000);
    let late = case_in(&host, &p, CaseState::Closed).await;
    let soon = case_in(&host, &p, CaseState::Closed).await;
    clock.advance_ms(8 * 86_400_000);
    let r = act(&host, &p.resident, late, "reopen", json!({"note": "again"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(r.text().contains("within 7 days"), "{}", r.text());
    // A wider window lets it through.
    let r = call(
        &host,
        &p.admin,
        Method::PUT,
        &format!("/api/v1/districts/{D}/case-policy"),
        json!({"reopen_days": 10, "auto_escalate": false}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    act_ok(&host, &p.resident, soon, "reopen", json!({"note": "again"})).await;
    let r = call(
        &host,
        &p.admin,
        Method::PUT,
        &format!("/api/v1/districts/{D}/case-policy"),
        json!({"reopen_days": 400, "auto_escalate": false}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
}

async fn listing_filters_and_pages_by_cursor(host: TestHost) {
    let p = set_up(&host).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(report_in_g1(&host, &p.resident).await);
    }
    let noise = report(
        &host,
        &p.resident,
        json!({"category": "noise", "grid_id": "c-heping-g1", "description": "drums"}),
    )
    .await;
    act_ok(&host, &p.w1, ids[0], "accept", json!({})).await;
    act_ok(
        &host,
        &p.w1,
        ids[0],
        "dispatch",
        json!({"assignee": "worker:w1"}),
    )
    .await;
    assert_eq!(get(&host, &p.admin, "?category=noise").await.0, [noise]);
    assert_eq!(get(&host, &p.admin, "?grid=c-heping-g1").await.0, [noise]);
    assert_eq!(get(&host, &p.admin, "?state=dispatched").await.0, [ids[0]]);
    assert_eq!(
        get(&host, &p.admin, "?assignee=worker:w1").await.0,
        [ids[0]]
    );
    assert_eq!(
        get(&host, &p.admin, "?tier=grid&category=road")
            .await
            .0
            .len(),
        5
    );
    let (first, next) = get(&host, &p.admin, "?limit=4").await;
    assert_eq!(first, [noise, ids[4], ids[3], ids[2]]);
    let (second, last) = get(
        &host,
        &p.admin,
        &format!("?limit=4&cursor={}", next.expect("a next page")),
    )
    .await;
    assert_eq!(second, [ids[1], ids[0]]);
    assert_eq!(last, None);
    // "me" is the caller.
    let r = call(
        &host,
        &p.w1,
        Method::GET,
        &format!("/api/v1/districts/{D}/cases?assignee=me"),
        Value::Null,
    )
    .await;
    assert_eq!(r.json()["cases"][0]["id"], ids[0]);
    for (q, needle) in [
        (
            "?state=done",
            "unknown case state `done`; use one of: reported",
        ),
        ("?limit=0", "allowed 1..=500"),
        ("?overdue=maybe", "expected `?state="),
        ("?colour=red", "expected `?state="),
    ] {
        let r = call(
            &host,
            &p.admin,
            Method::GET,
            &format!("/api/v1/districts/{D}/cases{q}"),
            Value::Null,
        )
        .await;
        assert!(r.status.is_client_error(), "{q}");
        assert!(r.text().contains(needle), "{q}: {}", r.text());
    }
}

/// One deadline sweep.
async fn sweep(host: &TestHost) -> hutong_host::cases::ops::SweepReport {
    host.opened
        .platform
        .cases()
        .sweep_case_deadlines()
        .await
        .expect("sweep")
}

/// A listing as `token` sees it: the ids and the next cursor.
async fn get(host: &TestHost, token: &str, q: &str) -> (Vec<i64>, Option<i64>) {
    let r = call(
        host,
        token,
        Method::GET,
        &format!("/api/v1/districts/{D}/cases{q}"),
        Value::Null,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text());
    let v = r.json();
    let ids = v["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter_map(|c| c["id"].as_i64())
        .collect();
    (ids, v["next"].as_i64())
}

async fn figures_count_open_overdue_close_time_and_satisfaction(host: TestHost) {
    let p = set_up(&host).await;
    set_deadlines(&host, &p.admin, false).await;
    let clock = host.opened.platform.store().clock().clone();
    clock.set_ms(1_800_000_000_000);
    let a = case_in(&host, &p, CaseState::Closed).await; // closes at once
    let b = report_in_g1(&host, &p.resident).await;
    clock.advance_ms(3_600_000);
    for (action, body) in lifecycle() {
        act_ok(&host, &p.w1, b, action, body).await;
    }
    let _open = report_in_g1(&host, &p.resident).await;
    clock.advance_ms(31 * 60_000);
    host.opened
        .platform
        .cases()
        .sweep_case_deadlines()
        .await
        .expect("sweep");
    act_ok(
        &host,
        &p.resident,
        a,
        "evaluate",
        json!({"satisfaction": 5, "note": "great"}),
    )
    .await;
    act_ok(
        &host,
        &p.resident,
        b,
        "evaluate",
        json!({"satisfaction": 2, "note": "slow"}),
    )
    .await;
    let r = call(
        &host,
        &p.admin,
        Method::GET,
        &format!("/api/v1/districts/{D}/case-figures"),
        Value::Null,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let f = r.json();
    assert_eq!(f["open_by_state"], json!([["reported", 1]]));
    assert_eq!(f["overdue"], 1);
    assert_eq!(f["closed"], 2);
    // Median of {0, 1 h} taken as the upper middle.
    assert_eq!(f["median_close_ms"], 3_600_000);
    assert_eq!(f["evaluations"], 2);
    assert_eq!(f["mean_satisfaction"], 3.5);
    // Workers do not read district figures.
    let r = call(
        &host,
        &p.w1,
        Method::GET,
        &format!("/api/v1/districts/{D}/case-figures"),
        Value::Null,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
