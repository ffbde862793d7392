//! A poll's life: once `opens_at_ms` has come, freeze the roll page by
//! page, making each voting unit's credential and queueing it for its
//! residents; send the credentials; move the credential keys onto the
//! roll in key order; open when that is done and every trustee's key is
//! in; close at `closes_at_ms`; check every stored ballot again, add them
//! up and move them to the counted ones in key order; publish the tally;
//! combine the trustees' shares into the result; tell the voters. (Moved,
//! so that no row says which resident a credential was made for, or when
//! a ballot was cast: see the README, "What storage keeps".)
//!
//! Every step is one `kv::commit` guarded by a compare-and-swap of the
//! poll's state, so any number of ticks and requests, in any number of host
//! processes, can drive the same poll: each step happens once, and a crash
//! between steps leaves the poll at the last completed one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use hutong_evote::board::roll_digest;
use hutong_evote::trustee::{combine, election_key};
use hutong_evote::{Ballot, Ciphertext, Credential, Decryption, Election, TrusteePublic};
use hutong_sdk::data::{self, ResidentQuery};
use hutong_sdk::kv::{self, Commit, Op};
use hutong_sdk::notify::{self, Channel, Message, Recipient};
use hutong_sdk::{Error, log};
use serde::{Deserialize, Serialize};

use crate::ballot::{self, HostRng};
use crate::model::{Delivery, Keys, Phase, Poll, Recount, State, load_state};
use crate::{Fail, now};

/// Residents read per roll page. A page becomes one commit of at most
/// 1 + 3 × this many operations (roll entry, credential, credential to
/// send) plus the households', within the host's 1000.
const ROLL_PAGE: u32 = 200;

/// Credentials sent per step: each is one `notify::send_confidential`.
const DELIVERY_PAGE: u32 = 100;

/// Ballots checked again per step of the recount.
const RECOUNT_PAGE: u32 = 100;

/// Households' credentials removed per commit after the opening.
const REMOVE_PAGE: u32 = 900;

/// Credential keys moved onto the roll per commit before the opening: two
/// operations each.
const PLACE_PAGE: u32 = 450;

/// The most bytes of ballots one step of the recount moves: half the
/// host's 4 MiB a commit, so a page of ballots with the most options
/// (about 35 KiB each) is cut short instead of refused.
const MOVE_BYTES: usize = 2 << 20;

/// How long one call may spend advancing polls before it answers: well
/// inside the manifest's 10 s deadline, leaving room for the last page.
pub const BUDGET: Duration = Duration::from_millis(4000);

/// A call's time budget, on the monotonic clock (the host's wall clock may
/// be stopped, as in tests).
pub struct Budget(Instant, Duration);

impl Budget {
    /// A budget of `limit` from now.
    pub fn new(limit: Duration) -> Self {
        Budget(Instant::now(), limit)
    }

    fn spent(&self) -> bool {
        self.0.elapsed() >= self.1
    }
}

/// The published result of a closed poll, under `result/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// Ballots per option, by option index, as the trustees decrypted them.
    pub counts: Vec<u64>,
    /// Ballots counted: one per credential that voted.
    pub ballots: u64,
    /// Stored ballots that no longer verified at the recount and were left
    /// out (0 unless the database was tampered with).
    pub rejected: u64,
    /// Units on the roll.
    pub roll_units: u64,
    /// Residents on the roll.
    pub roll_residents: u64,
    /// `ballots / roll_units` in percent, two decimals.
    pub turnout_percent: f64,
    /// The quorum asked for, percent of the roll.
    pub quorum_percent: u8,
    /// Whether turnout reached the quorum.
    pub quorum_met: bool,
    /// The roll's fingerprint, as published when the poll opened.
    pub roll_fingerprint: String,
    /// The digest of the roll's credential keys, as published when it opened.
    pub credentials_digest: String,
    /// When the poll closed.
    pub closed_at_ms: i64,
}

