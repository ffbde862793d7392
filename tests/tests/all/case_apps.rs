//! Cases through real apps: opening, reading and commenting on the app's own
//! cases, the grants each needs, the install's scope, the access log, and
//! the case watcher being told of each transition, in order, retried and
//! finally set aside when it keeps failing, by one host process or several.

use axum::http::StatusCode;
use hutong_host::Platform;
use hutong_host::accounts::{Caller, Role};
use hutong_host::cases::notices::{MAX_ATTEMPTS, NoticeCounts};
use hutong_host::cases::ops::{CaseActor, CaseReport};
use hutong_host::cases::store::{CaseFilter, Category};
use hutong_host::cases::{Action, Assignee};
use hutong_host::community::Record;
use hutong_host::kernel::access_log::AccessEntry;
use hutong_host::kernel::clock::Clock;
use hutong_host::kernel::manifest::Permission;
use hutong_host::kernel::outbox::retry_pause_ms;
use hutong_host::platform::{DeliveryReport, SUSPENDED_RETRY_MS};
use hutong_tests::{TestHost, case_command, components, on_both_backends, test_app_manifest};
use serde_json::{Value, json};

on_both_backends!(
    opening_a_case_works_when_granted,
    opening_without_the_grant_is_denied_and_stores_nothing,
    an_app_reads_its_own_cases_and_gets_not_found_for_any_other,
    listing_returns_only_the_apps_own_cases_in_pages,
    reading_and_commenting_need_their_own_grants,
    bad_reports_are_refused_and_store_nothing,
    a_narrowed_install_cannot_open_cases_outside_its_communities,
    the_opening_app_hears_each_transition_in_order_and_no_other_app_does,
    an_install_without_read_own_cases_is_not_told,
    a_failing_watcher_is_retried_then_set_aside_without_holding_up_other_cases,
    a_suspended_watcher_is_told_once_resumed,
    an_uninstalled_apps_notices_are_dropped,
    a_watcher_past_its_deadline_is_stopped_retried_and_counts_toward_suspension,
    two_processes_tell_each_change_once,
    the_access_log_records_every_case_call,
    an_app_importing_cases_without_declaring_them_installs_and_is_denied,
);

const CATEGORY: &str = "elderly-care";
const GRID: &str = "c-xingfu-g1";

/// Every case permission, and `kv` for the watcher's record of what it heard.
const ALL: &[Permission] = &[
    Permission::Kv,
    Permission::OpenCases,
    Permission::ReadOwnCases,
    Permission::CommentCases,
];

/// A district with the sample community data and one case category.
async fn district(host: &TestHost) -> Vec<Record> {
    let records = host.sample_district("east").await;
    host.opened
        .platform
        .cases()
        .put_category(
            "east",
            Category {
                code: CATEGORY.into(),
                name: "Elderly care".into(),
                description: "Visits and help for elderly residents".into(),
                group: "care".into(),
            },
        )
        .await
        .expect("category");
    records
}

/// A resident of `community`.
fn resident_of(records: &[Record], community: &str) -> String {
    records
        .iter()
        .find_map(|r| match r {
            Record::Resident(r) if r.grid_id.starts_with(community) => Some(r.id.clone()),
            _ => None,
        })
        .expect("a resident of the community")
}

fn app(name: &str, route: &str) -> String {
    format!("/d/east/apps/{name}{route}")
}

/// Stop the host's clock at a fixed moment and add the grid's worker; the
/// clock, to move it on, and the worker.
async fn stopped_clock_and_worker(host: &TestHost) -> (Clock, CaseActor) {
    let clock = host.opened.platform.store().clock().clone();
    clock.set_ms(1_795_336_200_000);
    (clock, worker(host).await)
}

/// Set the kv key `watcher/{what}` of the app `care`, which tells its case
/// watcher to fail or hang. Written straight into the app's storage, so a
/// test that gives `care` a short deadline does not depend on an HTTP call
/// finishing within it on a busy machine.
async fn tell_watcher(host: &TestHost, what: &str) {
    host.opened
        .platform
        .store()
        .kv_set("east", "care", &format!("watcher/{what}"), b"1")
        .await
        .expect("set the watcher's key");
}

