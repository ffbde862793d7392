//! Districts are isolated from each other: one district's hostile app
//! cannot take the instance slots or the CPU that another district's apps
//! need (see `runtime/shares.rs`), and no caller can get an app suspended
//! for longer than the breaker's pause (`runtime/health.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use hutong_host::installs::store::InstallStatus;
use hutong_host::runtime::Shares;
use hutong_host::runtime::health::FailurePolicy;
use hutong_tests::{Backend, TestHost, on_both_backends};

/// A host with a small pool: 8 instances, a district may hold 4 and an
/// install 3, and a call waits at most 300 ms for a slot.
async fn small_pool() -> Arc<TestHost> {
    let host = TestHost::with_config(Backend::Sqlite, |c| {
        c.max_instances = 8;
        c.shares = Shares {
            per_install: 3,
            per_district: 4,
            max_wait: Duration::from_millis(300),
            long_lanes: 1,
            long_per_district: 1,
            ..Shares::for_pool(8)
        };
    })
    .await;
    for district in ["evil", "good"] {
        host.district(district).await;
    }
    host.install_test_app("evil", "spinner", false, "[limits]\ndeadline-ms = 1500")
        .await;
    host.install_test_app("evil", "spinner-too", false, "[limits]\ndeadline-ms = 1500")
        .await;
    host.install_test_app("good", "steady", false, "").await;
    Arc::new(host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_holding_its_slots_leaves_the_others_served() {
    let host = small_pool().await;
    // Twelve spinning calls, six to each of two installs of one district:
    // more than the whole pool.
    let spinning: Vec<_> = (0..12)
        .map(|i| {
            let host = host.clone();
            let app = if i % 2 == 0 { "spinner" } else { "spinner-too" };
            tokio::spawn(async move { host.get(&format!("/d/evil/apps/{app}/loop")).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Meanwhile the other district is served, every time.
    let started = Instant::now();
    let mut served = 0;
    while started.elapsed() < Duration::from_millis(1000) {
        let r = host.get("/d/good/apps/steady/ping").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        served += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served >= 5, "served only {served} times");

    let (mut busy, mut ran) = (0, 0);
    for call in spinning {
        let r = call.await.expect("task");
        match r.status {
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert_eq!(r.json()["error"]["code"], "busy", "{}", r.text());
                assert_eq!(r.headers["retry-after"], "1");
            }
            StatusCode::GATEWAY_TIMEOUT => ran += 1,
            other => panic!("unexpected {other}: {}", r.text()),
        }
    }
    // The district ran at most its share at once (4 of the 8), and the
    // calls beyond it were turned away once they had waited their 300 ms.
    assert!(ran <= 4, "{ran} calls ran; the district's share is 4");
    assert!(busy >= 8, "only {busy} calls were turned away");
    // Its apps serve again once the spinning is over.
    let r = host.get("/d/evil/apps/spinner/ping").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_holds_at_most_its_share_of_its_district() {
    let host = small_pool().await;
    // Five spinning calls to one install: three run, two wait and give up;
    // the district's other install still gets the district's fourth slot.
    let spinning: Vec<_> = (0..5)
        .map(|_| {
            let host = host.clone();
            tokio::spawn(async move { host.get("/d/evil/apps/spinner/loop").await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = host.get("/d/evil/apps/spinner-too/ping").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mut statuses = Vec::new();
    for call in spinning {
        statuses.push(call.await.expect("task").status);
    }
    let busy = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert_eq!(busy, 2, "{statuses:?}");
}

/// A host whose breaker trips after two failures in a row and pauses 30 s,
/// then 60 s, at most 120 s.
async fn quick_breaker(backend: Backend) -> TestHost {
    let host = TestHost::with_config(backend, |c| {
        c.failure_policy = FailurePolicy {
            threshold: 2,
            window: Duration::from_secs(60),
            first_pause: Duration::from_secs(30),
            max_pause: Duration::from_secs(120),
        };
    })
    .await;
    host.district("east").await;
    host.install_test_app("east", "test-app", false, "[limits]\nresponse-bytes = 1024")
        .await;
    host
}

async fn status_of(host: &TestHost) -> (InstallStatus, Option<i64>) {
    let install = host
        .opened
        .platform
        .store()
        .get_install("east", "test-app")
        .await
        .expect("install");
    (install.status, install.retry_at)
}

on_both_backends!(a_suspension_after_failures_is_tried_again_on_its_own);

async fn a_suspension_after_failures_is_tried_again_on_its_own(host: TestHost) {
    let backend = host.backend;
    drop(host);
    let host = quick_breaker(backend).await;
    let clock = host.clock().clone();
    clock.set_ms(1_800_000_000_000);
    let admin = host.district_admin("east").await;
    let alerts = || async {
        let inbox = host.get_as(Some(&admin), "/api/v1/inbox").await.json();
        inbox["notifications"]
            .as_array()
            .unwrap_or_else(|| panic!("no notifications in {inbox}"))
            .clone()
    };
    for _ in 0..2 {
        let r = host.get("/d/east/apps/test-app/panic").await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
    let r = host.get("/d/east/apps/test-app/ping").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert!(
        r.error_message()
            .contains("a trial call is let through after"),
        "{}",
        r.text()
    );
    assert_eq!(
        status_of(&host).await,
        (InstallStatus::Suspended, Some(1_800_000_030_000))
    );
    let listed = host.get("/api/v1/districts/east/installs").await.json();
    assert_eq!(listed[0]["retry_at"], 1_800_000_030_000_i64, "{listed}");
    // The district's administrator finds the alert in the inbox.
    let inbox = alerts().await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["app"], "hutong:host");
    let subject = inbox[0]["subject"].as_str().expect("subject");
    assert!(
        subject.contains("test-app") && subject.contains("已自动暂停"),
        "{subject}"
    );
    let body = inbox[0]["body"].as_str().expect("body");
    assert!(body.contains("2 failures in a row"), "{body}");

    // After the pause, a call is let through as a trial; it succeeds, and
    // the install answers again, recorded as active.
    clock.advance_ms(29_000);
    assert_eq!(
        host.get("/d/east/apps/test-app/ping").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    clock.advance_ms(1_000);
    let r = host.get("/d/east/apps/test-app/ping").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(status_of(&host).await, (InstallStatus::Active, None));

    // Tripped again, and the trial fails: suspended again, for twice as long.
    for _ in 0..2 {
        host.get("/d/east/apps/test-app/panic").await;
    }
    clock.advance_ms(30_000);
    let r = host.get("/d/east/apps/test-app/panic").await;
    assert_eq!(
        r.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "the trial runs"
    );
    let (status, retry_at) = status_of(&host).await;
    assert_eq!(status, InstallStatus::Suspended);
    assert_eq!(retry_at, Some(clock.now_ms() + 60_000));
    // One alert for each time the app stopped answering; none for the
    // failed trial, which only prolonged the pause.
    assert_eq!(alerts().await.len(), 2);
    clock.advance_ms(59_000);
    assert_eq!(
        host.get("/d/east/apps/test-app/ping").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    clock.advance_ms(1_000);
    assert_eq!(
        host.get("/d/east/apps/test-app/ping").await.status,
        StatusCode::OK
    );

    // An administrator's suspension is not tried again on its own.
    let r = host
        .post(
            "/api/v1/districts/east/installs/test-app/suspend",
            r#"{"reason": "under review"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(status_of(&host).await, (InstallStatus::Suspended, None));
    clock.advance_ms(24 * 3_600_000);
    assert_eq!(
        host.get("/d/east/apps/test-app/ping").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_grown_past_the_limit_by_callers_do_not_suspend_the_app() {
    let host = quick_breaker(Backend::Sqlite).await;
    // Anyone can make this app's answer too large; that fails the call but
    // is not counted against the app.
    for _ in 0..5 {
        let r = host.get("/d/east/apps/test-app/big?bytes=5000").await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY);
        assert_eq!(r.json()["error"]["cause"], "response-too-large");
    }
    let r = host.get("/d/east/apps/test-app/ping").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(status_of(&host).await, (InstallStatus::Active, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_administrator_sets_a_districts_share() {
    let host = small_pool().await;
    let shares = "/api/v1/districts/evil/shares";
    // A district's own administrator may not raise its share.
    let evil_admin = host.district_admin("evil").await;
    let r = host
        .json_as(
            &evil_admin,
            axum::http::Method::PUT,
            shares,
            serde_json::json!({"calls": 8}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    for bad in [r#"{"calls": 0}"#, r#"{"calls": 9}"#] {
        let r = host.put(shares, bad).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.text()
        );
        assert!(r.text().contains("1 to 8"), "{}", r.text());
    }
    let r = host.put(shares, r#"{"calls": 2}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["max_calls"], 2);
    assert_eq!(
        host.get("/api/v1/districts/evil").await.json()["max_calls"],
        2
    );

    // Four spinning calls: the district's two run, the others are turned
    // away, though the install's own share is three.
    let spinning: Vec<_> = (0..4)
        .map(|_| {
            let host = host.clone();
            tokio::spawn(async move { host.get("/d/evil/apps/spinner/loop").await })
        })
        .collect();
    let mut busy = 0;
    for call in spinning {
        if call.await.expect("task").status == StatusCode::SERVICE_UNAVAILABLE {
            busy += 1;
        }
    }
    assert_eq!(busy, 2);

    let r = host.put(shares, r#"{"calls": null}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.json()["max_calls"].is_null(), "{}", r.text());
}

on_both_backends!(an_install_that_ran_long_is_still_served_in_full);

/// After a call ran long, the install's requests run on the long calls'
/// threads (`shares::long_threads`): they still reach the database (a
/// PostgreSQL connection made on the host's threads included) and answer
/// as before. That they run there, away from other districts, is what
/// `tests/benches/isolation.rs` measures; this test checks they still work.
async fn an_install_that_ran_long_is_still_served_in_full(host: TestHost) {
    host.district("east").await;
    host.install_test_app("east", "test-app", true, "[limits]\ndeadline-ms = 300")
        .await;
    let r = host.get("/d/east/apps/test-app/loop").await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT, "{}", r.text());
    for i in 0..5 {
        let key = format!("after-the-loop-{i}");
        let r = host
            .put(&format!("/d/east/apps/test-app/kv/set?key={key}"), "甲乙")
            .await;
        assert_eq!(r.status.as_u16() / 100, 2, "{}", r.text());
        let r = host
            .get(&format!("/d/east/apps/test-app/kv/get?key={key}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.text(), "甲乙");
    }
    let r = host.get("/d/east/apps/test-app/spin?ms=30").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.json()["turns"].as_u64().unwrap_or(0) > 0, "{}", r.text());
}

on_both_backends!(a_suspended_apps_refusal_is_held_back_until_its_trial_or_a_second);

/// A client that ignores `app_suspended` and asks again at once gets its
/// answer only after a pause, so it cannot keep the host busy answering.
async fn a_suspended_apps_refusal_is_held_back_until_its_trial_or_a_second(host: TestHost) {
    let backend = host.backend;
    drop(host);
    let host = quick_breaker(backend).await;
    for _ in 0..2 {
        let r = host.get("/d/east/apps/test-app/panic").await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
    assert_eq!(status_of(&host).await.0, InstallStatus::Suspended);
    // The pause is 30 s: each refusal is held for a second, the most.
    for _ in 0..2 {
        let asked = Instant::now();
        let r = host.get("/d/east/apps/test-app/ping").await;
        let waited = asked.elapsed();
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "app_suspended");
        assert!(
            waited >= Duration::from_millis(950) && waited < Duration::from_secs(3),
            "held {waited:?}"
        );
    }
}
