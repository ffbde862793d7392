//! The `hutong` binary's verbs, run as an administrator would, against a
//! fresh data directory and the example app built from source.

use std::process::{Command, Output};

use crate::support::{failed, guest, repo, succeeded};

struct Cli {
    data: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Cli {
            data: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hutong"))
            .arg("--data-dir")
            .arg(self.data.path())
            .args(args)
            .env("HUTONG_LOG", "error")
            .env_remove("HUTONG_DATABASE_URL")
            .output()
            .expect("run hutong")
    }

    fn ok(&self, args: &[&str]) -> String {
        succeeded(args, self.run(args))
    }

    fn fails(&self, args: &[&str]) -> String {
        failed(args, self.run(args))
    }
}

#[test]
fn administers_districts_and_installs() {
    let cli = Cli::new();
    let component = guest("hello.wasm");
    let component = component.to_str().expect("utf-8 path");
    let manifest = repo().join("examples/hello/hutong.toml");
    let manifest = manifest.to_str().expect("utf-8 path");

    assert!(
        cli.ok(&["district", "create", "east", "--name", "East District"])
            .contains("east")
    );
    assert!(
        cli.fails(&["district", "create", "east"])
            .contains("already exists")
    );
    assert!(
        cli.fails(&["district", "create", "East Side"])
            .contains("a-z")
    );
    assert!(
        cli.ok(&["district", "list"])
            .contains("east\tEast District")
    );

    let install = [
        "install",
        "--district",
        "east",
        "--manifest",
        manifest,
        "--component",
        component,
        "--grant",
        "kv",
    ];
    let out = cli.ok(&install);
    assert!(out.contains("installed hello@"), "{out}");
    assert!(out.contains("kv: granted"), "{out}");
    assert!(cli.fails(&install).contains("already installed"));

    let mut elsewhere = install;
    elsewhere[2] = "nowhere";
    assert!(
        cli.fails(&elsewhere)
            .contains("district `nowhere` does not exist")
    );
    let mut bad_grant = install;
    bad_grant[8] = "camera";
    assert!(
        cli.fails(&bad_grant)
            .contains("unknown permission `camera`")
    );

    let list = cli.ok(&["list"]);
    assert!(list.contains("east\thello\t0.1.0\tactive\tkv"), "{list}");

    cli.ok(&[
        "suspend",
        "--district",
        "east",
        "hello",
        "--reason",
        "maintenance",
    ]);
    assert!(
        cli.ok(&["list", "--district", "east"])
            .contains("suspended (maintenance)")
    );
    cli.ok(&["resume", "--district", "east", "hello"]);
    assert!(cli.ok(&["list"]).contains("\tactive\t"));

    let shown: serde_json::Value =
        serde_json::from_str(&cli.ok(&["show", "--district", "east", "hello"])).expect("json");
    assert_eq!(shown["app"], "hello");
    assert_eq!(shown["granted"], serde_json::json!(["kv"]));
    assert_eq!(shown["digest"].as_str().map(str::len), Some(64));

    assert!(
        cli.ok(&["uninstall", "--district", "east", "hello"])
            .contains("data removed")
    );
    assert!(!cli.ok(&["list"]).contains("hello"));
    assert!(
        cli.fails(&["uninstall", "--district", "east", "hello"])
            .contains("not found")
    );
}