/// Open a case through the app; the response.
async fn open_via(host: &TestHost, name: &str, report: Value) -> hutong_tests::TestResponse {
    host.post(&app(name, "/cases/open"), report.to_string())
        .await
}

/// Open a case in the grid through the app; its id.
async fn open(host: &TestHost, name: &str, description: &str) -> i64 {
    let r = open_via(
        host,
        name,
        json!({ "category": CATEGORY, "description": description, "grid_id": GRID }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("a numeric case id")
}

/// The grid's worker, who takes the grid's cases through their lifecycle.
async fn worker(host: &TestHost) -> CaseActor {
    host.worker("w1", "east", &[GRID]).await;
    CaseActor::Person(Caller {
        account_id: "w1".into(),
        role: Role::Worker,
        district: Some("east".into()),
        resident_id: None,
        grids: vec![GRID.into()],
    })
}

async fn act(platform: &Platform, actor: &CaseActor, id: i64, action: Action, note: Option<&str>) {
    let assignee = matches!(action, Action::Dispatch).then(|| Assignee::Worker("w1".into()));
    platform
        .cases()
        .act_on_case("east", id, actor, case_command(action, note, assignee))
        .await
        .unwrap_or_else(|e| panic!("{action} case {id}: {e}"));
}

async fn deliver(platform: &Platform) -> DeliveryReport {
    platform.deliver_case_notices().await.expect("deliver")
}

async fn counts(platform: &Platform) -> NoticeCounts {
    platform.case_notice_counts("east").await.expect("counts")
}

/// What the app's watcher recorded for case `id`, as (from, to) pairs.
async fn heard(host: &TestHost, name: &str, id: i64) -> Vec<(String, String)> {
    let r = host.get(&app(name, &format!("/cases/heard?id={id}"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["heard"]
        .as_array()
        .expect("heard")
        .iter()
        .map(|h| {
            (
                h["from"].as_str().unwrap_or_default().to_owned(),
                h["to"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Every key the app's watcher wrote.
async fn heard_keys(host: &TestHost, name: &str) -> Vec<Value> {
    let r = host.get(&app(name, "/kv/list?prefix=heard/")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["keys"].as_array().cloned().unwrap_or_default()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

async fn access(host: &TestHost, name: &str) -> Vec<AccessEntry> {
    host.opened
        .platform
        .access_log("east", Some(name), None, 1000)
        .await
        .expect("access log")
}

async fn all_cases(platform: &Platform) -> usize {
    let admin = CaseActor::Person(Caller {
        account_id: "root".into(),
        role: Role::PlatformAdmin,
        district: None,
        resident_id: None,
        grids: vec![],
    });
    platform
        .cases()
        .list_cases(
            "east",
            &admin,
            CaseFilter {
                limit: 500,
                ..CaseFilter::default()
            },
        )
        .await
        .expect("list cases")
        .items
        .len()
}

async fn opening_a_case_works_when_granted(host: TestHost) {
    let records = district(&host).await;
    host.install_app("east", "care", ALL).await;
    let resident = resident_of(&records, "c-xingfu");

    let r = open_via(
        &host,
        "care",
        json!({
            "category": CATEGORY,
            "priority": "high",
            "building_id": "c-xingfu-b1",
            "description": "No door movement for 48 hours",
            "resident_id": resident,
            "attachments": ["https://example.org/sensor/17.json"],
        }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();

    let got = host.get(&app("care", &format!("/cases/get?id={id}"))).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    let got = got.json();
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["category"], CATEGORY);
    assert_eq!(got["priority"], "high");
    assert_eq!(got["state"], "reported");
    assert_eq!(
        got["tier"], "grid",
        "a building places the case in its grid"
    );
    assert_eq!(got["building_id"], "c-xingfu-b1");
    assert!(
        got["grid_id"]
            .as_str()
            .is_some_and(|g| g.starts_with("c-xingfu-g"))
    );
    assert_eq!(got["resident_id"], resident.as_str());
    assert_eq!(got["assignee"], Value::Null);
    assert_eq!(got["overdue"], false);

    // The platform holds the same case, reported by the app.
    let case = host
        .opened
        .platform
        .store()
        .case("east", id.parse().expect("numeric"))
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(
        case.reporter,
        hutong_host::cases::Reporter::App("care".into())
    );
    assert_eq!(case.attachments, ["https://example.org/sensor/17.json"]);

    let history = host
        .get(&app("care", &format!("/cases/history?id={id}")))
        .await
        .json();
    let events = history["events"].as_array().expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["action"], "report");
    assert_eq!(events[0]["actor"], "app:care");
}

async fn opening_without_the_grant_is_denied_and_stores_nothing(host: TestHost) {
    district(&host).await;
    host.install_app(
        "east",
        "reader",
        &[Permission::ReadOwnCases, Permission::CommentCases],
    )
    .await;
    let r = open_via(
        &host,
        "reader",
        json!({ "category": CATEGORY, "description": "should not be stored" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "denied", "{}", r.text());
    assert!(r.text().contains("open-cases"), "{}", r.text());
    assert_eq!(all_cases(&host.opened.platform).await, 0);
}

async fn an_app_reads_its_own_cases_and_gets_not_found_for_any_other(host: TestHost) {
    district(&host).await;
    host.install_app("east", "care", ALL).await;
    host.install_app("east", "other", ALL).await;
    let worker = worker(&host).await;
    let mine = open(&host, "care", "mine").await;
    let theirs = open(&host, "other", "another app's").await;
    let workers = host
        .opened
        .platform
        .cases()
        .report_case(
            "east",
            &worker,
            CaseReport {
                category: CATEGORY.into(),
                description: "a worker's".into(),
                grid_id: Some(GRID.into()),
                ..CaseReport::default()
            },
        )
        .await
        .expect("worker reports")
        .id;

    let r = host
        .get(&app("care", &format!("/cases/get?id={mine}")))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["description"], "mine");

    for id in [theirs, workers, 999_999] {
        for route in ["get", "history"] {
            let r = host
                .get(&app("care", &format!("/cases/{route}?id={id}")))
                .await;
            assert_eq!(
                r.status,
                StatusCode::NOT_FOUND,
                "{route} {id}: {}",
                r.text()
            );
            assert_eq!(r.json()["error"]["code"], "not_found");
        }
        let r = host
            .post(
                &app("care", &format!("/cases/comment?id={id}")),
                "not mine to comment on",
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "comment {id}: {}",
            r.text()
        );
    }
    // Nothing was written to the others' cases.
    let history = host
        .opened
        .platform
        .store()
        .case_history(theirs)
        .await
        .expect("history");
    assert_eq!(history.len(), 1);

    let r = host.get(&app("care", "/cases/get?id=abc")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(
        r.text().contains("case id `abc` is invalid"),
        "{}",
        r.text()
    );
}

async fn listing_returns_only_the_apps_own_cases_in_pages(host: TestHost) {
    district(&host).await;
    host.install_app("east", "care", ALL).await;
    host.install_app("east", "other", ALL).await;
    let worker = worker(&host).await;
    let mut mine = Vec::new();
    for n in 0..3 {
        mine.push(open(&host, "care", &format!("mine {n}")).await);
        open(&host, "other", &format!("theirs {n}")).await;
    }
    act(
        &host.opened.platform,
        &worker,
        mine[0],
        Action::Accept,
        None,
    )
    .await;

    let page = host.get(&app("care", "/cases/list?limit=2")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let page = page.json();
    let ids = |page: &Value| -> Vec<i64> {
        page["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .map(|c| c["id"].as_str().and_then(|i| i.parse().ok()).expect("id"))
            .collect()
    };
    assert_eq!(ids(&page), [mine[2], mine[1]], "newest first");
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let rest = host
        .get(&app(
            "care",
            &format!("/cases/list?limit=2&cursor={cursor}"),
        ))
        .await
        .json();
    assert_eq!(ids(&rest), [mine[0]]);
    assert_eq!(rest["next_cursor"], Value::Null);

    let accepted = host
        .get(&app("care", "/cases/list?state=accepted"))
        .await
        .json();
    assert_eq!(ids(&accepted), [mine[0]]);
    let reported = host
        .get(&app("care", "/cases/list?state=reported"))
        .await
        .json();
    assert_eq!(ids(&reported), [mine[2], mine[1]]);

    for bad in ["limit=0", "limit=501", "cursor=x"] {
        let r = host.get(&app("care", &format!("/cases/list?{bad}"))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text());
    }
}

async fn reading_and_commenting_need_their_own_grants(host: TestHost) {
    district(&host).await;
    host.install_app("east", "opener", &[Permission::OpenCases])
        .await;
    let id = open(&host, "opener", "opened, not readable").await;
    for route in [
        format!("/cases/get?id={id}"),
        format!("/cases/history?id={id}"),
        "/cases/list".to_owned(),
    ] {
        let r = host.get(&app("opener", &route)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{route}: {}", r.text());
        assert!(r.text().contains("read-own-cases"), "{route}: {}", r.text());
    }
    let r = host
        .post(&app("opener", &format!("/cases/comment?id={id}")), "hello")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("comment-cases"), "{}", r.text());

    host.install_app("east", "commenter", ALL).await;
    let id = open(&host, "commenter", "to be commented on").await;
    let r = host
        .post(
            &app("commenter", &format!("/cases/comment?id={id}")),
            "The family was called; no answer.",
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = host
        .post(&app("commenter", &format!("/cases/comment?id={id}")), "   ")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let events = host
        .get(&app("commenter", &format!("/cases/history?id={id}")))
        .await
        .json();
    let events = events["events"].as_array().expect("events").clone();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1]["action"], "comment");
    assert_eq!(events[1]["actor"], "app:commenter");
    assert_eq!(events[1]["note"], "The family was called; no answer.");
    assert_eq!(events[1]["to"], "reported", "a comment changes no state");
    // A comment is not a transition: nothing to tell the app.
    assert_eq!(counts(&host.opened.platform).await, NoticeCounts::default());
}

async fn bad_reports_are_refused_and_store_nothing(host: TestHost) {
    district(&host).await;
    host.install_app("east", "care", ALL).await;
    for (report, needle) in [
        (
            json!({ "category": "potholes", "description": "x" }),
            "category `potholes` is not one of",
        ),
        (
            json!({ "category": CATEGORY, "description": "  " }),
            "description must not be empty",
        ),
        (
            json!({ "category": CATEGORY, "description": "x".repeat(4001) }),
            "at most 4000",
        ),
        (
            json!({ "category": CATEGORY, "description": "x", "grid_id": "nowhere" }),
            "grid `nowhere` does not exist",
        ),
        (
            json!({ "category": CATEGORY, "description": "x", "resident_id": "r-x" }),
            "resident `r-x` does not exist",
        ),
        (
            json!({ "category": CATEGORY, "description": "x", "resident_id": "r 1" }),
            "resident id `r 1` contains",
        ),
        (
            json!({ "category": CATEGORY, "description": "x",
                    "building_id": "c-heping-b1", "grid_id": GRID }),
            "give one or make them agree",
        ),
        (
            json!({ "category": CATEGORY, "description": "x", "attachments": [""] }),
            "attachment reference",
        ),
    ] {
        let r = open_via(&host, "care", report).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{needle}: {}", r.text());
        assert!(r.text().contains(needle), "{needle}: {}", r.text());
    }
    assert_eq!(all_cases(&host.opened.platform).await, 0);
}

async fn a_narrowed_install_cannot_open_cases_outside_its_communities(host: TestHost) {
    let records = district(&host).await;
    host.install_app_in("east", "heping", ALL, Some(&["c-heping"]))
        .await;
    let outside = resident_of(&records, "c-xingfu");
    let inside = resident_of(&records, "c-heping");

    // Outside the scope reads exactly like a resident that does not exist.
    let refused = open_via(
        &host,
        "heping",
        json!({ "category": CATEGORY, "description": "x", "resident_id": outside }),
    )
    .await;
    let missing = open_via(
        &host,
        "heping",
        json!({ "category": CATEGORY, "description": "x", "resident_id": "r-9999" }),
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{}",
        refused.text()
    );
    assert_eq!(
        missing.status,
        StatusCode::BAD_REQUEST,
        "{}",
        missing.text()
    );
    assert_eq!(
        refused.text().replace(&outside, "ID"),
        missing.text().replace("r-9999", "ID")
    );
    for (field, id) in [("grid_id", GRID), ("building_id", "c-xingfu-b1")] {
        let r = open_via(
            &host,
            "heping",
            json!({ "category": CATEGORY, "description": "x", field: id }),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}: {}", r.text());
        assert!(r.text().contains("does not exist"), "{field}: {}", r.text());
    }
    assert_eq!(all_cases(&host.opened.platform).await, 0);

    let r = open_via(
        &host,
        "heping",
        json!({ "category": CATEGORY, "description": "x",
                "resident_id": inside, "grid_id": "c-heping-g1" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

async fn the_opening_app_hears_each_transition_in_order_and_no_other_app_does(host: TestHost) {
    district(&host).await;
    host.install_app("east", "care", ALL).await;
    host.install_app("east", "other", ALL).await;
    let platform = &host.opened.platform;
    let worker = worker(&host).await;
    let mine = open(&host, "care", "mine").await;
    let theirs = open(&host, "other", "theirs").await;

    act(platform, &worker, mine, Action::Accept, None).await;
    act(platform, &worker, mine, Action::Dispatch, None).await;
    act(platform, &worker, mine, Action::Comment, Some("on my way")).await;
    act(platform, &worker, mine, Action::Start, None).await;
    act(
        platform,
        &worker,
        mine,
        Action::Handle,
        Some("visited; all well"),
    )
    .await;
    assert_eq!(
        counts(platform).await,
        NoticeCounts {
            pending: 4,
            dead: 0
        }
    );

    let report = deliver(platform).await;
    assert_eq!(report.delivered, 4, "{report:?}");
    assert_eq!(counts(platform).await, NoticeCounts::default());
    assert_eq!(
        heard(&host, "care", mine).await,
        pairs(&[
            ("reported", "accepted"),
            ("accepted", "dispatched"),
            ("dispatched", "in-progress"),
            ("in-progress", "handled"),
        ])
    );
    let last = host
        .get(&app("care", &format!("/cases/heard?id={mine}")))
        .await
        .json();
    assert_eq!(last["heard"][3]["actor"], "account:w1");
    assert_eq!(last["heard"][3]["note"], "visited; all well");
    assert_eq!(last["heard"][3]["case_id"], mine.to_string());
    assert!(heard_keys(&host, "other").await.is_empty());

    // The other app hears about its own case only.
    act(platform, &worker, theirs, Action::Reject, Some("duplicate")).await;
    assert_eq!(deliver(platform).await.delivered, 1);
    assert_eq!(
        heard(&host, "other", theirs).await,
        pairs(&[("reported", "rejected")])
    );
    assert_eq!(heard_keys(&host, "other").await.len(), 1);
    assert_eq!(heard(&host, "care", mine).await.len(), 4);

    // Nothing is told twice.
    assert_eq!(deliver(platform).await, DeliveryReport::default());
}

async fn an_install_without_read_own_cases_is_not_told(host: TestHost) {
    district(&host).await;
    host.install_app("east", "blind", &[Permission::Kv, Permission::OpenCases])
        .await;
    let platform = &host.opened.platform;
    let worker = worker(&host).await;
    let id = open(&host, "blind", "opened, never followed").await;
    act(platform, &worker, id, Action::Accept, None).await;

    let report = deliver(platform).await;
    assert_eq!(report.dropped, 1, "{report:?}");
    assert_eq!(report.delivered, 0);
    assert_eq!(counts(platform).await, NoticeCounts::default());
    assert!(heard_keys(&host, "blind").await.is_empty());
    let denied: Vec<_> = access(&host, "blind")
        .await
        .into_iter()
        .filter(|e| e.operation == "case-watcher.on-case-changed")
        .collect();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].outcome, "denied");
    assert_eq!(denied[0].permission, "read-own-cases");
    assert!(denied[0].record_ids.is_empty());
}

async fn a_failing_watcher_is_retried_then_set_aside_without_holding_up_other_cases(
    host: TestHost,
) {
    district(&host).await;
    host.install_app("east", "care", ALL).await;
    let platform = &host.opened.platform;
    let (clock, worker) = stopped_clock_and_worker(&host).await;
    let failing = open(&host, "care", "its watcher fails").await;
    let fine = open(&host, "care", "its watcher works").await;
    tell_watcher(&host, &format!("fail/{failing}")).await;
    act(platform, &worker, failing, Action::Accept, None).await;
    act(platform, &worker, failing, Action::Dispatch, None).await;
    act(platform, &worker, fine, Action::Accept, None).await;

    // The failing case's first change fails and its second waits behind it;
    // the other case goes ahead.
    let report = deliver(platform).await;
    assert_eq!((report.delivered, report.retrying), (1, 1), "{report:?}");
    assert_eq!(
        heard(&host, "care", fine).await,
        pairs(&[("reported", "accepted")])
    );
    assert!(heard(&host, "care", failing).await.is_empty());

    // Not due again before its pause is over.
    clock.advance_ms(retry_pause_ms(1) - 1);
    assert_eq!(deliver(platform).await, DeliveryReport::default());

    // Retried after each pause, until the last attempt sets it aside; the
    // case's next change is then tried in its turn (and fails too).
    clock.advance_ms(1);
    for attempt in 2..=MAX_ATTEMPTS {
        let report = deliver(platform).await;
        if attempt < MAX_ATTEMPTS {
            assert_eq!(
                (report.retrying, report.dead),
                (1, 0),
                "attempt {attempt}: {report:?}"
            );
        } else {
            assert_eq!(
                (report.retrying, report.dead),
                (1, 1),
                "attempt {attempt}: {report:?}"
            );
        }
        clock.advance_ms(retry_pause_ms(attempt));
    }
    assert_eq!(
        counts(platform).await,
        NoticeCounts {
            pending: 1,
            dead: 1
        }
    );
    // The dead notice keeps the app's own error, for an administrator.
    let matching = host
        .execute_raw(&format!(
            "UPDATE case_notices SET attempts = attempts WHERE dead = 1 \
             AND attempts = {MAX_ATTEMPTS} AND last_error LIKE '%test-app was told to fail%'"
        ))
        .await;
    assert_eq!(matching, 1);

    // Once the app works again, the later change arrives; the dead one stays
    // set aside.
    let r = host
        .delete(&app(
            "care",
            &format!("/kv/delete?key=watcher/fail/{failing}"),
        ))
        .await;
    assert_eq!(r.json()["existed"], true);
    clock.advance_ms(retry_pause_ms(MAX_ATTEMPTS));
    assert_eq!(deliver(platform).await.delivered, 1);
    assert_eq!(
        heard(&host, "care", failing).await,
        pairs(&[("accepted", "dispatched")])
    );
    assert_eq!(
        counts(platform).await,
        NoticeCounts {
            pending: 0,
            dead: 1
        }
    );
    // An app's error result is its answer, not a crash: the install is not
    // suspended for it.
    let r = host.get(&app("care", "/ping")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

async fn a_suspended_watcher_is_told_once_resumed(host: TestHost) {
    district(&host).await;
    host.install_app("east", "care", ALL).await;
    let platform = &host.opened.platform;
    let (clock, worker) = stopped_clock_and_worker(&host).await;
    let id = open(&host, "care", "told later").await;
    act(platform, &worker, id, Action::Accept, None).await;

    platform
        .suspend("east", "care", "maintenance")
        .await
        .expect("suspend");
    // A suspension of any length spends no attempts and loses nothing.
    for _ in 0..(MAX_ATTEMPTS + 4) {
        let report = deliver(platform).await;
        assert_eq!(
            (report.postponed, report.retrying, report.dead),
            (1, 0, 0),
            "{report:?}"
        );
        clock.advance_ms(SUSPENDED_RETRY_MS);
    }
    assert_eq!(counts(platform).await.pending, 1);
    assert_eq!(counts(platform).await.dead, 0);

    platform.resume("east", "care").await.expect("resume");
    clock.advance_ms(-1);
    // Still waiting out its pause.
    assert_eq!(deliver(platform).await, DeliveryReport::default());
    clock.advance_ms(1);
    assert_eq!(deliver(platform).await.delivered, 1);
    assert_eq!(
        heard(&host, "care", id).await,
        pairs(&[("reported", "accepted")])
    );
}

async fn an_uninstalled_apps_notices_are_dropped(host: TestHost) {
    district(&host).await;
    host.install_app("east", "care", ALL).await;
    let platform = &host.opened.platform;
    let worker = worker(&host).await;
    let id = open(&host, "care", "gone").await;
    act(platform, &worker, id, Action::Accept, None).await;
    platform
        .uninstall("east", "care", false)
        .await
        .expect("uninstall");
    let report = deliver(platform).await;
    assert_eq!((report.dropped, report.retrying), (1, 0), "{report:?}");
    assert_eq!(counts(platform).await.pending, 0);
}

async fn a_watcher_past_its_deadline_is_stopped_retried_and_counts_toward_suspension(
    host: TestHost,
) {
    district(&host).await;
    host.install(
        "east",
        &test_app_manifest("care", "[limits]\ndeadline-ms = 100"),
        components::TEST_APP,
        ALL,
    )
    .await
    .expect("install");
    let platform = &host.opened.platform;
    let (clock, worker) = stopped_clock_and_worker(&host).await;
    let id = open(&host, "care", "its watcher hangs").await;
    tell_watcher(&host, "loop").await;
    act(platform, &worker, id, Action::Accept, None).await;

    let started = std::time::Instant::now();
    let report = deliver(platform).await;
    assert_eq!(report.retrying, 1, "{report:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the deadline stopped the watcher"
    );
    let matching = host
        .execute_raw(
            "UPDATE case_notices SET attempts = attempts WHERE last_error LIKE '%100 ms deadline%'",
        )
        .await;
    assert_eq!(matching, 1);

    // Failures of the watcher count like failures of HTTP calls: enough in
    // a row suspend the install (the default policy: 5 within a minute).
    for attempt in 1..5 {
        clock.advance_ms(retry_pause_ms(attempt));
        deliver(platform).await;
    }
    let install = platform
        .store()
        .get_install("east", "care")
        .await
        .expect("install");
    assert_eq!(
        install.status,
        hutong_host::installs::store::InstallStatus::Suspended,
        "{:?}",
        install.status_reason
    );
    assert_eq!(counts(platform).await.pending, 1, "kept for after a resume");
}

async fn two_processes_tell_each_change_once(host: TestHost) {
    district(&host).await;
    host.install_app("east", "care", ALL).await;
    let platform = &host.opened.platform;
    let worker = worker(&host).await;
    let mut ids = Vec::new();
    for n in 0..6 {
        let id = open(&host, "care", &format!("case {n}")).await;
        act(platform, &worker, id, Action::Accept, None).await;
        act(platform, &worker, id, Action::Dispatch, None).await;
        act(platform, &worker, id, Action::Start, None).await;
        ids.push(id);
    }
    let other = host.another_process().await;
    let (a, b) = tokio::join!(
        platform.deliver_case_notices(),
        other.platform.deliver_case_notices()
    );
    let (a, b) = (a.expect("deliver here"), b.expect("deliver there"));
    // A process may find a case's next change claimed by the other one and
    // stop early; a last run picks up whatever is left.
    let c = deliver(platform).await;
    assert_eq!(
        a.delivered + b.delivered + c.delivered,
        18,
        "{a:?} {b:?} {c:?}"
    );
    for id in ids {
        assert_eq!(
            heard(&host, "care", id).await,
            pairs(&[
                ("reported", "accepted"),
                ("accepted", "dispatched"),
                ("dispatched", "in-progress"),
            ]),
            "case {id}"
        );
    }
    assert_eq!(counts(platform).await, NoticeCounts::default());
}

async fn the_access_log_records_every_case_call(host: TestHost) {
    district(&host).await;
    host.install_app("east", "care", ALL).await;
    host.install_app("east", "opener", &[Permission::OpenCases])
        .await;
    let platform = &host.opened.platform;
    let worker = worker(&host).await;
    let id = open(&host, "care", "audited").await;
    let other = open(&host, "opener", "someone else's").await;
    for route in [
        format!("/cases/get?id={id}"),
        format!("/cases/history?id={id}"),
        "/cases/list".to_owned(),
        format!("/cases/get?id={other}"),
    ] {
        host.get(&app("care", &route)).await;
    }
    host.post(&app("care", &format!("/cases/comment?id={id}")), "noted")
        .await;
    act(platform, &worker, id, Action::Accept, None).await;
    deliver(platform).await;
    host.get(&app("opener", "/cases/list")).await;
    // Refused as malformed: touches nothing, recorded nowhere.
    host.get(&app("care", "/cases/get?id=nope")).await;

    let shown = |e: &AccessEntry| {
        (
            e.operation.clone(),
            e.permission.clone(),
            e.outcome.clone(),
            e.record_ids.clone(),
            e.field_class.clone(),
        )
    };
    let id = id.to_string();
    let row = |op: &str, perm: &str, outcome: &str, ids: &[&str]| {
        (
            op.to_owned(),
            perm.to_owned(),
            outcome.to_owned(),
            ids.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            if ids.is_empty() { "" } else { "case" }.to_owned(),
        )
    };
    let care: Vec<_> = access(&host, "care").await.iter().map(shown).collect();
    assert_eq!(
        care,
        [
            row("cases.open", "open-cases", "allowed", &[&id]),
            row("cases.get", "read-own-cases", "allowed", &[&id]),
            row("cases.history", "read-own-cases", "allowed", &[&id]),
            row("cases.list", "read-own-cases", "allowed", &[&id]),
            row("cases.get", "read-own-cases", "allowed", &[]),
            row("cases.comment", "comment-cases", "allowed", &[&id]),
            row(
                "case-watcher.on-case-changed",
                "read-own-cases",
                "allowed",
                &[&id]
            ),
        ]
    );
    let opener: Vec<_> = access(&host, "opener").await.iter().map(shown).collect();
    let other = other.to_string();
    assert_eq!(
        opener,
        [
            row("cases.open", "open-cases", "allowed", &[&other]),
            row("cases.list", "read-own-cases", "denied", &[]),
        ]
    );
    let watcher = access(&host, "care")
        .await
        .into_iter()
        .find(|e| e.operation == "case-watcher.on-case-changed")
        .expect("delivery logged");
    assert!(
        watcher.request_id.starts_with("case-notice-"),
        "{watcher:?}"
    );

    // Case permissions count as used in the grant report.
    let grants = platform.grant_report("east").await.expect("grant report");
    let care = grants.iter().find(|g| g.app == "care").expect("care");
    for p in care
        .permissions
        .iter()
        .filter(|p| p.permission.interface() == "cases")
    {
        assert!(p.last_used_at.is_some(), "{:?}", p.permission);
        assert!(!p.never_used, "{:?}", p.permission);
    }
    let opener = grants.iter().find(|g| g.app == "opener").expect("opener");
    let comment = opener
        .permissions
        .iter()
        .find(|p| p.permission == Permission::CommentCases)
        .expect("declared");
    assert!(!comment.granted && !comment.never_used);
}

async fn an_app_importing_cases_without_declaring_them_installs_and_is_denied(host: TestHost) {
    host.district("east").await;
    let manifest = test_app_manifest("care", "")
        .lines()
        .filter(|l| !l.contains("-cases ="))
        .collect::<Vec<_>>()
        .join("\n");
    // As componentize-py and componentize-js build it: the component imports
    // hutong:platform/cases, the manifest declares none of its permissions.
    host.install("east", &manifest, components::TEST_APP, &[])
        .await
        .expect("installed");
    let r = open_via(
        &host,
        "care",
        serde_json::json!({ "category": "repair", "description": "漏水" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("open-cases"), "{}", r.text());
    // The administrator is shown only what the manifest declares.
    let grants = host
        .opened
        .platform
        .grant_report("east")
        .await
        .expect("grant report");
    let care = grants.iter().find(|g| g.app == "care").expect("care");
    assert!(
        care.permissions
            .iter()
            .all(|p| !p.permission.name().ends_with("-cases")),
        "{:?}",
        care.permissions
    );
}
