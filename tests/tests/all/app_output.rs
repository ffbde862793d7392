//! An app's output is untrusted: what the host passes on of its responses
//! (no cookies, nothing that acts on the host's origin, no `location`
//! outside the app, headers counted against the response limit, no 1xx),
//! and what it lets into the host's log (lines capped with their fields,
//! control characters escaped so no line passes for the host's).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use futures_util::StreamExt;
use hutong_tests::{Backend, TestHost};
use serde_json::json;

async fn east_with_app(limits: &str) -> TestHost {
    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    host.install_test_app("east", "test-app", false, limits)
        .await;
    host
}

/// The test app's answer to `spec` (see its `/respond`), as a browser gets it.
async fn respond(host: &TestHost, spec: serde_json::Value) -> hutong_tests::TestResponse {
    host.post("/d/east/apps/test-app/sub/respond", spec.to_string())
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_cannot_set_cookies_or_act_on_the_hosts_origin() {
    let host = east_with_app("").await;
    let r = respond(
        &host,
        json!({ "status": 200, "body": "ok", "headers": [
            ["set-cookie", "session=stolen; Path=/"],
            ["Set-Cookie", "other=1"],
            ["clear-site-data", "\"cookies\""],
            ["strict-transport-security", "max-age=31536000"],
            ["service-worker-allowed", "/"],
            ["www-authenticate", "Basic realm=\"hutong\""],
            ["refresh", "0; url=https://evil.example/"],
            ["x-app-version", "3"],
            ["content-type", "text/plain"],
        ]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    for dropped in [
        "set-cookie",
        "clear-site-data",
        "strict-transport-security",
        "service-worker-allowed",
        "www-authenticate",
        "refresh",
    ] {
        assert!(
            r.headers.get(dropped).is_none(),
            "{dropped}: {:?}",
            r.headers
        );
    }
    assert_eq!(r.headers["x-app-version"], "3");
    assert_eq!(r.headers["content-type"], "text/plain");
    assert_eq!(r.text(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_stays_within_the_app() {
    let host = east_with_app("").await;
    // The request is for /d/east/apps/test-app/sub/respond.
    for (location, kept) in [
        ("/d/east/apps/test-app/done", true),
        ("done?x=1", true),
        ("../list", true),
        ("/api/v1/districts/east/installs", false),
        ("../../../../api/v1/accounts", false),
        ("/d/east/apps/other/", false),
        ("https://evil.example/login", false),
        ("//evil.example/login", false),
        ("/\\evil.example", false),
    ] {
        let r = respond(
            &host,
            json!({ "status": 303, "headers": [["location", location]] }),
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{location}");
        assert_eq!(
            r.headers.get("location").and_then(|v| v.to_str().ok()),
            kept.then_some(location),
            "{location}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_count_against_the_response_limit() {
    let host = east_with_app("[limits]\nresponse-bytes = 2048").await;
    let value = "v".repeat(100);
    // 10 headers of about 110 bytes each fit beside a small body ...
    let r = respond(&host, json!({ "body": "ok", "repeat": ["x-h", value, 10] })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers["x-h-9"], value.as_str());
    // ... 30 do not, though the body alone is far below the limit.
    let r = respond(&host, json!({ "body": "ok", "repeat": ["x-h", value, 30] })).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text());
    assert_eq!(r.json()["error"]["cause"], "response-too-large");
    assert!(
        r.error_message().contains("body and headers"),
        "{}",
        r.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn informational_statuses_are_refused() {
    let host = east_with_app("").await;
    for status in [100, 101, 103, 199] {
        let r = respond(
            &host,
            json!({ "status": status, "headers": [["upgrade", "websocket"]] }),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{status}: {}", r.text());
        assert_eq!(r.json()["error"]["cause"], "invalid-response", "{status}");
        assert!(r.error_message().contains("200 to 599"), "{}", r.text());
    }
    let r = respond(&host, json!({ "status": 204 })).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_for_an_app_that_does_not_exist_is_not_read() {
    let host = east_with_app("").await;
    // Larger than an app may receive: an installed app refuses it as too
    // large, a missing one is not found before the body is read at all.
    let big = vec![b'x'; 2 << 20];
    let r = host
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/d/east/apps/no-such-app/upload")
                .body(Body::from(big.clone()))
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let r = host
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/d/east/apps/test-app/echo")
                .body(Body::from(big))
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
}

// One thread, so the thread-local subscriber sees the whole call.
#[tokio::test(flavor = "current_thread")]
async fn a_log_line_is_capped_with_its_fields_and_cannot_forge_a_host_line() {
    let capture = hutong_tests::LogCapture::start();
    let host = east_with_app("").await;

    let forged = "2026-12-06T08:00:00.000000Z  INFO hutong_host::runtime: resumed app district=\"good\" app=\"FORGED-BY-EVIL\"";
    let r = host
        .post(
            "/d/east/apps/test-app/log/raw",
            json!({
                "message": format!("hello\n{forged}\r\u{1b}[2J"),
                "fields": [[format!("key\n{forged}"), format!("value\n{forged}")]],
            })
            .to_string(),
        )
        .await
        .json();
    assert_eq!(r["written"], true, "{r}");
    let r = host
        .post(
            "/d/east/apps/test-app/stdout/raw",
            format!("out\r{forged}\u{1b}[2J\n"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // The message and its fields together are capped, not the message alone.
    let r = host
        .post(
            "/d/east/apps/test-app/log/raw",
            json!({ "message": "short", "fields": [["big", "x".repeat(20_000)]] }).to_string(),
        )
        .await
        .json();
    assert_eq!(r["written"], false, "{r}");
    let error = r["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("message and fields") && error.contains("16384"),
        "{r}"
    );

    let log = capture.text();
    assert!(
        !log.lines()
            .any(|line| line.starts_with("2026-12-06T08:00:00")),
        "a line of the log was forged:\n{log}"
    );
    assert!(!log.contains('\r') && !log.contains('\u{1b}'), "{log:?}");
    let line = log
        .lines()
        .find(|l| l.contains("hello\\n2026-12-06"))
        .unwrap_or_else(|| panic!("the escaped line is missing:\n{log}"));
    assert!(line.contains("\\u{1b}[2J"), "{line}");
    assert!(line.contains("key\\n2026-12-06"), "{line}");
    assert!(log.contains("out\\r2026-12-06"), "{log}");
    assert!(
        !log.contains(&"x".repeat(20_000)),
        "the oversized line was logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_is_cut_off() {
    let host = east_with_app("").await;
    // A body that starts and then never ends.
    let stalled = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"the start of"))
    })
    .chain(futures_util::stream::pending());
    let started = std::time::Instant::now();
    let r = host
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/d/east/apps/test-app/echo")
                .body(Body::from_stream(stalled))
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::REQUEST_TIMEOUT, "{}", r.text());
    assert!(
        r.error_message().contains("did not arrive within 10 s"),
        "{}",
        r.text()
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
