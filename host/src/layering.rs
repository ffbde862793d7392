//! The layering rule, held by a test that reads the source.
//!
//! The host is a kernel at the bottom, one folder per capability (a
//! *slice*: accounts, cases, community, devices, installs, kv, notify,
//! schedules), and the shared runtime, platform and edges above. Every file
//! has a [`Layer`]: a shared module by its name ([`SHARED`]), a slice's file
//! by its part ([`PARTS`]; a slice's root file is its model). Every
//! `crate::…` path in `src/` (in `use` lines, grouped or not, and inline) is
//! checked two ways:
//!
//! - **down only**: a file names its own layer and the layers below it,
//!   never one above (a guest's host call never reaches the runtime, the
//!   platform or the install lifecycle);
//! - **not across**: a slice names another slice's model, storage and rules,
//!   never its host impl, its operations or its edges.
//!
//! The few paths that break a rule today are listed in [`EXCEPTIONS`], each
//! with its reason; the list only ever shrinks. A new file must be given a
//! layer, and a new upward or cross-slice import fails the test, naming the
//! file, the line and the path.

use std::path::{Path, PathBuf};

/// The layers, bottom first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    /// Typed ids, clock, manifest, grant, WIT bindings, the store handle,
    /// the access log and the outbox engine.
    Kernel,
    /// A slice's domain types and its SQL.
    Model,
    /// Operations over the store alone, shared by a slice's host impl, its
    /// API and its CLI.
    Rules,
    /// The guest-facing host impls and their WIT conversions: they take the
    /// store and the grant, never the runtime.
    Host,
    /// The engine, the cache, the one call funnel, the linker.
    Runtime,
    /// [`Platform`](crate::platform::Platform): the store plus the runtime.
    Platform,
    /// Operations that need the runtime: the install lifecycle, and the
    /// dispatchers and delivery loops.
    Operations,
    /// The HTTP API, the command line, the server.
    Edge,
}

/// The slices: one folder per capability.
const SLICES: &[&str] = &[
    "accounts",
    "cases",
    "community",
    "devices",
    "installs",
    "kv",
    "notify",
    "schedules",
];

/// The shared modules, by name.
const SHARED: &[(&str, Layer)] = &[
    ("kernel", Layer::Kernel),
    ("error", Layer::Model),
    ("runtime", Layer::Runtime),
    ("platform", Layer::Platform),
    ("api", Layer::Edge),
    ("console", Layer::Edge),
    ("cli", Layer::Edge),
    ("server", Layer::Edge),
];

/// Each file of a slice (below its root, which is its model), by its
/// module path.
const PARTS: &[(&str, Layer)] = &[
    ("accounts::store", Layer::Model),
    ("accounts::ops", Layer::Operations),
    ("accounts::sign_in_store", Layer::Model),
    ("accounts::sign_in", Layer::Rules),
    ("accounts::kept", Layer::Rules),
    ("accounts::token_cache", Layer::Rules),
    ("accounts::session_cache", Layer::Rules),
    ("accounts::api", Layer::Edge),
    ("accounts::cli", Layer::Edge),
    ("cases::store", Layer::Model),
    ("cases::photos", Layer::Model),
    ("cases::intake", Layer::Model),
    ("cases::ops", Layer::Rules),
    ("cases::published", Layer::Rules),
    ("cases::wit", Layer::Host),
    ("cases::host", Layer::Host),
    ("cases::notices", Layer::Operations),
    ("cases::api", Layer::Edge),
    ("cases::open311", Layer::Edge),
    ("cases::cli", Layer::Edge),
    ("community::import", Layer::Model),
    ("community::mask", Layer::Model),
    ("community::sample", Layer::Model),
    ("community::store", Layer::Model),
    ("community::wit", Layer::Host),
    ("community::host", Layer::Host),
    ("community::ops", Layer::Operations),
    ("community::api", Layer::Edge),
    ("community::residents_api", Layer::Edge),
    ("community::cli", Layer::Edge),
    ("devices::store", Layer::Model),
    ("devices::wit", Layer::Host),
    ("devices::host", Layer::Host),
    ("devices::ops", Layer::Operations),
    ("devices::delivery", Layer::Operations),
    ("devices::api", Layer::Edge),
    ("devices::cli", Layer::Edge),
    ("installs::store", Layer::Model),
    ("installs::registry_store", Layer::Model),
    ("installs::config", Layer::Host),
    ("installs::log", Layer::Host),
    ("installs::ops", Layer::Operations),
    ("installs::registry", Layer::Operations),
    ("installs::api", Layer::Edge),
    ("installs::registry_api", Layer::Edge),
    ("installs::cli", Layer::Edge),
    ("installs::registry_cli", Layer::Edge),
    ("kv::store", Layer::Model),
    ("kv::wit", Layer::Host),
    ("kv::host", Layer::Host),
    ("notify::store", Layer::Model),
    ("notify::ops", Layer::Rules),
    ("notify::wit", Layer::Host),
    ("notify::host", Layer::Host),
    ("notify::delivery", Layer::Operations),
    ("notify::api", Layer::Edge),
    ("notify::cli", Layer::Edge),
    ("schedules::store", Layer::Model),
    ("schedules::ops", Layer::Operations),
];