/// The trustees' keys uploaded so far, by index.
pub fn trustee_keys(poll: &Poll) -> Result<Vec<Option<TrusteePublic>>, Fail> {
    let keys = Keys(&poll.id);
    (0..poll.trustees.len())
        .map(|i| Ok(kv::get_json::<TrusteePublic>(&keys.trustee(i))?))
        .collect()
}

/// The trustees' shares uploaded so far, by index.
pub fn decryptions(poll: &Poll) -> Result<Vec<Option<Decryption>>, Fail> {
    let keys = Keys(&poll.id);
    (0..poll.trustees.len())
        .map(|i| Ok(kv::get_json::<Decryption>(&keys.decryption(i))?))
        .collect()
}

/// The election, from the opening on.
pub fn election(poll: &Poll) -> Result<Option<Election>, Fail> {
    Ok(kv::get_json::<Election>(&Keys(&poll.id).election())?)
}

/// The published tally, from the end of the recount on.
pub fn tally_of(poll: &Poll) -> Result<Option<Vec<Ciphertext>>, Fail> {
    Ok(kv::get_json::<Vec<Ciphertext>>(&Keys(&poll.id).tally())?)
}

/// Move `poll` on as far as its times allow and return its state. Opening
/// and closing on time are always done; the heavy steps (a roll page,
/// sending credentials, the recount, the result, notices) run only while
/// `budget` lasts, so a call with a spent budget does just the cheap ones.
/// Cheap when there is nothing to do: one kv read.
pub fn advance(poll: &Poll, budget: &Budget) -> Result<State, Fail> {
    loop {
        let (state, raw) = load_state(&poll.id)?;
        let now = now();
        let opening = matches!(state.phase, Phase::Scheduled | Phase::Freezing);
        if opening && now < poll.opens_at_ms {
            return Ok(state);
        }
        // Whether this call made a step or lost the compare-and-swap to
        // another call that made it, the next round reads the state again.
        // Trustees' keys that are not all in by the close: the poll is
        // cancelled, never opened.
        if opening && now >= poll.closes_at_ms {
            cancel(poll, &state, &raw)?;
            continue;
        }
        // With a credential authority, every unit's key must be in too.
        let credentials_in =
            poll.credentials != Delivery::Authority || state.credentials_uploaded == state.units;
        if opening && state.roll_complete && credentials_in && state.credentials_placed {
            let trustees = trustee_keys(poll)?;
            if trustees.iter().all(Option::is_some) {
                open(poll, &state, &raw, trustees.into_iter().flatten().collect())?;
                continue;
            }
        }
        if state.phase == Phase::Open && now >= poll.closes_at_ms {
            close(poll, &state, &raw)?;
            continue;
        }
        if budget.spent() {
            return Ok(state);
        }
        let progressed = match state.phase {
            Phase::Scheduled | Phase::Freezing if !state.roll_complete => {
                freeze_page(poll, &state, &raw)?;
                true
            }
            Phase::Scheduled | Phase::Freezing if credentials_in && !state.credentials_placed => {
                place_credentials(poll, &state, &raw)?;
                true
            }
            Phase::Closing => recount_page(poll, &state, &raw, budget)?,
            Phase::Decrypting => publish_result(poll, &state, &raw)?,
            _ => false,
        };
        if progressed {
            continue;
        }
        // Work that goes on whatever the phase.
        if send_credentials(poll, &state, &raw)? {
            continue;
        }
        let opened = !matches!(state.phase, Phase::Scheduled | Phase::Freezing);
        if opened && poll.eligibility.per_household && !state.household_credentials_removed {
            remove_household_credentials(poll, &state, &raw)?;
            continue;
        }
        match state.phase {
            Phase::Open if !state.open_notice_sent => {
                tell(poll, &state, &raw, Notice::Open)?;
                return Ok(load_state(&poll.id)?.0);
            }
            Phase::Closed if !state.result_notice_sent => {
                tell(poll, &state, &raw, Notice::Result)?;
                return Ok(load_state(&poll.id)?.0);
            }
            _ => return Ok(state),
        }
    }
}

