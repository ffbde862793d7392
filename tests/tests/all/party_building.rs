//! The party-building app (`plugins/party-building`) on the real host, on
//! both back ends: the check-in window to the millisecond, who may check in,
//! leave against absence, records by hand and the ledger's corrections,
//! volunteer hours, compliance per period against a hand-computed fixture,
//! report figures in JSON and CSV, names only (masked without the grant),
//! reminders, cancellation, the install's configuration, and the report over
//! every branch.

use axum::http::{Method, StatusCode};
use hutong_host::AccountRequest;
use hutong_host::accounts::Role;
use hutong_host::community::import::Format;
use hutong_host::kernel::manifest::Permission;
use hutong_tests::{
    TestHost, TestResponse, account_request, components, cst_ms, error_message, on_both_backends,
};
use serde_json::{Value, json};

on_both_backends!(
    check_in_opens_thirty_minutes_before_the_start_and_closes_at_the_end_to_the_millisecond,
    the_install_configuration_sets_the_window_and_the_points,
    a_bad_configuration_is_refused_with_what_to_fix,
    a_member_of_another_branch_cannot_check_in,
    in_service_members_register_leave_and_join_themed_days_and_committees_are_for_role_holders,
    leave_and_absence_are_told_apart,
    records_by_hand_say_so_and_change_points_by_new_ledger_entries,
    the_ledger_is_corrected_by_new_entries_and_never_changed,
    volunteer_hours_earn_points_once_the_secretary_confirms_them,
    compliance_per_month_and_quarter_matches_the_hand_computed_fixture,
    the_branch_report_counts_attendance_hours_and_ranks_points_in_json_and_csv,
    names_are_all_the_app_shows_of_personal_data,
    without_the_personal_fields_grant_names_come_masked_and_the_report_says_so,
    without_read_organisations_the_app_is_denied_and_says_which_permission,
    only_the_secretary_or_an_administrator_organises,
    reminders_reach_the_expected_members_once_before_the_start,
    an_activity_cancelled_before_its_start_leaves_the_reports_and_the_reminders,
    the_report_over_every_branch_pages_and_is_for_administrators_and_auditors,
);

const D: &str = "east";
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The fixture: branch `b1` (community c1) with a secretary, a committee
/// member and three members; branch `b2` (community c2) with one member; a
/// resident account for each, an in-service member's account, a district
/// administrator and an auditor.
async fn district(host: &TestHost) {
    host.district(D).await;
    let people = [
        (
            "sec",
            "c1-g1",
            "张书记",
            "13800000001",
            "110101198001010010",
        ),
        (
            "com",
            "c1-g1",
            "李委员",
            "13800000002",
            "110101198001010029",
        ),
        ("m1", "c1-g1", "王一", "13800000003", "110101198001010037"),
        ("m2", "c1-g1", "赵二", "13800000004", "110101198001010045"),
        ("m3", "c1-g1", "刘三", "13800000005", "110101198001010053"),
        (
            "other",
            "c2-g1",
            "陈外",
            "13800000006",
            "110101198001010061",
        ),
        (
            "svc",
            "c2-g1",
            "周服务",
            "13800000007",
            "11010119800101007X",
        ),
    ];
    let mut records = vec![
        json!({"kind": "street", "id": "s1", "name": "Street"}),
        json!({"kind": "community", "id": "c1", "street_id": "s1", "name": "幸福社区"}),
        json!({"kind": "community", "id": "c2", "street_id": "s1", "name": "和平社区"}),
        json!({"kind": "grid", "id": "c1-g1", "community_id": "c1", "name": "G1"}),
        json!({"kind": "grid", "id": "c2-g1", "community_id": "c2", "name": "G2"}),
        json!({"kind": "organisation", "id": "b1", "community_id": "c1", "organisation_kind": "party-branch", "name": "幸福社区党支部"}),
        json!({"kind": "organisation", "id": "b2", "community_id": "c2", "organisation_kind": "party-branch", "name": "和平社区党支部"}),
        json!({"kind": "organisation", "id": "p1", "community_id": "c1", "organisation_kind": "property-company", "name": "物业"}),
    ];
    for (id, grid, name, phone, id_number) in people {
        let tags = if id == "svc" {
            json!([])
        } else {
            json!(["party-member"])
        };
        records.push(
            json!({"kind": "resident", "id": format!("r-{id}"), "grid_id": grid, "tags": tags,
            "name": name, "phone": phone, "id_number": id_number}),
        );
    }
    for (org, id, role) in [
        ("b1", "sec", "secretary"),
        ("b1", "com", "committee-member"),
        ("b1", "m1", ""),
        ("b1", "m2", ""),
        ("b1", "m3", ""),
        ("b2", "other", "secretary"),
    ] {
        records.push(json!({"kind": "membership", "organisation_id": org, "resident_id": format!("r-{id}"), "role": role}));
    }
    let text: Vec<String> = records.iter().map(Value::to_string).collect();
    host.opened
        .platform
        .import_data(D, &text.join("\n"), Format::JsonLines)
        .await
        .expect("import");
    for id in ["sec", "com", "m1", "m2", "m3", "other", "svc"] {
        account(host, id, Role::Resident, Some(&format!("r-{id}"))).await;
    }
    account(host, "svc-far", Role::Resident, None).await;
    account(host, "admin", Role::DistrictAdmin, None).await;
    account(host, "aud", Role::Auditor, None).await;
}

async fn account(host: &TestHost, id: &str, role: Role, resident: Option<&str>) {
    host.opened
        .platform
        .create_account(AccountRequest {
            resident_id: resident.map(str::to_owned),
            ..account_request(id, role, Some(D))
        })
        .await
        .expect("account");
}

const ALL: &[Permission] = &[
    Permission::Kv,
    Permission::ReadOrganisations,
    Permission::ReadResidents,
    Permission::ReadPersonalFields,
    Permission::NotifyInbox,
    Permission::Schedules,
];

/// Install the app with `grants` and `config`, and stop the clock at the
/// first of January 2026; returns when it was installed (by the host's own
/// wall clock, which schedules count from).
async fn install(host: &TestHost, grants: &[Permission], config: Value) -> i64 {
    host.clock().set_ms(cst_ms(2026, 1, 1, 0));
    let manifest = std::fs::read_to_string(components::PARTY_BUILDING_MANIFEST).expect("manifest");
    host.install_with(
        D,
        &manifest,
        components::PARTY_BUILDING,
        grants,
        config,
        None,
    )
    .await
    .expect("install")
    .installed_at
}

async fn set_up(host: &TestHost) -> i64 {
    district(host).await;
    install(host, ALL, json!({})).await
}

async fn call(host: &TestHost, who: &str, method: Method, path: &str, body: Value) -> TestResponse {
    let token = host.token(who).await;
    host.json_as(
        &token,
        method,
        &format!("/d/{D}/apps/party-building{path}"),
        body,
    )
    .await
}

