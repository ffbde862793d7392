//! A whole poll end to end, then each attack on the board, each of which
//! the verifier must catch.

use rand_core::OsRng;

use crate::ballot::{Ballot, BallotError, Credential, Election};
use crate::board::{BOARD_FORMAT, Board, Status, roll_digest, tally};
use crate::group::Point;
use crate::trustee::{TrusteeKey, combine, election_key};

const POLL: &str = "p-gate";

struct Poll {
    trustees: Vec<TrusteeKey>,
    credentials: Vec<Credential>,
    board: Board,
}

/// Three trustees, ten voting units; units 0..7 vote (unit 0 twice), the
/// last ballot of each counts. Choose up to 2 of 3 options.
fn closed_poll() -> (Poll, Vec<u64>) {
    let trustees: Vec<_> = (0..3)
        .map(|_| TrusteeKey::generate(POLL, &mut OsRng))
        .collect();
    let publics: Vec<_> = trustees.iter().map(|t| t.public.clone()).collect();
    let election = Election {
        poll: POLL.into(),
        question: "Which improvement first?".into(),
        option_names: vec!["gate".into(), "lights".into(), "benches".into()],
        options: 3,
        min: 1,
        max: 2,
        key: election_key(&publics),
    };
    let credentials: Vec<_> = (0..10)
        .map(|_| Credential::generate(POLL, &mut OsRng))
        .collect();
    let votes: [&[u32]; 8] = [&[0, 1], &[0], &[1], &[2], &[0, 2], &[0], &[1, 2], &[0]];
    let mut ballots: Vec<Ballot> = Vec::new();
    for (credential, chosen) in credentials.iter().zip(votes) {
        let (ballot, _) = Ballot::create(&election, credential, chosen, &mut OsRng).expect("valid");
        ballots.push(ballot);
    }
    // Unit 0 votes again: that ballot replaces its first.
    let (again, _) = Ballot::create(&election, &credentials[0], &[2], &mut OsRng).expect("valid");
    ballots[0] = again;
    let expected = vec![4, 2, 4];
    ballots.sort_by_key(|b| b.credential);
    let mut roll: Vec<Point> = credentials.iter().map(|c| *c.public()).collect();
    roll.sort();
    let sums = tally(3, &ballots);
    let decryptions: Vec<_> = trustees
        .iter()
        .map(|t| t.decrypt(&sums, &mut OsRng))
        .collect();
    let result: Option<Vec<u64>> = combine(&sums, &decryptions, ballots.len() as u64)
        .into_iter()
        .collect();
    let board = Board {
        format: BOARD_FORMAT.into(),
        election,
        trustees: publics,
        credentials: roll,
        ballots,
        tally: Some(sums),
        decryptions,
        result,
    };
    (
        Poll {
            trustees,
            credentials,
            board,
        },
        expected,
    )
}

fn failure(board: &Board) -> (&'static str, String) {
    let report = board.verify(1);
    assert!(!report.verified, "the verifier accepted a tampered board");
    let check = report.first_failure().expect("a failed check");
    (check.name, check.detail.clone())
}

#[test]
fn an_honest_poll_verifies_and_counts_the_last_ballot_of_each_credential() {
    let (poll, expected) = closed_poll();
    assert_eq!(poll.board.result.as_deref(), Some(&expected[..]));
    let report = poll.board.verify(1);
    assert!(report.verified, "{report:#?}");
    assert_eq!(report.checks.len(), 7);
    // On several threads, the same.
    assert_eq!(poll.board.verify(4), report);
    // It survives being written out and read back, as the command reads it.
    let text = serde_json::to_string(&poll.board).expect("serializes");
    let read: Board = serde_json::from_str(&text).expect("parses");
    assert!(read.verify(1).verified);
}

