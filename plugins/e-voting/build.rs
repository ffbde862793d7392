//! Builds the ballot page's module: `evote/web` (the `hutong-evote` crate
//! for browsers, `wasm32-unknown-unknown`), which the app embeds and serves
//! at `assets/evote.wasm` so that voters encrypt on their own device.
//!
//! The nested cargo gets a target directory of its own, beside this
//! build's, so it never waits on the lock the outer build holds.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-unknown-unknown";

/// Variables the outer cargo sets for this build script that would
/// misconfigure the nested one (its flags, target, target directory,
/// wrappers and jobserver belong to the app's build).
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
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let evote = manifest_dir.join("../../evote");
    let web = evote.join("web");
    for watched in [
        evote.join("Cargo.toml"),
        evote.join("src"),
        web.join("Cargo.toml"),
        web.join("Cargo.lock"),
        web.join("src"),
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }

    // OUT_DIR is <target>/[<triple>/]<profile>/build/<crate>-<hash>/out.
    let target_dir = out_dir
        .ancestors()
        .nth(3)
        .unwrap_or(&out_dir)
        .join("evote-web");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&web)
        .args(["build", "--release", "--locked", "--target", TARGET])
        .arg("--manifest-path")
        .arg(web.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    for (name, _) in std::env::vars_os() {
        let inherited = name.to_str().is_some_and(|n| {
            INHERITED_VARS.contains(&n) || INHERITED_PREFIXES.iter().any(|p| n.starts_with(p))
        });
        if inherited {
            command.env_remove(&name);
        }
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("could not run cargo to build evote/web: {e}"));
    if !output.status.success() {
        panic!(
            "building evote/web for {TARGET} failed ({}); `bash scripts/setup` installs the target:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let built = target_dir
        .join(TARGET)
        .join("release")
        .join("hutong_evote_web.wasm");
    copy(&built, &out_dir.join("evote.wasm"));
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
}