#[test]
fn manages_accounts_tokens_data_and_audits() {
    let cli = Cli::new();
    cli.ok(&["district", "create", "east"]);

    // The first platform administrator, bootstrapped from the CLI.
    assert!(
        cli.ok(&["account", "create", "root", "--role", "platform-admin"])
            .contains("root")
    );
    assert!(
        cli.fails(&["account", "create", "boss", "--role", "district-admin"])
            .contains("belongs to a district")
    );
    assert!(
        cli.fails(&["account", "create", "x", "--role", "mayor"])
            .contains("unknown role")
    );
    let token = cli.ok(&["token", "issue", "--account", "root", "--days", "7"]);
    let token = token.trim();
    assert!(
        token.starts_with("htk_") && token.len() == 4 + 16 + 1 + 64,
        "{token}"
    );
    let listed = cli.ok(&["token", "list", "--account", "root"]);
    assert!(
        listed.contains(&token[4..20]) && listed.contains("active"),
        "{listed}"
    );
    assert!(
        !listed.contains(&token[21..]),
        "the secret is never shown again"
    );
    cli.ok(&["token", "revoke", &token[4..20]]);
    assert!(
        cli.ok(&["token", "list", "--account", "root"])
            .contains("revoked")
    );
    assert!(
        cli.fails(&["token", "issue", "--account", "root", "--days", "999"])
            .contains("1 to 365")
    );

    // Community data: sample, export, a refused import naming its line.
    assert!(
        cli.ok(&["data", "sample", "--district", "east"])
            .contains("created")
    );
    let grids = cli.ok(&["data", "export", "--district", "east", "--csv", "grid"]);
    assert!(grids.starts_with("id,community_id,name"), "{grids}");
    let exported = cli.ok(&["data", "export", "--district", "east"]);
    assert!(exported.lines().count() > 300);
    let bad = cli.data.path().join("residents.csv");
    std::fs::write(
        &bad,
        "id,household_id,grid_id,tags,name,phone,id_number,birth_date,address,family_contact_name,family_contact_phone\n\
         r-9001,,c-xingfu-g1,,王五,13800000001,,1950-01-01,,,\n\
         r-9002,,nowhere,,赵六,,,,,,\n",
    )
    .expect("write csv");
    let err = cli.fails(&[
        "data",
        "import",
        "--district",
        "east",
        bad.to_str().expect("path"),
    ]);
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(
        cli.ok(&["data", "export", "--district", "east"])
            .lines()
            .count(),
        exported.lines().count(),
        "a refused import changes nothing"
    );

    // A worker serves grids that exist.
    cli.ok(&[
        "account",
        "create",
        "wang",
        "--role",
        "worker",
        "--district",
        "east",
        "--grid",
        "c-xingfu-g1",
    ]);
    assert!(
        cli.fails(&[
            "account",
            "create",
            "li",
            "--role",
            "worker",
            "--district",
            "east",
            "--grid",
            "g-404",
        ])
        .contains("g-404")
    );
    assert!(
        cli.ok(&["account", "list", "--district", "east"])
            .contains("wang\tworker\teast")
    );

    // Audits of a district with an install: grants with reasons.
    let component = guest("hello.wasm");
    let manifest = repo().join("examples/hello/hutong.toml");
    cli.ok(&[
        "install",
        "--district",
        "east",
        "--manifest",
        manifest.to_str().expect("path"),
        "--component",
        component.to_str().expect("path"),
        "--grant-all",
    ]);
    let grants = cli.ok(&["audit", "grants", "--district", "east"]);
    assert!(
        grants.contains("hello@0.1.0") && grants.contains("kv: granted"),
        "{grants}"
    );
    let access = cli.ok(&[
        "audit",
        "access",
        "--district",
        "east",
        "--since",
        "2020-01-01",
    ]);
    assert!(access.starts_with("AT_MS\tAPP"), "{access}");
    assert!(
        cli.fails(&[
            "audit",
            "access",
            "--district",
            "east",
            "--since",
            "yesterday"
        ])
        .contains("YYYY-MM-DD")
    );
}

