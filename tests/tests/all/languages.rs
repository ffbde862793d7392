//! Apps in Python and JavaScript, built from `examples/hello-python` and
//! `examples/hello-js` with the pinned componentize-py and componentize-js,
//! exactly as their READMEs say. Each imports only what it uses and exports
//! only `http-handler`, installs with its one permission, answers, and gets
//! a typed denial (which it turns into a 403) where the permission is not
//! granted.

use axum::http::StatusCode;
use hutong_host::kernel::manifest::{Manifest, Permission};
use hutong_tests::{Backend, TestHost, components};

/// The component's top-level imports and exports, from its sections.
fn imports_and_exports(component: &str) -> (Vec<String>, Vec<String>) {
    use wasmparser::{Parser, Payload};
    let bytes = std::fs::read(component).expect("read the component");
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(&bytes) {
        match payload.expect("a readable component") {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    imports.push(import.expect("an import").name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    exports.push(export.expect("an export").name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    (imports, exports)
}

async fn greets_with_kv_and_is_denied_without_it(app: &str, component: &str, manifest: &str) {
    let (imports, exports) = imports_and_exports(component);
    let handlers: Vec<&String> = exports
        .iter()
        .filter(|e| e.starts_with("hutong:platform/"))
        .collect();
    assert_eq!(
        handlers,
        ["hutong:platform/http-handler@0.1.0"],
        "no stub exports"
    );
    let platform: Vec<&String> = imports
        .iter()
        .filter(|i| i.starts_with("hutong:platform/"))
        .collect();
    assert!(
        platform.iter().all(|i| ["types", "kv", "log"]
            .iter()
            .any(|ok| i.starts_with(&format!("hutong:platform/{ok}@")))),
        "{platform:?}"
    );
    assert!(
        !imports.iter().any(|i| i.starts_with("wasi:http/")),
        "{imports:?}"
    );

    let text = std::fs::read_to_string(manifest).expect("manifest");
    let declared: Vec<Permission> = Manifest::from_toml(&text)
        .expect("parses")
        .permissions
        .into_keys()
        .collect();
    assert_eq!(declared, [Permission::Kv], "only what it uses");

    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    host.district("west").await;
    // A manifest asking for a handler the app does not export is refused
    // from the component's sections, before its (long) compile.
    let wants_events = text.replace(
        "[permissions]",
        "[permissions]\nreceive-events = \"hears doors\"",
    ) + "\n[events]\ntypes = [\"door.open\"]\n";
    let started = std::time::Instant::now();
    let refused = host
        .install("east", &wants_events, component, &[])
        .await
        .expect_err("refused");
    println!(
        "{app}: {} KiB, a mismatched manifest refused in {} ms",
        std::fs::metadata(component)
            .map(|m| m.len() >> 10)
            .unwrap_or(0),
        started.elapsed().as_millis()
    );
    assert!(refused.to_string().contains("event-handler"), "{refused}");
    let metrics = host.get("/metrics").await.text();
    assert!(
        metrics.contains("hutong_components_compiled_total 0"),
        "{metrics}"
    );

    host.install("east", &text, component, &[Permission::Kv])
        .await
        .expect("installs with kv");
    let r = host.get(&format!("/d/east/apps/{app}/")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text(), format!("{app} is running"));
    for visits in 1..=2 {
        let r = host.get(&format!("/d/east/apps/{app}/greet/ana")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["greeting"], "你好, ana!");
        assert_eq!(r.json()["visits"], visits);
    }
    let whoami = format!("/d/east/apps/{app}/whoami");
    assert_eq!(
        host.get_as(None, &whoami).await.status,
        StatusCode::UNAUTHORIZED
    );
    let worker = host.worker("w1", "east", &[]).await;
    let r = host.get_as(Some(&worker), &whoami).await;
    assert_eq!((r.status, r.text()), (StatusCode::OK, "worker".to_owned()));

    // The same app where kv is not granted: the call is denied with a
    // typed error the app turns into an answer, and nothing is stored.
    host.install("west", &text, component, &[])
        .await
        .expect("installs without the grant");
    let r = host.get(&format!("/d/west/apps/{app}/greet/ana")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("may not use kv"), "{}", r.text());
    let stored = host
        .opened
        .platform
        .store()
        .kv_get("west", app, "visits/ana")
        .await
        .expect("read kv");
    assert_eq!(stored, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_hello_uses_kv_when_granted_and_is_denied_without() {
    greets_with_kv_and_is_denied_without_it(
        "hello-python",
        components::HELLO_PYTHON,
        components::HELLO_PYTHON_MANIFEST,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_hello_uses_kv_when_granted_and_is_denied_without() {
    greets_with_kv_and_is_denied_without_it(
        "hello-js",
        components::HELLO_JS,
        components::HELLO_JS_MANIFEST,
    )
    .await;
}
