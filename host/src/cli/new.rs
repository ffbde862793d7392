//! `hutong new NAME [--lang rust|python|js]`: start an app outside this
//! repository.
//!
//! For Rust the new folder holds an app that builds, tests and installs as
//! it comes (a manifest with reasons, three routes, tests that run on the
//! SDK's test host, a README), and beside it the SDK this `hutong` was
//! built with, WIT included (`hutong-sdk/`), so that the app builds on a
//! machine that reaches only the package registries: nothing is fetched
//! from this repository.
//!
//! For Python and JavaScript it is the example (`examples/hello-python`,
//! `examples/hello-js`) under the new name: the app, its own world, tests
//! that run without the host, a build script with the pinned toolchain, and
//! the WIT in `wit/deps/hutong-platform`.
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

/// The Python app's files: the example `examples/hello-python` itself, with
/// its name replaced, and a README; the WIT goes to `wit/deps/`.
const PYTHON_FILES: &[File] = &[
    (
        "hutong.toml",
        include_str!("../../../examples/hello-python/hutong.toml"),
    ),
    (
        "app.py",
        include_str!("../../../examples/hello-python/app.py"),
    ),
    (
        "test_app.py",
        include_str!("../../../examples/hello-python/test_app.py"),
    ),
    (
        "build.sh",
        include_str!("../../../examples/hello-python/build.sh"),
    ),
    (
        "test.sh",
        include_str!("../../../examples/hello-python/test.sh"),
    ),
    (
        "requirements.txt",
        include_str!("../../../examples/hello-python/requirements.txt"),
    ),
    (
        "wit/world.wit",
        include_str!("../../../examples/hello-python/wit/world.wit"),
    ),
    (
        ".gitignore",
        include_str!("../../../examples/hello-python/.gitignore"),
    ),
    ("README.md", include_str!("new/README.python.md.in")),
];

/// The JavaScript app's files, from `examples/hello-js` in the same way.
const JS_FILES: &[File] = &[
    (
        "hutong.toml",
        include_str!("../../../examples/hello-js/hutong.toml"),
    ),
    ("app.js", include_str!("../../../examples/hello-js/app.js")),
    (
        "package.json",
        include_str!("../../../examples/hello-js/package.json"),
    ),
    (
        "package-lock.json",
        include_str!("../../../examples/hello-js/package-lock.json"),
    ),
    (
        "build.sh",
        include_str!("../../../examples/hello-js/build.sh"),
    ),
    (
        "test/app.test.mjs",
        include_str!("../../../examples/hello-js/test/app.test.mjs"),
    ),
    (
        "test/fake-host.mjs",
        include_str!("../../../examples/hello-js/test/fake-host.mjs"),
    ),
    (
        "test/hooks.mjs",
        include_str!("../../../examples/hello-js/test/hooks.mjs"),
    ),
    (
        "test/register.mjs",
        include_str!("../../../examples/hello-js/test/register.mjs"),
    ),
    (
        "wit/world.wit",
        include_str!("../../../examples/hello-js/wit/world.wit"),
    ),
    (
        ".gitignore",
        include_str!("../../../examples/hello-js/.gitignore"),
    ),
    ("README.md", include_str!("new/README.js.md.in")),
];

/// The language a new app is written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, with the SDK (`hutong-sdk/`) beside the app.
    #[default]
    Rust,
    /// Python, built with componentize-py.
    Python,
    /// JavaScript, built with componentize-js.
    Js,
}

/// What `hutong new` made.
#[derive(Debug)]
pub struct Created {
    /// The app's folder.
    pub dir: PathBuf,
    /// The component `cargo build --release --target wasm32-wasip2` writes,
    /// relative to `dir`.
    pub component: PathBuf,
}

