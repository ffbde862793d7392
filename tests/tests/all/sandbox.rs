//! The sandbox and its limits, with real components: requests see what they
//! should, apps have no ambient authority, and a failing app fails only its
//! own call.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use hutong_host::installs::store::InstallStatus;
use hutong_host::runtime::health::FailurePolicy;
use hutong_tests::{Backend, TestHost, TestResponse, on_both_backends};

on_both_backends!(
    answers_with_the_callers_path_query_and_body,
    suspends_after_repeated_failures_until_resumed,
    a_call_stuck_in_a_host_call_is_cut_at_its_deadline,
);

async fn answers_with_the_callers_path_query_and_body(host: TestHost) {
    host.district("east").await;
    host.install_test_app("east", "test-app", false, "").await;
    let r = host
        .post(
            "/d/east/apps/test-app/echo/a/b%20c?x=1&y=two",
            "request body",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let echo = r.json();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/echo/a/b%20c");
    assert_eq!(echo["query"], "x=1&y=two");
    assert_eq!(echo["body"], "request body");
    assert_eq!(echo["caller"]["account_id"], "root");
    assert_eq!(echo["caller"]["role"], "platform-admin");
    assert!(!echo["request_id"].as_str().unwrap_or_default().is_empty());
    let headers = echo["headers"].as_array().expect("headers");
    assert!(
        headers.iter().any(|h| h[0] == "content-type"),
        "headers reach the app: {headers:?}"
    );
}

/// A host on SQLite with the district `east` and the test app installed
/// there as `name`, with `limits` (a TOML table) added to its manifest.
async fn east_with_app(name: &str, limits: &str) -> TestHost {
    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    host.install_test_app("east", name, false, limits).await;
    host
}

/// The call answered `r` after `elapsed`, cut at its `deadline_ms`: a
/// 504 with the cause `deadline`, not before the deadline and within
/// three seconds.
fn assert_cut_at_deadline(r: &TestResponse, elapsed: Duration, deadline_ms: u64) {
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT, "{}", r.text());
    assert_eq!(r.json()["error"]["cause"], "deadline");
    assert!(
        elapsed >= Duration::from_millis(deadline_ms),
        "cut too early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(3),
        "cut too late: {elapsed:?}"
    );
}

