//! `hutong-evote`: check a poll's published board, make and audit
//! ballots, make a credential authority's letters, and hold and use a
//! trustee's key. Runs anywhere, needs nothing of the platform but the
//! files it is given.
//!
//! ```text
//! hutong-evote fetch --poll-url https://…/apps/e-voting/polls/P --out board.json
//! hutong-evote verify board.json [--tracker T]...
//! hutong-evote ballot --election board.json --credential C --choose 0
//! hutong-evote audit --election board.json --ballot audit.json
//! hutong-evote credentials --poll-url https://…/polls/P --letters letters.csv
//! hutong-evote trustee new --poll P --key my-key.json      (prints the public part)
//! hutong-evote trustee decrypt --key my-key.json --board board.json
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use hutong_evote::{Ballot, Board, Credential, Status, TrusteeKey, election_of_head};
use rand_core::OsRng;

#[derive(Parser)]
#[command(
    name = "hutong-evote",
    version,
    about = "Verify a Hutong e-voting board; make and audit ballots; make credentials; make and use a trustee's key."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check everything on a board (as exported by `GET /polls/{id}/board`):
    /// the trustees' keys, every ballot's proofs and signature against the
    /// roll, the tally, the trustees' shares and the result. Exits 0 when
    /// all holds, 1 when something does not, 3 when the poll is not
    /// finished (what exists so far holds).
    Verify {
        /// The board's JSON file (`-` for standard input).
        board: PathBuf,
        /// A ballot tracker from a voter's receipt that must be on the board.
        #[arg(long = "tracker", value_name = "TRACKER")]
        trackers: Vec<String>,
        /// Threads to check ballots on (default: the machine's cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Download a poll's whole board (the paged credentials and ballots
    /// too) into one file for `verify`.
    Fetch {
        /// The poll's address: `https://<host>/d/<district>/apps/e-voting/polls/<id>`.
        #[arg(long)]
        poll_url: String,
        /// A bearer token to read it with (any signed-in account's).
        #[arg(long, env = "HUTONG_TOKEN", hide_env_values = true)]
        token: String,
        /// Where to write the board (must not exist yet).
        #[arg(long)]
        out: PathBuf,
    },
    /// Make a ballot with your credential: encrypted, proved and signed,
    /// ready to post to `POST …/polls/<id>/ballots`. With `--audit`, an
    /// unsigned ballot (it cannot be cast) and the randomness that opens
    /// it, to check that this tool encrypts your choice.
    Ballot {
        /// The poll's election: a board file, or the answer of
        /// `GET …/polls/<id>/board`.
        #[arg(long)]
        election: PathBuf,
        /// Your credential, as you received it.
        #[arg(long, env = "HUTONG_CREDENTIAL", hide_env_values = true)]
        credential: String,
        /// The options you choose, by index: `--choose 0` or `--choose 0,2`.
        #[arg(long, value_delimiter = ',', required = true)]
        choose: Vec<u32>,
        /// Also print the ballot's opening (for an audit, not for casting).
        #[arg(long)]
        audit: bool,
    },
    /// Check an audited ballot on a device other than the one that made it
    /// (Benaloh's challenge): that the board's head is sound, that the
    /// ballot verifies, and that its opening shows it encrypts the options
    /// printed. A device that encrypted something other than what you chose
    /// is caught here. Exits 0 when the audit holds, 1 when it does not.
    Audit {
        /// The poll's election: a board file, or the answer of
        /// `GET …/polls/<id>/board`.
        #[arg(long)]
        election: PathBuf,
        /// The audited ballot: what the ballot page shows after "audit"
        /// (`tracker`, `ballot` and `opening`), or `ballot --audit` prints.
        #[arg(long)]
        ballot: PathBuf,
    },
    /// As a poll's credential authority: read its frozen roll, make one
    /// credential per voting unit, write them to `--letters` (to print and
    /// hand to each unit: keep the file offline, then destroy it) and upload
    /// only their public keys.
    Credentials {
        /// The poll's address: `https://<host>/d/<district>/apps/e-voting/polls/<id>`.
        #[arg(long)]
        poll_url: String,
        /// The credential authority's bearer token.
        #[arg(long, env = "HUTONG_TOKEN", hide_env_values = true)]
        token: String,
        /// Where to write the letters, as CSV: unit, residents, credential
        /// (must not exist yet; only its owner can read it).
        #[arg(long)]
        letters: PathBuf,
    },
    /// A trustee's key: make one, or decrypt a tally with one.
    #[command(subcommand)]
    Trustee(Trustee),
}