/// Commit `ops` after the swap of the state from `raw` to `next`. Returns
/// whether this call made the step.
fn step(poll: &Poll, raw: &[u8], next: &State, mut ops: Vec<Op>) -> Result<bool, Fail> {
    ops.insert(0, Op::swap(Keys(&poll.id).state(), raw, next.bytes()));
    match kv::commit(ops)? {
        Commit::Applied => Ok(true),
        Commit::Failed(0) => Ok(false),
        Commit::Failed(i) => Err(Fail::Host(Error::Internal(format!(
            "poll {}: step from {:?} failed at operation {i}",
            poll.id, next.phase
        )))),
    }
}

/// The resident query whose pages make the roll.
fn roll_query(poll: &Poll, cursor: Option<String>) -> ResidentQuery {
    let e = &poll.eligibility;
    ResidentQuery {
        community_id: e.community.clone(),
        grid_id: e.grid.clone().or_else(|| poll.building_grid.clone()),
        min_age: e.adults_only.then_some(18),
        cursor,
        limit: ROLL_PAGE,
        ..ResidentQuery::default()
    }
}

/// Read one page of residents onto the roll. Each new voting unit gets a
/// credential: its public key is kept under `made/` (a key that says
/// nothing of whose it is) until it is moved onto the roll before the
/// opening, and its text waits to be sent to each resident of
/// the unit. A household's text is kept until the roll is complete, so
/// members on later pages get the same one.
fn freeze_page(poll: &Poll, state: &State, raw: &[u8]) -> Result<bool, Fail> {
    let keys = Keys(&poll.id);
    let page = data::query_residents(&roll_query(poll, state.cursor.clone()))?;
    let mut rng = HostRng::new()?;
    let mut next = state.clone();
    next.phase = Phase::Freezing;
    let mut ops = Vec::with_capacity(page.residents.len() * 3);
    // The credentials' rows, written after the rest in the order of their
    // keys: a database lays out a transaction's rows in the order given,
    // and the roll's order would pair each credential with its resident.
    let mut credentials = Vec::new();
    // Households seen on this page, with their credential's text (none
    // when an authority makes the credentials).
    let mut households: BTreeMap<String, Option<String>> = BTreeMap::new();
    let makes_credentials = poll.credentials != Delivery::Authority;
    for r in &page.residents {
        if let Some(building) = &poll.eligibility.building
            && r.building_id.as_deref() != Some(building.as_str())
        {
            continue;
        }
        let (unit, text) = if poll.eligibility.per_household {
            let Some(h) = &r.household_id else { continue };
            let unit = format!("h-{h}");
            let text = match households.get(&unit) {
                Some(text) => text.clone(),
                None => {
                    let text = match kv::get(&keys.household(&unit))? {
                        Some(text) => Some(String::from_utf8_lossy(&text).into_owned())
                            .filter(|_| makes_credentials),
                        None => {
                            next.units += 1;
                            let made = makes_credentials
                                .then(|| new_credential(poll, &keys, &mut rng, &mut credentials));
                            ops.push(Op::insert(
                                keys.household(&unit),
                                made.clone().unwrap_or_default(),
                            ));
                            made
                        }
                    };
                    households.insert(unit.clone(), text.clone());
                    text
                }
            };
            (unit, text)
        } else {
            next.units += 1;
            let made =
                makes_credentials.then(|| new_credential(poll, &keys, &mut rng, &mut credentials));
            (format!("r-{}", r.id), made)
        };
        next.chain = ballot::roll_chain_step(&next.chain, &r.id, &unit);
        next.residents += 1;
        ops.push(Op::set(keys.roll(&r.id), unit.as_bytes()));
        if let Some(text) = text {
            ops.push(Op::set(keys.outgoing(&r.id), text.into_bytes()));
        }
    }
    credentials.sort();
    ops.extend(
        credentials
            .into_iter()
            .map(|key| Op::insert(key, Vec::new())),
    );
    next.roll_complete = page.next_cursor.is_none();
    next.cursor = page.next_cursor;
    step(poll, raw, &next, ops)
}