#[test]
fn a_poll_still_open_verifies_its_ballots_and_is_pending() {
    let (mut poll, _) = closed_poll();
    poll.board.tally = None;
    poll.board.decryptions.clear();
    poll.board.result = None;
    let report = poll.board.verify(1);
    assert!(!report.verified);
    assert_eq!(report.first_failure(), None);
    assert_eq!(
        report.checks.last().map(|c| c.status),
        Some(Status::Pending)
    );
}

#[test]
fn a_forged_ballot_is_refused_and_caught_on_the_board() {
    let (mut poll, _) = closed_poll();
    let election = poll.board.election.clone();
    // A ballot that encrypts 2 for option 0, with a "proof" it is 0 or 1:
    // made by encrypting honestly and then doubling the ciphertext.
    let (mut forged, _) =
        Ballot::create(&election, &poll.credentials[8], &[0], &mut OsRng).expect("valid");
    let ct = forged.choices[0].ciphertext;
    forged.choices[0].ciphertext = ct + ct;
    assert_eq!(forged.verify(&election), Err(BallotError::Signature));
    // Even re-signed by the credential's holder, the proof fails.
    let resigned = resign(&election, &poll.credentials[8], forged);
    assert_eq!(resigned.verify(&election), Err(BallotError::ChoiceProof(0)));
    poll.board.ballots.push(resigned);
    poll.board.ballots.sort_by_key(|b| b.credential);
    let (name, detail) = failure(&poll.board);
    assert_eq!(name, "ballots", "{detail}");
    assert!(detail.contains("choice 0"), "{detail}");
}

/// Sign `ballot` again with `credential`, as its holder could.
fn resign(election: &Election, credential: &Credential, mut ballot: Ballot) -> Ballot {
    ballot.sign(election, credential, &mut OsRng);
    ballot
}

#[test]
fn a_ballot_choosing_too_many_options_is_refused() {
    let (poll, _) = closed_poll();
    let election = &poll.board.election;
    let too_many = Ballot::create(election, &poll.credentials[9], &[0, 1, 2], &mut OsRng);
    assert!(matches!(too_many, Err(BallotError::Choices { .. })));
    // Made for wider limits, its proofs are bound to another election.
    let wide = Election {
        max: 3,
        ..election.clone()
    };
    let (ballot, _) =
        Ballot::create(&wide, &poll.credentials[9], &[0, 1, 2], &mut OsRng).expect("valid");
    let bound = resign(election, &poll.credentials[9], ballot);
    assert_eq!(bound.verify(election), Err(BallotError::ChoiceProof(0)));
    // Three choices each proved 0 or 1, taken from ballots of one option
    // each: every choice's proof holds, the total's does not.
    let credential = &poll.credentials[9];
    let made: Vec<Ballot> = (0..3)
        .map(|o| {
            Ballot::create(election, credential, &[o], &mut OsRng)
                .expect("valid")
                .0
        })
        .collect();
    let mut spliced = made[0].clone();
    spliced.choices = (0..3).map(|o| made[o].choices[o].clone()).collect();
    let spliced = resign(election, credential, spliced);
    assert_eq!(
        spliced.verify(election),
        Err(BallotError::TotalProof { min: 1, max: 2 })
    );
}

#[test]
fn a_stuffed_ballot_is_caught_whether_or_not_its_credential_is_added_to_the_roll() {
    let (mut poll, _) = closed_poll();
    let opened_with = roll_digest(POLL, poll.board.credentials.iter().map(Point::as_bytes));
    let intruder = Credential::generate(POLL, &mut OsRng);
    let (stuffed, _) =
        Ballot::create(&poll.board.election, &intruder, &[1], &mut OsRng).expect("valid");
    poll.board.ballots.push(stuffed);
    poll.board.ballots.sort_by_key(|b| b.credential);
    let (name, detail) = failure(&poll.board);
    assert_eq!(name, "ballots");
    assert!(detail.contains("not on the roll"), "{detail}");
    // Adding the credential to the roll changes the roll's digest, which
    // was published when the poll opened.
    poll.board.credentials.push(*intruder.public());
    poll.board.credentials.sort();
    assert_ne!(poll.board.verify(1).roll_digest, opened_with);
}