/// An audited ballot, as the ballot page shows it.
#[derive(serde::Deserialize)]
struct Audited {
    tracker: Option<String>,
    ballot: Ballot,
    opening: hutong_evote::Opening,
}

#[derive(Subcommand)]
enum Trustee {
    /// Make a key pair for a poll. The secret goes to `--key` (keep it, and
    /// a copy, offline); the public part, to upload to the poll, is printed.
    New {
        /// The poll's id.
        #[arg(long)]
        poll: String,
        /// Where to write the secret key (must not exist yet).
        #[arg(long)]
        key: PathBuf,
    },
    /// Decrypt the tally of a closed poll's board with your key, after
    /// checking every ballot and that the tally is their sum (so only the
    /// sum of all ballots is ever decrypted). Prints your shares, to upload.
    Decrypt {
        /// Your secret key file.
        #[arg(long)]
        key: PathBuf,
        /// The board's JSON file (`-` for standard input).
        #[arg(long)]
        board: PathBuf,
        /// The roll's credential digest the poll showed when it opened
        /// (`credentials_digest` of `GET …/polls/<id>`): the board's roll
        /// must be that one.
        #[arg(long)]
        roll_digest: String,
    },
    /// Check that a board's election key includes your key, right after the
    /// poll opens: a key someone else uploaded in your name shows here.
    Check {
        /// Your secret key file.
        #[arg(long)]
        key: PathBuf,
        /// The board's JSON file (`-` for standard input).
        #[arg(long)]
        board: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("hutong-evote: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        return std::io::read_to_string(std::io::stdin()).context("reading standard input");
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn read_board(path: &Path) -> anyhow::Result<Board> {
    serde_json::from_str(&read(path)?).with_context(|| {
        format!(
            "{} is not a board in the {} format",
            path.display(),
            hutong_evote::BOARD_FORMAT
        )
    })
}

fn threads(asked: Option<usize>) -> usize {
    asked.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Verify {
            board,
            trackers,
            threads: asked,
            json,
        } => {
            let board = read_board(&board)?;
            let started = std::time::Instant::now();
            let mut report = board.verify(threads(asked));
            let on_board: std::collections::HashSet<String> =
                board.ballots.iter().map(|b| b.tracker()).collect();
            for tracker in &trackers {
                let found = on_board.contains(tracker);
                report.checks.push(hutong_evote::board::Check {
                    name: "tracker",
                    status: if found { Status::Pass } else { Status::Fail },
                    detail: if found {
                        format!("{tracker} is on the board")
                    } else {
                        format!(
                            "{tracker} is NOT on the board: that ballot was dropped or replaced"
                        )
                    },
                });
                report.verified &= found;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("poll {}", board.election.poll);
                for check in &report.checks {
                    let mark = match check.status {
                        Status::Pass => "ok     ",
                        Status::Fail => "FAILED ",
                        Status::Pending => "pending",
                    };
                    println!("  {mark} {:<12} {}", check.name, check.detail);
                }
                println!("  roll digest    {}", report.roll_digest);
                println!("  ballots digest {}", report.ballots_digest);
                println!(
                    "{} ({:.2} s)",
                    if report.verified {
                        "VERIFIED"
                    } else {
                        "NOT VERIFIED"
                    },
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(if report.verified {
                ExitCode::SUCCESS
            } else if report.first_failure().is_some() {
                ExitCode::from(1)
            } else {
                ExitCode::from(3)
            })
        }
        Command::Fetch {
            poll_url,
            token,
            out,
        } => {
            let board = hutong_evote::fetch::board(poll_url.trim_end_matches('/'), &token)?;
            write_new(&out, &serde_json::to_string(&board)?)?;
            eprintln!(
                "{}: {} credentials, {} ballots",
                out.display(),
                board.credentials.len(),
                board.ballots.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Credentials {
            poll_url,
            token,
            letters,
        } => {
            let url = poll_url.trim_end_matches('/');
            let made = hutong_evote::fetch::make_credentials(url, &token)?;
            let mut csv = String::from("unit,residents,credential\n");
            for letter in &made {
                csv.push_str(&format!(
                    "{},{},{}\n",
                    letter.unit,
                    letter.residents.join(" "),
                    letter.credential.text()
                ));
            }
            write_new(&letters, &csv)?;
            hutong_evote::fetch::upload_credentials(url, &token, &made)?;
            eprintln!(
                "{} credentials made, written to {} and their public keys uploaded",
                made.len(),
                letters.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Ballot {
            election,
            credential,
            choose,
            audit,
        } => {
            let text = read(&election)?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", election.display()))?;
            // A board (or its head) names the trustees: encrypt only under
            // the sum of their proved keys.
            let election = if value.get("trustees").is_some() {
                election_of_head(&value)?
            } else {
                serde_json::from_value(value.get("election").cloned().unwrap_or(value))
                    .with_context(|| format!("{} holds no election", election.display()))?
            };
            election.check()?;
            let credential = Credential::from_text(&election.poll, &credential)?;
            // A ballot to audit is left unsigned: whoever sees its opening
            // must not be able to cast it in the voter's place.
            let (ballot, opening) = if audit {
                Ballot::encrypt(&election, &credential, &choose, &mut OsRng)?
            } else {
                Ballot::create(&election, &credential, &choose, &mut OsRng)?
            };
            let mut printed = serde_json::json!({ "tracker": ballot.tracker(), "ballot": ballot });
            if audit {
                printed["opening"] = serde_json::to_value(&opening)?;
            }
            println!("{}", serde_json::to_string_pretty(&printed)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { election, ballot } => {
            let head: serde_json::Value = serde_json::from_str(&read(&election)?)
                .with_context(|| format!("{} is not JSON", election.display()))?;
            let election = election_of_head(&head)?;
            let audited: Audited = serde_json::from_str(&read(&ballot)?).with_context(|| {
                format!(
                    "{} is not an audited ballot (`tracker`, `ballot`, `opening`)",
                    ballot.display()
                )
            })?;
            let tracker = audited.ballot.tracker();
            let verdict = if audited.tracker.as_deref().is_some_and(|t| t != tracker) {
                Err(format!(
                    "the tracker shown ({}) is not this ballot's ({tracker})",
                    audited.tracker.as_deref().unwrap_or_default()
                ))
            } else if let Err(e) = audited.ballot.verify_proofs(&election) {
                Err(format!("the ballot's proofs do not hold: {e}"))
            } else if !audited.ballot.audit(&election, &audited.opening) {
                Err("the opening does not open this ballot to the options it names: the device that made it did not encrypt what it says".to_owned())
            } else {
                Ok(())
            };
            match verdict {
                Ok(()) => {
                    let names: Vec<&str> = audited
                        .opening
                        .chosen
                        .iter()
                        .map(|o| election.option_names[*o as usize].as_str())
                        .collect();
                    println!(
                        "audit holds: ballot {tracker} of poll {} encrypts {}",
                        election.poll,
                        if names.is_empty() {
                            "no option".to_owned()
                        } else {
                            names.join(", ")
                        }
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(why) => {
                    println!("audit FAILS: {why}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Trustee(Trustee::New { poll, key }) => {
            let made = TrusteeKey::generate(&poll, &mut OsRng);
            let text = serde_json::to_string_pretty(&made)?;
            write_new(&key, &text)?;
            println!("{}", serde_json::to_string_pretty(&made.public)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Trustee(Trustee::Check { key, board }) => {
            let key = read_key(&key)?;
            let board = read_board(&board)?;
            trustee_of(&key, &board)?;
            println!(
                "your key is trustee {} of {} in poll {}, and the election key is their sum",
                board
                    .trustees
                    .iter()
                    .position(|t| t.key == key.public.key)
                    .unwrap_or_default(),
                board.trustees.len(),
                key.poll
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Trustee(Trustee::Decrypt {
            key: key_path,
            board,
            roll_digest,
        }) => {
            let key = read_key(&key_path)?;
            let board = read_board(&board)?;
            trustee_of(&key, &board)?;
            let report = board.verify(threads(None));
            if report.roll_digest != roll_digest.trim() {
                bail!(
                    "the board's roll (digest {}) is not the one published when the poll opened ({}); not decrypting",
                    report.roll_digest,
                    roll_digest.trim()
                );
            }
            // Decrypt only a tally that is the sum of valid ballots.
            if let Some(failed) = report
                .first_failure()
                .filter(|c| c.name != "decryptions" && c.name != "result")
            {
                bail!(
                    "the board does not verify ({}: {}); not decrypting",
                    failed.name,
                    failed.detail
                );
            }
            let tally_holds = report
                .checks
                .iter()
                .any(|c| c.name == "tally" && c.status == Status::Pass);
            let Some(tally) = board.tally.as_ref().filter(|_| tally_holds) else {
                bail!("the board has no tally yet: decrypt after the poll has closed");
            };
            // One tally per key: decrypting a second (the same ballots
            // less one, say) would reveal the difference.
            let digest = tally_digest(&key.poll, tally);
            let record = key_path.with_extension("decrypted");
            match std::fs::read_to_string(&record) {
                Ok(done) if done.trim() != digest => bail!(
                    "this key already decrypted another tally of poll {} (recorded in {}); decrypting a second would reveal the ballots between them",
                    key.poll,
                    record.display()
                ),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::write(&record, &digest)
                        .with_context(|| format!("recording the tally in {}", record.display()))?;
                }
                Err(e) => return Err(e).with_context(|| format!("reading {}", record.display())),
            }
            eprintln!(
                "poll {}: {} ballots from a roll of {} credentials; decrypting their sum",
                key.poll,
                board.ballots.len(),
                board.credentials.len()
            );
            let decryption = key.decrypt(tally, &mut OsRng);
            println!("{}", serde_json::to_string_pretty(&decryption)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn read_key(path: &Path) -> anyhow::Result<TrusteeKey> {
    serde_json::from_str(&read(path)?)
        .with_context(|| format!("{} is not a trustee key file", path.display()))
}

/// Refuse unless `key` is a trustee of `board`'s poll and the election key
/// is the sum of the trustees' keys.
fn trustee_of(key: &TrusteeKey, board: &Board) -> anyhow::Result<()> {
    if board.election.poll != key.poll {
        bail!(
            "this key is for poll {:?}, the board is of poll {:?}",
            key.poll,
            board.election.poll
        );
    }
    if !board.trustees.iter().any(|t| t.key == key.public.key) {
        bail!("your key is not among the board's trustees: someone uploaded another in your name");
    }
    if hutong_evote::trustee::election_key(&board.trustees) != board.election.key {
        bail!("the board's election key is not the sum of its trustees' keys");
    }
    Ok(())
}

/// The hash `tally` over the poll and the tally's ciphertexts, in hex.
fn tally_digest(poll: &str, tally: &[hutong_evote::Ciphertext]) -> String {
    let t = tally.iter().fold(
        hutong_evote::group::Transcript::new("tally").text(poll),
        |t, ct| t.point(&ct.alpha).point(&ct.beta),
    );
    hex::encode(&t.digest()[..32])
}

/// Write `text` to a new file that only its owner can read.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