/// Paths that break a rule today: (importing module, path, why). Each
/// matches its modules and paths and anything below them.
const EXCEPTIONS: &[(&str, &str, &str)] = &[];

/// A module's slice, if it is in one, and its layer; none when the module
/// is in no layer yet.
fn unit_of(module: &str) -> Option<(Option<&'static str>, Layer)> {
    let mut segments = module.split("::");
    let first = segments.next()?;
    if let Some(slice) = SLICES.iter().find(|s| **s == first) {
        let Some(part) = segments.next() else {
            return Some((Some(slice), Layer::Model));
        };
        let key = format!("{first}::{part}");
        return PARTS
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, layer)| (Some(*slice), *layer));
    }
    SHARED
        .iter()
        .find(|(name, _)| *name == first)
        .map(|(_, layer)| (None, *layer))
}

/// The unit a path names: a slice's part when its second segment is one,
/// else the slice's root (its model), else a shared module.
fn target_of(path: &str) -> Option<(Option<&'static str>, Layer)> {
    let mut segments = path.split("::");
    let first = segments.next()?;
    if SLICES.contains(&first)
        && let Some(part) = segments.next()
        && PARTS
            .iter()
            .any(|(name, _)| *name == format!("{first}::{part}"))
    {
        return unit_of(&format!("{first}::{part}"));
    }
    unit_of(first)
}

/// The `crate::…` paths a source text names, fully expanded, with their
/// line numbers. `use crate::a::{b, c::{d, e}}` gives `a::b`, `a::c::d`
/// and `a::c::e`; comments are skipped.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut n = 0;
    while n < lines.len() {
        let line = lines[n];
        let code = line.split("//").next().unwrap_or("");
        let trimmed = code.trim_start();
        let use_start = trimmed
            .strip_prefix("pub(crate) use crate::")
            .or_else(|| trimmed.strip_prefix("pub use crate::"))
            .or_else(|| trimmed.strip_prefix("use crate::"));
        if let Some(rest) = use_start {
            // Gather the whole statement, up to its `;`.
            let mut statement = rest.to_owned();
            let first = n;
            while !statement.contains(';') && n + 1 < lines.len() {
                n += 1;
                statement.push_str(lines[n].split("//").next().unwrap_or(""));
            }
            let statement = statement.split(';').next().unwrap_or("");
            for path in expand(statement) {
                found.push((first + 1, path));
            }
        } else {
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                let after = &rest[at + "crate::".len()..];
                let path: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let path = path.trim_end_matches(':');
                if !path.is_empty() {
                    found.push((n + 1, path.to_owned()));
                }
                rest = &after[path.len().min(after.len())..];
            }
        }
        n += 1;
    }
    found
}

/// Expand a use tree (`a::{b, c::{d}}`, `a::b as c`) into its paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        // `a::b as c` names `a::b`.
        let leaf = tree.split_whitespace().next().unwrap_or("");
        return vec![leaf.trim_end_matches("::").to_owned()];
    };
    let prefix: String = tree[..open]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let close = tree.rfind('}').unwrap_or(tree.len());
    let inner = &tree[open + 1..close];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(inner[start..].trim());
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| {
            expand(p).into_iter().map(|sub| {
                if sub == "self" {
                    prefix.trim_end_matches("::").to_owned()
                } else {
                    format!("{prefix}{sub}")
                }
            })
        })
        .collect()
}

