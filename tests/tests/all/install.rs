//! The install lifecycle with real components: what is accepted, every bad
//! input refused with a clear error and nothing changed, and the precompiled
//! cache reused across restarts.

use std::sync::atomic::Ordering;

use axum::http::StatusCode;
use base64::Engine as _;
use hutong_host::PlatformError;
use hutong_host::kernel::manifest::Permission;
use hutong_tests::{Backend, TestHost, components, on_both_backends, test_app_manifest};

on_both_backends!(
    every_bad_install_is_refused_and_changes_nothing,
    a_configuration_that_does_not_match_the_schema_is_refused_naming_the_field,
    an_import_without_a_declared_permission_installs_and_each_call_is_denied,
    installs_through_the_api_and_lists_them,
    a_second_host_process_sees_installs_and_suspensions,
);

const RAW_MANIFEST: &str = r#"
name = "raw-app"
version = "0.1.0"
description = "no SDK"
host-api = "^0.1"
"#;

/// What is wrong, the district, manifest, component and grant, and what
/// the refusal must say.
type BadInstall<'a> = (&'a str, &'a str, String, &'a str, &'a [Permission], &'a str);

async fn every_bad_install_is_refused_and_changes_nothing(host: TestHost) {
    host.district("east").await;
    host.install_test_app("east", "test-app", true, "").await;
    let before = host.row_counts().await;
    let cached_before = cached_artifacts(&host);
    assert_eq!(cached_before.len(), 1, "{cached_before:?}");
    let good = test_app_manifest("fresh-app", "");

    let tmp = host.dir().join("not-a-component.wasm");
    std::fs::write(&tmp, b"this is not wasm").expect("write");
    let core = host.dir().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").expect("write");
    let (tmp, core) = (tmp.to_str().expect("path"), core.to_str().expect("path"));
    let kv: &[Permission] = &[Permission::Kv];
    let table: Vec<BadInstall> = vec![
        (
            "not a component",
            "east",
            good.clone(),
            tmp,
            &[],
            "magic bytes",
        ),
        (
            "a core module",
            "east",
            good.clone(),
            core,
            &[],
            "core WebAssembly module",
        ),
        (
            "component for another world",
            "east",
            RAW_MANIFEST.replace("raw-app", "cli-command"),
            components::CLI_COMMAND,
            &[],
            "is not a Hutong app",
        ),
        (
            "unsatisfiable import",
            "east",
            RAW_MANIFEST.replace("raw-app", "foreign-import"),
            components::FOREIGN_IMPORT,
            &[],
            "acme:widgets/gadgets",
        ),
        (
            "manifest that does not parse",
            "east",
            "name = [".to_owned(),
            components::TEST_APP,
            &[],
            "does not parse",
        ),
        (
            "unknown permission",
            "east",
            good.replace("[permissions]", "[permissions]\ncamera = \"watch\""),
            components::TEST_APP,
            &[],
            "unknown permission `camera`",
        ),
        (
            "incompatible API requirement",
            "east",
            good.replace("host-api = \"^0.1\"", "host-api = \"^2.0\""),
            components::TEST_APP,
            &[],
            "requires host API ^2.0",
        ),
        (
            "already installed",
            "east",
            test_app_manifest("test-app", ""),
            components::TEST_APP,
            &[],
            "already installed",
        ),
        (
            "district that does not exist",
            "nowhere",
            good.clone(),
            components::TEST_APP,
            &[],
            "district `nowhere` does not exist",
        ),
        (
            "declared permission the component never uses",
            "east",
            format!("{RAW_MANIFEST}\n[permissions]\nkv = \"just in case\""),
            components::RAW_APP,
            &[],
            "never imports hutong:platform/kv",
        ),
        (
            "grant of an undeclared permission",
            "east",
            RAW_MANIFEST.to_owned(),
            components::RAW_APP,
            kv,
            "cannot grant `kv`",
        ),
        (
            "limit beyond the platform maximum",
            "east",
            test_app_manifest("fresh-app", "[limits]\nmemory-mib = 4096"),
            components::TEST_APP,
            &[],
            "memory-mib = 4096",
        ),
    ];
    let mut cases: Vec<(&str, Result<_, PlatformError>, &str)> = Vec::new();
    for (what, district, manifest, component, grant, needle) in table {
        let result = host.install(district, &manifest, component, grant).await;
        cases.push((what, result, needle));
    }

    for (what, result, needle) in cases {
        let err = match result {
            Ok(i) => panic!("{what}: was installed as {}", i.app),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(needle),
            "{what}: message `{err}` lacks `{needle}`"
        );
        let after = host.row_counts().await;
        assert_eq!(before, after, "{what}: the database changed");
    }
    // Components that were compiled and then refused left nothing behind.
    assert_eq!(cached_artifacts(&host), cached_before);
}