#[test]
fn a_second_ballot_of_one_credential_is_caught() {
    let (mut poll, _) = closed_poll();
    let (extra, _) = Ballot::create(&poll.board.election, &poll.credentials[1], &[1], &mut OsRng)
        .expect("valid");
    poll.board.ballots.push(extra);
    poll.board.ballots.sort_by_key(|b| b.credential);
    assert_eq!(failure(&poll.board).0, "ballots");
}

#[test]
fn a_dropped_ballot_is_caught_by_the_tally_or_by_its_voter() {
    let (mut poll, _) = closed_poll();
    let dropped = poll.board.ballots.remove(3);
    assert_eq!(failure(&poll.board).0, "tally");
    // Dropped before the tally, with everything recomputed: the board is
    // consistent, but the voter's tracker is missing from it.
    let sums = tally(3, &poll.board.ballots);
    poll.board.decryptions = poll
        .trustees
        .iter()
        .map(|t| t.decrypt(&sums, &mut OsRng))
        .collect();
    poll.board.result = combine(&sums, &poll.board.decryptions, 100)
        .into_iter()
        .collect();
    poll.board.tally = Some(sums);
    assert!(poll.board.verify(1).verified);
    assert!(
        !poll
            .board
            .ballots
            .iter()
            .any(|b| b.tracker() == dropped.tracker())
    );
}

#[test]
fn a_rewritten_result_or_a_wrong_share_is_caught() {
    let (mut poll, _) = closed_poll();
    if let Some(result) = poll.board.result.as_mut() {
        result.swap(0, 1);
    }
    let (name, detail) = failure(&poll.board);
    assert_eq!(name, "result");
    assert!(detail.contains("option 0"), "{detail}");

    let (mut poll, _) = closed_poll();
    let share = &mut poll.board.decryptions[1].shares[2].share;
    *share = Point::new(share.point + crate::group::generator());
    let (name, detail) = failure(&poll.board);
    assert_eq!(name, "decryptions");
    assert!(
        detail.contains("trustee 1") && detail.contains("option 2"),
        "{detail}"
    );
}

#[test]
fn a_tampered_ciphertext_or_a_ballot_moved_to_another_credential_is_caught() {
    let (mut poll, _) = closed_poll();
    let election = poll.board.election.clone();
    let first = &mut poll.board.ballots[0];
    first.choices.swap(0, 1);
    assert_eq!(first.verify(&election), Err(BallotError::Signature));

    // Someone holding another roll credential copies a ballot and signs it
    // as theirs: its proofs are bound to the first credential.
    let (poll, _) = closed_poll();
    let copied = resign(
        &election_of(&poll),
        &poll.credentials[9],
        poll.board.ballots[0].clone(),
    );
    assert_eq!(
        copied.verify(&poll.board.election),
        Err(BallotError::ChoiceProof(0))
    );
}

fn election_of(poll: &Poll) -> Election {
    poll.board.election.clone()
}

#[test]
fn a_wrong_election_key_or_trustee_proof_is_caught() {
    let (mut poll, _) = closed_poll();
    poll.board.election.key = poll.board.trustees[0].key;
    // Every ballot proof is bound to the key too, so the first failure is
    // the trustees' check.
    assert_eq!(failure(&poll.board).0, "trustees");

    let (mut poll, _) = closed_poll();
    poll.board.trustees[2].proof = poll.board.trustees[1].proof;
    let (name, detail) = failure(&poll.board);
    assert_eq!(name, "trustees");
    assert!(detail.contains("trustee 2"), "{detail}");
}

