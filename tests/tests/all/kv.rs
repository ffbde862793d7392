//! The `kv` capability through real apps: round trips, paging, isolation,
//! atomic insert-if-absent, atomic multi-key commits, limits and the grant
//! check.

use axum::http::StatusCode;
use hutong_tests::{Backend, TestHost, on_both_backends};

on_both_backends!(
    works_when_kv_is_granted,
    lists_keys_by_prefix_in_pages,
    errors_when_kv_is_not_granted,
    districts_and_apps_cannot_reach_each_others_keys,
    insert_if_absent_has_exactly_one_winner,
    refuses_oversized_values_and_bad_keys,
    uninstall_removes_data_unless_kept,
    commit_applies_every_operation_or_none,
    commit_is_denied_without_kv,
    commit_refuses_operations_beyond_its_limits,
    concurrent_commits_claiming_one_key_have_exactly_one_winner,
    quotas_refuse_at_the_limit_and_uninstall_frees_the_space,
    a_districts_apps_share_one_quota,
);

async fn works_when_kv_is_granted(host: TestHost) {
    host.district("east").await;
    host.install_test_app("east", "test-app", true, "").await;
    let base = "/d/east/apps/test-app";

    let r = host.get(&format!("{base}/kv/get?key=greeting")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());

    let r = host
        .put(&format!("{base}/kv/set?key=greeting"), "你好")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = host.get(&format!("{base}/kv/get?key=greeting")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "你好");

    let r = host
        .put(&format!("{base}/kv/set?key=greeting"), "hello")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        host.get(&format!("{base}/kv/get?key=greeting"))
            .await
            .text(),
        "hello"
    );

    let r = host.delete(&format!("{base}/kv/delete?key=greeting")).await;
    assert_eq!(r.json()["existed"], true);
    let r = host.delete(&format!("{base}/kv/delete?key=greeting")).await;
    assert_eq!(r.json()["existed"], false);
    assert_eq!(
        host.get(&format!("{base}/kv/get?key=greeting"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn lists_keys_by_prefix_in_pages(host: TestHost) {
    host.district("east").await;
    host.install_test_app("east", "test-app", true, "").await;
    let base = "/d/east/apps/test-app";
    for i in 0..25 {
        let r = host
            .put(&format!("{base}/kv/set?key=user:{i:02}"), "x")
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }
    // Neighbours that must not show up under the prefix.
    for key in ["user", "users:1", "uses", "a", "user;"] {
        host.put(&format!("{base}/kv/set?key={key}"), "x").await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut uri = format!("{base}/kv/list?prefix=user:&limit=10");
        if let Some(c) = &cursor {
            uri.push_str(&format!("&cursor={c}"));
        }
        let page = host.get(&uri).await.json();
        pages += 1;
        for k in page["keys"].as_array().expect("keys") {
            seen.push(k.as_str().expect("key").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("user:{i:02}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);

    let r = host.get(&format!("{base}/kv/list?prefix=&limit=0")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = host
        .get(&format!("{base}/kv/list?prefix=&limit=1001"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
}

async fn errors_when_kv_is_not_granted(host: TestHost) {
    host.district("east").await;
    host.install_test_app("east", "test-app", false, "").await;
    let r = host.put("/d/east/apps/test-app/kv/set?key=k", "v").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(
        r.text().contains("kv"),
        "denial names the permission: {}",
        r.text()
    );
    // The denial is an answer, not a crash: the app keeps serving.
    assert_eq!(
        host.get("/d/east/apps/test-app/ping").await.status,
        StatusCode::OK
    );
    let r = host.get("/d/east/apps/test-app/kv/get?key=k").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // And nothing was written.
    let counts = host.row_counts().await;
    assert_eq!(counts[3], 0, "kv rows");
}

async fn districts_and_apps_cannot_reach_each_others_keys(host: TestHost) {
    host.district("east").await;
    host.district("west").await;
    host.install_test_app("east", "test-app", true, "").await;
    host.install_test_app("west", "test-app", true, "").await;
    host.install_test_app("east", "other-app", true, "").await;

    let r = host
        .put("/d/east/apps/test-app/kv/set?key=secret", "east-only")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    for uri in [
        "/d/west/apps/test-app/kv/get?key=secret",
        "/d/east/apps/other-app/kv/get?key=secret",
    ] {
        let r = host.get(uri).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri} saw {}", r.text());
    }
    for uri in [
        "/d/west/apps/test-app/kv/list?prefix=&limit=100",
        "/d/east/apps/other-app/kv/list?prefix=&limit=100",
    ] {
        let r = host.get(uri).await.json();
        assert_eq!(r["keys"], serde_json::json!([]), "{uri}");
    }
    // Writing the same key elsewhere does not touch the original.
    host.put("/d/west/apps/test-app/kv/set?key=secret", "west")
        .await;
    host.delete("/d/east/apps/other-app/kv/delete?key=secret")
        .await;
    assert_eq!(
        host.get("/d/east/apps/test-app/kv/get?key=secret")
            .await
            .text(),
        "east-only"
    );
}

async fn insert_if_absent_has_exactly_one_winner(host: TestHost) {
    host.district("east").await;
    host.install_test_app("east", "test-app", true, "").await;
    let host = std::sync::Arc::new(host);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let host = host.clone();
        tasks.push(tokio::spawn(async move {
            host.post(
                "/d/east/apps/test-app/kv/insert?key=lock",
                format!("caller-{i}"),
            )
            .await
        }));
    }
    let mut winners = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.expect("task");
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        if r.json()["inserted"] == true {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let stored = host
        .get("/d/east/apps/test-app/kv/get?key=lock")
        .await
        .text();
    assert_eq!(stored, format!("caller-{}", winners[0]));
}

async fn refuses_oversized_values_and_bad_keys(host: TestHost) {
    host.district("east").await;
    host.install_test_app("east", "test-app", true, "").await;
    // The request body limit is 1 MiB, so exercise the value limit with a
    // value right above it through the largest body apps accept.
    let too_big = vec![b'x'; (1 << 20) + 1];
    let r = host
        .put("/d/east/apps/test-app/kv/set?key=big", too_big)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    let just_fits = vec![b'x'; 1 << 20];
    let r = host
        .put("/d/east/apps/test-app/kv/set?key=big", just_fits)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());

    // Values built inside the app: the value limit itself.
    let r = host
        .put("/d/east/apps/test-app/kv/fill?key=gen&bytes=1048577", "")
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert!(
        r.text().contains("1048576"),
        "names the limit: {}",
        r.text()
    );
    assert_eq!(
        host.get("/d/east/apps/test-app/kv/get?key=gen")
            .await
            .status,
        StatusCode::NOT_FOUND,
        "a refused value is not stored"
    );
    let r = host
        .put("/d/east/apps/test-app/kv/fill?key=gen&bytes=1048576", "")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());

    let long_key = "k".repeat(513);
    let r = host
        .put(&format!("/d/east/apps/test-app/kv/set?key={long_key}"), "v")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = host.put("/d/east/apps/test-app/kv/set?key=", "v").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
}

async fn uninstall_removes_data_unless_kept(host: TestHost) {
    host.district("east").await;
    let platform = &host.opened.platform;
    host.install_test_app("east", "test-app", true, "").await;
    host.put("/d/east/apps/test-app/kv/set?key=k", "kept").await;

    platform
        .uninstall("east", "test-app", true)
        .await
        .expect("uninstall");
    assert_eq!(
        host.get("/d/east/apps/test-app/ping").await.status,
        StatusCode::NOT_FOUND
    );
    host.install_test_app("east", "test-app", true, "").await;
    assert_eq!(
        host.get("/d/east/apps/test-app/kv/get?key=k").await.text(),
        "kept"
    );

    platform
        .uninstall("east", "test-app", false)
        .await
        .expect("uninstall");
    host.install_test_app("east", "test-app", true, "").await;
    assert_eq!(
        host.get("/d/east/apps/test-app/kv/get?key=k").await.status,
        StatusCode::NOT_FOUND
    );
}

/// Post `ops` to the test app's `kv/commit`.
async fn commit(host: &TestHost, ops: serde_json::Value) -> hutong_tests::TestResponse {
    host.post("/d/east/apps/test-app/kv/commit", ops.to_string())
        .await
}

async fn value_of(host: &TestHost, key: &str) -> Option<String> {
    let r = host
        .get(&format!("/d/east/apps/test-app/kv/get?key={key}"))
        .await;
    (r.status == StatusCode::OK).then(|| r.text())
}

async fn commit_applies_every_operation_or_none(host: TestHost) {
    use serde_json::json;
    host.district("east").await;
    host.install_test_app("east", "test-app", true, "").await;
    let r = commit(
        &host,
        json!([
            {"op": "insert", "key": "a", "value": "1"},
            {"op": "set", "key": "b", "value": "2"},
            {"op": "insert", "key": "gone", "value": "x"},
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["applied"], true);

    // Each kind of failed condition names its operation and writes nothing,
    // not even the operations before it.
    for (ops, failed) in [
        (
            json!([{"op": "set", "key": "c", "value": "3"}, {"op": "insert", "key": "a", "value": "x"}]),
            1,
        ),
        (
            json!([{"op": "set", "key": "c", "value": "3"}, {"op": "swap", "key": "b", "expected": "9", "value": "x"}]),
            1,
        ),
        (
            json!([{"op": "set", "key": "c", "value": "3"}, {"op": "remove", "key": "nope"}]),
            1,
        ),
        (
            json!([{"op": "require", "key": "nope"}, {"op": "set", "key": "c", "value": "3"}]),
            0,
        ),
    ] {
        let r = commit(&host, ops.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(
            r.json(),
            json!({"applied": false, "failed": failed}),
            "{ops}"
        );
        assert_eq!(
            value_of(&host, "c").await,
            None,
            "nothing of {ops} was written"
        );
        assert_eq!(value_of(&host, "a").await.as_deref(), Some("1"));
        assert_eq!(value_of(&host, "b").await.as_deref(), Some("2"));
    }

    // Conditions that hold: swap, remove and require together.
    let r = commit(
        &host,
        json!([
            {"op": "require", "key": "a"},
            {"op": "swap", "key": "b", "expected": "2", "value": "3"},
            {"op": "remove", "key": "gone"},
        ]),
    )
    .await;
    assert_eq!(r.json()["applied"], true, "{}", r.text());
    assert_eq!(value_of(&host, "b").await.as_deref(), Some("3"));
    assert_eq!(value_of(&host, "gone").await, None);
}

async fn commit_is_denied_without_kv(host: TestHost) {
    host.district("east").await;
    host.install_test_app("east", "test-app", false, "").await;
    let r = commit(
        &host,
        serde_json::json!([{"op": "set", "key": "a", "value": "1"}]),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(
        r.text().contains("kv"),
        "names the permission: {}",
        r.text()
    );
    let counts = host.row_counts().await;
    assert_eq!(counts[3], 0, "kv rows");
}

async fn commit_refuses_operations_beyond_its_limits(host: TestHost) {
    use serde_json::json;
    host.district("east").await;
    host.install_test_app("east", "test-app", true, "").await;
    let set = |i: usize| json!({"op": "set", "key": format!("k{i}"), "value": "v"});

    let r = commit(&host, json!([])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("1..=1000"), "{}", r.text());

    let too_many: Vec<_> = (0..1001).map(set).collect();
    let r = commit(&host, json!(too_many)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("1001"), "{}", r.text());
    assert_eq!(value_of(&host, "k0").await, None);

    let most: Vec<_> = (0..1000).map(set).collect();
    let r = commit(&host, json!(most)).await;
    assert_eq!(r.json()["applied"], true, "{}", r.text());
    assert_eq!(value_of(&host, "k999").await.as_deref(), Some("v"));

    let r = commit(
        &host,
        json!([{"op": "set", "key": "x", "value": "1"}, {"op": "remove", "key": "x"}]),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("once"), "{}", r.text());

    let r = commit(
        &host,
        json!([{"op": "set", "key": "x", "value": "1"}, {"op": "set", "key": "k".repeat(513), "value": "1"}]),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("operation 1"), "{}", r.text());

    // Each value fits, but five of 1 MiB are over the commit's 4 MiB.
    let big: Vec<_> = (0..5)
        .map(|i| json!({"op": "set", "key": format!("big{i}"), "fill": 1 << 20}))
        .collect();
    let r = commit(&host, json!(big)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert!(r.text().contains("4194304"), "{}", r.text());
    assert_eq!(value_of(&host, "x").await, None);
    assert_eq!(value_of(&host, "big0").await, None);
}

async fn concurrent_commits_claiming_one_key_have_exactly_one_winner(host: TestHost) {
    use serde_json::json;
    host.district("east").await;
    host.install_test_app("east", "test-app", true, "").await;
    commit(&host, json!([{"op": "set", "key": "open", "value": ""}])).await;
    let host = std::sync::Arc::new(host);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let host = host.clone();
        tasks.push(tokio::spawn(async move {
            commit(
                &host,
                json!([
                    {"op": "require", "key": "open"},
                    {"op": "insert", "key": "claimed", "value": format!("{i}")},
                    {"op": "insert", "key": format!("record/{i}"), "value": "x"},
                ]),
            )
            .await
        }));
    }
    let mut winners = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.expect("task");
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        if r.json()["applied"] == true {
            winners.push(i);
        } else {
            assert_eq!(r.json()["failed"], 1, "{}", r.text());
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let r = host
        .get("/d/east/apps/test-app/kv/list?prefix=record/")
        .await;
    assert_eq!(r.json()["keys"], json!([format!("record/{}", winners[0])]));
    assert_eq!(
        value_of(&host, "claimed").await,
        Some(winners[0].to_string())
    );
}

/// The install's kv usage as its API view shows it.
async fn usage(host: &TestHost) -> (u64, u64) {
    let view = host
        .get("/api/v1/districts/east/installs/test-app")
        .await
        .json();
    (
        view["kv_usage"]["keys"].as_u64().expect("keys"),
        view["kv_usage"]["bytes"].as_u64().expect("bytes"),
    )
}

async fn quotas_refuse_at_the_limit_and_uninstall_frees_the_space(host: TestHost) {
    use serde_json::json;
    host.district("east").await;
    host.install_test_app(
        "east",
        "test-app",
        true,
        "[limits]\nkv-keys = 3\nkv-mib = 1",
    )
    .await;
    let base = "/d/east/apps/test-app";
    let view = host
        .get("/api/v1/districts/east/installs/test-app")
        .await
        .json();
    assert_eq!(view["limits"]["kv_keys"], 3, "{view}");
    assert_eq!(view["limits"]["kv_bytes"], 1 << 20, "{view}");

    for key in ["a", "b", "c"] {
        let r = host.put(&format!("{base}/kv/set?key={key}"), "12345").await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    }
    assert_eq!(usage(&host).await, (3, 3 * 6));
    // A fourth key is one too many, through each way of writing one.
    let r = host.put(&format!("{base}/kv/set?key=d"), "x").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert!(r.text().contains("kv-keys"), "{}", r.text());
    let r = host.post(&format!("{base}/kv/insert?key=d"), "x").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    let r = commit(&host, json!([{"op": "set", "key": "a", "value": "1"}, {"op": "insert", "key": "d", "value": "x"}])).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    // Nothing of the refused writes was kept, not even the commit's first.
    assert_eq!(value_of(&host, "d").await, None);
    assert_eq!(value_of(&host, "a").await.as_deref(), Some("12345"));
    assert_eq!(usage(&host).await, (3, 3 * 6));
    // Replacing a key adds none; deleting one makes room.
    let r = host.put(&format!("{base}/kv/set?key=a"), "new").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    host.delete(&format!("{base}/kv/delete?key=c")).await;
    let r = host.put(&format!("{base}/kv/set?key=d"), "x").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(usage(&host).await, (3, 4 + 6 + 2));

    // Bytes: 600,000 fit in the MiB; twice that does not.
    let r = host
        .put(&format!("{base}/kv/fill?key=a&bytes=600000"), "")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = host
        .put(&format!("{base}/kv/fill?key=b&bytes=600000"), "")
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert!(r.text().contains("kv-mib"), "{}", r.text());
    assert_eq!(value_of(&host, "b").await.as_deref(), Some("12345"));
    assert_eq!(usage(&host).await, (3, 600_001 + 6 + 2));

    // Uninstalling without keeping the data frees the space.
    host.opened
        .platform
        .uninstall("east", "test-app", false)
        .await
        .expect("uninstall");
    host.install_test_app(
        "east",
        "test-app",
        true,
        "[limits]\nkv-keys = 3\nkv-mib = 1",
    )
    .await;
    assert_eq!(usage(&host).await, (0, 0));
    assert_eq!(value_of(&host, "a").await, None);
}

async fn a_districts_apps_share_one_quota(host: TestHost) {
    let backend = host.backend;
    drop(host);
    let host = TestHost::with_config(backend, |c| c.limits.district_kv_bytes = 1 << 20).await;
    host.district("east").await;
    host.district("west").await;
    for (district, app) in [("east", "one"), ("east", "two"), ("west", "one")] {
        host.install_test_app(district, app, true, "").await;
    }
    let fill =
        |district: &str, app: &str| format!("/d/{district}/apps/{app}/kv/fill?key=k&bytes=600000");
    let r = host.put(&fill("east", "one"), "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    // The district's second app finds the district's quota spent ...
    let r = host.put(&fill("east", "two"), "").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert!(r.text().contains("district `east`"), "{}", r.text());
    // ... another district's does not.
    let r = host.put(&fill("west", "one"), "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
}

/// The SQLite database's size in pages.
async fn pages(host: &TestHost) -> i64 {
    let mut conn = host.raw_connection().await;
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&mut conn)
        .await
        .expect("page count");
    let _ = sqlx::Connection::close(conn).await;
    pages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uninstalling_returns_the_apps_space_to_the_file_system() {
    let host = TestHost::new(hutong_tests::Backend::Sqlite).await;
    host.district("east").await;
    host.install_test_app("east", "test-app", true, "").await;
    let before = pages(&host).await;
    for n in 0..8 {
        let r = host
            .put(
                &format!("/d/east/apps/test-app/kv/fill?key=k{n}&bytes=1000000"),
                "",
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    }
    let full = pages(&host).await;
    assert!(
        full - before > 1_500,
        "8 MB written: {before} -> {full} pages"
    );
    host.opened
        .platform
        .uninstall("east", "test-app", false)
        .await
        .expect("uninstall");
    let after = pages(&host).await;
    assert!(
        after < before + 100,
        "the pages stayed with the file: {before} before, {full} full, {after} after"
    );
}

/// SQLite keeps no copy of what an app replaced or removed: freed content
/// is overwritten with zeros, and the WAL is cut back when it starts over.
/// (Values of 20 KB, so they live on overflow pages that are freed whole.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_no_copy_of_what_was_replaced_or_removed() {
    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    host.install_test_app("east", "test-app", true, "").await;
    let base = "/d/east/apps/test-app";
    let value = |tag: &str, size: usize| tag.repeat(size / tag.len());
    for (key, tag, size) in [
        ("letter", "FIRST-DRAFT;", 20_000),
        ("letter", "FINAL-TEXT;", 30_000),
        ("note", "SCRAPPED-NOTE;", 20_000),
    ] {
        let r = host
            .put(&format!("{base}/kv/set?key={key}"), value(tag, size))
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    }
    let r = host.delete(&format!("{base}/kv/delete?key=note")).await;
    assert_eq!(r.json()["existed"], true, "{}", r.text());

    // Once the WAL is written back, the next commit starts it over.
    host.checkpoint_sqlite().await;
    let r = host.put(&format!("{base}/kv/set?key=next"), "x").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let stored = host.sqlite_files();
    let holds = |tag: &str| {
        let probe = tag.repeat(4);
        stored.windows(probe.len()).any(|w| w == probe.as_bytes())
    };
    assert!(holds("FINAL-TEXT;"), "the value kept is in the file");
    assert!(
        !holds("FIRST-DRAFT;"),
        "the value replaced is still in the file"
    );
    assert!(
        !holds("SCRAPPED-NOTE;"),
        "the value removed is still in the file"
    );
}