async fn get(host: &TestHost, who: &str, path: &str) -> TestResponse {
    call(host, who, Method::GET, path, Value::Null).await
}

async fn post(host: &TestHost, who: &str, path: &str, body: Value) -> TestResponse {
    call(host, who, Method::POST, path, body).await
}

#[track_caller]
fn expect(r: &TestResponse, status: StatusCode) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    if r.body.is_empty()
        || r.headers
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/csv"))
    {
        Value::Null
    } else {
        r.json()
    }
}

/// POST `body` as `who` and [`expect`] `status`; the answer's JSON.
async fn posted(host: &TestHost, who: &str, path: &str, body: Value, status: StatusCode) -> Value {
    expect(&post(host, who, path, body).await, status)
}

/// [`posted`] for one case of a table: a failure names who posted what.
async fn posted_case(
    host: &TestHost,
    who: &str,
    path: &str,
    body: Value,
    status: StatusCode,
) -> Value {
    let r = post(host, who, path, body.clone()).await;
    assert_eq!(r.status, status, "{who} posts {body}: {}", r.text());
    expect(&r, status)
}

/// Schedule an activity of `branch` as its secretary; returns its id.
async fn activity(host: &TestHost, branch: &str, kind: &str, start: i64, end: i64) -> String {
    let secretary = if branch == "b1" { "sec" } else { "other" };
    let r = post(
        host,
        secretary,
        &format!("/branches/{branch}/activities"),
        json!({"kind": kind, "title": format!("{kind} 会议"), "place": "党群服务中心", "agenda": "学习",
            "starts_at_ms": start, "ends_at_ms": end}),
    )
    .await;
    expect(&r, StatusCode::CREATED)["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn check_in(host: &TestHost, who: &str, id: &str) -> TestResponse {
    post(
        host,
        who,
        &format!("/activities/{id}/check-in"),
        Value::Null,
    )
    .await
}

async fn ledger(host: &TestHost, who: &str, query: &str) -> Value {
    let r = get(host, who, &format!("/branches/b1/ledger?{query}")).await;
    expect(&r, StatusCode::OK)
}

async fn report(host: &TestHost, who: &str, query: &str) -> Value {
    let r = get(host, who, &format!("/branches/b1/report?{query}")).await;
    expect(&r, StatusCode::OK)
}

fn member<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["member"] == id))
        .unwrap_or_else(|| panic!("no {id} in {report}"))
}

fn compliance<'a>(report: &'a Value, kind: &str) -> &'a Value {
    report["compliance"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["kind"] == kind))
        .unwrap_or_else(|| panic!("no {kind} in {report}"))
}

async fn check_in_opens_thirty_minutes_before_the_start_and_closes_at_the_end_to_the_millisecond(
    host: TestHost,
) {
    set_up(&host).await;
    let start = cst_ms(2026, 3, 5, 14);
    let end = start + 2 * HOUR;
    let id = activity(&host, "b1", "general-meeting", start, end).await;
    let clock = host.clock();

    clock.set_ms(start - 30 * MINUTE - 1);
    let r = check_in(&host, "m1", &id).await;
    let body = expect(&r, StatusCode::CONFLICT);
    assert!(error_message(&body).contains("2026-03-05 13:30"), "{body}");

    clock.set_ms(start - 30 * MINUTE);
    let body = expect(&check_in(&host, "m1", &id).await, StatusCode::CREATED);
    assert_eq!(body["status"], "present");
    assert_eq!(body["points_awarded"], 2.0);

    clock.set_ms(end - 1);
    expect(&check_in(&host, "m2", &id).await, StatusCode::CREATED);

    clock.set_ms(end);
    expect(&check_in(&host, "m3", &id).await, StatusCode::CONFLICT);

    // Checking in again is harmless: no second award.
    clock.set_ms(end - 1);
    let again = expect(&check_in(&host, "m1", &id).await, StatusCode::OK);
    assert_eq!(again["already_checked_in"], true);
    assert_eq!(again["points_awarded"], 0.0);
    let l = ledger(&host, "sec", "period=2026-03&member=r.r-m1").await;
    assert_eq!(l["entries"].as_array().map(Vec::len), Some(1), "{l}");
    assert_eq!(l["total"], 2.0);
}

async fn the_install_configuration_sets_the_window_and_the_points(host: TestHost) {
    district(&host).await;
    install(
        &host,
        ALL,
        json!({"check_in_opens_minutes_before": 10, "check_in_closes_minutes_after_end": 15,
               "points": {"attendance": 5}}),
    )
    .await;
    let start = cst_ms(2026, 3, 5, 14);
    let end = start + HOUR;
    let id = activity(&host, "b1", "lecture", start, end).await;
    let clock = host.clock();
    clock.set_ms(start - 10 * MINUTE - 1);
    expect(&check_in(&host, "m1", &id).await, StatusCode::CONFLICT);
    clock.set_ms(start - 10 * MINUTE);
    let body = expect(&check_in(&host, "m1", &id).await, StatusCode::CREATED);
    assert_eq!(body["points_awarded"], 5.0);
    clock.set_ms(end + 15 * MINUTE - 1);
    expect(&check_in(&host, "m2", &id).await, StatusCode::CREATED);
    clock.set_ms(end + 15 * MINUTE);
    expect(&check_in(&host, "m3", &id).await, StatusCode::CONFLICT);
}

async fn a_bad_configuration_is_refused_with_what_to_fix(host: TestHost) {
    district(&host).await;
    install(&host, ALL, json!({"utc_offset": "Beijing"})).await;
    let r = get(&host, "sec", "/branches/b1/report?period=2026-03").await;
    let body = expect(&r, StatusCode::BAD_REQUEST);
    let message = error_message(&body);
    assert!(
        message.contains("utc_offset") && message.contains("administrator"),
        "{message}"
    );
}

async fn a_member_of_another_branch_cannot_check_in(host: TestHost) {
    set_up(&host).await;
    let start = cst_ms(2026, 3, 5, 14);
    let id = activity(&host, "b1", "general-meeting", start, start + HOUR).await;
    host.clock().set_ms(start);
    let r = check_in(&host, "other", &id).await;
    let body = expect(&r, StatusCode::FORBIDDEN);
    assert!(
        error_message(&body).contains("not a member of branch `b1`"),
        "{body}"
    );
    // Nor can an account linked to no member, nor an administrator.
    expect(
        &check_in(&host, "svc-far", &id).await,
        StatusCode::FORBIDDEN,
    );
    expect(&check_in(&host, "admin", &id).await, StatusCode::FORBIDDEN);
    // Nor read the activity.
    expect(
        &get(&host, "other", &format!("/activities/{id}")).await,
        StatusCode::FORBIDDEN,
    );
    // The member of the branch can.
    expect(&check_in(&host, "m1", &id).await, StatusCode::CREATED);
    let sheet = expect(
        &get(&host, "sec", &format!("/activities/{id}")).await,
        StatusCode::OK,
    );
    let present: Vec<&Value> = sheet["attendance"]
        .as_array()
        .map(|a| a.iter().filter(|e| e["status"] == "present").collect())
        .unwrap_or_default();
    assert_eq!(present.len(), 1, "{sheet}");
    assert_eq!(present[0]["member"], "r.r-m1");
}