/// A new credential for one voting unit: the key of its row (its public
/// key, under `made/` until the opening) goes to `rows`; its text is
/// returned, to be sent.
fn new_credential(
    poll: &Poll,
    keys: &Keys<'_>,
    rng: &mut HostRng,
    rows: &mut Vec<String>,
) -> String {
    let credential = Credential::generate(&poll.id, rng);
    rows.push(keys.made(&credential.public().to_hex()));
    credential.text().to_owned()
}

/// Once every unit's credential key is made (or uploaded), move them
/// from `made/` onto the roll (`cred/`), a page at a time in the order of
/// the keys: new rows, where the database puts rows written now. The rows
/// written while the roll was read say, in PostgreSQL, which transaction
/// wrote them and where, so which page of residents each credential was
/// made for; the roll's rows say only the order of the keys. Returns
/// whether it made a step.
fn place_credentials(poll: &Poll, state: &State, raw: &[u8]) -> Result<bool, Fail> {
    let keys = Keys(&poll.id);
    let made = keys.made_prefix();
    let page = kv::list_keys(&made, None, PLACE_PAGE)?;
    let mut next = state.clone();
    next.credentials_placed = page.next_cursor.is_none();
    next.credentials_moved += page.keys.len() as u64;
    let mut ops = Vec::with_capacity(page.keys.len() * 2);
    for key in page.keys {
        let public = key.strip_prefix(&made).unwrap_or(&key).to_owned();
        ops.push(Op::remove(key));
        ops.push(Op::set(keys.credential(&public), Vec::new()));
    }
    step(poll, raw, &next, ops)
}

/// Send one page of waiting credentials, each to its resident on the
/// poll's channel, and forget each one sent. Returns whether it sent any.
/// Each message has its own idempotency key, so a send repeated after a
/// lost step delivers nothing twice. A refusal for the rate or an outage
/// ends the page; the rest wait for the next call.
fn send_credentials(poll: &Poll, state: &State, raw: &[u8]) -> Result<bool, Fail> {
    let keys = Keys(&poll.id);
    let prefix = keys.outgoing_prefix();
    let page = kv::list_entries(&prefix, None, DELIVERY_PAGE)?;
    if page.entries.is_empty() {
        return Ok(false);
    }
    let channel = match poll.credentials {
        Delivery::Sms => Channel::Sms,
        Delivery::Inbox => Channel::Inbox,
        Delivery::Authority => return Ok(false),
    };
    let mut next = state.clone();
    let mut ops = Vec::new();
    for (key, text) in &page.entries {
        let resident = key.strip_prefix(&prefix).unwrap_or(key);
        let text = String::from_utf8_lossy(text);
        let message = Message::new(
            Recipient::Resident(resident.to_owned()),
            channel,
            truncate(
                &format!("投票凭证 Voting credential: {}", poll.title),
                notify::MAX_SUBJECT,
            ),
            truncate(&credential_notice(poll, &text), notify::MAX_BODY),
            // (Not `cred-…`, the key of credentials sent before they were
            // sent confidentially: a key names one message.)
            format!("credential-{}-{resident}", poll.id),
        );
        // Confidential: no staff view of the host shows the credential,
        // and once a text message is delivered the host keeps no copy.
        match notify::send_confidential(&message) {
            Ok(receipt) => {
                if receipt.recipients > 0 {
                    next.credentials_sent += 1;
                } else {
                    next.credentials_unreachable += 1;
                }
                ops.push(Op::remove(key.clone()));
            }
            // A resident the host no longer knows: nobody to send to.
            Err(Error::NotFound) => {
                next.credentials_unreachable += 1;
                ops.push(Op::remove(key.clone()));
            }
            Err(e) => {
                log::warn(
                    "credentials postponed",
                    &[("poll", &poll.id), ("error", &e.to_string())],
                );
                break;
            }
        }
    }
    if ops.is_empty() {
        return Ok(false);
    }
    step(poll, raw, &next, ops)?;
    Ok(true)
}

