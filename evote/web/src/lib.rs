//! The e-voting page's ballot maker: [`hutong_evote`] compiled for
//! browsers (`wasm32-unknown-unknown`), so that a voter's choice is
//! encrypted, proved and signed on their own device, and never leaves it
//! in the clear. `plugins/e-voting` builds this crate, embeds the module
//! and serves it with the page's script (`assets/vote.js`).
//!
//! The module has no imports. The script hands it one JSON request at a
//! time through [`evote_call`] and reads back one JSON answer:
//!
//! - `{"op": "election", "head": …}`: the board's head checked as
//!   [`hutong_evote::election_of_head`] does (two or more trustees, each
//!   key proved, the election key their sum); answers the election.
//! - `{"op": "ballot", "head": …, "credential": "…", "chosen": [0, 2],
//!   "seed": "<64 hex>"}`: a ballot for the options chosen, encrypted and
//!   proved for the credential but not signed; answers `tracker`, `ballot`
//!   and `opening` (the randomness, shown only if the voter audits the
//!   ballot instead of casting it: unsigned, an audited ballot cannot be
//!   cast by whoever sees it). The seed is 32 bytes from the browser's
//!   `crypto.getRandomValues`, expanded with ChaCha20.
//! - `{"op": "sign", "head": …, "credential": "…", "ballot": …, "seed": …}`:
//!   the ballot signed with the credential, to cast; its tracker is the
//!   one shown before.
//! - `{"op": "tracker", "ballot": …}`: a ballot's tracker, to compare
//!   the board's ballot with the receipt without trusting the server's
//!   word for it.
//! - `{"op": "audit", "head": …, "tracker": "…", "ballot": …, "opening": …}`:
//!   Benaloh's check of an audited ballot; answers the options it
//!   encrypts. (`hutong-evote audit` does the same on another device,
//!   which is the check that matters against a page that lies.)
//!
//! An answer is `{"ok": …}` or `{"error": {"code": "…", "message": "…"}}`,
//! the code one of `request`, `head`, `trustees`, `credential`, `choices`,
//! `ballot`, `audit`.

use hutong_evote::{Ballot, BallotError, Credential, HeadError, Opening, election_of_head};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::Deserialize;
use serde_json::{Value, json};

/// One request of the page's script.
#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Call {
    Election {
        head: Value,
    },
    Ballot {
        head: Value,
        credential: String,
        chosen: Vec<u32>,
        seed: String,
    },
    Sign {
        head: Value,
        credential: String,
        ballot: Ballot,
        seed: String,
    },
    Tracker {
        ballot: Ballot,
    },
    Audit {
        head: Value,
        tracker: Option<String>,
        ballot: Ballot,
        opening: Opening,
    },
}

