//! What the tests that run the `hutong` executable share: where the
//! repository and the guest components are, and reading a run's outcome.

use std::path::{Path, PathBuf};
use std::process::Output;

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ lives in the repository")
        .to_path_buf()
}

/// The guest component `file` (e.g. `hello.wasm`), built by
/// `scripts/build-apps` or the tests crate's build script (both run before
/// these tests in `scripts/test`).
pub fn guest(file: &str) -> PathBuf {
    let guests = std::env::var_os("HUTONG_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target").join("guests"));
    let path = guests.join("wasm32-wasip2/release").join(file);
    assert!(
        path.exists(),
        "{} is missing: run `bash scripts/build-apps` first",
        path.display()
    );
    path
}

/// The standard output of `hutong args`, which must have succeeded.
pub fn succeeded(args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "hutong {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The standard error of `hutong args`, which must have failed.
pub fn failed(args: &[&str], out: Output) -> String {
    assert!(!out.status.success(), "hutong {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}
