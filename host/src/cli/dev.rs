//! `hutong dev`: the development loop for one app, run in its folder.
//!
//! It builds the app, sets up the sample district `demo` (invented
//! residents, one account per role), installs the app there with every
//! permission its manifest declares and the folder's `config.json`, prints
//! the app's address, the accounts' tokens and sign-in links, and serves.
//! Then it watches the folder: on each change it rebuilds and swaps the new
//! build in place ([`Platform::replace`]), keeping the app's data; a build
//! that fails, or that the host refuses, is reported and the version before
//! keeps serving. The app's log lines show on the terminal.
//!
//! How an app is built depends on what its folder holds:
//!
//! - `Cargo.toml`: `cargo build --release --target wasm32-wasip2`, and the
//!   `.wasm` cargo reports;
//! - `build.sh` (the Python and JavaScript templates): `sh build.sh`, which
//!   writes `app.wasm`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use tokio::io::AsyncBufReadExt;

use crate::api::app_origin::AppsDomain;
use crate::installs::store::Install;
use crate::kernel::manifest::Manifest;
use crate::server::{self, Opened};
use crate::{InstallRequest, Platform, PlatformError};

/// The district `hutong dev` installs into: the demo's sample district.
pub const DISTRICT: &str = "demo";

/// How often the folder is looked at for changes.
const POLL: Duration = Duration::from_millis(300);

/// Folders never watched: build output, the host's data, dependencies.
const IGNORED: &[&str] = &[
    "target",
    "hutong-data",
    "node_modules",
    "__pycache__",
    "hutong-sdk",
];

/// The component `build.sh` writes.
const SCRIPT_OUTPUT: &str = "app.wasm";

/// How an app's folder is built.
#[derive(Clone, Debug)]
pub enum Build {
    /// A Rust crate: cargo, for wasm32-wasip2, in release mode.
    Cargo,
    /// `sh build.sh`, which writes `app.wasm`.
    Script,
}

/// An app's folder and how to build it.
#[derive(Clone, Debug)]
pub struct AppFolder {
    /// The folder.
    pub dir: PathBuf,
    /// How it is built.
    pub build: Build,
    /// Environment changes for the build (a test's own target directory).
    pub env: Vec<(String, Option<String>)>,
}

/// What one round of the loop did.
#[derive(Debug)]
pub enum Round {
    /// The new build serves now.
    Swapped {
        /// The install as it is now.
        install: Box<Install>,
        /// How long the build took.
        build: Duration,
        /// How long the swap took (validation, compile, the database).
        swap: Duration,
    },
    /// The build, manifest and configuration are what already serves.
    Unchanged,
    /// The build failed; what serves is what served before.
    BuildFailed(String),
    /// The host refused the build (its manifest, configuration or
    /// component); what serves is what served before.
    Refused(String),
}

impl AppFolder {
    /// The app in `dir`: it needs a `hutong.toml`, and a `Cargo.toml` or a
    /// `build.sh`.
    pub fn find(dir: &Path) -> Result<Self> {
        if !dir.join("hutong.toml").is_file() {
            bail!(
                "{} has no hutong.toml: run `hutong dev` in an app's folder (`hutong new NAME` makes one)",
                dir.display()
            );
        }
        let build = if dir.join("Cargo.toml").is_file() {
            Build::Cargo
        } else if dir.join("build.sh").is_file() {
            Build::Script
        } else {
            bail!(
                "{} has neither a Cargo.toml nor a build.sh: `hutong dev` builds a Rust app with cargo, or runs build.sh, which must write {SCRIPT_OUTPUT}",
                dir.display()
            );
        };
        Ok(AppFolder {
            dir: dir.to_path_buf(),
            build,
            env: Vec::new(),
        })
    }