fn credential_notice(poll: &Poll, text: &str) -> String {
    let grouped: Vec<&str> = (0..text.len())
        .step_by(5)
        .filter_map(|i| text.get(i..(i + 5).min(text.len())))
        .collect();
    format!(
        "您在投票“{title}”中的投票凭证：{credential}\n请妥善保管，勿告诉他人：持有凭证者可以代您投票。以最后一次投票为准。\n\
         Your voting credential for the poll \"{title}\": {credential}\n\
         Keep it to yourself: whoever holds it can vote in your place. Your last ballot counts. (poll {id})",
        title = poll.title,
        credential = grouped.join("-"),
        id = poll.id,
    )
}

/// Every credential key on the roll, ascending: the roll digest's input.
fn credential_keys(poll: &Poll) -> Result<Vec<[u8; 32]>, Fail> {
    let prefix = Keys(&poll.id).credential_prefix();
    let mut out = Vec::new();
    for key in kv::keys(&prefix) {
        let key = key?;
        let mut bytes = [0u8; 32];
        if hex::decode_to_slice(key.strip_prefix(&prefix).unwrap_or(&key), &mut bytes).is_ok() {
            out.push(bytes);
        }
    }
    Ok(out)
}

/// The roll is complete and every trustee's key is in: publish the
/// election key, the roll's fingerprints, and start taking ballots.
fn open(
    poll: &Poll,
    state: &State,
    raw: &[u8],
    trustees: Vec<TrusteePublic>,
) -> Result<bool, Fail> {
    let keys = Keys(&poll.id);
    let election = ballot::election(poll, election_key(&trustees));
    let credentials = credential_keys(poll)?;
    let mut next = state.clone();
    next.units = credentials.len() as u64;
    next.phase = Phase::Open;
    next.fingerprint = Some(state.chain.clone());
    next.credentials_digest = Some(roll_digest(&poll.id, credentials.iter()));
    next.opened_at_ms = Some(now());
    let election_bytes = serde_json::to_vec(&election).unwrap_or_default();
    let opened = step(
        poll,
        raw,
        &next,
        vec![
            Op::insert(keys.open(), Vec::new()),
            Op::insert(keys.election(), election_bytes),
        ],
    )?;
    if opened {
        log::info(
            "poll opened",
            &[("poll", &poll.id), ("roll_units", &next.units.to_string())],
        );
    }
    Ok(opened)
}

/// Once open, the households' credential texts are no longer needed.
fn remove_household_credentials(poll: &Poll, state: &State, raw: &[u8]) -> Result<bool, Fail> {
    let page = kv::list_keys(&Keys(&poll.id).household_prefix(), None, REMOVE_PAGE)?;
    let mut next = state.clone();
    next.household_credentials_removed = page.next_cursor.is_none();
    next.household_credentials_dropped += page.keys.len() as u64;
    let ops = page.keys.into_iter().map(Op::remove).collect();
    step(poll, raw, &next, ops)
}

/// The close came before the poll could open: it never will.
fn cancel(poll: &Poll, state: &State, raw: &[u8]) -> Result<bool, Fail> {
    let mut next = state.clone();
    next.phase = Phase::Cancelled;
    next.closed_at_ms = Some(now().max(poll.closes_at_ms));
    let cancelled = step(poll, raw, &next, Vec::new())?;
    if cancelled {
        log::warn(
            "poll cancelled: the close came before every trustee's key",
            &[("poll", &poll.id)],
        );
    }
    Ok(cancelled)
}