/// The module path of a file (`cases::ops` for `src/cases/ops.rs`); none
/// for the crate root, the binary and this test.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?.with_extension("");
    let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
    let module = parts.join("::");
    (!matches!(module.as_str(), "lib" | "main" | "layering")).then_some(module)
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `path` is `prefix` or lies below it.
fn under(path: &str, prefix: &str) -> bool {
    path == prefix || path.starts_with(&format!("{prefix}::"))
}

/// Whether an exception covers `path` named from `module`.
fn excepted(module: &str, path: &str) -> bool {
    EXCEPTIONS
        .iter()
        .any(|(from, allowed, _)| under(module, from) && under(path, allowed))
}

/// Every upward or cross-slice import in the files under `src`, as
/// messages.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rs_files(src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let Some(module) = module_of(src, &file) else {
            continue;
        };
        let Some((own_slice, own)) = unit_of(&module) else {
            found.push(format!(
                "{}: `{module}` has no layer; add it to PARTS (a slice's file) or SHARED",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (line, path) in crate_paths(&text) {
            let Some((their_slice, theirs)) = target_of(&path) else {
                continue;
            };
            if excepted(&module, &path) {
                continue;
            }
            let at = format!("{}:{line}: `{module}` ({own:?})", file.display());
            if theirs > own {
                found.push(format!(
                    "{at} imports crate::{path} from a layer above ({theirs:?})"
                ));
            } else if let (Some(mine), Some(other)) = (own_slice, their_slice)
                && mine != other
                && theirs > Layer::Rules
            {
                found.push(format!(
                    "{at} imports crate::{path}, another slice's {theirs:?}; \
                     a slice names only another's model, storage and rules"
                ));
            }
        }
    }
    found
}

#[test]
fn no_file_imports_upward_or_across_slices() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "imports that break the layering rule (see ARCHITECTURE.md):\n{}",
        found.join("\n")
    );
}

#[test]
fn an_upward_or_cross_slice_import_is_caught() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let kv = dir.path().join("kv");
    std::fs::create_dir_all(&kv).expect("mkdir");
    std::fs::write(
        kv.join("host.rs"),
        "use crate::kernel::store::Store;\n\
         use crate::{kernel::grant::Grant, runtime::{Runtime, AppRequest}};\n\
         fn f() { let _ = crate::api::app; }\n\
         use crate::notify::host::send;\n\
         use crate::notify::ops::Sends;\n",
    )
    .expect("write");
    std::fs::write(kv.join("extra.rs"), "").expect("write");
    let found = violations(dir.path());
    assert_eq!(found.len(), 5, "{found:#?}");
    assert!(found[0].contains("extra.rs: `kv::extra` has no layer"));
    assert!(
        found[1].contains("host.rs:2: `kv::host` (Host)"),
        "{}",
        found[1]
    );
    assert!(found[1].contains("crate::runtime::Runtime"), "{}", found[1]);
    assert!(
        found[2].contains("crate::runtime::AppRequest"),
        "{}",
        found[2]
    );
    assert!(found[3].contains("host.rs:3:") && found[3].contains("crate::api::app"));
    assert!(
        found[4].contains("host.rs:4:") && found[4].contains("another slice's Host"),
        "{}",
        found[4]
    );
}

#[test]
fn use_trees_expand_to_every_path() {
    assert_eq!(
        expand("a::{b, c::{d, e}, self}"),
        ["a::b", "a::c::d", "a::c::e", "a"]
    );
    assert_eq!(expand("store::Store"), ["store::Store"]);
    assert_eq!(
        expand("cases::{self as c, Clock as Time}"),
        ["cases", "cases::Clock"]
    );
}

#[test]
fn every_exception_is_still_needed() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let mut used = vec![false; EXCEPTIONS.len()];
    for file in files {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (_, path) in crate_paths(&text) {
            for (i, (from, allowed, _)) in EXCEPTIONS.iter().enumerate() {
                if under(&module, from) && under(&path, allowed) {
                    used[i] = true;
                }
            }
        }
    }
    let stale: Vec<_> = EXCEPTIONS
        .iter()
        .zip(used)
        .filter(|(_, used)| !used)
        .map(|((from, path, _), _)| format!("{from} -> {path}"))
        .collect();
    assert!(stale.is_empty(), "exceptions no longer needed: {stale:?}");
}
