//! `hutong new NAME`: start an app outside this repository.
//!
//! The new folder holds a Rust app that builds, tests and installs as it
//! comes (a manifest with reasons, three routes, tests that run on the
//! SDK's test host, a README), and beside
//! it the SDK this `hutong` was built with, WIT included
//! (`hutong-sdk/`), so that the app builds on a machine that reaches only
//! the package registries: nothing is fetched from this repository.
//!
//! The SDK's files are compiled into the binary ([`SDK_FILES`]); a test
//! checks that the list names every file of `sdk/src` and `wit/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::kernel::ids::is_slug;

/// One file of the SDK: where it goes below `hutong-sdk/`, and its text.
type File = (&'static str, &'static str);

/// The SDK as this binary carries it: its manifest, its sources and the WIT
/// it implements.
pub const SDK_FILES: &[File] = &[
    ("Cargo.toml", include_str!("../../../sdk/Cargo.toml")),
    ("src/cases.rs", include_str!("../../../sdk/src/cases.rs")),
    ("src/config.rs", include_str!("../../../sdk/src/config.rs")),
    ("src/data.rs", include_str!("../../../sdk/src/data.rs")),
    ("src/error.rs", include_str!("../../../sdk/src/error.rs")),
    ("src/http.rs", include_str!("../../../sdk/src/http.rs")),
    ("src/kv.rs", include_str!("../../../sdk/src/kv.rs")),
    ("src/lib.rs", include_str!("../../../sdk/src/lib.rs")),
    ("src/log.rs", include_str!("../../../sdk/src/log.rs")),
    ("src/notify.rs", include_str!("../../../sdk/src/notify.rs")),
    ("src/router.rs", include_str!("../../../sdk/src/router.rs")),
    (
        "src/testing.rs",
        include_str!("../../../sdk/src/testing.rs"),
    ),
    ("src/time.rs", include_str!("../../../sdk/src/time.rs")),
    (
        "wit/case-types.wit",
        include_str!("../../../wit/case-types.wit"),
    ),
    (
        "wit/case-watcher.wit",
        include_str!("../../../wit/case-watcher.wit"),
    ),
    ("wit/cases.wit", include_str!("../../../wit/cases.wit")),
    ("wit/config.wit", include_str!("../../../wit/config.wit")),
    ("wit/data.wit", include_str!("../../../wit/data.wit")),
    (
        "wit/event-handler.wit",
        include_str!("../../../wit/event-handler.wit"),
    ),
    (
        "wit/http-handler.wit",
        include_str!("../../../wit/http-handler.wit"),
    ),
    ("wit/kv.wit", include_str!("../../../wit/kv.wit")),
    ("wit/log.wit", include_str!("../../../wit/log.wit")),
    ("wit/notify.wit", include_str!("../../../wit/notify.wit")),
    (
        "wit/tick-handler.wit",
        include_str!("../../../wit/tick-handler.wit"),
    ),
    ("wit/types.wit", include_str!("../../../wit/types.wit")),
    ("wit/world.wit", include_str!("../../../wit/world.wit")),
];

/// The new app's own files; `{name}` and `{crate}` are filled in.
const APP_FILES: &[File] = &[
    ("Cargo.toml", include_str!("new/Cargo.toml.in")),
    ("hutong.toml", include_str!("new/hutong.toml.in")),
    ("src/lib.rs", include_str!("new/lib.rs.in")),
    ("README.md", include_str!("new/README.md.in")),
    (".gitignore", include_str!("new/gitignore.in")),
];

/// What `hutong new` made.
#[derive(Debug)]
pub struct Created {
    /// The app's folder.
    pub dir: PathBuf,
    /// The component `cargo build --release --target wasm32-wasip2` writes,
    /// relative to `dir`.
    pub component: PathBuf,
}

/// Make the app `name` in a new folder `name` below `parent`.
pub fn new_app(parent: &Path, name: &str) -> Result<Created> {
    if !is_slug(name) {
        bail!(
            "`{name}` cannot name an app: a name is 1 to 63 characters of a-z, 0-9 and '-', \
             starting with a letter (for example `door-watch`)"
        );
    }
    let dir = parent.join(name);
    if dir.exists() {
        bail!(
            "{} already exists; choose another name, or remove it first",
            dir.display()
        );
    }
    let krate = name.replace('-', "_");
    let fill = |text: &str| text.replace("{name}", name).replace("{crate}", &krate);
    let files = APP_FILES
        .iter()
        .map(|(path, text)| (PathBuf::from(path), fill(text)))
        .chain(
            SDK_FILES
                .iter()
                .map(|(path, text)| (Path::new("hutong-sdk").join(path), (*text).to_owned())),
        );
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("could not create {}", folder.display()))?;
        }
        std::fs::write(&path, text)
            .with_context(|| format!("could not write {}", path.display()))?;
    }
    Ok(Created {
        component: Path::new("target/wasm32-wasip2/release").join(format!("{krate}.wasm")),
        dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of the SDK's sources and of the WIT is carried: a file
    /// added there and not here fails this test.
    #[test]
    fn the_binary_carries_every_file_of_the_sdk_and_the_wit() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut on_disk = Vec::new();
        for (folder, below) in [("sdk/src", "src"), ("wit", "wit")] {
            for entry in std::fs::read_dir(root.join(folder)).expect("read the folder") {
                let name = entry.expect("entry").file_name();
                on_disk.push(format!("{below}/{}", name.to_string_lossy()));
            }
        }
        on_disk.push("Cargo.toml".to_owned());
        on_disk.sort();
        let mut carried: Vec<String> = SDK_FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        carried.sort();
        assert_eq!(carried, on_disk);
    }

    /// The SDK names the contract it implements, and it is the WIT's own.
    #[test]
    fn the_sdk_names_the_wit_version_it_carries() {
        let (_, cargo_toml) = SDK_FILES
            .iter()
            .find(|(path, _)| *path == "Cargo.toml")
            .expect("the SDK's Cargo.toml is carried");
        let manifest: toml::Value = toml::from_str(cargo_toml).expect("the SDK's Cargo.toml");
        let named = manifest["package"]["metadata"]["hutong"]["wit"]
            .as_str()
            .expect("package.metadata.hutong.wit");
        let packages: Vec<&str> = SDK_FILES
            .iter()
            .filter(|(path, _)| path.starts_with("wit/"))
            .flat_map(|(_, text)| text.lines())
            .filter_map(|line| line.trim().strip_prefix("package "))
            .map(|rest| rest.trim_end_matches(';'))
            .collect();
        assert_eq!(packages, [named], "the WIT's package declaration");
    }

    #[test]
    fn a_new_app_is_refused_a_bad_name_or_an_existing_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = new_app(dir.path(), "Bad_Name").expect_err("bad name");
        assert!(err.to_string().contains("cannot name an app"), "{err}");
        std::fs::create_dir(dir.path().join("taken")).expect("mkdir");
        let err = new_app(dir.path(), "taken").expect_err("exists");
        assert!(err.to_string().contains("already exists"), "{err}");
        let made = new_app(dir.path(), "door-watch").expect("new app");
        let manifest =
            std::fs::read_to_string(made.dir.join("hutong.toml")).expect("manifest written");
        assert!(manifest.contains("name = \"door-watch\""), "{manifest}");
        assert_eq!(
            made.component,
            Path::new("target/wasm32-wasip2/release/door_watch.wasm")
        );
        assert!(made.dir.join("hutong-sdk/wit/world.wit").is_file());
    }
}