/// The app `name` in `east` answers its next request.
async fn assert_serves(host: &TestHost, name: &str) {
    let r = host.get(&format!("/d/east/apps/{name}/ping")).await;
    assert_eq!(r.status, StatusCode::OK, "{name}: {}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_reach_the_app() {
    let host = east_with_app("test-app", "").await;
    let app = host.app();
    let request = axum::http::Request::get("/d/east/apps/test-app/echo")
        .header("authorization", format!("Bearer {}", host.admin_token))
        .header("cookie", "session=secret")
        .header("x-visible", "yes")
        .body(axum::body::Body::empty())
        .expect("request");
    let response = tower::ServiceExt::oneshot(app, request)
        .await
        .expect("response");
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("x-visible"), "{text}");
    assert!(
        !text.contains("secret"),
        "credentials leaked to the app: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looping_app_is_cut_at_its_deadline_while_another_keeps_answering() {
    let host = std::sync::Arc::new(east_with_app("looper", "[limits]\ndeadline-ms = 400").await);
    host.install_test_app("east", "steady", false, "").await;

    let started = Instant::now();
    let looping = {
        let host = host.clone();
        tokio::spawn(async move { host.get("/d/east/apps/looper/loop").await })
    };
    // While the looper spins, the other app answers promptly.
    let mut answered = 0;
    while !looping.is_finished() && started.elapsed() < Duration::from_secs(5) {
        let r = host.get("/d/east/apps/steady/ping").await;
        assert_eq!(r.status, StatusCode::OK);
        answered += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = looping.await.expect("task");
    assert_cut_at_deadline(&r, started.elapsed(), 400);
    let body = r.json();
    assert_eq!(body["error"]["district"], "east");
    assert_eq!(body["error"]["app"], "looper");
    assert!(
        answered >= 3,
        "the other app answered only {answered} times"
    );
    // The looper itself serves the next request.
    assert_serves(&host, "looper").await;
}

/// The deadline holds while the app waits in a host call, not only while
/// its own code runs: here its kv write waits for a lock held outside the
/// host, far longer than the app may take.
async fn a_call_stuck_in_a_host_call_is_cut_at_its_deadline(host: TestHost) {
    host.district("east").await;
    host.install_test_app("east", "stuck", true, "[limits]\ndeadline-ms = 300")
        .await;
    let r = host.put("/d/east/apps/stuck/kv/set?key=k", "before").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());

    let mut holder = host.raw_connection().await;
    let lock = match host.postgres() {
        Some(_) => "LOCK TABLE kv IN ACCESS EXCLUSIVE MODE",
        None => "UPDATE kv SET value = value WHERE key = 'k'",
    };
    sqlx::query("BEGIN")
        .execute(&mut holder)
        .await
        .expect("begin");
    sqlx::query(lock).execute(&mut holder).await.expect("lock");

    let started = Instant::now();
    // Bounded here too, so that a host that no longer cuts the call fails
    // the test rather than hanging it (on PostgreSQL the lock waits forever).
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        host.put("/d/east/apps/stuck/kv/set?key=k", "during"),
    )
    .await
    .expect("the call was not cut within 5 s");
    assert_cut_at_deadline(&r, started.elapsed(), 300);

    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("rollback");
    drop(holder);
    // Once the lock is gone the app works again.
    let r = host.put("/d/east/apps/stuck/kv/set?key=k", "after").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = host.get("/d/east/apps/stuck/kv/get?key=k").await;
    assert_eq!(r.text(), "after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_allocation_is_stopped_at_the_memory_cap() {
    let host = east_with_app("hog", "[limits]\nmemory-mib = 32").await;
    // Within the cap: fine.
    let r = host.get("/d/east/apps/hog/alloc?mib=8").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["allocated_mib"], 8);
    // Beyond it: stopped, and reported as the memory limit.
    let r = host.get("/d/east/apps/hog/alloc-forever").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text());
    assert_eq!(r.json()["error"]["cause"], "memory");
    let r = host.get("/d/east/apps/hog/alloc?mib=64").await;
    assert_eq!(r.json()["error"]["cause"], "memory");
    // And the next request gets a fresh instance.
    assert_serves(&host, "hog").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_app_returns_5xx_and_the_next_request_succeeds() {
    let host = east_with_app("test-app", "").await;
    let r = host.get("/d/east/apps/test-app/panic").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let body = r.json();
    assert_eq!(body["error"]["cause"], "panic");
    assert_eq!(body["error"]["app"], "test-app");
    assert!(
        !r.text().contains("wasm backtrace"),
        "no internals in the answer: {}",
        r.text()
    );
    let r = host.get("/d/east/apps/test-app/ping").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_have_no_files_environment_or_sockets() {
    let host = east_with_app("test-app", "").await;
    let base = "/d/east/apps/test-app/sandbox";

    for path in [
        "/etc/passwd",
        "/etc/hostname",
        "Cargo.toml",
        "/proc/self/environ",
    ] {
        let r = host.get(&format!("{base}/file?path={path}")).await.json();
        assert_eq!(r["ok"], false, "read {path}: {r}");
        assert_eq!(r["content"], serde_json::Value::Null);
    }
    let r = host.get(&format!("{base}/dir")).await.json();
    assert_eq!(r["root_ok"], false, "{r}");
    assert_eq!(r["cwd_ok"], false, "{r}");

    // SAFETY-free check that the host process does have an environment.
    assert!(std::env::var("PATH").is_ok());
    let r = host.get(&format!("{base}/env")).await.json();
    assert_eq!(r["vars"], 0, "{r}");
    assert_eq!(r["home"], serde_json::Value::Null);
    assert_eq!(r["path"], serde_json::Value::Null);
    assert_eq!(r["args"], 0, "{r}");

    // A listener the app would reach if it had network access.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let addr = listener.local_addr().expect("addr");
    let r = host.get(&format!("{base}/socket?addr={addr}")).await.json();
    assert_eq!(r["ok"], false, "{r}");
    listener.set_nonblocking(true).expect("nonblocking");
    assert!(listener.accept().is_err(), "the app connected to the host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apps_wall_clock_is_the_hosts_clock() {
    let host = east_with_app("test-app", "").await;

    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis() as i64;
    let r = host.get("/d/east/apps/test-app/clock").await.json();
    let now = r["now_ms"].as_i64().expect("now_ms");
    assert!(now >= before && now < before + 60_000, "{r}");

    // Stopping and moving the host's clock moves the app's.
    host.clock().set_ms(1_700_000_000_000);
    let r = host.get("/d/east/apps/test-app/clock").await.json();
    assert_eq!(r["now_ms"], 1_700_000_000_000_i64, "{r}");
    host.clock().advance_ms(90_000);
    let r = host.get("/d/east/apps/test-app/clock").await.json();
    assert_eq!(r["now_ms"], 1_700_000_090_000_i64, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_responses_and_invalid_statuses_are_refused() {
    let host = east_with_app("test-app", "[limits]\nresponse-bytes = 1024").await;
    // The limit counts the body and the headers: `/big` sends one header,
    // `content-type: text/plain` (12 + 10 bytes, plus 4 for `: ` and the
    // line end), so 998 bytes of body fill the 1024.
    let r = host.get("/d/east/apps/test-app/big?bytes=998").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), 998);
    let r = host.get("/d/east/apps/test-app/big?bytes=999").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text());
    assert_eq!(r.json()["error"]["cause"], "response-too-large");
    let r = host.get("/d/east/apps/test-app/status?code=1000").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert_eq!(r.json()["error"]["cause"], "invalid-response");
    let r = host.get("/d/east/apps/test-app/status?code=418").await;
    assert_eq!(r.status, StatusCode::IM_A_TEAPOT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_are_capped_per_call_and_output_does_not_fail_the_app() {
    let host = east_with_app("test-app", "").await;
    let r = host.get("/d/east/apps/test-app/log?n=10").await.json();
    assert_eq!(r["written"], 10);
    assert_eq!(r["refused"], 0);
    let r = host.get("/d/east/apps/test-app/log?n=1005").await.json();
    assert_eq!(r["written"], 1000);
    assert_eq!(r["refused"], 5);
    assert!(
        r["first_error"]
            .as_str()
            .unwrap_or_default()
            .contains("1000"),
        "{r}"
    );
    assert_eq!(
        host.get("/d/east/apps/test-app/stdout").await.status,
        StatusCode::OK
    );
}

async fn suspends_after_repeated_failures_until_resumed(host: TestHost) {
    // Same back end, with a lower threshold.
    let backend = host.backend;
    drop(host);
    let host = TestHost::with_config(backend, |c| {
        c.failure_policy = FailurePolicy {
            threshold: 3,
            window: Duration::from_secs(60),
            ..FailurePolicy::default()
        }
    })
    .await;
    host.district("east").await;
    host.install_test_app("east", "test-app", false, "").await;
    for _ in 0..3 {
        let r = host.get("/d/east/apps/test-app/panic").await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
    let r = host.get("/d/east/apps/test-app/ping").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "app_suspended");

    let listed = host.get("/api/v1/districts/east/installs").await.json();
    assert_eq!(listed[0]["status"], "suspended");
    assert!(
        listed[0]["status_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("3 failures"),
        "{listed}"
    );
    let stored = host
        .opened
        .platform
        .store()
        .get_install("east", "test-app")
        .await
        .expect("install");
    assert_eq!(stored.status, InstallStatus::Suspended);

    let r = host
        .post("/api/v1/districts/east/installs/test-app/resume", "")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_serves(&host, "test-app").await;
    // A failure after resuming starts a new streak rather than suspending.
    host.get("/d/east/apps/test-app/panic").await;
    assert_serves(&host, "test-app").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_requests_in_flight_finish() {
    let host = std::sync::Arc::new(east_with_app("slow", "[limits]\ndeadline-ms = 600").await);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = {
        let host = host.clone();
        tokio::spawn(async move {
            hutong_host::server::serve(&host.opened, listener, None, async {
                let _ = stopped.await;
            })
            .await
        })
    };
    let in_flight = tokio::spawn(hutong_tests::http_get(
        addr,
        "/d/east/apps/slow/loop",
        Some(host.admin_token.clone()),
    ));
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.send(()).expect("signal shutdown");
    // The request that was running gets its answer, not a dropped connection.
    let (status, body) = in_flight.await.expect("task").expect("answered");
    assert_eq!(status, 504, "{}", String::from_utf8_lossy(&body));
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stops after the request finished")
        .expect("task")
        .expect("serve");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no new connections after shutdown"
    );
}

// One thread, so the thread-local subscriber sees the whole call.
#[tokio::test(flavor = "current_thread")]
async fn app_output_reaches_the_host_log_tagged_with_district_and_app() {
    let capture = hutong_tests::LogCapture::start();

    let host = east_with_app("test-app", "").await;
    assert_eq!(
        host.get("/d/east/apps/test-app/stdout").await.status,
        StatusCode::OK
    );
    let r = host.get("/d/east/apps/test-app/log?n=1").await.json();
    assert_eq!(r["written"], 1);

    let log = capture.text();
    for needle in [
        "test-app says hello on stdout",
        "test-app says hello on stderr",
        "stream=\"stdout\"",
    ] {
        let line = log
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("`{needle}` is not in the log:\n{log}"));
        assert!(line.contains("district=\"east\""), "{line}");
        assert!(line.contains("app=\"test-app\""), "{line}");
    }
    // A line from the log interface carries the install and the request.
    let line = log
        .lines()
        .find(|l| l.contains("test-app log line"))
        .unwrap_or_else(|| panic!("the log interface's line is missing:\n{log}"));
    assert!(
        line.contains("district=east") || line.contains("district=\"east\""),
        "{line}"
    );
    assert!(line.contains("request_id="), "{line}");
}
