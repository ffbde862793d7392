//! The registry verbs of the `hutong` binary, run as a publisher and a
//! district administrator would: keygen, publish, serve, trust, install,
//! upgrade (held for a new permission, then granted), history, rollback,
//! yank and index, against the example app built from source.

use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{failed, guest, repo, succeeded};

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hutong"));
        command
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(args)
            .env("HUTONG_LOG", "error")
            .env_remove("HUTONG_DATABASE_URL")
            .env_remove("HUTONG_REGISTRY");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run hutong")
    }

    fn ok(&self, args: &[&str]) -> String {
        succeeded(args, self.run(args))
    }

    fn fails(&self, args: &[&str]) -> String {
        failed(args, self.run(args))
    }

    fn manifest(&self, version: &str, schedule: bool) -> String {
        let text = std::fs::read_to_string(repo().join("examples/hello/hutong.toml"))
            .expect("read manifest")
            .replacen(
                "version = \"0.1.0\"",
                &format!("version = \"{version}\""),
                1,
            );
        let text = if schedule {
            text.replacen(
                "[permissions]\n",
                "[permissions]\nschedules = \"Tidies the visit counts every hour.\"\n",
                1,
            ) + "\n[[schedules]]\nname = \"tidy\"\nevery = \"1h\"\n"
        } else {
            text
        };
        let path = self.path(&format!("hello-{version}.toml"));
        std::fs::write(&path, text).expect("write manifest");
        path
    }
}

/// A `hutong registry serve` process, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn publishes_serves_installs_upgrades_and_rolls_back() {
    let cli = Cli {
        dir: tempfile::tempdir().expect("temporary directory"),
    };
    let component = guest("hello.wasm");
    let component = component.to_str().expect("utf-8 path");
    let key = cli.path("publisher.json");
    let registry_dir = cli.path("registry");

    let out = cli.ok(&["registry", "keygen", "--out", &key]);
    let public = out
        .lines()
        .find_map(|l| l.strip_prefix("public key: "))
        .expect("keygen prints the public key")
        .trim()
        .to_owned();
    assert!(
        cli.fails(&["registry", "keygen", "--out", &key])
            .contains("exists")
    );
    // Keygen and publish never touch the host's data directory.
    assert!(!cli.dir.path().join("data").exists());

    let v1 = cli.manifest("1.0.0", false);
    let v2 = cli.manifest("1.1.0", true);
    for manifest in [&v1, &v2] {
        let out = cli.ok(&[
            "publish",
            "--registry",
            &registry_dir,
            "--key",
            &key,
            "--manifest",
            manifest,
            "--component",
            component,
        ]);
        assert!(out.contains("published hello@"), "{out}");
    }
    let again = cli.fails(&[
        "publish",
        "--registry",
        &registry_dir,
        "--key",
        &key,
        "--manifest",
        &v1,
        "--component",
        component,
    ]);
    assert!(again.contains("immutable"), "{again}");

    // Serve the directory over HTTP.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let _server = Server(
        cli.command(&[
            "registry",
            "serve",
            "--dir",
            &registry_dir,
            "--listen",
            &listen,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the registry"),
    );
    let started = Instant::now();
    while TcpStream::connect(&listen).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the registry did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("http://{listen}");

    cli.ok(&["district", "create", "east"]);
    let refused = cli.fails(&[
        "install",
        "--district",
        "east",
        "hello@=1.0.0",
        "--registry",
        &url,
    ]);
    assert!(refused.contains("does not trust"), "{refused}");
    assert!(cli.ok(&["list"]).lines().count() == 1, "nothing installed");

    cli.ok(&[
        "registry",
        "trust",
        "--district",
        "east",
        "--key",
        &public,
        "--name",
        "Example Co.",
    ]);
    assert!(
        cli.ok(&["registry", "keys", "--district", "east"])
            .contains("Example Co.")
    );
    let plan = cli.ok(&[
        "install",
        "--district",
        "east",
        "hello@^1",
        "--registry",
        &url,
        "--dry-run",
    ]);
    assert!(plan.contains("hello@1.1.0 would be installed"), "{plan}");
    assert!(
        plan.contains("Counts how many times"),
        "shows the reasons: {plan}"
    );
    assert!(
        cli.ok(&["list"]).lines().count() == 1,
        "a dry run installs nothing"
    );
    let out = cli.ok(&[
        "install",
        "--district",
        "east",
        "hello@=1.0.0",
        "--registry",
        &url,
        "--grant",
        "kv",
    ]);
    assert!(out.contains("installed hello@1.0.0"), "{out}");
    assert!(
        out.contains("kv: granted"),
        "shows the permission and its reason: {out}"
    );
    assert!(
        out.contains("log entry 0 of 2"),
        "records the log position: {out}"
    );

    let plan = cli.ok(&[
        "upgrade",
        "--district",
        "east",
        "hello@^1.1",
        "--registry",
        &url,
        "--dry-run",
    ]);
    assert!(
        plan.contains("schedules (NEW, grant with --grant)"),
        "{plan}"
    );
    let held = cli.fails(&[
        "upgrade",
        "--district",
        "east",
        "hello@^1.1",
        "--registry",
        &url,
    ]);
    assert!(held.contains("--grant schedules"), "{held}");
    assert!(cli.ok(&["list"]).contains("1.0.0"), "nothing changed");
    let out = cli.ok(&[
        "upgrade",
        "--district",
        "east",
        "hello@^1.1",
        "--registry",
        &url,
        "--grant",
        "schedules",
    ]);
    assert!(
        out.contains("1.0.0 -> 1.1.0") && out.contains("+ schedules"),
        "{out}"
    );
    assert!(
        cli.ok(&["history", "--district", "east", "hello"])
            .contains("1.0.0")
    );

    let out = cli.ok(&["rollback", "--district", "east", "hello"]);
    assert!(
        out.contains("1.1.0 -> 1.0.0") && out.contains("kv"),
        "{out}"
    );
    let listed = cli.ok(&["list"]);
    assert!(
        listed.contains("1.0.0") && !listed.contains("schedules"),
        "{listed}"
    );

    // The publisher yanks 1.1.0: hosts stop picking it.
    cli.ok(&[
        "registry",
        "yank",
        "--registry",
        &url,
        "--key",
        &key,
        "hello@1.1.0",
        "--reason",
        "ticks too often",
    ]);
    assert!(
        cli.ok(&["registry", "index", "--registry", &registry_dir, "hello"])
            .contains("yanked (ticks too often)")
    );
    let refused = cli.fails(&[
        "upgrade",
        "--district",
        "east",
        "hello@^1.1",
        "--registry",
        &url,
    ]);
    assert!(refused.contains("yanked"), "{refused}");
}