async fn in_service_members_register_leave_and_join_themed_days_and_committees_are_for_role_holders(
    host: TestHost,
) {
    set_up(&host).await;
    let r = post(
        &host,
        "svc",
        "/in-service",
        json!({"branch": "b1", "name": "周服务", "work_unit": "区财政局"}),
    )
    .await;
    assert_eq!(expect(&r, StatusCode::CREATED)["member"], "a.svc");
    // Once only.
    let r = post(
        &host,
        "svc",
        "/in-service",
        json!({"branch": "b2", "name": "周服务", "work_unit": "区财政局"}),
    )
    .await;
    expect(&r, StatusCode::CONFLICT);
    // A branch member need not register.
    let r = post(
        &host,
        "m1",
        "/in-service",
        json!({"branch": "b1", "name": "王一", "work_unit": "x"}),
    )
    .await;
    expect(&r, StatusCode::CONFLICT);
    // Leaving frees the account to register elsewhere; then back to b1.
    let left = call(&host, "svc", Method::DELETE, "/in-service", Value::Null).await;
    assert_eq!(expect(&left, StatusCode::OK)["left"], "b1");
    let again = call(&host, "svc", Method::DELETE, "/in-service", Value::Null).await;
    expect(&again, StatusCode::NOT_FOUND);
    let svc = json!({"branch": "b2", "name": "周服务", "work_unit": "区财政局"});
    posted(&host, "svc", "/in-service", svc, StatusCode::CREATED).await;
    let members = expect(
        &get(&host, "other", "/branches/b2/members").await,
        StatusCode::OK,
    );
    assert!(members.to_string().contains("a.svc"), "{members}");
    expect(
        &call(&host, "svc", Method::DELETE, "/in-service", Value::Null).await,
        StatusCode::OK,
    );
    let members = expect(
        &get(&host, "other", "/branches/b2/members").await,
        StatusCode::OK,
    );
    assert!(!members.to_string().contains("a.svc"), "{members}");
    let svc = json!({"branch": "b1", "name": "周服务", "work_unit": "区财政局"});
    posted(&host, "svc", "/in-service", svc, StatusCode::CREATED).await;

    let start = cst_ms(2026, 3, 5, 14);
    let committee = activity(&host, "b1", "committee-meeting", start, start + HOUR).await;
    let general = activity(&host, "b1", "general-meeting", start, start + HOUR).await;
    let themed = activity(&host, "b1", "themed-day", start, start + HOUR).await;
    host.clock().set_ms(start);
    expect(
        &check_in(&host, "m1", &committee).await,
        StatusCode::FORBIDDEN,
    );
    expect(
        &check_in(&host, "com", &committee).await,
        StatusCode::CREATED,
    );
    expect(
        &check_in(&host, "svc", &general).await,
        StatusCode::FORBIDDEN,
    );
    expect(&check_in(&host, "svc", &themed).await, StatusCode::CREATED);
    let members = expect(
        &get(&host, "sec", "/branches/b1/members").await,
        StatusCode::OK,
    );
    let svc = members["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["member"] == "a.svc"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(svc["kind"], "in-service");
    assert_eq!(svc["work_unit"], "区财政局");
}

async fn leave_and_absence_are_told_apart(host: TestHost) {
    set_up(&host).await;
    let start = cst_ms(2026, 3, 5, 14);
    let id = activity(&host, "b1", "general-meeting", start, start + HOUR).await;
    host.clock().set_ms(start - DAY);
    let leave = |who: &'static str| {
        let host = &host;
        let id = id.clone();
        async move {
            post(
                host,
                who,
                &format!("/activities/{id}/leave"),
                json!({"reason": "出差"}),
            )
            .await
        }
    };
    assert_eq!(
        expect(&leave("m1").await, StatusCode::CREATED)["leave"],
        "pending"
    );
    expect(&leave("m1").await, StatusCode::CONFLICT);
    expect(&leave("m2").await, StatusCode::CREATED);
    // Only the secretary decides.
    expect(
        &post(
            &host,
            "m3",
            &format!("/activities/{id}/leave/r.r-m1/approve"),
            Value::Null,
        )
        .await,
        StatusCode::FORBIDDEN,
    );
    let approved = expect(
        &post(
            &host,
            "sec",
            &format!("/activities/{id}/leave/r.r-m1/approve"),
            Value::Null,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(
        (approved["status"].as_str(), approved["leave"].as_str()),
        (Some("leave"), Some("approved"))
    );
    expect(
        &post(
            &host,
            "sec",
            &format!("/activities/{id}/leave/r.r-m1/refuse"),
            Value::Null,
        )
        .await,
        StatusCode::CONFLICT,
    );
    let refused = posted(
        &host,
        "sec",
        &format!("/activities/{id}/leave/r.r-m2/refuse"),
        json!({"note": "会议重要"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (refused["status"].as_str(), refused["leave"].as_str()),
        (Some("absent"), Some("refused"))
    );
    expect(
        &post(
            &host,
            "sec",
            &format!("/activities/{id}/leave/r.r-m3/approve"),
            Value::Null,
        )
        .await,
        StatusCode::NOT_FOUND,
    );
    // Too late to ask once it started.
    host.clock().set_ms(start);
    expect(&leave("m3").await, StatusCode::CONFLICT);
    expect(&check_in(&host, "com", &id).await, StatusCode::CREATED);

    host.clock().set_ms(cst_ms(2026, 4, 1, 9));
    let r = report(&host, "sec", "period=2026-03").await;
    let counts = |id: &str| {
        let m = member(&r, id);
        (
            m["expected"].as_u64(),
            m["present"].as_u64(),
            m["leave"].as_u64(),
            m["absent"].as_u64(),
        )
    };
    assert_eq!(counts("r.r-m1"), (Some(1), Some(0), Some(1), Some(0)));
    assert_eq!(counts("r.r-m2"), (Some(1), Some(0), Some(0), Some(1)));
    assert_eq!(counts("r.r-m3"), (Some(1), Some(0), Some(0), Some(1)));
    assert_eq!(counts("r.r-com"), (Some(1), Some(1), Some(0), Some(0)));
    assert_eq!(member(&r, "r.r-m1")["attendance_rate"], 0.0);
    let totals = &r["totals"];
    assert_eq!(
        (
            totals["present"].as_u64(),
            totals["leave"].as_u64(),
            totals["absent"].as_u64()
        ),
        (Some(1), Some(1), Some(3))
    );
}

async fn records_by_hand_say_so_and_change_points_by_new_ledger_entries(host: TestHost) {
    set_up(&host).await;
    let start = cst_ms(2026, 3, 5, 14);
    let id = activity(&host, "b1", "general-meeting", start, start + HOUR).await;
    host.clock().set_ms(start);
    expect(&check_in(&host, "m1", &id).await, StatusCode::CREATED);
    let path = format!("/activities/{id}/attendance");
    // A member cannot record anyone.
    posted(
        &host,
        "m2",
        &path,
        json!({"member": "r.r-m2", "status": "present"}),
        StatusCode::FORBIDDEN,
    )
    .await;
    // Someone not expected cannot be recorded.
    posted(
        &host,
        "sec",
        &path,
        json!({"member": "r.r-other", "status": "present"}),
        StatusCode::BAD_REQUEST,
    )
    .await;

    host.clock().set_ms(start + 2 * HOUR);
    let r = posted(
        &host,
        "sec",
        &path,
        json!({"member": "r.r-m1", "status": "absent", "note": "早退"}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        (
            r["status"].as_str(),
            r["recorded_by_hand"].as_bool(),
            r["points_change"].as_f64()
        ),
        (Some("absent"), Some(true), Some(-2.0))
    );
    host.clock().advance_ms(MINUTE);
    let r = posted(
        &host,
        "sec",
        &path,
        json!({"member": "r.r-m1", "status": "present"}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(r["points_change"], 2.0);
    let r = posted(
        &host,
        "sec",
        &path,
        json!({"member": "r.r-m2", "status": "leave"}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        (r["status"].as_str(), r["points_change"].as_f64()),
        (Some("leave"), Some(0.0))
    );

    let l = ledger(&host, "sec", "period=2026-03&member=r.r-m1").await;
    let points: Vec<f64> = l["entries"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["points"].as_f64()).collect())
        .unwrap_or_default();
    assert_eq!(points, [2.0, -2.0, 2.0], "{l}");
    assert_eq!(l["total"], 2.0);
    let sheet = expect(
        &get(&host, "sec", &format!("/activities/{id}")).await,
        StatusCode::OK,
    );
    let m1 = sheet["attendance"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["member"] == "r.r-m1"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (m1["status"].as_str(), m1["recorded_by_hand"].as_bool()),
        (Some("present"), Some(true))
    );
    // A member sees only their own standing.
    let mine = expect(
        &get(&host, "m2", &format!("/activities/{id}")).await,
        StatusCode::OK,
    );
    assert_eq!(mine["mine"]["status"], "leave");
    assert!(mine.get("attendance").is_none(), "{mine}");
}

async fn the_ledger_is_corrected_by_new_entries_and_never_changed(host: TestHost) {
    set_up(&host).await;
    let start = cst_ms(2026, 3, 5, 14);
    let id = activity(&host, "b1", "lecture", start, start + HOUR).await;
    host.clock().set_ms(start);
    expect(&check_in(&host, "m1", &id).await, StatusCode::CREATED);
    let entry = format!("att.{id}");
    let corrections = "/branches/b1/ledger/corrections";
    let r = post(&host, "sec", corrections, json!({"member": "r.r-m1", "points": -0.5, "reason": "迟到", "month": "2026-03", "corrects": entry})).await;
    let c = expect(&r, StatusCode::CREATED);
    assert_eq!(
        (c["points"].as_f64(), c["corrects"].as_str()),
        (Some(-0.5), Some(entry.as_str()))
    );
    // A correction must name a real entry, be a tenth at least, and come from the secretary.
    for (who, body, status) in [
        (
            "sec",
            json!({"member": "r.r-m1", "points": 1, "reason": "x", "month": "2026-03", "corrects": "att.nope"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "sec",
            json!({"member": "r.r-m1", "points": 0.25, "reason": "x"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "sec",
            json!({"member": "r.r-other", "points": 1, "reason": "x"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "m1",
            json!({"member": "r.r-m1", "points": 10, "reason": "x"}),
            StatusCode::FORBIDDEN,
        ),
    ] {
        posted_case(&host, who, corrections, body, status).await;
    }
    // Nothing changes or removes an entry.
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        let r = call(
            &host,
            "sec",
            method.clone(),
            "/branches/b1/ledger",
            json!({}),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}: {}",
            r.text()
        );
        let r = call(&host, "sec", method.clone(), corrections, json!({})).await;
        assert_eq!(
            r.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}: {}",
            r.text()
        );
    }
    let l = ledger(&host, "sec", "period=2026-03&member=r.r-m1").await;
    assert_eq!(l["entries"].as_array().map(Vec::len), Some(2), "{l}");
    assert_eq!(l["total"], 1.5);
    // A member reads their own entries only.
    let own = ledger(&host, "m2", "period=2026-03&member=r.r-m1").await;
    assert_eq!(own["member"], "r.r-m2");
    assert_eq!(own["entries"], json!([]));
    host.clock().set_ms(cst_ms(2026, 4, 1, 0));
    assert_eq!(
        member(&report(&host, "sec", "period=2026-03").await, "r.r-m1")["points"],
        1.5
    );
}

async fn volunteer_hours_earn_points_once_the_secretary_confirms_them(host: TestHost) {
    district(&host).await;
    install(&host, ALL, json!({"points": {"volunteer_hour": 2}})).await;
    posted(
        &host,
        "svc",
        "/in-service",
        json!({"branch": "b1", "name": "周服务", "work_unit": "区财政局"}),
        StatusCode::CREATED,
    )
    .await;
    posted(
        &host,
        "m1",
        "/branches/b1/tasks",
        json!({"title": "x"}),
        StatusCode::FORBIDDEN,
    )
    .await;
    let task = posted(
        &host,
        "sec",
        "/branches/b1/tasks",
        json!({"title": "垃圾分类宣传", "description": "周末"}),
        StatusCode::CREATED,
    )
    .await;
    let task = task["id"].as_str().unwrap_or_default().to_owned();
    host.clock().set_ms(cst_ms(2026, 3, 8, 18));
    let hours = format!("/tasks/{task}/hours");
    let log = |who: &'static str, body: Value| {
        let host = &host;
        let hours = hours.clone();
        async move { post(host, who, &hours, body).await }
    };
    let svc = expect(
        &log(
            "svc",
            json!({"hours": 2.5, "date": "2026-03-07", "note": "宣传"}),
        )
        .await,
        StatusCode::CREATED,
    );
    let m1 = expect(
        &log("m1", json!({"hours": 1, "date": "2026-03-08"})).await,
        StatusCode::CREATED,
    );
    for (who, body, status) in [
        (
            "other",
            json!({"hours": 1, "date": "2026-03-08"}),
            StatusCode::FORBIDDEN,
        ),
        (
            "m2",
            json!({"hours": 1.25, "date": "2026-03-08"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "m2",
            json!({"hours": 30, "date": "2026-03-08"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "m2",
            json!({"hours": 1, "date": "2026-03-09"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "m2",
            json!({"hours": 1, "date": "2026-02-30"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        posted_case(&host, who, &hours, body, status).await;
    }
    let svc_id = svc["log"]["id"].as_str().unwrap_or_default().to_owned();
    let m1_id = m1["log"]["id"].as_str().unwrap_or_default().to_owned();
    // Only the secretary confirms, and a confirmed log is settled.
    for (who, step, status) in [
        ("svc", "confirm", StatusCode::FORBIDDEN),
        ("sec", "confirm", StatusCode::OK),
        ("sec", "refuse", StatusCode::CONFLICT),
        ("sec", "confirm", StatusCode::CONFLICT),
    ] {
        let path = format!("/hours/{svc_id}/{step}");
        posted_case(&host, who, &path, Value::Null, status).await;
    }
    posted(
        &host,
        "sec",
        &format!("/hours/{m1_id}/refuse"),
        json!({"note": "无记录"}),
        StatusCode::OK,
    )
    .await;

    let listed = expect(
        &get(&host, "sec", "/branches/b1/hours?period=2026-03").await,
        StatusCode::OK,
    );
    let statuses: Vec<&str> = listed["hours"]
        .as_array()
        .map(|h| h.iter().filter_map(|h| h["status"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(statuses.len(), 2);
    assert!(
        statuses.contains(&"confirmed") && statuses.contains(&"refused"),
        "{statuses:?}"
    );
    let own = expect(
        &get(&host, "m1", "/branches/b1/hours?period=2026-03").await,
        StatusCode::OK,
    );
    assert_eq!(own["hours"].as_array().map(Vec::len), Some(1));

    let l = ledger(&host, "sec", "period=2026-03&member=a.svc").await;
    assert_eq!(l["total"], 5.0, "{l}");
    assert_eq!(
        ledger(&host, "sec", "period=2026-03&member=r.r-m1").await["total"],
        0.0
    );
    let r = report(&host, "sec", "period=2026-03").await;
    assert_eq!(member(&r, "a.svc")["volunteer_hours"], 2.5);
    assert_eq!(member(&r, "r.r-m1")["volunteer_hours"], 0.0);
    assert_eq!(r["totals"]["volunteer_hours"], 2.5);
}

async fn compliance_per_month_and_quarter_matches_the_hand_computed_fixture(host: TestHost) {
    set_up(&host).await;
    // Q1 2026 of branch b1, by hand:
    //   January:  committee 1, group 1
    //   February: committee 1
    //   March:    committee 1, group 1, lecture 1
    //   no general meeting in the quarter;
    //   a group meeting at 07:00 on 1 April (+08:00), which is still 31 March
    //   in UTC, counts for April; and one on 20 April, not held by the report.
    for (kind, (y, m, d, h)) in [
        ("committee-meeting", (2026, 1, 10, 9)),
        ("group-meeting", (2026, 1, 20, 9)),
        ("committee-meeting", (2026, 2, 10, 9)),
        ("committee-meeting", (2026, 3, 10, 9)),
        ("group-meeting", (2026, 3, 20, 9)),
        ("lecture", (2026, 3, 31, 20)),
        ("group-meeting", (2026, 4, 1, 7)),
        ("group-meeting", (2026, 4, 20, 9)),
    ] {
        let start = cst_ms(y, m, d, h);
        activity(&host, "b1", kind, start, start + HOUR).await;
    }
    host.clock().set_ms(cst_ms(2026, 4, 2, 12));

    let march = report(&host, "admin", "period=2026-03").await;
    let row = |r: &Value, kind: &str| {
        let c = compliance(r, kind);
        (
            c["window"].as_str().map(str::to_owned),
            c["required"].as_u64(),
            c["held"].as_u64(),
            c["periods"].as_u64(),
            c["periods_met"].as_u64(),
            c["met"].as_bool(),
        )
    };
    let s = |t: &str| Some(t.to_owned());
    assert_eq!(
        row(&march, "committee-meeting"),
        (s("2026-03"), Some(1), Some(1), Some(1), Some(1), Some(true))
    );
    assert_eq!(
        row(&march, "group-meeting"),
        (s("2026-03"), Some(1), Some(1), Some(1), Some(1), Some(true))
    );
    assert_eq!(
        row(&march, "general-meeting"),
        (
            s("2026-Q1"),
            Some(1),
            Some(0),
            Some(1),
            Some(0),
            Some(false)
        )
    );
    assert_eq!(
        row(&march, "lecture"),
        (s("2026-Q1"), Some(1), Some(1), Some(1), Some(1), Some(true))
    );
    assert_eq!(march["compliant"], false);
    assert_eq!(march["totals"]["activities_held"], 3);

    let february = report(&host, "admin", "period=2026-02").await;
    assert_eq!(
        row(&february, "group-meeting"),
        (
            s("2026-02"),
            Some(1),
            Some(0),
            Some(1),
            Some(0),
            Some(false)
        )
    );

    let q1 = report(&host, "admin", "period=2026-Q1").await;
    assert_eq!(
        row(&q1, "committee-meeting"),
        (s("2026-Q1"), Some(3), Some(3), Some(3), Some(3), Some(true))
    );
    assert_eq!(
        row(&q1, "group-meeting"),
        (
            s("2026-Q1"),
            Some(3),
            Some(2),
            Some(3),
            Some(2),
            Some(false)
        )
    );
    assert_eq!(
        row(&q1, "general-meeting"),
        (
            s("2026-Q1"),
            Some(1),
            Some(0),
            Some(1),
            Some(0),
            Some(false)
        )
    );
    assert_eq!(
        row(&q1, "lecture"),
        (s("2026-Q1"), Some(1), Some(1), Some(1), Some(1), Some(true))
    );
    assert_eq!(q1["totals"]["activities_held"], 6);

    let april = report(&host, "admin", "period=2026-04").await;
    assert_eq!(
        row(&april, "group-meeting"),
        (s("2026-04"), Some(1), Some(1), Some(1), Some(1), Some(true))
    );
    assert_eq!(
        (
            april["totals"]["activities_held"].as_u64(),
            april["totals"]["activities_planned"].as_u64()
        ),
        (Some(1), Some(1))
    );

    // The compliance table as CSV: one row per required kind.
    let r = get(
        &host,
        "admin",
        "/branches/b1/report?period=2026-Q1&format=csv&table=compliance",
    )
    .await;
    expect(&r, StatusCode::OK);
    let text = r.text();
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(
        lines[0],
        "branch,name,period,kind,per,count,window,required,held,periods,periods_met,met"
    );
    assert!(
        lines.contains(&"b1,幸福社区党支部,2026-Q1,group-meeting,month,1,2026-Q1,3,2,3,2,false"),
        "{text}"
    );
    assert_eq!(lines.len(), 5);
    // A bad period says what is allowed.
    let bad = expect(
        &get(&host, "admin", "/branches/b1/report?period=2026-13").await,
        StatusCode::BAD_REQUEST,
    );
    assert!(error_message(&bad).contains("2026-Q1"), "{bad}");
}

/// March: a general meeting (sec, com, m1 check in; m2 on approved leave;
/// m3 absent) and a themed day (sec and the in-service member check in),
/// 2.5 confirmed hours for the in-service member.
async fn march_fixture(host: &TestHost) {
    let r = post(
        host,
        "svc",
        "/in-service",
        json!({"branch": "b1", "name": "周服务", "work_unit": "区委办公室, \"一科\""}),
    )
    .await;
    expect(&r, StatusCode::CREATED);
    let start = cst_ms(2026, 3, 5, 14);
    let general = activity(host, "b1", "general-meeting", start, start + HOUR).await;
    let themed = activity(host, "b1", "themed-day", start + DAY, start + DAY + HOUR).await;
    host.clock().set_ms(start - DAY);
    posted(
        host,
        "m2",
        &format!("/activities/{general}/leave"),
        json!({"reason": "出差"}),
        StatusCode::CREATED,
    )
    .await;
    expect(
        &post(
            host,
            "sec",
            &format!("/activities/{general}/leave/r.r-m2/approve"),
            Value::Null,
        )
        .await,
        StatusCode::OK,
    );
    host.clock().set_ms(start);
    for who in ["sec", "com", "m1"] {
        expect(&check_in(host, who, &general).await, StatusCode::CREATED);
    }
    host.clock().set_ms(start + DAY);
    for who in ["sec", "svc"] {
        expect(&check_in(host, who, &themed).await, StatusCode::CREATED);
    }
    let task = posted(
        host,
        "sec",
        "/branches/b1/tasks",
        json!({"title": "助老"}),
        StatusCode::CREATED,
    )
    .await;
    let log = post(
        host,
        "svc",
        &format!("/tasks/{}/hours", task["id"].as_str().unwrap_or_default()),
        json!({"hours": 2.5, "date": "2026-03-06"}),
    )
    .await;
    let log = expect(&log, StatusCode::CREATED);
    let id = log["log"]["id"].as_str().unwrap_or_default().to_owned();
    expect(
        &post(host, "sec", &format!("/hours/{id}/confirm"), Value::Null).await,
        StatusCode::OK,
    );
    host.clock().set_ms(cst_ms(2026, 4, 1, 9));
}

async fn the_branch_report_counts_attendance_hours_and_ranks_points_in_json_and_csv(
    host: TestHost,
) {
    set_up(&host).await;
    march_fixture(&host).await;
    let r = report(&host, "sec", "period=2026-03").await;
    // By hand: expected = 5 members at the general meeting, 5 + 1 at the
    // themed day; points 2 an attendance, 1 an hour.
    let figures = |id: &str| {
        let m = member(&r, id);
        (
            m["expected"].as_u64().unwrap_or(99),
            m["present"].as_u64().unwrap_or(99),
            m["leave"].as_u64().unwrap_or(99),
            m["absent"].as_u64().unwrap_or(99),
            m["attendance_rate"].as_f64(),
            m["points"].as_f64().unwrap_or(-1.0),
            m["rank"].as_u64().unwrap_or(99),
        )
    };
    assert_eq!(figures("a.svc"), (1, 1, 0, 0, Some(1.0), 4.5, 1));
    assert_eq!(figures("r.r-sec"), (2, 2, 0, 0, Some(1.0), 4.0, 2));
    assert_eq!(figures("r.r-com"), (2, 1, 0, 1, Some(0.5), 2.0, 3));
    assert_eq!(figures("r.r-m1"), (2, 1, 0, 1, Some(0.5), 2.0, 3));
    assert_eq!(figures("r.r-m2"), (2, 0, 1, 1, Some(0.0), 0.0, 5));
    assert_eq!(figures("r.r-m3"), (2, 0, 0, 2, Some(0.0), 0.0, 5));
    let order: Vec<&str> = r["members"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["member"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        order,
        ["a.svc", "r.r-sec", "r.r-com", "r.r-m1", "r.r-m2", "r.r-m3"]
    );
    let t = &r["totals"];
    assert_eq!(
        (
            t["expected"].as_u64(),
            t["present"].as_u64(),
            t["leave"].as_u64(),
            t["absent"].as_u64()
        ),
        (Some(11), Some(5), Some(1), Some(5))
    );
    assert_eq!(t["attendance_rate"], 0.4545);
    assert_eq!(
        (t["volunteer_hours"].as_f64(), t["points"].as_f64()),
        (Some(2.5), Some(12.5))
    );
    assert_eq!(
        (t["members"].as_u64(), t["in_service"].as_u64()),
        (Some(5), Some(1))
    );
    assert_eq!(member(&r, "r.r-sec")["name"], "张书记");
    assert_eq!(r["names"], "full");

    let csv = get(
        &host,
        "sec",
        "/branches/b1/report?period=2026-03&format=csv",
    )
    .await;
    expect(&csv, StatusCode::OK);
    assert_eq!(
        csv.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/csv; charset=utf-8")
    );
    let text = csv.text();
    assert!(
        text.starts_with('\u{feff}'),
        "a byte-order mark for spreadsheets"
    );
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').split("\r\n").collect();
    assert_eq!(
        lines[0],
        "branch,period,rank,member,name,kind,role,work_unit,expected,present,leave,absent,attendance_rate,volunteer_hours,points"
    );
    assert_eq!(
        lines[1],
        "b1,2026-03,1,a.svc,周服务,in-service,,\"区委办公室, \"\"一科\"\"\",1,1,0,0,1.0000,2.5,4.5"
    );
    assert_eq!(
        lines[2],
        "b1,2026-03,2,r.r-sec,张书记,member,secretary,,2,2,0,0,1.0000,0,4"
    );
    assert_eq!(
        lines.len(),
        8,
        "a header, six members and the final line break: {text}"
    );
    // The report is the secretary's, the administrators' and auditors'.
    expect(
        &get(&host, "aud", "/branches/b1/report?period=2026-03").await,
        StatusCode::OK,
    );
    expect(
        &get(&host, "m1", "/branches/b1/report?period=2026-03").await,
        StatusCode::FORBIDDEN,
    );
    expect(
        &get(&host, "other", "/branches/b1/report?period=2026-03").await,
        StatusCode::FORBIDDEN,
    );
    expect(
        &get(
            &host,
            "sec",
            "/branches/b1/report?period=2026-03&format=xml",
        )
        .await,
        StatusCode::BAD_REQUEST,
    );
    expect(
        &get(&host, "sec", "/branches/p1/report?period=2026-03").await,
        StatusCode::NOT_FOUND,
    );
}

async fn names_are_all_the_app_shows_of_personal_data(host: TestHost) {
    set_up(&host).await;
    march_fixture(&host).await;
    let mut bodies = Vec::new();
    for (who, path) in [
        ("sec", "/branches/b1/report?period=2026-03"),
        ("sec", "/branches/b1/report?period=2026-03&format=csv"),
        ("sec", "/branches/b1/members"),
        ("m1", "/branches/b1/members"),
        ("admin", "/reports?period=2026-03"),
        ("admin", "/reports?period=2026-03&format=csv"),
        ("sec", "/branches/b1/ledger?period=2026-03"),
        ("sec", "/branches/b1/activities?period=2026-03"),
    ] {
        let r = get(&host, who, path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        bodies.push((path, r.text()));
    }
    let ids = expect(
        &get(&host, "sec", "/branches/b1/activities?period=2026-03").await,
        StatusCode::OK,
    );
    for a in ids["activities"].as_array().cloned().unwrap_or_default() {
        let r = get(
            &host,
            "sec",
            &format!("/activities/{}", a["id"].as_str().unwrap_or_default()),
        )
        .await;
        bodies.push(("/activities/{id}", r.text()));
    }
    let (_, report) = &bodies[0];
    assert!(
        report.contains("张书记"),
        "names are shown with the grant: {report}"
    );
    for (path, body) in &bodies {
        for secret in ["138000000", "1101011980", "1980-01-01"] {
            assert!(
                !body.contains(secret),
                "{path} shows personal data `{secret}`: {body}"
            );
        }
    }
}

async fn without_the_personal_fields_grant_names_come_masked_and_the_report_says_so(
    host: TestHost,
) {
    district(&host).await;
    let grants: Vec<Permission> = ALL
        .iter()
        .copied()
        .filter(|p| *p != Permission::ReadPersonalFields)
        .collect();
    install(&host, &grants, json!({})).await;
    march_fixture(&host).await;
    let r = report(&host, "sec", "period=2026-03").await;
    assert_eq!(r["names"], "masked");
    assert_eq!(member(&r, "r.r-sec")["name"], "张**");
    assert_eq!(
        member(&r, "a.svc")["name"],
        "周**",
        "the in-service member's own name is masked alike"
    );
    let members = expect(
        &get(&host, "sec", "/branches/b1/members").await,
        StatusCode::OK,
    );
    assert_eq!(members["names"], "masked");
    assert!(!members.to_string().contains("张书记"), "{members}");
}

async fn without_read_organisations_the_app_is_denied_and_says_which_permission(host: TestHost) {
    district(&host).await;
    let grants: Vec<Permission> = ALL
        .iter()
        .copied()
        .filter(|p| *p != Permission::ReadOrganisations)
        .collect();
    install(&host, &grants, json!({})).await;
    let r = get(&host, "sec", "/branches/b1/report?period=2026-03").await;
    let body = expect(&r, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "denied");
    assert!(
        error_message(&body).contains("read-organisations"),
        "{body}"
    );
    // And the denial is in the access log.
    let log = host
        .opened
        .platform
        .access_log(D, Some("party-building"), None, 100)
        .await
        .expect("log");
    assert!(
        log.iter()
            .any(|e| e.outcome == "denied" && e.permission == "read-organisations"),
        "{log:?}"
    );
}

async fn only_the_secretary_or_an_administrator_organises(host: TestHost) {
    set_up(&host).await;
    let start = cst_ms(2026, 3, 5, 14);
    let body = json!({"kind": "lecture", "title": "党课", "starts_at_ms": start, "ends_at_ms": start + HOUR});
    expect(
        &post(&host, "m1", "/branches/b1/activities", body.clone()).await,
        StatusCode::FORBIDDEN,
    );
    expect(
        &post(&host, "other", "/branches/b1/activities", body.clone()).await,
        StatusCode::FORBIDDEN,
    );
    expect(
        &post(&host, "aud", "/branches/b1/activities", body.clone()).await,
        StatusCode::FORBIDDEN,
    );
    expect(
        &post(&host, "admin", "/branches/b1/activities", body.clone()).await,
        StatusCode::CREATED,
    );
    let r = host
        .get_as(None, &format!("/d/{D}/apps/party-building/branches"))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    // Bad input is refused with what is allowed, and stores nothing.
    for (bad, needle) in [
        (
            json!({"kind": "picnic", "title": "x", "starts_at_ms": start, "ends_at_ms": start + HOUR}),
            "kinds:",
        ),
        (
            json!({"kind": "lecture", "title": "", "starts_at_ms": start, "ends_at_ms": start + HOUR}),
            "title",
        ),
        (
            json!({"kind": "lecture", "title": "x", "starts_at_ms": start, "ends_at_ms": start}),
            "ends_at_ms",
        ),
        (
            json!({"kind": "lecture", "title": "x", "starts_at_ms": start, "ends_at_ms": start + 2 * DAY}),
            "24 hours",
        ),
    ] {
        let r = posted(
            &host,
            "sec",
            "/branches/b1/activities",
            bad,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(error_message(&r).contains(needle), "{r}");
    }
    let listed = expect(
        &get(&host, "sec", "/branches/b1/activities?period=2026-03").await,
        StatusCode::OK,
    );
    assert_eq!(listed["activities"].as_array().map(Vec::len), Some(1));
    let branches = expect(&get(&host, "m1", "/branches").await, StatusCode::OK);
    let ids: Vec<&str> = branches["branches"]
        .as_array()
        .map(|b| b.iter().filter_map(|b| b["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["b1", "b2"], "party branches only");
}

async fn inbox(host: &TestHost, who: &str) -> Vec<Value> {
    let token = host.token(who).await;
    let r = host.get_as(Some(&token), "/api/v1/inbox").await;
    expect(&r, StatusCode::OK)["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn tick_at(host: &TestHost, at: i64) {
    host.clock().set_ms(at);
    host.opened.platform.run_due_ticks().await.expect("ticks");
}

async fn reminders_reach_the_expected_members_once_before_the_start(host: TestHost) {
    let installed = set_up(&host).await;
    posted(
        &host,
        "svc",
        "/in-service",
        json!({"branch": "b1", "name": "周服务", "work_unit": "区财政局"}),
        StatusCode::CREATED,
    )
    .await;
    // Ticks run only for periods after the install: two days after it, on
    // the hour.
    let start = installed - installed.rem_euclid(HOUR) + 2 * DAY;
    let general = activity(&host, "b1", "general-meeting", start, start + HOUR).await;
    let committee = activity(
        &host,
        "b1",
        "committee-meeting",
        start + DAY,
        start + DAY + HOUR,
    )
    .await;
    let themed = activity(
        &host,
        "b1",
        "themed-day",
        start + 2 * DAY,
        start + 2 * DAY + HOUR,
    )
    .await;
    // Seventy minutes before: too early for the hour's lead.
    tick_at(&host, start - 70 * MINUTE).await;
    assert!(inbox(&host, "m1").await.is_empty());
    tick_at(&host, start - 55 * MINUTE).await;
    let m1 = inbox(&host, "m1").await;
    assert_eq!(m1.len(), 1, "{m1:?}");
    assert!(
        m1[0]["subject"]
            .as_str()
            .unwrap_or("")
            .contains("general-meeting"),
        "{m1:?}"
    );
    // Later ticks before the start send nothing again, even when the app's
    // note that it reminded is lost (a crash between sending and noting):
    // the idempotency key makes the host send nothing twice.
    let forgotten = host
        .execute_raw("DELETE FROM kv WHERE app = 'party-building' AND key LIKE 'rem/%'")
        .await;
    assert_eq!(forgotten, 1);
    tick_at(&host, start - 50 * MINUTE).await;
    tick_at(&host, start - 5 * MINUTE).await;
    assert_eq!(inbox(&host, "m1").await.len(), 1);
    assert_eq!(inbox(&host, "sec").await.len(), 1);
    assert!(
        inbox(&host, "svc").await.is_empty(),
        "in-service members do not attend general meetings"
    );
    assert!(
        inbox(&host, "other").await.is_empty(),
        "another branch's member"
    );
    // The committee meeting reaches role holders only.
    tick_at(&host, start + DAY - 30 * MINUTE).await;
    assert_eq!(inbox(&host, "m1").await.len(), 1);
    assert_eq!(inbox(&host, "com").await.len(), 2);
    // The themed day reaches the in-service member too.
    tick_at(&host, start + 2 * DAY - 30 * MINUTE).await;
    assert_eq!(inbox(&host, "svc").await.len(), 1);
    assert_eq!(inbox(&host, "m1").await.len(), 2);
    let _ = (general, committee, themed);
}

async fn the_report_over_every_branch_pages_and_is_for_administrators_and_auditors(host: TestHost) {
    set_up(&host).await;
    march_fixture(&host).await;
    let all = expect(
        &get(&host, "admin", "/reports?period=2026-03").await,
        StatusCode::OK,
    );
    let branches = all["branches"].as_array().cloned().unwrap_or_default();
    assert_eq!(branches.len(), 2);
    assert_eq!(branches[0]["branch"]["id"], "b1");
    assert_eq!(branches[0]["totals"]["present"], 5);
    assert_eq!(branches[1]["totals"]["members"], 1);
    assert!(
        branches[0].get("members").is_none(),
        "no per-member rows over every branch"
    );
    assert_eq!(all["next_cursor"], Value::Null);
    let first = expect(
        &get(&host, "aud", "/reports?period=2026-03&limit=1").await,
        StatusCode::OK,
    );
    assert_eq!(first["branches"].as_array().map(Vec::len), Some(1));
    let cursor = first["next_cursor"].as_str().unwrap_or_default().to_owned();
    let second = expect(
        &get(
            &host,
            "aud",
            &format!("/reports?period=2026-03&limit=1&cursor={cursor}"),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(second["branches"][0]["branch"]["id"], "b2");
    expect(
        &get(&host, "admin", "/reports?period=2026-03&limit=201").await,
        StatusCode::BAD_REQUEST,
    );
    expect(
        &get(&host, "sec", "/reports?period=2026-03").await,
        StatusCode::FORBIDDEN,
    );
    let csv = get(&host, "admin", "/reports?period=2026-03&format=csv").await;
    expect(&csv, StatusCode::OK);
    let text = csv.text();
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').split("\r\n").collect();
    assert!(
        lines[0].starts_with("branch,name,community,period,compliant"),
        "{text}"
    );
    assert!(
        lines[1]
            .starts_with("b1,幸福社区党支部,c1,2026-03,false,1,4,5,1,2,11,5,1,5,0.4545,2.5,12.5"),
        "{text}"
    );
}

async fn an_activity_cancelled_before_its_start_leaves_the_reports_and_the_reminders(
    host: TestHost,
) {
    let installed = set_up(&host).await;
    let start = installed - installed.rem_euclid(HOUR) + 2 * DAY;
    let kept = activity(&host, "b1", "lecture", start, start + HOUR).await;
    let dropped = activity(&host, "b1", "group-meeting", start, start + HOUR).await;
    let cancel = format!("/activities/{dropped}/cancel");
    host.clock().set_ms(start - DAY);
    posted(
        &host,
        "m1",
        &cancel,
        json!({"reason": "改期"}),
        StatusCode::FORBIDDEN,
    )
    .await;
    posted(
        &host,
        "sec",
        &cancel,
        json!({"reason": ""}),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let c = posted(
        &host,
        "sec",
        &cancel,
        json!({"reason": "改期"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(c["cancelled"]["by"], "sec");
    posted(
        &host,
        "sec",
        &cancel,
        json!({"reason": "改期"}),
        StatusCode::CONFLICT,
    )
    .await;
    let leave = post(
        &host,
        "m2",
        &format!("/activities/{dropped}/leave"),
        json!({"reason": "x"}),
    )
    .await;
    expect(&leave, StatusCode::CONFLICT);
    let shown = expect(
        &get(&host, "m1", &format!("/activities/{dropped}")).await,
        StatusCode::OK,
    );
    assert_eq!(shown["cancelled"]["reason"], "改期");

    tick_at(&host, start - 30 * MINUTE).await;
    let m1 = inbox(&host, "m1").await;
    assert_eq!(m1.len(), 1, "only the lecture is reminded: {m1:?}");
    assert!(
        m1[0]["subject"].as_str().unwrap_or("").contains("lecture"),
        "{m1:?}"
    );

    host.clock().set_ms(start);
    expect(&check_in(&host, "m1", &dropped).await, StatusCode::CONFLICT);
    expect(&check_in(&host, "m1", &kept).await, StatusCode::CREATED);
    // Once started, an activity stays.
    let late = post(
        &host,
        "sec",
        &format!("/activities/{kept}/cancel"),
        json!({"reason": "x"}),
    )
    .await;
    expect(&late, StatusCode::CONFLICT);
    host.clock().set_ms(start + MINUTE);
    let r = report(&host, "sec", "").await;
    assert_eq!(
        (
            r["totals"]["activities_held"].as_u64(),
            r["totals"]["activities_planned"].as_u64()
        ),
        (Some(1), Some(0)),
        "{r}"
    );
    let ids: Vec<&str> = r["activities"]
        .as_array()
        .map(|a| a.iter().filter_map(|a| a["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, [kept.as_str()]);
}