/// The precompiled components in the host's cache.
fn cached_artifacts(host: &TestHost) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "cwasm") {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&host.settings.data_dir.join("compiled"), &mut found);
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_for_another_world_is_named_as_such() {
    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    let err = host
        .install("east", RAW_MANIFEST, components::CLI_COMMAND, &[])
        .await
        .expect_err("refused");
    let message = err.to_string();
    assert!(matches!(err, PlatformError::WrongWorld { .. }), "{message}");
    assert!(message.contains("wasi:cli/run"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_written_without_the_sdk_installs_and_answers() {
    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    host.install("east", RAW_MANIFEST, components::RAW_APP, &[])
        .await
        .expect("install raw app");
    let r = host.get("/d/east/apps/raw-app/some/where").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text(), "raw app at /some/where");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_app_greets_and_counts_visits() {
    let host = TestHost::new(Backend::Sqlite).await;
    host.district("demo").await;
    let manifest = std::fs::read_to_string(components::HELLO_MANIFEST).expect("manifest");
    host.install("demo", &manifest, components::HELLO, &[Permission::Kv])
        .await
        .expect("install hello");
    let first = host.get("/d/demo/apps/hello/greet/ana").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    assert_eq!(first.json()["visits"], 1);
    let second = host.get("/d/demo/apps/hello/greet/ana").await.json();
    assert_eq!(second["visits"], 2);
    assert_eq!(host.get("/d/demo/apps/hello/ping").await.text(), "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reuses_the_precompiled_cache() {
    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    host.install_test_app("east", "test-app", false, "").await;
    host.install_test_app("east", "same-component", false, "")
        .await;
    let stats = host.opened.platform.runtime().cache_stats();
    assert_eq!(
        stats.compiled.load(Ordering::Relaxed),
        1,
        "one digest, one compile"
    );

    let restarted = host.another_process().await;
    let runtime = restarted.platform.runtime();
    assert_eq!(runtime.load_all().await.expect("load"), 2);
    assert_eq!(runtime.cache_stats().compiled.load(Ordering::Relaxed), 0);
    assert_eq!(runtime.cache_stats().loaded.load(Ordering::Relaxed), 1);
    let response = runtime
        .handle_http("east", "test-app", hutong_host::AppRequest::get("/ping"))
        .await
        .expect("call");
    assert_eq!(response.body, b"pong");
    assert!(
        restarted
            .metrics
            .render()
            .contains("hutong_components_cache_loaded_total 1")
    );

    // A damaged artifact is discarded and recompiled, not trusted.
    for entry in walk(&host.settings.data_dir.join("compiled")) {
        std::fs::write(&entry, b"garbage").expect("damage artifact");
    }
    assert!(!walk(&host.settings.data_dir.join("compiled")).is_empty());
    let again = host.another_process().await;
    assert_eq!(again.platform.runtime().load_all().await.expect("load"), 2);
    assert_eq!(
        again
            .platform
            .runtime()
            .cache_stats()
            .compiled
            .load(Ordering::Relaxed),
        1
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "cwasm") {
            out.push(path);
        }
    }
    out
}

async fn installs_through_the_api_and_lists_them(host: TestHost) {
    let r = host
        .post("/api/v1/districts", r#"{"id":"east","name":"East"}"#)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = host
        .post("/api/v1/districts", r#"{"id":"east","name":"East"}"#)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = host
        .post("/api/v1/districts", r#"{"id":"East Side"}"#)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.error_message().contains("a-z"), "{}", r.text());

    let component = std::fs::read(components::TEST_APP).expect("component");
    let body = serde_json::json!({
        "manifest": test_app_manifest("test-app", ""),
        "component_base64": base64::engine::general_purpose::STANDARD.encode(&component),
        "grant": ["kv"],
    });
    let r = host
        .post("/api/v1/districts/east/installs", body.to_string())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let installed = r.json();
    assert_eq!(installed["granted"], serde_json::json!(["kv"]));
    assert_eq!(installed["status"], "active");

    let r = host
        .post("/api/v1/districts/east/installs", body.to_string())
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());

    let bad = serde_json::json!({"manifest": "name = \"x\"", "component_base64": "***"});
    let r = host
        .post("/api/v1/districts/east/installs", bad.to_string())
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let r = host
        .post("/api/v1/districts/east/installs", "{not json")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.error_message().contains("component_base64"),
        "{}",
        r.text()
    );

    let list = host.get("/api/v1/districts/east/installs").await.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let shown = host
        .get("/api/v1/districts/east/installs/test-app")
        .await
        .json();
    assert!(shown["manifest"]["permissions"]["kv"].as_str().is_some());
    assert_eq!(
        host.get("/api/v1/districts/east/installs/nope")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        host.get("/api/v1/districts/west/installs").await.status,
        StatusCode::NOT_FOUND
    );

    assert_eq!(host.get("/d/east/apps/test-app/ping").await.text(), "pong");
    let metrics = host.get("/metrics").await.text();
    assert!(
        metrics.contains("hutong_app_calls_total{app=\"test-app\",district=\"east\"} 1"),
        "{metrics}"
    );
    host.get("/d/east/apps/test-app/panic").await;
    let metrics = host.get("/metrics").await.text();
    assert!(
        metrics.contains(
            "hutong_app_failures_total{app=\"test-app\",cause=\"panic\",district=\"east\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("hutong_app_call_duration_seconds_bucket"));

    let r = host
        .delete("/api/v1/districts/east/installs/test-app")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        host.get("/d/east/apps/test-app/ping").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn a_second_host_process_sees_installs_and_suspensions(host: TestHost) {
    host.district("east").await;
    let other = host.another_process().await;
    host.install_test_app("east", "test-app", false, "").await;
    // Installed by the first process, served by the second.
    let call = |o: &hutong_host::server::Opened| {
        let runtime = o.platform.runtime().clone();
        async move {
            runtime
                .handle_http("east", "test-app", hutong_host::AppRequest::get("/ping"))
                .await
        }
    };
    assert!(call(&other).await.is_ok());
    host.opened
        .platform
        .suspend("east", "test-app", "maintenance")
        .await
        .expect("suspend");
    other.platform.runtime().refresh().await.expect("refresh");
    match call(&other).await {
        Err(hutong_host::CallError::Suspended { reason, .. }) => assert_eq!(reason, "maintenance"),
        other => panic!("expected suspended, got {other:?}"),
    }
    host.opened
        .platform
        .uninstall("east", "test-app", false)
        .await
        .expect("uninstall");
    other.platform.runtime().refresh().await.expect("refresh");
    assert!(matches!(
        call(&other).await,
        Err(hutong_host::CallError::NotInstalled { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_broken_install_does_not_keep_the_host_from_starting() {
    use sqlx::Connection;
    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    host.install_test_app("east", "test-app", false, "").await;
    let raw = host
        .install("east", RAW_MANIFEST, components::RAW_APP, &[])
        .await
        .expect("install raw app");
    // Lose the raw app's artifact and damage its stored component.
    std::fs::remove_dir_all(host.settings.data_dir.join("compiled")).expect("clear cache");
    let db = host.settings.data_dir.join("hutong.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("open database");
    sqlx::query("UPDATE components SET bytes = X'0061736d' WHERE digest = $1")
        .bind(&raw.digest)
        .execute(&mut conn)
        .await
        .expect("damage component");
    conn.close().await.expect("close");

    let restarted = host.another_process().await;
    let runtime = restarted.platform.runtime();
    assert_eq!(
        runtime.load_all().await.expect("load"),
        1,
        "the healthy install loads"
    );
    let ok = runtime
        .handle_http("east", "test-app", hutong_host::AppRequest::get("/ping"))
        .await
        .expect("healthy app answers");
    assert_eq!(ok.body, b"pong");
    let broken = runtime
        .handle_http("east", "raw-app", hutong_host::AppRequest::default())
        .await;
    assert!(
        matches!(broken, Err(hutong_host::CallError::Internal(_))),
        "{broken:?}"
    );
}

/// A component that imports `kv` while its manifest declares no `kv`
/// permission (as componentize-py and componentize-js build every app)
/// installs; each kv call is then denied with a typed error naming the
/// permission, and nothing is stored.
async fn an_import_without_a_declared_permission_installs_and_each_call_is_denied(host: TestHost) {
    host.district("east").await;
    let manifest = test_app_manifest("test-app", "")
        .lines()
        .filter(|l| !l.starts_with("kv ="))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!manifest.contains("kv ="), "{manifest}");
    host.install("east", &manifest, components::TEST_APP, &[])
        .await
        .expect("installed");
    let r = host
        .put("/d/east/apps/test-app/kv/set?key=visits", "1")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("kv"), "{}", r.text());
    let stored = host
        .opened
        .platform
        .store()
        .kv_get("east", "test-app", "visits")
        .await
        .expect("read kv");
    assert_eq!(stored, None, "nothing stored");
}

/// The manifest's `[config]` schema is applied at install: through the API
/// a configuration that does not match is refused with where and why, and
/// nothing changes; one that matches installs.
async fn a_configuration_that_does_not_match_the_schema_is_refused_naming_the_field(
    host: TestHost,
) {
    host.district("east").await;
    let manifest = test_app_manifest(
        "test-app",
        "[config.schema]\ntype = \"object\"\nrequired = [\"greeting\"]\n\
         [config.schema.properties.greeting]\ntype = \"string\"\nmaxLength = 20\n",
    );
    let component = std::fs::read(components::TEST_APP).expect("component");
    let body = |config: serde_json::Value| {
        serde_json::json!({
            "manifest": manifest,
            "component_base64": base64::engine::general_purpose::STANDARD.encode(&component),
            "grant": ["kv"],
            "config": config,
        })
        .to_string()
    };
    let before = host.row_counts().await;
    for (config, needle) in [
        (serde_json::json!({}), "\"greeting\" is a required property"),
        (
            serde_json::json!({ "greeting": 5 }),
            "at `/greeting`: 5 is not of type \"string\"",
        ),
        (
            serde_json::json!({ "greeting": "x".repeat(21) }),
            "at `/greeting`",
        ),
    ] {
        let r = host
            .post("/api/v1/districts/east/installs", body(config.clone()))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
        let message = r.error_message();
        assert!(
            message.contains("does not match the schema in test-app@0.1.0's manifest"),
            "{message}"
        );
        assert!(message.contains(needle), "{config}: {message}");
        assert_eq!(
            host.row_counts().await,
            before,
            "{config}: the database changed"
        );
    }
    let r = host
        .post(
            "/api/v1/districts/east/installs",
            body(serde_json::json!({ "greeting": "你好" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["config"]["greeting"], "你好");
}