    /// Build the app; the component's path, or what the build printed.
    pub async fn build(&self) -> Result<PathBuf, String> {
        let mut command = match self.build {
            Build::Cargo => {
                let mut c = tokio::process::Command::new(
                    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()),
                );
                c.args([
                    "build",
                    "--release",
                    "--target",
                    "wasm32-wasip2",
                    "--message-format=json-render-diagnostics",
                ]);
                c
            }
            Build::Script => {
                let mut c = tokio::process::Command::new("sh");
                c.arg("build.sh");
                c
            }
        };
        command
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in &self.env {
            match value {
                Some(v) => command.env(name, v),
                None => command.env_remove(name),
            };
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("could not start the build: {e}"))?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err("the build's output could not be read".to_owned());
        };
        // What the build prints goes to the terminal as it comes, and is
        // kept for the report when it fails.
        let errors = tokio::spawn(async move {
            let mut kept = String::new();
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("{line}");
                kept.push_str(&line);
                kept.push('\n');
            }
            kept
        });
        let mut component = None;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            match self.build {
                Build::Cargo => {
                    if let Some(wasm) = cargo_artifact(&line) {
                        component = Some(wasm);
                    }
                }
                Build::Script => println!("{line}"),
            }
        }
        let status = child
            .wait()
            .await
            .map_err(|e| format!("the build did not finish: {e}"))?;
        let printed = errors.await.unwrap_or_default();
        if !status.success() {
            return Err(last_lines(&printed, 30));
        }
        let component = match self.build {
            Build::Cargo => component.ok_or_else(|| {
                "cargo built no .wasm: the crate needs `crate-type = [\"cdylib\"]` in [lib]"
                    .to_owned()
            })?,
            Build::Script => self.dir.join(SCRIPT_OUTPUT),
        };
        if !component.is_file() {
            return Err(format!(
                "the build finished but wrote no {}",
                component.display()
            ));
        }
        Ok(component)
    }

    /// A fingerprint of the folder's sources: it changes when a file is
    /// added, removed or written.
    pub fn fingerprint(&self) -> u64 {
        let mut hasher = std::hash::DefaultHasher::new();
        walk(&self.dir, &mut |path, modified, len| {
            use std::hash::Hash;
            path.hash(&mut hasher);
            modified.hash(&mut hasher);
            len.hash(&mut hasher);
        });
        std::hash::Hasher::finish(&hasher)
    }

    /// The install configuration: `config.json` if the folder has one, or
    /// an empty object.
    fn config(&self) -> Result<serde_json::Value, String> {
        let path = self.dir.join("config.json");
        if !path.exists() {
            return Ok(serde_json::json!({}));
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("could not read {}: {e}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        if !value.is_object() {
            return Err(format!("{} must hold a JSON object", path.display()));
        }
        Ok(value)
    }
}

/// The `.wasm` a cargo `compiler-artifact` message names, if any.
fn cargo_artifact(line: &str) -> Option<PathBuf> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    message["filenames"]
        .as_array()?
        .iter()
        .filter_map(|f| f.as_str())
        .find(|f| f.ends_with(".wasm"))
        .map(PathBuf::from)
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Every file below `dir` but the ignored folders, hidden ones and the
/// script's output.
fn walk(dir: &Path, each: &mut dyn FnMut(&Path, Option<SystemTime>, u64)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || IGNORED.contains(&name.as_ref()) || name == SCRIPT_OUTPUT {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if meta.is_dir() {
            walk(&path, each);
        } else {
            each(&path, meta.modified().ok(), meta.len());
        }
    }
}

/// The loop's state: the app's folder and what serves now.
pub struct Dev {
    folder: AppFolder,
    /// sha256 of the component, manifest and configuration serving now.
    serving: Option<[u8; 32]>,
}

impl Dev {
    /// A loop for the app in `folder`; nothing serves yet.
    pub fn new(folder: AppFolder) -> Self {
        Dev {
            folder,
            serving: None,
        }
    }