#[test]
fn sets_up_reports_moves_and_lists_cases() {
    let cli = Cli::new();
    cli.ok(&["district", "create", "east"]);
    cli.ok(&["data", "sample", "--district", "east"]);
    cli.ok(&[
        "account",
        "create",
        "w1",
        "--role",
        "worker",
        "--district",
        "east",
        "--grid",
        "c-xingfu-g1",
    ]);
    cli.ok(&[
        "account",
        "create",
        "res1",
        "--role",
        "resident",
        "--district",
        "east",
    ]);
    let out = cli.ok(&[
        "case",
        "category",
        "--district",
        "east",
        "road",
        "--name",
        "Road damage",
    ]);
    assert!(out.contains("category road"), "{out}");
    cli.ok(&[
        "case",
        "department",
        "--district",
        "east",
        "g1-team",
        "--name",
        "Grid one",
        "--tier",
        "grid",
        "--unit",
        "c-xingfu-g1",
        "--member",
        "w1",
    ]);
    // A department needs a unit that exists.
    let refused = cli.run(&[
        "case",
        "department",
        "--district",
        "east",
        "x",
        "--name",
        "X",
        "--tier",
        "street",
        "--unit",
        "nowhere",
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("street `nowhere` does not exist"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    cli.ok(&[
        "case",
        "deadline",
        "--district",
        "east",
        "--priority",
        "normal",
        "--accept",
        "30",
        "--handle",
        "600",
        "--verify",
        "60",
    ]);
    let out = cli.ok(&[
        "case",
        "report",
        "--district",
        "east",
        "--as",
        "res1",
        "--category",
        "road",
        "--grid",
        "c-xingfu-g1",
        "--description",
        "pothole",
    ]);
    assert!(out.contains("reported case 1 at the grid tier"), "{out}");
    let out = cli.ok(&[
        "case",
        "act",
        "--district",
        "east",
        "1",
        "accept",
        "--as",
        "w1",
    ]);
    assert!(out.contains("reported → accepted"), "{out}");
    cli.ok(&[
        "case",
        "act",
        "--district",
        "east",
        "1",
        "dispatch",
        "--as",
        "w1",
        "--to",
        "department:g1-team",
    ]);
    // The resident may not start it; the refusal says who may.
    let refused = cli.run(&[
        "case",
        "act",
        "--district",
        "east",
        "1",
        "start",
        "--as",
        "res1",
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("assigned to"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let out = cli.ok(&[
        "case",
        "list",
        "--district",
        "east",
        "--state",
        "dispatched",
    ]);
    assert!(out.contains("department:g1-team"), "{out}");
    let out = cli.ok(&["case", "show", "--district", "east", "1"]);
    let view: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(view["history"].as_array().map(Vec::len), Some(3));
    let out = cli.ok(&["case", "figures", "--district", "east"]);
    assert!(out.contains("open dispatched  1"), "{out}");
    let out = cli.ok(&["case", "sweep"]);
    assert!(out.contains("0 cases newly overdue"), "{out}");
}

#[test]
fn registers_lists_rotates_and_removes_devices() {
    let cli = Cli::new();
    cli.ok(&["district", "create", "east"]);
    let kinds = cli.ok(&["device", "kinds"]);
    assert!(
        kinds.contains("door-sensor") && kinds.contains("door.open"),
        "{kinds}"
    );

    let out = cli.ok(&[
        "device",
        "register",
        "--district",
        "east",
        "door-1",
        "--kind",
        "door-sensor",
        "--heartbeat-secs",
        "60",
    ]);
    assert!(out.contains("token (shown once): hdv_"), "{out}");
    let refused = cli.run(&[
        "device",
        "register",
        "--district",
        "east",
        "door-2",
        "--kind",
        "toaster",
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("kinds are: door-sensor"));

    let list = cli.ok(&["device", "list", "--district", "east"]);
    assert!(list.contains("door-1") && list.contains("online"), "{list}");
    assert!(
        cli.ok(&["device", "list", "--district", "east", "--offline"])
            .is_empty()
    );
    let shown = cli.ok(&["device", "show", "--district", "east", "door-1"]);
    assert!(
        shown.contains("\"kind\": \"door-sensor\"") && !shown.contains("hdv_"),
        "{shown}"
    );
    let rotated = cli.ok(&["device", "rotate-token", "--district", "east", "door-1"]);
    assert!(rotated.contains("hdv_"), "{rotated}");
    assert_eq!(
        cli.ok(&["device", "dead-letters", "--district", "east"])
            .trim(),
        "[]"
    );
    cli.ok(&["device", "remove", "--district", "east", "door-1"]);
    assert!(cli.ok(&["device", "list", "--district", "east"]).is_empty());
}

/// A refusal reads as the reason, never as a stack trace, also with
/// RUST_BACKTRACE=1 set (as it often is on operators' machines).
#[test]
fn errors_are_reasons_without_a_backtrace() {
    let cli = Cli::new();
    for args in [
        &["district", "create", "East"][..],
        &["show", "--district", "east", "hello"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_hutong"))
            .arg("--data-dir")
            .arg(cli.data.path())
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .env("RUST_LIB_BACKTRACE", "1")
            .env("HUTONG_LOG", "error")
            .env_remove("HUTONG_DATABASE_URL")
            .output()
            .expect("run hutong");
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("backtrace"), "{args:?}: {stderr}");
        assert!(!stderr.contains(".rs:"), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}
