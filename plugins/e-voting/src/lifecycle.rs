//! A poll's life: freeze the roll page by page once `opens_at_ms` has come,
//! open when the roll is complete, close at `closes_at_ms`, tally, publish,
//! tell the voters, and move the voted marks so no row keeps a vote's time.
//!
//! Every step is one `kv::commit` guarded by a compare-and-swap of the
//! poll's state, so any number of ticks and requests, in any number of host
//! processes, can drive the same poll: each step happens once, and a crash
//! between steps leaves the poll at the last completed one.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hutong_sdk::data::{self, ResidentQuery};
use hutong_sdk::kv::{self, Commit, Op};
use hutong_sdk::notify::{self, Channel, Message, Recipient};
use hutong_sdk::{Error, log};
use serde::Serialize;

use crate::ballot::{self, Entry};
use crate::model::{Keys, Phase, Poll, State, load_state};
use crate::{Fail, now};

/// Residents read per roll page. A page becomes one commit of at most
/// 1 + 2 × this many operations (roll entries and households), within the
/// host's 1000.
const ROLL_PAGE: u32 = 450;

/// Voted marks moved per commit: a remove and an insert each, plus the
/// state's swap, within the host's 1000 operations.
const SCRUB_PAGE: u32 = 450;

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
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Tally {
    /// Ballots per option, by option index.
    pub counts: Vec<u64>,
    /// Ballots on the board.
    pub ballots: u64,
    /// Units (residents, or households) that voted.
    pub voted: u64,
    /// Units on the roll.
    pub roll_units: u64,
    /// Residents on the roll.
    pub roll_residents: u64,
    /// `voted / roll_units` in percent, two decimals.
    pub turnout_percent: f64,
    /// The quorum asked for, percent of the roll.
    pub quorum_percent: u8,
    /// Whether turnout reached the quorum.
    pub quorum_met: bool,
    /// The roll's fingerprint, as published when the poll opened.
    pub roll_fingerprint: String,
    /// The digest of the board the counts come from.
    pub board_digest: String,
    /// When the poll closed.
    pub closed_at_ms: i64,
}

/// What the board holds, counted: the recount a verifier makes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Recount {
    pub counts: Vec<u64>,
    pub ballots: u64,
    pub board_digest: String,
    /// Entries whose tracker is not the hash of their nonce and choices, or
    /// whose choices the poll does not allow.
    pub invalid_entries: u64,
}

/// Count every ballot on the poll's board.
pub fn recount(poll: &Poll) -> Result<Recount, Fail> {
    let keys = Keys(&poll.id);
    let prefix = keys.ballot_prefix();
    let mut counts = vec![0u64; poll.options.len()];
    let mut ballots = 0;
    let mut invalid = 0;
    let mut digest = ballot::board_chain_start(&poll.id);
    for key in kv::keys(&prefix) {
        let key = key?;
        let entry = key.strip_prefix(&prefix).and_then(Entry::parse);
        let Some(entry) = entry else {
            invalid += 1;
            continue;
        };
        digest = ballot::board_chain_step(&digest, &entry);
        let allowed = ballot::check_choices(poll, &entry.choices).is_ok();
        if !entry.tracker_holds(&poll.id) || !allowed {
            invalid += 1;
            continue;
        }
        ballots += 1;
        for choice in &entry.choices {
            if let Some(count) = counts.get_mut(*choice as usize) {
                *count += 1;
            }
        }
    }
    Ok(Recount {
        counts,
        ballots,
        board_digest: digest,
        invalid_entries: invalid,
    })
}

fn count_keys(prefix: &str) -> Result<u64, Fail> {
    let mut n = 0;
    for key in kv::keys(prefix) {
        key?;
        n += 1;
    }
    Ok(n)
}

