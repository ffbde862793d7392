//! The cost of a poll's cryptography at scale, natively: making a ballot
//! (what a voter's device does), checking one (what the app does when it
//! accepts a ballot), the tally, the trustees' decryption, and verifying a
//! whole board, for `HUTONG_BENCH_VOTERS` voters (default 50,000).
//!
//! `cargo bench -p hutong-evote --bench board`

use std::time::{Duration, Instant};

use hutong_evote::board::{tally, verify_ballots};
use hutong_evote::trustee::{combine, election_key};
use hutong_evote::{BOARD_FORMAT, Ballot, Board, Credential, Election, TrusteeKey};
use rand_core::OsRng;

fn per(d: Duration, n: usize) -> String {
    let us = d.as_secs_f64() * 1e6 / n.max(1) as f64;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

fn main() {
    let voters: usize = std::env::var("HUTONG_BENCH_VOTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let poll = "bench";
    let trustees: Vec<_> = (0..3)
        .map(|_| TrusteeKey::generate(poll, &mut OsRng))
        .collect();
    let publics: Vec<_> = trustees.iter().map(|t| t.public.clone()).collect();
    let election = Election {
        poll: poll.into(),
        question: "Repaint the courtyard?".into(),
        option_names: vec!["yes".into(), "no".into()],
        options: 2,
        min: 1,
        max: 1,
        key: election_key(&publics),
    };
    println!("{voters} voters, 2 options (choose 1), 3 trustees, {threads} threads");

    let started = Instant::now();
    let credentials: Vec<_> = (0..voters)
        .map(|_| Credential::generate(poll, &mut OsRng))
        .collect();
    println!("credentials: {} each", per(started.elapsed(), voters));

    // One ballot at a time, on one thread: a voter's device.
    let sample = 200.min(voters);
    let started = Instant::now();
    for c in &credentials[..sample] {
        let _ = Ballot::create(&election, c, &[0], &mut OsRng);
    }
    println!(
        "make a ballot (one thread): {}",
        per(started.elapsed(), sample)
    );
    let started = Instant::now();
    let chunk = voters.div_ceil(threads);
    let mut ballots: Vec<Ballot> = std::thread::scope(|s| {
        let handles: Vec<_> = credentials
            .chunks(chunk)
            .map(|cs| {
                let election = &election;
                s.spawn(move || {
                    cs.iter()
                        .enumerate()
                        .filter_map(|(i, c)| {
                            Ballot::create(election, c, &[(i % 3 == 0) as u32], &mut OsRng)
                                .ok()
                                .map(|(b, _)| b)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    println!(
        "made {} ballots in {:.2} s",
        ballots.len(),
        started.elapsed().as_secs_f64()
    );
    ballots.sort_by_key(|b| b.credential);

    let started = Instant::now();
    let bad = verify_ballots(&election, &ballots[..sample], 1);
    assert!(bad.is_empty());
    let one = started.elapsed();
    println!(
        "check a ballot (one thread): {}, {:.0} ballots/s per core",
        per(one, sample),
        sample as f64 / one.as_secs_f64()
    );

    let started = Instant::now();
    let sums = tally(2, &ballots);
    println!(
        "tally (sum of {} ballots): {:.3} s",
        ballots.len(),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let decryptions: Vec<_> = trustees
        .iter()
        .map(|t| t.decrypt(&sums, &mut OsRng))
        .collect();
    println!("3 trustees' shares: {}", per(started.elapsed(), 1));
    let started = Instant::now();
    let result: Option<Vec<u64>> = combine(&sums, &decryptions, ballots.len() as u64)
        .into_iter()
        .collect();
    println!(
        "result from the shares: {} → {result:?}",
        per(started.elapsed(), 1)
    );

    let mut credentials: Vec<_> = credentials.iter().map(|c| *c.public()).collect();
    credentials.sort();
    let board = Board {
        format: BOARD_FORMAT.into(),
        election,
        trustees: publics,
        credentials,
        ballots,
        tally: Some(sums),
        decryptions,
        result,
    };
    let text = serde_json::to_string(&board).unwrap_or_default();
    println!(
        "board: {:.1} MiB of JSON",
        text.len() as f64 / (1 << 20) as f64
    );
    let started = Instant::now();
    let read: Result<Board, _> = serde_json::from_str(&text);
    println!("read the board: {:.2} s", started.elapsed().as_secs_f64());
    let Ok(read) = read else { return };
    for t in [1, threads] {
        let started = Instant::now();
        let report = read.verify(t);
        assert!(report.verified);
        println!(
            "verify the whole board on {t} thread(s): {:.2} s",
            started.elapsed().as_secs_f64()
        );
    }
}
