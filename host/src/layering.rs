//! The layering rule, held by a test that reads the source.
//!
//! Every `crate::…` path in `src/` (in `use` lines, grouped or not, and
//! inline) is checked against [`LAYERS`]: a module may name its own layer
//! and the layers below it, never one above. The few paths that cross
//! upward today are listed in [`EXCEPTIONS`], each with its reason; the
//! list only ever shrinks. A new upward import fails the test, naming the
//! file, the line and the path.

use std::path::{Path, PathBuf};

/// The host's layers, bottom first, by top-level module.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "vocabulary and storage: typed ids, the manifest, the domain types, \
         the store with the access log and outbox tables, the WIT bindings, \
         the grant and the outbox engine",
        &[
            "ids",
            "limits",
            "metrics",
            "events",
            "manifest",
            "community",
            "cases",
            "identity",
            "store",
            "bindings",
            "grant",
            "outbox",
        ],
    ),
    (
        "the guest-facing host calls: they take the store and the grant, \
         never the runtime or the install lifecycle",
        &["capability"],
    ),
    (
        "the runtime: engine, cache, the one call funnel",
        &["runtime"],
    ),
    (
        "platform operations: the install lifecycle and the dispatchers \
         that call apps",
        &["platform"],
    ),
    (
        "the edges: HTTP API, command line, server",
        &["api", "cli", "server"],
    ),
];

/// Paths that cross a layer upward today: (importing module, path, why).
/// A path matches its entry or anything below it.
const EXCEPTIONS: &[(&str, &str, &str)] = &[
    (
        "bindings",
        "platform::notifications",
        "the notify WIT types convert to the channel, audience and recipient types defined with the send operations",
    ),
    (
        "capability",
        "platform::Cases",
        "case operations over the store alone, defined beside Platform's delegating methods",
    ),
    (
        "capability",
        "platform::CaseActor",
        "the case rules' actor type, defined with the case operations",
    ),
    (
        "capability",
        "platform::CaseCommand",
        "the case rules' command type, defined with the case operations",
    ),
    (
        "capability",
        "platform::CaseReport",
        "the case rules' report type, defined with the case operations",
    ),
    (
        "capability",
        "platform::PlatformError",
        "the operations' refusal type, defined beside Platform",
    ),
    (
        "capability",
        "platform::notifications",
        "notification sends over the store alone (Sends) and their message types, defined beside the delivery loop",
    ),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
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

/// The top-level module a file belongs to (`platform` for
/// `src/platform/cases.rs`); none for the crate root and the binary.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let module = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(module, "lib" | "main" | "layering")).then(|| module.to_owned())
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

/// Every upward import in the files under `src`, as messages.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rs_files(src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let Some(module) = module_of(src, &file) else {
            continue;
        };
        let Some(own) = layer_of(&module) else {
            found.push(format!(
                "{}: module `{module}` is in no layer; add it to LAYERS",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (line, path) in crate_paths(&text) {
            let target = path.split("::").next().unwrap_or("");
            let Some(theirs) = layer_of(target) else {
                continue;
            };
            let excepted = EXCEPTIONS
                .iter()
                .any(|(from, allowed, _)| *from == module && under(&path, allowed));
            if theirs > own && !excepted {
                found.push(format!(
                    "{}:{line}: `{module}` ({}) imports crate::{path} from a layer above ({})",
                    file.display(),
                    LAYERS[own].0.split(':').next().unwrap_or(""),
                    LAYERS[theirs].0.split(':').next().unwrap_or(""),
                ));
            }
        }
    }
    found
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "upward imports (see ARCHITECTURE.md, the layering rule):\n{}",
        found.join("\n")
    );
}

#[test]
fn an_upward_import_is_caught() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let capability = dir.path().join("capability");
    std::fs::create_dir_all(&capability).expect("mkdir");
    std::fs::write(
        capability.join("kv.rs"),
        "use crate::store::Store;\nuse crate::{grant::Grant, runtime::{Runtime, AppRequest}};\n\
         fn f() { let _ = crate::api::app; }\n",
    )
    .expect("write");
    let found = violations(dir.path());
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found[0].contains("kv.rs:2: `capability`"), "{}", found[0]);
    assert!(found[0].contains("crate::runtime::Runtime"), "{}", found[0]);
    assert!(
        found[1].contains("crate::runtime::AppRequest"),
        "{}",
        found[1]
    );
    assert!(found[2].contains("kv.rs:3:") && found[2].contains("crate::api::app"));
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
                if *from == module && under(&path, allowed) {
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