/// Make the app `name` in `lang` in a new folder `name` below `parent`.
pub fn new_app(parent: &Path, name: &str, lang: Lang) -> Result<Created> {
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
    let files: Vec<(PathBuf, String)> =
        match lang {
            Lang::Rust => {
                let fill = |text: &str| text.replace("{name}", name).replace("{crate}", &krate);
                APP_FILES
                    .iter()
                    .map(|(path, text)| (PathBuf::from(path), fill(text)))
                    .chain(SDK_FILES.iter().map(|(path, text)| {
                        (Path::new("hutong-sdk").join(path), (*text).to_owned())
                    }))
                    .collect()
            }
            Lang::Python | Lang::Js => {
                let (files, example) = match lang {
                    Lang::Python => (PYTHON_FILES, "hello-python"),
                    _ => (JS_FILES, "hello-js"),
                };
                // `{name}` is a placeholder in the README only: in the sources
                // it is Python's and JavaScript's own interpolation.
                let fill = |path: &str, text: &str| match path.ends_with(".md") {
                    true => text.replace("{name}", name),
                    false => text.replace(example, name),
                };
                let wit = SDK_FILES.iter().filter_map(|(path, text)| {
                    let file = path.strip_prefix("wit/")?;
                    Some((
                        Path::new("wit/deps/hutong-platform").join(file),
                        (*text).to_owned(),
                    ))
                });
                files
                    .iter()
                    .map(|(path, text)| (PathBuf::from(path), fill(path, text)))
                    .chain(wit)
                    .collect()
            }
        };
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("could not create {}", folder.display()))?;
        }
        std::fs::write(&path, text)
            .with_context(|| format!("could not write {}", path.display()))?;
    }
    let component = match lang {
        Lang::Rust => Path::new("target/wasm32-wasip2/release").join(format!("{krate}.wasm")),
        Lang::Python | Lang::Js => PathBuf::from("app.wasm"),
    };
    Ok(Created { component, dir })
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

    /// Every file of the Python and JavaScript examples is carried (but
    /// what their builds, tests and tools write).
    #[test]
    fn the_binary_carries_every_file_of_the_examples_in_other_languages() {
        fn walk(dir: &Path, below: &Path, found: &mut Vec<String>) {
            const WRITTEN: &[&str] = &[
                "app.wasm",
                "node_modules",
                "hutong-data",
                ".bindings",
                "__pycache__",
                "deps",
                "wit_world",
                "componentize_py_types.py",
                "componentize_py_async_support",
                "poll_loop.py",
            ];
            for entry in std::fs::read_dir(dir).expect("read the folder").flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if WRITTEN.contains(&name.as_str()) {
                    continue;
                }
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, &below.join(&name), found);
                } else {
                    found.push(below.join(&name).display().to_string());
                }
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        for (example, files) in [("hello-python", PYTHON_FILES), ("hello-js", JS_FILES)] {
            let mut on_disk = Vec::new();
            walk(&root.join(example), Path::new(""), &mut on_disk);
            on_disk.sort();
            let mut carried: Vec<String> = files
                .iter()
                .map(|(p, _)| (*p).to_owned())
                .filter(|p| p != "README.md")
                .collect();
            carried.sort();
            assert_eq!(carried, on_disk, "{example}");
        }
    }

    #[test]
    fn a_python_or_js_app_is_the_example_under_its_name_with_the_wit() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (lang, source) in [(Lang::Python, "app.py"), (Lang::Js, "app.js")] {
            let name = format!("door-{lang:?}").to_lowercase();
            let made = new_app(dir.path(), &name, lang).expect("new app");
            let manifest = std::fs::read_to_string(made.dir.join("hutong.toml")).expect("manifest");
            assert!(
                manifest.contains(&format!("name = \"{name}\"")),
                "{manifest}"
            );
            let app = std::fs::read_to_string(made.dir.join(source)).expect("app");
            assert!(app.contains(&format!("{name} is running")), "{app}");
            assert!(!app.contains("hello-"), "{app}");
            assert!(
                app.contains("visits/{name}") || app.contains("visits/${name}"),
                "{app}"
            );
            assert!(
                made.dir
                    .join("wit/deps/hutong-platform/world.wit")
                    .is_file()
            );
            assert_eq!(made.component, Path::new("app.wasm"));
        }
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
        let err = new_app(dir.path(), "Bad_Name", Lang::Rust).expect_err("bad name");
        assert!(err.to_string().contains("cannot name an app"), "{err}");
        std::fs::create_dir(dir.path().join("taken")).expect("mkdir");
        let err = new_app(dir.path(), "taken", Lang::Rust).expect_err("exists");
        assert!(err.to_string().contains("already exists"), "{err}");
        let made = new_app(dir.path(), "door-watch", Lang::Rust).expect("new app");
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
