//! The `hutong-evote` command as trustees, voters and observers run it:
//! making a trustee key, a ballot (and its audit), decrypting a tally only
//! from a board that verifies, and verifying a board with its exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hutong_evote::board::tally;
use hutong_evote::trustee::{combine, election_key};
use hutong_evote::{
    BOARD_FORMAT, Ballot, Board, Credential, Decryption, Election, TrusteeKey, TrusteePublic,
};
use rand_core::OsRng;
use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hutong-evote"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run hutong-evote")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "hutong-evote-cli-{}-{}",
        std::process::id(),
        rand_core::RngCore::next_u64(&mut OsRng)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn a_poll_from_trustee_keys_to_a_verified_result_through_the_command() {
    let dir = dir();
    let poll = "p-cli";
    // Two trustees make their keys with the command.
    let mut keys = Vec::new();
    let mut publics = Vec::new();
    for i in 0..2 {
        let key = dir.join(format!("trustee-{i}.json"));
        let out = run(&["trustee", "new", "--poll", poll, "--key", path(&key)]);
        assert!(out.status.success(), "{}", text(&out));
        let public: TrusteePublic = serde_json::from_slice(&out.stdout).expect("the public part");
        assert!(public.verify(poll));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key)
                .expect("key file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "only the trustee reads the key");
        }
        // A key file is never overwritten.
        let again = run(&["trustee", "new", "--poll", poll, "--key", path(&key)]);
        assert_eq!(again.status.code(), Some(2), "{}", text(&again));
        assert!(
            text(&again).contains("must not exist yet"),
            "{}",
            text(&again)
        );
        assert!(!text(&again).contains("panicked") && !text(&again).contains("backtrace"));
        keys.push(key);
        publics.push(public);
    }
    let election = Election {
        poll: poll.into(),
        question: "Which improvement first?".into(),
        option_names: vec!["gate".into(), "lights".into(), "benches".into()],
        options: 3,
        min: 1,
        max: 1,
        key: election_key(&publics),
    };
    let election_file = dir.join("election.json");
    std::fs::write(
        &election_file,
        serde_json::to_string(&serde_json::json!({ "election": election })).expect("json"),
    )
    .expect("write");

    // Three voters make ballots with the command; one audits a ballot first.
    let credentials: Vec<Credential> = (0..3)
        .map(|_| Credential::generate(poll, &mut OsRng))
        .collect();
    let mut ballots = Vec::new();
    for (credential, choice) in credentials.iter().zip(["0", "2", "2"]) {
        let out = run(&[
            "ballot",
            "--election",
            path(&election_file),
            "--credential",
            credential.text(),
            "--choose",
            choice,
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let printed: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert!(printed.get("opening").is_none(), "no opening unless asked");
        let ballot: Ballot = serde_json::from_value(printed["ballot"].clone()).expect("ballot");
        assert_eq!(printed["tracker"], ballot.tracker());
        assert_eq!(ballot.verify(&election), Ok(()));
        ballots.push(ballot);
    }
    let out = run(&[
        "ballot",
        "--election",
        path(&election_file),
        "--credential",
        credentials[0].text(),
        "--choose",
        "1",
        "--audit",
    ]);
    let printed: Value = serde_json::from_slice(&out.stdout).expect("json");
    let audited: Ballot = serde_json::from_value(printed["ballot"].clone()).expect("ballot");
    let opening = serde_json::from_value(printed["opening"].clone()).expect("opening");
    assert!(
        audited.audit(&election, &opening),
        "the audit opens the ballot to the choice"
    );
    assert_eq!(
        audited.verify(&election),
        Err(hutong_evote::BallotError::Signature),
        "a ballot to audit is unsigned: nobody can cast it"
    );
    // Given a board's head, the command encrypts only under the sum of its
    // trustees' proved keys: not under a key the server swapped in.
    let mut swapped = election.clone();
    swapped.key = TrusteeKey::generate(poll, &mut OsRng).public.key;
    let head = dir.join("head.json");
    let head_json = serde_json::json!({ "election": swapped, "trustees": publics });
    let ballot_under = |head_json: Value| {
        std::fs::write(&head, head_json.to_string()).expect("write");
        run(&[
            "ballot",
            "--election",
            path(&head),
            "--credential",
            credentials[0].text(),
            "--choose",
            "0",
        ])
    };
    let out = ballot_under(head_json);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not the sum"), "{}", text(&out));
    let out = ballot_under(serde_json::json!({ "election": election, "trustees": publics }));
    assert!(out.status.success(), "{}", text(&out));

    // The audited ballot, checked on "another device" against the sound
    // head: it opens to what was chosen; an opening that claims another
    // choice, or a tracker that is not the ballot's, fails (exit 1); a head
    // whose key is not the trustees' sum is refused (exit 2).
    let audit_file = dir.join("audit.json");
    let audit = |printed: &Value, head: &Path| {
        std::fs::write(&audit_file, printed.to_string()).expect("write");
        run(&[
            "audit",
            "--election",
            path(head),
            "--ballot",
            path(&audit_file),
        ])
    };
    let out = audit(&printed, &head);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("audit holds") && text(&out).contains("encrypts lights"),
        "{}",
        text(&out)
    );
    let mut lying = printed.clone();
    lying["opening"]["chosen"] = serde_json::json!([0]);
    let out = audit(&lying, &head);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("audit FAILS"), "{}", text(&out));
    let mut other = printed.clone();
    other["tracker"] = serde_json::json!("00".repeat(32));
    let out = audit(&other, &head);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not this ballot's"), "{}", text(&out));
    let swapped_head = dir.join("swapped-head.json");
    std::fs::write(
        &swapped_head,
        serde_json::json!({ "election": swapped, "trustees": publics }).to_string(),
    )
    .expect("write");
    let out = audit(&printed, &swapped_head);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not the sum"), "{}", text(&out));
    assert!(!text(&out).contains("panicked"));
    // A choice the poll does not allow is refused, plainly.
    let out = run(&[
        "ballot",
        "--election",
        path(&election_file),
        "--credential",
        credentials[0].text(),
        "--choose",
        "0,1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("choose 1..=1"), "{}", text(&out));

    // The board after the close, with its tally.
    ballots.sort_by_key(|b| b.credential);
    let mut roll: Vec<_> = credentials.iter().map(|c| *c.public()).collect();
    roll.sort();
    let mut board = Board {
        format: BOARD_FORMAT.into(),
        election: election.clone(),
        trustees: publics,
        credentials: roll,
        tally: Some(tally(3, &ballots)),
        ballots,
        decryptions: Vec::new(),
        result: None,
    };
    let board_file = dir.join("board.json");
    std::fs::write(&board_file, serde_json::to_string(&board).expect("json")).expect("write");
    let out = run(&["verify", path(&board_file)]);
    assert_eq!(out.status.code(), Some(3), "pending: {}", text(&out));

    // A trustee will not decrypt a tally that is not the sum of the ballots.
    let mut bent = board.clone();
    if let Some(t) = bent.tally.as_mut() {
        t.swap(0, 2);
    }
    let bent_file = dir.join("bent.json");
    std::fs::write(&bent_file, serde_json::to_string(&bent).expect("json")).expect("write");
    let roll = board.verify(1).roll_digest;
    let decrypt = |key: &Path, board: &Path, roll: &str| {
        run(&[
            "trustee",
            "decrypt",
            "--key",
            path(key),
            "--board",
            path(board),
            "--roll-digest",
            roll,
        ])
    };
    let out = decrypt(&keys[0], &bent_file, &roll);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not decrypting"), "{}", text(&out));
    // Nor a board whose roll is not the one published at the opening (a
    // server that shows the trustees a roll of its own making).
    let out = decrypt(&keys[0], &board_file, &"0".repeat(64));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("not the one published"),
        "{}",
        text(&out)
    );
    // A trustee checks, after the opening, that the election key is theirs too.
    let out = run(&[
        "trustee",
        "check",
        "--key",
        path(&keys[1]),
        "--board",
        path(&board_file),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("trustee 1 of 2") || text(&out).contains("trustee 0 of 2"),
        "{}",
        text(&out)
    );
    let mut usurped = board.clone();
    usurped.trustees[0] = TrusteeKey::generate(poll, &mut OsRng).public;
    usurped.election.key = election_key(&usurped.trustees);
    let usurped_file = dir.join("usurped.json");
    std::fs::write(
        &usurped_file,
        serde_json::to_string(&usurped).expect("json"),
    )
    .expect("write");
    let checks: Vec<_> = keys
        .iter()
        .map(|k| {
            run(&[
                "trustee",
                "check",
                "--key",
                path(k),
                "--board",
                path(&usurped_file),
            ])
            .status
            .success()
        })
        .collect();
    assert_eq!(
        checks.iter().filter(|ok| !**ok).count(),
        1,
        "the replaced trustee finds out"
    );

    // Each trustee decrypts the honest board's tally.
    for key in &keys {
        let out = decrypt(key, &board_file, &roll);
        assert!(out.status.success(), "{}", text(&out));
        let shares: Decryption = serde_json::from_slice(&out.stdout).expect("shares");
        board.decryptions.push(shares);
    }
    // A key decrypts one tally of a poll, not a second (the same ballots
    // less one would reveal that one).
    let mut fewer = board.clone();
    fewer.ballots.remove(0);
    fewer.tally = Some(tally(3, &fewer.ballots));
    fewer.decryptions.clear();
    let fewer_file = dir.join("fewer.json");
    std::fs::write(&fewer_file, serde_json::to_string(&fewer).expect("json")).expect("write");
    let out = decrypt(&keys[0], &fewer_file, &roll);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("already decrypted another tally"),
        "{}",
        text(&out)
    );
    let sums = board.tally.clone().unwrap_or_default();
    board.result = combine(&sums, &board.decryptions, 3).into_iter().collect();
    assert_eq!(board.result.as_deref(), Some(&[1, 0, 2][..]));
    std::fs::write(&board_file, serde_json::to_string(&board).expect("json")).expect("write");
    let tracker = board.ballots[0].tracker();
    let out = run(&["verify", path(&board_file), "--tracker", &tracker]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("VERIFIED"), "{}", text(&out));
    let json = run(&["verify", path(&board_file), "--json"]);
    let report: Value = serde_json::from_slice(&json.stdout).expect("json report");
    assert_eq!(report["verified"], true);

    // A rewritten result, and a tracker not on the board, fail with 1.
    board.result = Some(vec![2, 0, 1]);
    std::fs::write(&board_file, serde_json::to_string(&board).expect("json")).expect("write");
    let out = run(&["verify", path(&board_file)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("FAILED  result"), "{}", text(&out));
    let missing = "0".repeat(64);
    let out = run(&["verify", path(&bent_file), "--tracker", &missing]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("NOT on the board"), "{}", text(&out));

    // What is not a board is refused with what was expected.
    let junk = dir.join("junk.json");
    std::fs::write(&junk, "{\"format\": 1}").expect("write");
    let out = run(&["verify", path(&junk)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("hutong-e-voting/board/v3"),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