#[test]
fn an_audited_ballot_opens_to_its_choices_and_to_no_other() {
    let (poll, _) = closed_poll();
    let election = &poll.board.election;
    let (ballot, opening) =
        Ballot::create(election, &poll.credentials[9], &[2, 0], &mut OsRng).expect("valid");
    assert_eq!(opening.chosen, vec![0, 2]);
    assert!(ballot.audit(election, &opening));
    let mut lie = opening.clone();
    lie.chosen = vec![1];
    assert!(!ballot.audit(election, &lie));

    // A ballot made for an audit is never signed: its proofs hold and it
    // opens, but no one who sees it can cast it. Signed, its tracker (shown
    // before the voter chose) is unchanged.
    let credential = &poll.credentials[9];
    let (unsigned, opening) =
        Ballot::encrypt(election, credential, &[1], &mut OsRng).expect("valid");
    assert_eq!(unsigned.verify_proofs(election), Ok(()));
    assert!(unsigned.audit(election, &opening));
    assert_eq!(unsigned.verify(election), Err(BallotError::Signature));
    let tracker = unsigned.tracker();
    let mut signed = unsigned.clone();
    signed.sign(election, credential, &mut OsRng);
    assert_eq!(signed.verify(election), Ok(()));
    assert_eq!(signed.tracker(), tracker);
}

#[test]
fn credentials_are_read_back_from_their_text_and_bad_text_is_refused() {
    let credential = Credential::generate(POLL, &mut OsRng);
    let text = credential.text().to_owned();
    assert_eq!(text.len(), crate::ballot::CREDENTIAL_LEN);
    let spaced = format!("{}-{} {}", &text[..5], &text[5..10], &text[10..]);
    let back = Credential::from_text(POLL, &spaced).expect("valid");
    assert_eq!(back.public(), credential.public());
    // The same text for another poll is another key.
    assert_ne!(
        Credential::from_text("other", &text)
            .expect("valid")
            .public(),
        credential.public()
    );
    assert!(Credential::from_text(POLL, "short").is_err());
    assert!(Credential::from_text(POLL, &format!("0{}", &text[1..])).is_err());
}

#[test]
fn renaming_an_option_or_the_question_invalidates_every_ballot() {
    let (mut poll, _) = closed_poll();
    poll.board.election.option_names.swap(0, 1);
    let (name, detail) = failure(&poll.board);
    assert_eq!(name, "ballots", "{detail}");
    assert!(detail.contains("8 ballots do not verify"), "{detail}");
    let (mut poll, _) = closed_poll();
    poll.board.election.question = "Keep the gate?".into();
    assert_eq!(failure(&poll.board).0, "ballots");
}

#[test]
fn shares_may_come_in_any_order_and_a_missing_one_leaves_the_result_pending() {
    let (mut poll, _) = closed_poll();
    poll.board.decryptions.reverse();
    assert!(poll.board.verify(1).verified, "order does not matter");
    poll.board.decryptions.remove(1);
    let report = poll.board.verify(1);
    assert_eq!(report.first_failure(), None);
    let last = report.checks.last().expect("checks");
    assert_eq!((last.name, last.status), ("decryptions", Status::Pending));
    assert!(last.detail.contains("2 of 3"), "{}", last.detail);
    let copy = poll.board.decryptions[0].clone();
    poll.board.decryptions.push(copy);
    assert_eq!(failure(&poll.board).0, "decryptions");
}

#[test]
fn the_neutral_element_is_refused_as_a_key_or_a_credential() {
    let (poll, _) = closed_poll();
    let neutral = Point::identity();
    let mut election = poll.board.election.clone();
    election.key = neutral;
    assert_eq!(election.check(), Err(BallotError::IdentityKey));
    // A "trustee" with the neutral key and a proof for it.
    let zero = curve25519_dalek::scalar::Scalar::ZERO;
    let proof = crate::proof::Schnorr::prove(
        crate::group::Transcript::new("trustee").text(POLL),
        &zero,
        &neutral,
        &mut OsRng,
    );
    assert!(
        !crate::TrusteePublic {
            key: neutral,
            proof
        }
        .verify(POLL)
    );
    let mut board = poll.board.clone();
    board.credentials.insert(0, neutral);
    let (name, detail) = failure(&board);
    assert_eq!(name, "roll", "{detail}");
}