/// Stop taking ballots. Removing `open/{id}` waits for the ballots in
/// flight that require it, and every later one fails on it.
fn close(poll: &Poll, state: &State, raw: &[u8]) -> Result<bool, Fail> {
    let mut next = state.clone();
    next.phase = Phase::Closing;
    next.closed_at_ms = Some(now().max(poll.closes_at_ms));
    next.recount = Some(Recount {
        cursor: None,
        sums: vec![Ciphertext::zero(); poll.options.len()],
        ballots: 0,
        invalid: 0,
        moves: true,
    });
    step(poll, raw, &next, vec![Op::remove(Keys(&poll.id).open())])
}

/// Check stored ballots again (on the roll, signature and proofs) and add
/// them to the sums, a page at a time while `budget` lasts; after the last
/// page, publish the tally. Each ballot that verifies is moved to
/// `counted/`, where the board reads it after the close; one that no
/// longer verifies (the database was changed) is moved off the board to
/// `rejected/`, left out of the tally and logged. Returns whether it made
/// a step.
fn recount_page(poll: &Poll, state: &State, raw: &[u8], budget: &Budget) -> Result<bool, Fail> {
    let keys = Keys(&poll.id);
    let Some(election) = election(poll)? else {
        return Err(Fail::Host(Error::Internal(format!(
            "poll {} closed without an election",
            poll.id
        ))));
    };
    let mut recount = state.recount.clone().unwrap_or(Recount {
        cursor: None,
        sums: vec![Ciphertext::zero(); poll.options.len()],
        ballots: 0,
        invalid: 0,
        moves: true,
    });
    let prefix = keys.ballot_prefix();
    let page = kv::list_entries(&prefix, recount.cursor.as_deref(), RECOUNT_PAGE)?;
    let mut ops = Vec::new();
    // The rows the counted ballots were cast in: removed after the step's
    // new rows are written, in a random order (see below).
    let mut cast_rows = Vec::new();
    let mut done = 0;
    let mut moved = 0;
    for (key, value) in &page.entries {
        // Each ballot takes a few milliseconds (more with many options):
        // stop where the budget ends, and carry on from there next time.
        if done > 0 && (budget.spent() || moved + value.len() > MOVE_BYTES) {
            break;
        }
        moved += value.len();
        done += 1;
        recount.cursor = Some(key.clone());
        let credential = key.strip_prefix(&prefix).unwrap_or(key);
        let ballot = serde_json::from_slice::<Ballot>(value).ok();
        let valid = match &ballot {
            Some(b) => {
                b.credential.to_hex() == credential
                    && kv::get(&keys.credential(credential))?.is_some()
                    && b.verify(&election).is_ok()
            }
            None => false,
        };
        match ballot.filter(|_| valid) {
            Some(b) => {
                recount.ballots += 1;
                for (sum, choice) in recount.sums.iter_mut().zip(&b.choices) {
                    *sum = *sum + choice.ciphertext;
                }
                // Moved as it is, in the order of the keys: the new row
                // says this step wrote it, not the cast, and where (see
                // `place_credentials`). A recount begun before ballots
                // were moved leaves them where they are.
                if recount.moves {
                    ops.push(Op::set(keys.counted(credential), value.clone()));
                    cast_rows.push(key.clone());
                }
            }
            None => {
                recount.invalid += 1;
                ops.push(Op::set(keys.rejected(credential), value.clone()));
                cast_rows.push(key.clone());
                log::error(
                    "a stored ballot does not verify: moved off the board, left out of the tally",
                    &[("poll", &poll.id), ("credential", credential)],
                );
            }
        }
    }
    // A ballot's bytes beyond the first kilobyte go on in pages of their
    // own, which SQLite numbered as the ballot was cast. Removed before the
    // new rows were written, those pages would go to the new rows one for
    // one, cast order and all; removed after, they are freed for the next
    // step's rows, and freed in a random order, so that the list of free
    // pages says nothing of which ballot had which.
    shuffle(&mut cast_rows)?;
    ops.extend(cast_rows.into_iter().map(Op::remove));
    let mut next = state.clone();
    if done == page.entries.len() && page.next_cursor.is_none() {
        next.phase = Phase::Decrypting;
        ops.push(Op::insert(
            keys.tally(),
            serde_json::to_vec(&recount.sums).unwrap_or_default(),
        ));
        log::info(
            "tally published; waiting for the trustees",
            &[
                ("poll", &poll.id),
                ("ballots", &recount.ballots.to_string()),
            ],
        );
    }
    next.recount = Some(recount);
    step(poll, raw, &next, ops)
}