/// A refusal: a code the page translates, and the English detail.
struct Refusal(&'static str, String);

impl From<HeadError> for Refusal {
    fn from(e: HeadError) -> Self {
        let code = match e {
            HeadError::Trustees => "trustees",
            HeadError::Malformed(_) | HeadError::Election(_) => "head",
        };
        Refusal(code, e.to_string())
    }
}

fn answer(call: Call) -> Result<Value, Refusal> {
    match call {
        Call::Election { head } => {
            let election = election_of_head(&head)?;
            Ok(json!(election))
        }
        Call::Ballot {
            head,
            credential,
            chosen,
            seed,
        } => {
            let election = election_of_head(&head)?;
            let credential = Credential::from_text(&election.poll, &credential)
                .map_err(|e| Refusal("credential", e.to_string()))?;
            let seed = seed_of(&seed)?;
            let mut rng = ChaCha20Rng::from_seed(seed);
            let (ballot, opening) = Ballot::encrypt(&election, &credential, &chosen, &mut rng)
                .map_err(|e| match e {
                    BallotError::Choices { .. } => Refusal("choices", e.to_string()),
                    e => Refusal("ballot", e.to_string()),
                })?;
            Ok(json!({ "tracker": ballot.tracker(), "ballot": ballot, "opening": opening }))
        }
        Call::Sign {
            head,
            credential,
            mut ballot,
            seed,
        } => {
            let election = election_of_head(&head)?;
            let credential = Credential::from_text(&election.poll, &credential)
                .map_err(|e| Refusal("credential", e.to_string()))?;
            if *credential.public() != ballot.credential {
                return Err(Refusal(
                    "credential",
                    "the ballot was made for another credential".to_owned(),
                ));
            }
            let mut rng = ChaCha20Rng::from_seed(seed_of(&seed)?);
            ballot.sign(&election, &credential, &mut rng);
            Ok(json!(ballot))
        }
        Call::Tracker { ballot } => Ok(json!(ballot.tracker())),
        Call::Audit {
            head,
            tracker,
            ballot,
            opening,
        } => {
            let election = election_of_head(&head)?;
            let own = ballot.tracker();
            if tracker.is_some_and(|t| t != own) {
                return Err(Refusal(
                    "audit",
                    format!("the tracker shown is not this ballot's ({own})"),
                ));
            }
            ballot
                .verify_proofs(&election)
                .map_err(|e| Refusal("audit", format!("the ballot's proofs do not hold: {e}")))?;
            if !ballot.audit(&election, &opening) {
                return Err(Refusal(
                    "audit",
                    "the opening does not open this ballot to the options it names".to_owned(),
                ));
            }
            let names: Vec<&str> = opening
                .chosen
                .iter()
                .map(|o| election.option_names[*o as usize].as_str())
                .collect();
            Ok(json!({ "tracker": own, "chosen": opening.chosen, "names": names }))
        }
    }
}

/// 32 bytes from 64 hex digits.
fn seed_of(hex: &str) -> Result<[u8; 32], Refusal> {
    let bad = || Refusal("request", "the seed is 64 hex digits".to_owned());
    if hex.len() != 64 || !hex.is_ascii() {
        return Err(bad());
    }
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    if seed.iter().all(|b| *b == 0) {
        return Err(Refusal(
            "request",
            "the seed is all zeros: the browser gave no randomness".to_owned(),
        ));
    }
    Ok(seed)
}

/// The JSON answer to one JSON request (both UTF-8).
pub fn call(request: &[u8]) -> Vec<u8> {
    let answer = match serde_json::from_slice::<Call>(request) {
        Err(e) => Err(Refusal("request", e.to_string())),
        Ok(call) => answer(call),
    };
    let value = match answer {
        Ok(ok) => json!({ "ok": ok }),
        Err(Refusal(code, message)) => json!({ "error": { "code": code, "message": message } }),
    };
    value.to_string().into_bytes()
}

/// Room for `len` bytes, for the script to write a request into. Every
/// allocation handed out is a boxed slice of exactly its length.
#[unsafe(no_mangle)]
pub extern "C" fn evote_alloc(len: usize) -> *mut u8 {
    Box::into_raw(vec![0u8; len].into_boxed_slice()) as *mut u8
}

/// The boxed slice of `len` bytes at `ptr`, taken back.
///
/// # Safety
/// `ptr` and `len` are one allocation of [`evote_alloc`] or
/// [`evote_call`], taken back once.
unsafe fn take(ptr: *mut u8, len: usize) -> Box<[u8]> {
    // SAFETY: as the caller promises, a boxed slice of `len` bytes.
    unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) }
}

/// Give back what [`evote_alloc`] or [`evote_call`] handed out.
///
/// # Safety
/// `ptr` and `len` are one such allocation, given back once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn evote_free(ptr: *mut u8, len: usize) {
    // SAFETY: passed on from the caller.
    drop(unsafe { take(ptr, len) });
}

/// Answer the request of `len` bytes at `ptr` (which this frees): the
/// answer's address in the high 32 bits, its length in the low 32. The
/// script frees the answer with [`evote_free`].
///
/// # Safety
/// `ptr` and `len` are an allocation of [`evote_alloc`] holding the
/// request.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn evote_call(ptr: *mut u8, len: usize) -> u64 {
    // SAFETY: the script wrote `len` bytes into an allocation of `len`.
    let request = unsafe { take(ptr, len) };
    let out = call(&request).into_boxed_slice();
    let out_len = out.len();
    let out_ptr = Box::into_raw(out) as *mut u8;
    ((out_ptr as usize as u64) << 32) | out_len as u64
}
