//! `hutong new` from a developer's side: the app it makes, in a folder with
//! nothing else of this repository, passes its own tests, builds for
//! `wasm32-wasip2` with the SDK it carries, installs with the permission its
//! manifest declares, and answers; and `hutong dev`'s loop swaps each new
//! build in place, keeping the app's data, and keeps the version before
//! serving when a build fails.

use std::path::Path;
use std::process::Command;

use axum::http::StatusCode;
use hutong_host::cli::dev::{AppFolder, DISTRICT, Dev, Round};
use hutong_host::cli::new::{Lang, new_app};
use hutong_host::kernel::manifest::Permission;
use hutong_tests::{Backend, TestHost, components};

/// The environment of the new app's own build: none of the variables this
/// test binary's build set, and a target directory of its own beside the
/// guests' (so it compiles the SDK's dependencies once).
fn cargo_env() -> Vec<(String, Option<String>)> {
    let mut env: Vec<(String, Option<String>)> = std::env::vars()
        .map(|(name, _)| name)
        .filter(|name| {
            name.starts_with("CARGO_") && name != "CARGO_HOME"
                || [
                    "RUSTFLAGS",
                    "RUSTDOCFLAGS",
                    "RUSTC_WRAPPER",
                    "RUSTC_WORKSPACE_WRAPPER",
                ]
                .contains(&name.as_str())
        })
        .map(|name| (name, None))
        .collect();
    env.push(("CARGO".to_owned(), Some(components::CARGO.to_owned())));
    env.push((
        "CARGO_TARGET_DIR".to_owned(),
        Some(
            Path::new(components::GUESTS_DIR)
                .join("new-app")
                .display()
                .to_string(),
        ),
    ));
    env
}

/// Run `cargo` in `dir` with `args`, in [`cargo_env`].
fn cargo(dir: &Path, args: &[&str]) -> String {
    let mut command = Command::new(components::CARGO);
    command.current_dir(dir).args(args);
    for (name, value) in cargo_env() {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
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
    let made = new_app(empty.path(), "door-watch", Lang::Rust).expect("hutong new");
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
    installs_and_greets(&made.dir, &component, "door-watch").await;
}

/// Install the app `name` made in `dir`, built into `component`, with only
/// kv; it says it runs and counts two greetings.
async fn installs_and_greets(dir: &Path, component: &Path, name: &str) {
    let host = TestHost::new(Backend::Sqlite).await;
    host.district("east").await;
    let manifest = std::fs::read_to_string(dir.join("hutong.toml")).expect("manifest");
    host.install(
        "east",
        &manifest,
        &component.display().to_string(),
        &[Permission::Kv],
    )
    .await
    .expect("install the new app");
    let r = host.get(&format!("/d/east/apps/{name}/")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text(), format!("{name} is running"));
    for visits in 1..=2 {
        let r = host.get(&format!("/d/east/apps/{name}/greet/zhang")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["visits"], visits, "{}", r.text());
    }
}

/// The round's outcome, or a panic saying what it was instead.
fn swapped(round: Round) -> Box<hutong_host::installs::store::Install> {
    match round {
        Round::Swapped {
            install,
            build,
            swap,
        } => {
            println!(
                "built in {:.1} s, swapped in {:.2} s",
                build.as_secs_f64(),
                swap.as_secs_f64()
            );
            install
        }
        other => panic!("expected a swap, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hutong_dev_swaps_each_build_in_place_keeping_the_data() {
    let empty = tempfile::tempdir().expect("tempdir");
    let made = new_app(empty.path(), "porch-light", Lang::Rust).expect("hutong new");
    let mut folder = AppFolder::find(&made.dir).expect("an app folder");
    folder.env = cargo_env();
    let mut dev = Dev::new(folder.clone());
    let host = TestHost::new(Backend::Sqlite).await;
    host.district(DISTRICT).await;
    let platform = &host.opened.platform;
    let app = |route: &str| format!("/d/{DISTRICT}/apps/porch-light{route}");

    let first = swapped(dev.round(platform).await);
    assert_eq!(
        first.granted.len(),
        2,
        "every declared permission: {:?}",
        first.granted
    );
    assert_eq!(host.get(&app("/greet/zhang")).await.json()["visits"], 1);
    assert!(matches!(dev.round(platform).await, Round::Unchanged));

    // An edit: the folder's fingerprint moves, and the next round serves it
    // with the data kept.
    let before = folder.fingerprint();
    let source = made.dir.join("src/lib.rs");
    let text = std::fs::read_to_string(&source).expect("read lib.rs");
    assert!(text.contains("porch-light is running\")"), "{text}");
    std::fs::write(
        &source,
        text.replacen(
            "porch-light is running\")",
            "porch-light is running, edited\")",
            1,
        ),
    )
    .expect("edit");
    assert_ne!(folder.fingerprint(), before);
    swapped(dev.round(platform).await);
    assert_eq!(
        host.get(&app("/")).await.text(),
        "porch-light is running, edited"
    );
    assert_eq!(host.get(&app("/greet/zhang")).await.json()["visits"], 2);

    // A broken edit: the build fails, the edited version keeps serving.
    std::fs::write(&source, format!("{text}\nfn broken(")).expect("break");
    match dev.round(platform).await {
        Round::BuildFailed(printed) => assert!(printed.contains("error"), "{printed}"),
        other => panic!("expected a failed build, got {other:?}"),
    }
    assert_eq!(
        host.get(&app("/")).await.text(),
        "porch-light is running, edited"
    );

    // A configuration the host refuses (not an object): refused, and the
    // version before keeps serving.
    std::fs::write(&source, &text).expect("restore");
    std::fs::write(made.dir.join("config.json"), "[1, 2]").expect("config");
    match dev.round(platform).await {
        Round::Refused(why) => assert!(why.contains("must hold a JSON object"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        host.get(&app("/")).await.text(),
        "porch-light is running, edited"
    );
    assert_eq!(host.get(&app("/greet/zhang")).await.json()["visits"], 3);
}

/// Run `program args` in `dir`; its output, or a panic with it.
fn run(dir: &Path, program: &str, args: &[&str], env: &[(&str, &Path)]) -> String {
    let mut command = Command::new(program);
    command.current_dir(dir).args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

/// `hutong new --lang LANG`, its own tests, its build with the pinned
/// toolchain, an install with only kv, and a greeting counted twice.
async fn a_new_app_in(lang: Lang, name: &str, test: (&str, &[&str]), passed: &str) {
    let empty = tempfile::tempdir().expect("tempdir");
    let made = new_app(empty.path(), name, lang).expect("hutong new");
    if lang == Lang::Js {
        // The toolchain scripts/setup installed for the example, rather than
        // a second `npm ci` of the same lock file.
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::os::unix::fs::symlink(
            repo.join("examples/hello-js/node_modules"),
            made.dir.join("node_modules"),
        )
        .expect("link node_modules");
    }
    let tested = run(&made.dir, test.0, test.1, &[]);
    assert!(tested.contains(passed), "{tested}");
    let component = Path::new(components::GUESTS_DIR).join(format!("new-{name}.wasm"));
    run(&made.dir, "sh", &["build.sh"], &[("OUT", &component)]);
    installs_and_greets(&made.dir, &component, name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_python_app_tests_builds_installs_and_answers() {
    a_new_app_in(
        Lang::Python,
        "py-porch",
        ("sh", &["test.sh"]),
        "Ran 4 tests",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_js_app_tests_builds_installs_and_answers() {
    a_new_app_in(Lang::Js, "js-porch", ("npm", &["test"]), "# pass 4").await;
}
