//! `hutong new` from a developer's side: the app it makes, in a folder with
//! nothing else of this repository, passes its own tests, builds for
//! `wasm32-wasip2` with the SDK it carries, installs with the permission its
//! manifest declares, and answers.

use std::path::Path;
use std::process::Command;

use axum::http::StatusCode;
use hutong_host::cli::new::new_app;
use hutong_host::kernel::manifest::Permission;
use hutong_tests::{Backend, TestHost, components};

/// Run `cargo` in `dir` with `args`, the new app's own build: none of the
/// variables this test binary's build set, and a target directory of its
/// own beside the guests' (so it compiles the SDK's dependencies once).
fn cargo(dir: &Path, args: &[&str]) -> String {
    let mut command = Command::new(components::CARGO);
    command.current_dir(dir).args(args);
    for (name, _) in std::env::vars() {
        let build_setting = name.starts_with("CARGO_") && name != "CARGO_HOME"
            || [
                "RUSTFLAGS",
                "RUSTDOCFLAGS",
                "RUSTC_WRAPPER",
                "RUSTC_WORKSPACE_WRAPPER",
            ]
            .contains(&name.as_str());
        if build_setting {
            command.env_remove(&name);
        }
    }
    command.env(
        "CARGO_TARGET_DIR",
        Path::new(components::GUESTS_DIR).join("new-app"),
    );
    let out = command.output().expect("run cargo");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "cargo {args:?} failed:\n{text}");
    text
}

#[tokio::test]
async fn a_new_app_tests_builds_installs_and_answers_from_an_empty_folder() {
    let empty = tempfile::tempdir().expect("tempdir");
    let made = new_app(empty.path(), "door-watch").expect("hutong new");
    assert!(made.dir.join("hutong-sdk/wit/world.wit").is_file());

    let tested = cargo(&made.dir, &["test", "--quiet"]);
    assert!(tested.contains("5 passed"), "{tested}");
    cargo(
        &made.dir,
        &["build", "--quiet", "--release", "--target", "wasm32-wasip2"],
    );
    let component =
        Path::new(components::GUESTS_DIR).join("new-app/wasm32-wasip2/release/door_watch.wasm");
    assert!(component.is_file(), "no {}", component.display());

    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    let manifest = std::fs::read_to_string(made.dir.join("hutong.toml")).expect("manifest");
    host.install(
        "east",
        &manifest,
        &component.display().to_string(),
        &[Permission::Kv],
    )
    .await
    .expect("install the new app");
    let r = host.get("/d/east/apps/door-watch/").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text(), "door-watch is running");
    for visits in 1..=2 {
        let r = host.get("/d/east/apps/door-watch/greet/zhang").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["visits"], visits, "{}", r.text());
    }
}
