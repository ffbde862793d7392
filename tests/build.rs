//! Builds the guest components the integration tests install, from source,
//! and hands their paths to the tests as compile-time environment variables
//! (see `src/components.rs`).
//!
//! Guests build for `wasm32-wasip2` in release mode into `target/guests`, the
//! target directory `scripts/build-apps` uses too. That is a different target
//! directory than the host's, so the nested cargo never waits on the lock the
//! outer build holds.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip2";

/// One guest crate the tests need.
struct Component {
    /// The crate's directory, relative to the repository.
    dir: &'static str,
    /// The file cargo writes: the crate name, with `-` as `_` for a library.
    wasm: &'static str,
    /// The name of the environment variable with the component's path; the
    /// manifest's, when it has one, is the same with `_MANIFEST` appended.
    env: &'static str,
    /// Whether the crate has a `hutong.toml` manifest.
    has_manifest: bool,
}

const COMPONENTS: &[Component] = &[
    Component {
        dir: "tests/components/test-app",
        wasm: "test_app.wasm",
        env: "HUTONG_TEST_APP",
        has_manifest: true,
    },
    Component {
        dir: "tests/components/cli-command",
        wasm: "cli-command.wasm",
        env: "HUTONG_CLI_COMMAND",
        has_manifest: false,
    },
    Component {
        dir: "tests/components/raw-app",
        wasm: "raw_app.wasm",
        env: "HUTONG_RAW_APP",
        has_manifest: true,
    },
    Component {
        dir: "tests/components/foreign-import",
        wasm: "foreign_import.wasm",
        env: "HUTONG_FOREIGN_IMPORT",
        has_manifest: true,
    },
    Component {
        dir: "tests/components/handlers-only",
        wasm: "handlers_only.wasm",
        env: "HUTONG_HANDLERS_ONLY",
        has_manifest: true,
    },
    Component {
        dir: "tests/components/ping-proxy",
        wasm: "ping_proxy.wasm",
        env: "HUTONG_PING_PROXY",
        has_manifest: false,
    },
    Component {
        dir: "plugins/e-voting",
        wasm: "e_voting.wasm",
        env: "HUTONG_E_VOTING",
        has_manifest: true,
    },
    Component {
        dir: "plugins/smart-care",
        wasm: "smart_care.wasm",
        env: "HUTONG_SMART_CARE",
        has_manifest: true,
    },
    Component {
        dir: "examples/hello",
        wasm: "hello.wasm",
        env: "HUTONG_HELLO",
        has_manifest: true,
    },
    Component {
        dir: "plugins/party-building",
        wasm: "party_building.wasm",
        env: "HUTONG_PARTY_BUILDING",
        has_manifest: true,
    },
];

/// Variables the outer cargo sets for this build script that would
/// misconfigure the nested one: its flags, target, target directory, wrappers
/// and jobserver belong to the host build, not to the guests.
const INHERITED_VARS: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_WRAPPER",
    "CARGO_MAKEFLAGS",
];

const INHERITED_PREFIXES: &[&str] = &["CARGO_PROFILE_", "CARGO_CFG_", "CARGO_FEATURE_"];