/// Move `poll` on as far as its times allow and return its state. Opening
/// a frozen roll and closing on time are cheap and always done; the heavy
/// steps (a roll page, the tally, moving marks, notices) run only while
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
        if opening && state.roll_complete {
            open(poll, &state, &raw)?;
            continue;
        }
        if state.phase == Phase::Open && now >= poll.closes_at_ms {
            close(poll, &state, &raw)?;
            continue;
        }
        if budget.spent() {
            return Ok(state);
        }
        match state.phase {
            Phase::Scheduled | Phase::Freezing => {
                freeze_page(poll, &state, &raw)?;
            }
            // The tally reads the whole board: the call ends after it, so
            // that nothing else runs into the deadline.
            Phase::Closing => {
                tally(poll, &state, &raw)?;
                return Ok(load_state(&poll.id)?.0);
            }
            Phase::Closed if !state.scrubbed => {
                scrub_page(poll, &state, &raw)?;
            }
            Phase::Open if !state.open_notice_sent => {
                tell(poll, &state, &raw, Notice::Open)?;
                return Ok(load_state(&poll.id)?.0);
            }
            Phase::Closed if !state.result_notice_sent => {
                tell(poll, &state, &raw, Notice::Result)?;
                return Ok(load_state(&poll.id)?.0);
            }
            Phase::Open | Phase::Closed => return Ok(state),
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

/// Read one page of residents onto the roll.
fn freeze_page(poll: &Poll, state: &State, raw: &[u8]) -> Result<bool, Fail> {
    let keys = Keys(&poll.id);
    let page = data::query_residents(&roll_query(poll, state.cursor.clone()))?;
    let mut next = state.clone();
    next.phase = Phase::Freezing;
    let mut ops = Vec::with_capacity(page.residents.len() * 2);
    let mut households = BTreeSet::new();
    for r in &page.residents {
        if let Some(building) = &poll.eligibility.building
            && r.building_id.as_deref() != Some(building.as_str())
        {
            continue;
        }
        let unit = if poll.eligibility.per_household {
            match &r.household_id {
                Some(h) => format!("h-{h}"),
                None => continue,
            }
        } else {
            format!("r-{}", r.id)
        };
        next.chain = ballot::roll_chain_step(&next.chain, &r.id, &unit);
        next.residents += 1;
        ops.push(Op::set(keys.roll(&r.id), unit.as_bytes()));
        if poll.eligibility.per_household {
            households.insert(unit);
        }
    }
    for unit in households {
        ops.push(Op::set(keys.unit(&unit), Vec::new()));
    }
    next.roll_complete = page.next_cursor.is_none();
    next.cursor = page.next_cursor;
    step(poll, raw, &next, ops)
}

/// The roll is complete: publish its fingerprint and start taking votes.
fn open(poll: &Poll, state: &State, raw: &[u8]) -> Result<bool, Fail> {
    let keys = Keys(&poll.id);
    let mut next = state.clone();
    next.units = if poll.eligibility.per_household {
        count_keys(&keys.unit_prefix())?
    } else {
        state.residents
    };
    next.phase = Phase::Open;
    next.fingerprint = Some(state.chain.clone());
    next.opened_at_ms = Some(now());
    let opened = step(poll, raw, &next, vec![Op::insert(keys.open(), Vec::new())])?;
    if opened {
        log::info(
            "poll opened",
            &[("poll", &poll.id), ("roll_units", &next.units.to_string())],
        );
    }
    Ok(opened)
}

/// Stop taking votes. Removing `open/{id}` waits for the votes in flight
/// that require it, and every later vote fails on it.
fn close(poll: &Poll, state: &State, raw: &[u8]) -> Result<bool, Fail> {
    let mut next = state.clone();
    next.phase = Phase::Closing;
    next.closed_at_ms = Some(now().max(poll.closes_at_ms));
    step(poll, raw, &next, vec![Op::remove(Keys(&poll.id).open())])
}

/// Count the board and publish the result beside the roll fingerprint.
fn tally(poll: &Poll, state: &State, raw: &[u8]) -> Result<bool, Fail> {
    let keys = Keys(&poll.id);
    let recount = recount(poll)?;
    let voted = count_keys(&keys.voted_prefix())?;
    let roll_units = state.units;
    let turnout = if roll_units == 0 {
        0.0
    } else {
        (voted as f64 * 10000.0 / roll_units as f64).round() / 100.0
    };
    // An empty roll meets only a zero quorum.
    let quorum_met = poll.quorum_percent == 0
        || (roll_units > 0 && voted * 100 >= u64::from(poll.quorum_percent) * roll_units);
    let result = Tally {
        counts: recount.counts,
        ballots: recount.ballots,
        voted,
        roll_units,
        roll_residents: state.residents,
        turnout_percent: turnout,
        quorum_percent: poll.quorum_percent,
        quorum_met,
        roll_fingerprint: state.fingerprint.clone().unwrap_or_default(),
        board_digest: recount.board_digest,
        closed_at_ms: state.closed_at_ms.unwrap_or(poll.closes_at_ms),
    };
    if recount.ballots != voted || recount.invalid_entries > 0 {
        log::error(
            "the board does not match the voted marks",
            &[
                ("poll", &poll.id),
                ("ballots", &recount.ballots.to_string()),
                ("voted", &voted.to_string()),
            ],
        );
    }
    let mut next = state.clone();
    next.phase = Phase::Closed;
    let bytes = serde_json::to_vec(&result).unwrap_or_default();
    step(poll, raw, &next, vec![Op::insert(keys.result(), bytes)])
}

/// Move one page of voted marks from `voted/` to `turnout/`. A mark written
/// with its ballot shares the ballot's update time (and, in SQLite, sits
/// next to it in insertion order); rewritten after the tally it carries
/// neither.
fn scrub_page(poll: &Poll, state: &State, raw: &[u8]) -> Result<bool, Fail> {
    let keys = Keys(&poll.id);
    let page = kv::list_keys(&keys.voted_prefix(), None, SCRUB_PAGE)?;
    let mut next = state.clone();
    next.scrubbed = page.next_cursor.is_none();
    let prefix = keys.voted_prefix();
    let mut ops = Vec::with_capacity(page.keys.len() * 2);
    for key in &page.keys {
        let unit = key.strip_prefix(&prefix).unwrap_or(key);
        ops.push(Op::remove(key.clone()));
        ops.push(Op::insert(keys.turnout(unit), Vec::new()));
    }
    next.scrub_cursor = page.keys.last().cloned();
    step(poll, raw, &next, ops)
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