    /// Build the app and swap it in, unless the build is what serves.
    pub async fn round(&mut self, platform: &Platform) -> Round {
        let started = Instant::now();
        let component = match self.folder.build().await {
            Ok(component) => component,
            Err(printed) => return Round::BuildFailed(printed),
        };
        let build = started.elapsed();
        let started = Instant::now();
        let read = || -> Result<(Vec<u8>, String, serde_json::Value), String> {
            let bytes = std::fs::read(&component)
                .map_err(|e| format!("could not read {}: {e}", component.display()))?;
            let manifest = std::fs::read_to_string(self.folder.dir.join("hutong.toml"))
                .map_err(|e| format!("could not read hutong.toml: {e}"))?;
            Ok((bytes, manifest, self.folder.config()?))
        };
        let (bytes, text, config) = match read() {
            Ok(read) => read,
            Err(why) => return Round::Refused(why),
        };
        let mut hash = Sha256::new();
        hash.update(&bytes);
        hash.update(text.as_bytes());
        hash.update(config.to_string().as_bytes());
        let digest: [u8; 32] = hash.finalize().into();
        if self.serving == Some(digest) {
            return Round::Unchanged;
        }
        let manifest = match Manifest::from_toml(&text) {
            Ok(m) => m,
            Err(e) => return Round::Refused(PlatformError::from(e).to_string()),
        };
        let grant = manifest.permissions.keys().copied().collect();
        let swapped = platform
            .replace(InstallRequest {
                district: DISTRICT.to_owned(),
                manifest,
                component: bytes,
                grant,
                config,
                communities: None,
            })
            .await;
        match swapped {
            Ok(install) => {
                self.serving = Some(digest);
                Round::Swapped {
                    install: Box::new(install),
                    build,
                    swap: started.elapsed(),
                }
            }
            Err(e) => Round::Refused(e.to_string()),
        }
    }
}

/// The sample district `demo`, with invented residents, and its accounts'
/// tokens, by role.
async fn set_up(opened: &Opened) -> Result<Vec<(crate::accounts::Role, String)>> {
    super::demo::demo_district(opened).await?;
    crate::accounts::cli::demo_accounts(opened).await
}

/// `hutong dev`: see the module docs.
pub(crate) async fn dev(
    opened: &Opened,
    dir: &Path,
    listen: SocketAddr,
    apps_domain: Option<AppsDomain>,
) -> Result<()> {
    let folder = AppFolder::find(dir)?;
    // Take the port first: a busy one is known before a long build.
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("could not listen on {listen}"))?;
    let tokens = set_up(opened).await?;
    let mut dev = Dev::new(folder.clone());
    println!("building {} …", folder.dir.display());
    let install = match dev.round(&opened.platform).await {
        Round::Swapped {
            install,
            build,
            swap,
        } => {
            println!(
                "built in {:.1} s, installed in {:.1} s",
                build.as_secs_f64(),
                swap.as_secs_f64()
            );
            install
        }
        Round::BuildFailed(printed) => bail!("the first build failed:\n{printed}"),
        Round::Refused(why) => bail!("the first build was refused: {why}"),
        Round::Unchanged => bail!("nothing was built"),
    };
    print_welcome(opened, &install, listen, &tokens).await?;
    println!(
        "Watching {} for changes: each one rebuilds and swaps the app in place. Ctrl-C stops.",
        folder
            .dir
            .canonicalize()
            .unwrap_or_else(|_| folder.dir.clone())
            .display()
    );

    let watch = async {
        let mut seen = folder.fingerprint();
        loop {
            tokio::time::sleep(POLL).await;
            let now = folder.fingerprint();
            if now == seen {
                continue;
            }
            // Let an editor finish writing before building.
            tokio::time::sleep(POLL).await;
            seen = folder.fingerprint();
            println!("change seen; rebuilding …");
            match dev.round(&opened.platform).await {
                Round::Swapped {
                    install,
                    build,
                    swap,
                } => println!(
                    "{} {} is live (built in {:.1} s, swapped in {:.1} s); its data, grants and configuration stay",
                    install.app,
                    install.version,
                    build.as_secs_f64(),
                    swap.as_secs_f64()
                ),
                Round::Unchanged => println!("the build is what already serves"),
                Round::BuildFailed(_) => {
                    println!("the build failed (above); the version before keeps serving")
                }
                Round::Refused(why) => {
                    println!("refused: {why}\nthe version before keeps serving")
                }
            }
        }
    };
    let serving = server::serve(opened, listener, apps_domain, server::shutdown_signal());
    tokio::select! {
        served = serving => served.context("serving stopped")?,
        () = watch => {}
    }
    Ok(())
}