fn main() {
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let repo = Path::new(&manifest_dir)
        .parent()
        .expect("the tests crate lives in the repository")
        .to_path_buf();
    // The same directory scripts/build-apps uses, so guests compile once.
    println!("cargo:rerun-if-env-changed=HUTONG_GUEST_TARGET_DIR");
    let target_dir = std::env::var_os("HUTONG_GUEST_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo.join("target").join("guests"));

    // For the tests that build an app of their own (`hutong new`'s).
    println!("cargo:rustc-env=HUTONG_GUESTS_DIR={}", target_dir.display());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    println!("cargo:rustc-env=HUTONG_CARGO={cargo}");

    // The SDK every Rust guest uses, and the e-voting app's cryptography
    // (which it also builds for browsers).
    for watched in [
        "sdk/Cargo.toml",
        "sdk/Cargo.lock",
        "sdk/src",
        "wit",
        "evote/Cargo.toml",
        "evote/src",
        "evote/web",
    ] {
        rerun_if_changed(&repo.join(watched));
    }

    for component in COMPONENTS {
        let dir = repo.join(component.dir);
        for watched in [
            "Cargo.toml",
            "Cargo.lock",
            "build.rs",
            "src",
            "wit",
            "hutong.toml",
        ] {
            let path = dir.join(watched);
            if path.exists() {
                rerun_if_changed(&path);
            }
        }

        build(&dir, &target_dir);

        let wasm = target_dir
            .join(WASM_TARGET)
            .join("release")
            .join(component.wasm);
        assert!(
            wasm.is_file(),
            "building {} did not produce {}",
            component.dir,
            wasm.display()
        );
        println!("cargo:rustc-env={}={}", component.env, wasm.display());
        if component.has_manifest {
            let manifest = dir.join("hutong.toml");
            assert!(manifest.is_file(), "{} is missing", manifest.display());
            println!(
                "cargo:rustc-env={}_MANIFEST={}",
                component.env,
                manifest.display()
            );
        }
    }
    build_script_apps(&repo, &target_dir);
}

/// An app in another language, built by its `build.sh` (which writes the
/// component to `$OUT`) with the toolchain `scripts/setup` installs.
struct ScriptApp {
    /// The app's directory, relative to the repository.
    dir: &'static str,
    /// The environment variable with the component's path; the manifest's
    /// is the same with `_MANIFEST` appended.
    env: &'static str,
}

const SCRIPT_APPS: &[ScriptApp] = &[
    ScriptApp {
        dir: "examples/hello-python",
        env: "HUTONG_HELLO_PYTHON",
    },
    ScriptApp {
        dir: "examples/hello-js",
        env: "HUTONG_HELLO_JS",
    },
];

/// Build each app of [`SCRIPT_APPS`] into `target_dir/script-apps`.
fn build_script_apps(repo: &Path, target_dir: &Path) {
    let out_dir = target_dir.join("script-apps");
    std::fs::create_dir_all(&out_dir).expect("create the script apps' folder");
    let out_dir = out_dir.canonicalize().expect("the script apps' folder");
    for app in SCRIPT_APPS {
        let dir = repo.join(app.dir);
        for watched in [
            "build.sh",
            "hutong.toml",
            "wit",
            "app.py",
            "app.js",
            "package-lock.json",
            "requirements.txt",
        ] {
            let path = dir.join(watched);
            if path.exists() {
                rerun_if_changed(&path);
            }
        }
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a folder name");
        let out = out_dir.join(format!("{name}.wasm"));
        let output = Command::new("sh")
            .arg("build.sh")
            .current_dir(&dir)
            .env("OUT", &out)
            .output()
            .unwrap_or_else(|e| panic!("could not run {}/build.sh: {e}", app.dir));
        if !output.status.success() || !out.is_file() {
            panic!(
                "building {} failed ({}); `bash scripts/setup` installs its toolchain:\n{}{}",
                app.dir,
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
            );
        }
        println!("cargo:rustc-env={}={}", app.env, out.display());
        println!(
            "cargo:rustc-env={}_MANIFEST={}",
            app.env,
            dir.join("hutong.toml").display()
        );
    }
}

fn rerun_if_changed(path: &Path) {
    println!("cargo:rerun-if-changed={}", path.display());
}

/// Build the guest crate in `dir`, failing this build with cargo's output if
/// it fails.
fn build(dir: &Path, target_dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(dir)
        .args(["build", "--release", "--target", WASM_TARGET])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    for (name, _) in std::env::vars_os() {
        if is_inherited(&name) {
            command.env_remove(&name);
        }
    }

    let output = command
        .output()
        .unwrap_or_else(|error| panic!("could not run cargo to build {}: {error}", dir.display()));
    if !output.status.success() {
        panic!(
            "building the guest crate {} failed ({}):\n{}{}",
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
    }
}

fn is_inherited(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    INHERITED_VARS.contains(&name)
        || INHERITED_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
}