/// Put `items` in a random order (Fisher and Yates).
fn shuffle<T>(items: &mut [T]) -> Result<(), Fail> {
    if items.len() < 2 {
        return Ok(());
    }
    let mut rng = HostRng::new()?;
    for i in (1..items.len()).rev() {
        let j = (rand_core::RngCore::next_u64(&mut rng) % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
    Ok(())
}

/// Once every trustee's share is in (each checked when uploaded), decrypt
/// the tally and publish the result. Returns whether it made a step.
fn publish_result(poll: &Poll, state: &State, raw: &[u8]) -> Result<bool, Fail> {
    let keys = Keys(&poll.id);
    let shares = decryptions(poll)?;
    if !shares.iter().all(Option::is_some) {
        return Ok(false);
    }
    let shares: Vec<Decryption> = shares.into_iter().flatten().collect();
    let (Some(tally), Some(recount)) = (tally_of(poll)?, state.recount.as_ref()) else {
        return Err(Fail::Host(Error::Internal(format!(
            "poll {} has shares but no tally",
            poll.id
        ))));
    };
    let counts: Option<Vec<u64>> = combine(&tally, &shares, recount.ballots)
        .into_iter()
        .collect();
    let Some(counts) = counts else {
        return Err(Fail::Host(Error::Internal(format!(
            "poll {}: the trustees' shares do not decrypt the tally",
            poll.id
        ))));
    };
    let roll_units = state.units;
    let ballots = recount.ballots;
    let turnout = if roll_units == 0 {
        0.0
    } else {
        (ballots as f64 * 10000.0 / roll_units as f64).round() / 100.0
    };
    // An empty roll meets only a zero quorum.
    let quorum_met = poll.quorum_percent == 0
        || (roll_units > 0 && ballots * 100 >= u64::from(poll.quorum_percent) * roll_units);
    let result = Tally {
        counts,
        ballots,
        rejected: recount.invalid,
        roll_units,
        roll_residents: state.residents,
        turnout_percent: turnout,
        quorum_percent: poll.quorum_percent,
        quorum_met,
        roll_fingerprint: state.fingerprint.clone().unwrap_or_default(),
        credentials_digest: state.credentials_digest.clone().unwrap_or_default(),
        closed_at_ms: state.closed_at_ms.unwrap_or(poll.closes_at_ms),
    };
    let mut next = state.clone();
    next.phase = Phase::Closed;
    let bytes = serde_json::to_vec(&result).unwrap_or_default();
    step(poll, raw, &next, vec![Op::insert(keys.result(), bytes)])
}

#[derive(Clone, Copy)]
enum Notice {
    Open,
    Result,
}

/// Where the eligible voters live, as notification audiences: the roll's
/// place. Adults-only and per-household rolls are narrower than their place;
/// the message says who may vote.
fn audiences(poll: &Poll) -> Vec<(String, Recipient)> {
    let e = &poll.eligibility;
    if let Some(c) = &e.community {
        return vec![(c.clone(), Recipient::residents_of_community(c.clone()))];
    }
    let grid = e.grid.clone().or_else(|| poll.building_grid.clone());
    grid.map(|g| vec![(g.clone(), Recipient::residents_of_grid(g))])
        .unwrap_or_default()
}

/// The grids of a community, from its buildings: the audiences when the
/// community is too large for one message.
fn grids_of(community: &str) -> Result<Vec<(String, Recipient)>, Fail> {
    let mut grids = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = data::buildings(Some(community), None, cursor.as_deref(), 500)?;
        grids.extend(page.buildings.into_iter().map(|b| b.grid_id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    Ok(grids
        .into_iter()
        .map(|g| (g.clone(), Recipient::residents_of_grid(g)))
        .collect())
}

/// Tell the roll's place that the poll opened, or that its results are out,
/// in their inboxes. Each message has its own idempotency key, so trying
/// again after a partial failure sends nothing twice. A refusal for the rate
/// limit or an outage is tried again on the next call; a denial is logged
/// and not tried again.
fn tell(poll: &Poll, state: &State, raw: &[u8], notice: Notice) -> Result<(), Fail> {
    let (event, subject, body) = match notice {
        Notice::Open => (
            "open",
            format!("投票开始 Poll open: {}", poll.title),
            format!(
                "The poll \"{}\" is open until {} (ms since epoch). Eligible: {}. Vote in the e-voting app.",
                poll.title,
                poll.closes_at_ms,
                who(poll)
            ),
        ),
        Notice::Result => (
            "result",
            format!("投票结果 Results: {}", poll.title),
            format!(
                "The results of the poll \"{}\" are published, with the bulletin board to check your receipt.",
                poll.title
            ),
        ),
    };
    let community = poll.eligibility.community.as_deref();
    let places = match community {
        Some(c) if state.notices_by_grid => grids_of(c)?,
        _ => audiences(poll),
    };
    for (place, recipient) in places {
        let message = Message::new(
            recipient,
            Channel::Inbox,
            truncate(&subject, notify::MAX_SUBJECT),
            truncate(&body, notify::MAX_BODY),
            format!("poll-{}-{event}-{place}", poll.id),
        );
        match notify::send(&message) {
            Ok(_) => {}
            // Too many recipients for one message, or more than the
            // district lets the app send in a minute: from now on this
            // poll's notices go grid by grid, each message its own key, so
            // the grids already told are not told again and the rest
            // follow minute by minute. Recorded in the state first, so a
            // later call never sends the whole community's message on top.
            Err(Error::InvalidArgument(_) | Error::LimitExceeded(_))
                if community.is_some() && !state.notices_by_grid =>
            {
                let mut next = state.clone();
                next.notices_by_grid = true;
                step(poll, raw, &next, Vec::new())?;
                return Ok(());
            }
            Err(e @ (Error::LimitExceeded(_) | Error::Unavailable(_))) => {
                log::warn(
                    "notice postponed",
                    &[("poll", &poll.id), ("error", &e.to_string())],
                );
                return Ok(());
            }
            // Not granted, or a place the host does not know: trying again
            // would not help, so the poll goes on without this notice.
            Err(e) => {
                log::warn(
                    "notice not sent",
                    &[("poll", &poll.id), ("error", &e.to_string())],
                );
            }
        }
    }
    let mut next = state.clone();
    match notice {
        Notice::Open => next.open_notice_sent = true,
        Notice::Result => next.result_notice_sent = true,
    }
    step(poll, raw, &next, Vec::new()).map(|_| ())
}

fn who(poll: &Poll) -> String {
    let e = &poll.eligibility;
    let place = e
        .community
        .as_ref()
        .map(|c| format!("residents of community {c}"))
        .or_else(|| {
            e.building
                .as_ref()
                .map(|b| format!("residents of building {b}"))
        })
        .or_else(|| e.grid.as_ref().map(|g| format!("residents of grid {g}")))
        .unwrap_or_default();
    let adults = if e.adults_only {
        ", aged 18 or more"
    } else {
        ""
    };
    let household = if e.per_household {
        ", one vote per household"
    } else {
        ""
    };
    format!("{place}{adults}{household}")
}

fn truncate(text: &str, most: usize) -> String {
    let mut end = text.len().min(most);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}