async fn print_welcome(
    opened: &Opened,
    install: &Install,
    listen: SocketAddr,
    tokens: &[(crate::accounts::Role, String)],
) -> Result<()> {
    let base = format!("http://{listen}");
    let app = format!("{base}/d/{DISTRICT}/apps/{}", install.app);
    println!();
    println!(
        "{} {} serves at {app}/ in the sample district `{DISTRICT}`, with every permission its manifest declares: {}",
        install.app,
        install.version,
        match install.granted.is_empty() {
            true => "none".to_owned(),
            false => install
                .granted
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(", "),
        }
    );
    let public = &install.manifest.http.public;
    if !public.is_empty() {
        println!(
            "Public routes (anyone may call them): {}",
            public.join(", ")
        );
        if let Some(route) = public.iter().find(|r| !r.ends_with('*')) {
            println!("  curl {app}{route}");
        }
    }
    println!(
        "Other routes need a signed-in caller of the district; a token per role (valid 7 days):"
    );
    for (role, token) in tokens {
        println!("  {:<15} {token}", role.to_string());
    }
    if let Some((_, resident)) = tokens.get(4) {
        println!("  curl -H 'Authorization: Bearer {resident}' {app}/");
    }
    println!();
    println!("The console, in a browser: set a password with a link, then sign in at {base}/");
    for account in ["demo-district-admin", "demo-worker", "demo-resident"] {
        let code = opened.platform.sign_in().issue_code(account, "dev").await?;
        println!("  {account}: {base}/set-password?code={}", code.code);
    }
    println!();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wasm_cargo_reports_is_found() {
        let line = r#"{"reason":"compiler-artifact","target":{"kind":["cdylib"]},"filenames":["/t/wasm32-wasip2/release/door_watch.wasm"]}"#;
        assert_eq!(
            cargo_artifact(line),
            Some(PathBuf::from("/t/wasm32-wasip2/release/door_watch.wasm"))
        );
        let other = r#"{"reason":"compiler-artifact","filenames":["/t/release/libserde.rlib"]}"#;
        assert_eq!(cargo_artifact(other), None);
        assert_eq!(cargo_artifact("Compiling x"), None);
    }

    #[test]
    fn a_folder_without_a_manifest_or_a_build_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = AppFolder::find(dir.path())
            .expect_err("no manifest")
            .to_string();
        assert!(err.contains("hutong new"), "{err}");
        std::fs::write(dir.path().join("hutong.toml"), "").expect("write");
        let err = AppFolder::find(dir.path())
            .expect_err("no build")
            .to_string();
        assert!(err.contains("build.sh"), "{err}");
    }

    #[test]
    fn the_fingerprint_changes_with_a_source_and_not_with_build_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("hutong.toml"), "").expect("write");
        std::fs::write(dir.path().join("build.sh"), "").expect("write");
        let folder = AppFolder::find(dir.path()).expect("found");
        let before = folder.fingerprint();
        std::fs::create_dir(dir.path().join("target")).expect("mkdir");
        std::fs::write(dir.path().join("target/out"), "x").expect("write");
        std::fs::write(dir.path().join(SCRIPT_OUTPUT), "x").expect("write");
        assert_eq!(folder.fingerprint(), before);
        std::fs::write(dir.path().join("app.py"), "x = 1").expect("write");
        assert_ne!(folder.fingerprint(), before);
    }
}
