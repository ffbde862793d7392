//! 电子投票 · community polls for a Hutong district: a voter roll frozen and
//! fingerprinted when the poll opens, exactly one counted vote per eligible
//! voter (or household), secret ballots, receipts, a bulletin board and a
//! tally anyone can recompute from it.
//!
//! The design decision to know: a vote is one `kv::commit` of three records
//! that hold or fail together, and nothing in them leads from the voter to
//! the choice. The voter's mark (`voted/{poll}/{unit}`) says only that they
//! voted; the ballot (`ballot/{poll}/{tracker}/{nonce}/{choices}`) is named
//! by its tracker, a hash with a random nonce; a changeable ballot's slot is
//! named by the hash of a secret only the voter holds. See the README for
//! the threat model and the verification procedure.

mod ballot;
mod lifecycle;
mod model;

use std::time::Duration;

use hutong_sdk::data::{self, ResidentQuery};
use hutong_sdk::kv::{self, Commit, Op};
use hutong_sdk::{App, Caller, Error, Params, Request, Response, Role, Router, Tick};
use serde::Deserialize;
use serde_json::json;

use crate::ballot::Entry;
use crate::lifecycle::{BUDGET, Budget, Tally};
use crate::model::{Board, Keys, NewPoll, Phase, Poll, State, load_poll, load_state};

/// The host's clock, in ms since the epoch.
pub(crate) fn now() -> i64 {
    hutong_sdk::now_ms()
}

/// Why a request was refused (with the status and code the caller gets),
/// or a host call's error.
#[derive(Debug)]
pub(crate) enum Fail {
    Refused {
        status: u16,
        code: &'static str,
        message: String,
    },
    Host(Error),
}

impl Fail {
    fn refused(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Fail::Refused {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request is malformed.
    pub(crate) fn invalid(message: String) -> Self {
        Self::refused(400, "invalid_argument", message)
    }

    /// 422: a well-formed ballot the poll does not accept.
    pub(crate) fn unprocessable(message: String) -> Self {
        Self::refused(422, "invalid_ballot", message)
    }

    pub(crate) fn not_found(message: String) -> Self {
        Self::refused(404, "not_found", message)
    }
}

impl From<Error> for Fail {
    fn from(error: Error) -> Self {
        Fail::Host(error)
    }
}

fn respond(result: Result<Response, Fail>) -> Response {
    match result {
        Ok(response) => response,
        Err(Fail::Host(error)) => Response::from(error),
        Err(Fail::Refused {
            status,
            code,
            message,
        }) => Response::json(
            status,
            &json!({ "error": { "code": code, "message": message } }),
        ),
    }
}

type Handler = fn(&Request, &Params) -> Result<Response, Fail>;

fn route(handler: Handler) -> impl Fn(&Request, &Params) -> Result<Response, Error> {
    move |req, params| Ok(respond(handler(req, params)))
}

struct EVoting;

impl App for EVoting {
    fn handle(req: Request) -> Response {
        Router::new()
            .post("/polls", route(create))
            .get("/polls", route(list))
            .get("/polls/{id}", route(show))
            .post("/polls/{id}/advance", route(advance))
            .post("/polls/{id}/vote", route(vote))
            .get("/polls/{id}/me", route(me))
            .get("/polls/{id}/board", route(board))
            .get("/polls/{id}/board/{tracker}", route(board_entry))
            .get("/polls/{id}/result", route(result))
            .get("/polls/{id}/verify", route(verify))
            .get("/polls/{id}/roll", route(roll))
            .handle(req)
    }

    /// Every tick moves every unfinished poll on: freezing, opening,
    /// closing on time, tallying, notices.
    fn on_tick(_tick: Tick) -> Result<(), Error> {
        let budget = Budget::new(BUDGET);
        for key in kv::keys("poll/") {
            let key = key?;
            let id = key.trim_start_matches("poll/");
            let poll = match load_poll(id) {
                Ok(poll) => poll,
                Err(Fail::Host(e)) => return Err(e),
                Err(Fail::Refused { .. }) => continue,
            };
            if let Err(Fail::Host(e)) = lifecycle::advance(&poll, &budget) {
                hutong_sdk::log::warn(
                    "advancing a poll failed",
                    &[("poll", id), ("error", &e.to_string())],
                );
            }
        }
        Ok(())
    }
}

hutong_sdk::export_app!(EVoting);

fn caller(req: &Request) -> Result<&Caller, Fail> {
    req.caller()
        .ok_or_else(|| Fail::refused(401, "unauthenticated", "sign in to use the e-voting app"))
}

/// Workers and administrators create and drive polls.
fn staff(req: &Request) -> Result<&Caller, Fail> {
    let caller = caller(req)?;
    match caller.role {
        Role::Worker | Role::DistrictAdmin | Role::PlatformAdmin => Ok(caller),
        role => Err(Fail::refused(
            403,
            "forbidden",
            format!("a {role} may not do this; only workers and district administrators may"),
        )),
    }
}

fn poll_id(params: &Params) -> &str {
    params.get("id").unwrap_or_default()
}

/// The public view of a poll and its state.
fn view(poll: &Poll, state: &State) -> serde_json::Value {
    json!({
        "poll": poll,
        "phase": state.phase,
        "roll": {
            "complete": state.roll_complete,
            "residents": state.residents,
            "units": if state.phase == Phase::Scheduled || state.phase == Phase::Freezing { None } else { Some(state.units) },
            "fingerprint": state.fingerprint,
        },
        "opened_at_ms": state.opened_at_ms,
        "closed_at_ms": state.closed_at_ms,
        // Whether the voted marks have been moved after the tally (see the
        // README's threat model).
        "marks_moved": state.scrubbed,
    })
}

fn create(req: &Request, _: &Params) -> Result<Response, Fail> {
    let caller = staff(req)?;
    let new: NewPoll = req.json().map_err(|e| Fail::invalid(e.to_string()))?;
    let id = ballot::random_hex(8)?;
    let mut poll = new.validate(id, caller.account_id.clone())?;
    let e = &poll.eligibility;
    if let Some(building) = &e.building {
        match data::building(building) {
            Ok(b) => poll.building_grid = Some(b.grid_id),
            Err(Error::NotFound) => {
                return Err(Fail::unprocessable_place(format!(
                    "no building {building:?} in this district"
                )));
            }
            Err(other) => return Err(other.into()),
        }
    } else {
        let query = ResidentQuery {
            community_id: e.community.clone(),
            grid_id: e.grid.clone(),
            limit: 1,
            ..ResidentQuery::default()
        };
        let found = match data::query_residents(&query) {
            Ok(page) => !page.residents.is_empty(),
            Err(Error::NotFound) => false,
            Err(other) => return Err(other.into()),
        };
        if !found {
            let place = e
                .community
                .as_ref()
                .or(e.grid.as_ref())
                .cloned()
                .unwrap_or_default();
            return Err(Fail::unprocessable_place(format!(
                "no residents live in {place:?}: is it a community or grid of this district?"
            )));
        }
    }
    let keys = Keys(&poll.id);
    let state = State::new(&poll.id);
    let poll_bytes = serde_json::to_vec(&poll)
        .map_err(|e| Fail::Host(Error::Internal(format!("poll does not serialize: {e}"))))?;
    match kv::commit(vec![
        Op::insert(keys.poll(), poll_bytes),
        Op::insert(keys.state(), state.bytes()),
    ])? {
        Commit::Applied => {}
        Commit::Failed(_) => {
            return Err(Fail::Host(Error::Unavailable(
                "poll id taken; try again".into(),
            )));
        }
    }
    Ok(Response::json(201, &view(&poll, &state)))
}

impl Fail {
    fn unprocessable_place(message: String) -> Self {
        Self::refused(422, "unknown_place", message)
    }
}

fn list(req: &Request, _: &Params) -> Result<Response, Fail> {
    caller(req)?;
    let mut polls = Vec::new();
    for key in kv::keys("poll/") {
        let key = key?;
        let id = key.trim_start_matches("poll/");
        let poll = load_poll(id)?;
        let (state, _) = load_state(id)?;
        polls.push(json!({
            "id": poll.id,
            "title": poll.title,
            "phase": state.phase,
            "opens_at_ms": poll.opens_at_ms,
            "closes_at_ms": poll.closes_at_ms,
        }));
    }
    Ok(Response::json(200, &json!({ "polls": polls })))
}

/// The poll, moved on as its times allow.
fn current(id: &str) -> Result<(Poll, State), Fail> {
    let poll = load_poll(id)?;
    let state = lifecycle::advance(&poll, &Budget::new(BUDGET))?;
    Ok((poll, state))
}

fn show(req: &Request, params: &Params) -> Result<Response, Fail> {
    caller(req)?;
    let (poll, state) = current(poll_id(params))?;
    Ok(Response::json(200, &view(&poll, &state)))
}

fn advance(req: &Request, params: &Params) -> Result<Response, Fail> {
    staff(req)?;
    let (poll, state) = current(poll_id(params))?;
    Ok(Response::json(200, &view(&poll, &state)))
}

/// The body of `POST /polls/{id}/vote`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ballot {
    /// Option indices.
    choices: Vec<u32>,
    /// To change an earlier vote: the secret its receipt gave.
    #[serde(default)]
    secret: Option<String>,
}

/// Refuse unless the poll takes votes now.
fn taking_votes(poll: &Poll, state: &State) -> Result<(), Fail> {
    match state.phase {
        Phase::Open => Ok(()),
        Phase::Scheduled if now() < poll.opens_at_ms => Err(Fail::refused(
            409,
            "not_open",
            format!(
                "the poll is not open yet: it opens at {} (ms since epoch)",
                poll.opens_at_ms
            ),
        )),
        Phase::Scheduled | Phase::Freezing => Err(Fail::refused(
            409,
            "not_open",
            "the voter roll is being frozen; voting opens as soon as it is complete",
        )),
        Phase::Closing | Phase::Closed => Err(Fail::refused(
            409,
            "closed",
            format!(
                "the poll closed at {} (ms since epoch); no more votes are taken",
                poll.closes_at_ms
            ),
        )),
    }
}

fn vote(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = caller(req)?;
    let resident = match (caller.role, &caller.resident_id) {
        (Role::Resident, Some(r)) => r.clone(),
        _ => {
            return Err(Fail::refused(
                403,
                "not_a_voter",
                "only residents vote, as themselves (this account is not linked to a resident)",
            ));
        }
    };
    let poll = load_poll(poll_id(params))?;
    let ballot: Ballot = req.json().map_err(|e| {
        Fail::refused(
            400,
            "malformed_ballot",
            format!(
                "{e}; send {{\"choices\": [option index, …]}} and, to change a vote, \"secret\""
            ),
        )
    })?;
    // At most one step on a voter's request (opening or closing on time,
    // or one roll page); the heavy lifting is for ticks and staff.
    let state = lifecycle::advance(&poll, &Budget::new(Duration::ZERO))?;
    taking_votes(&poll, &state)?;
    let choices = ballot::check_choices(&poll, &ballot.choices)?;
    let keys = Keys(&poll.id);
    let unit = kv::get(&keys.roll(&resident))?.ok_or_else(|| {
        Fail::refused(
            403,
            "not_on_roll",
            "you are not on this poll's voter roll, frozen when it opened",
        )
    })?;
    let unit = String::from_utf8_lossy(&unit).into_owned();
    let nonce = ballot::random_hex(16)?;
    let encoded = ballot::encode_choices(&choices);
    let entry = Entry {
        tracker: ballot::tracker(&poll.id, &nonce, &encoded),
        nonce,
        choices,
    };
    match ballot.secret {
        None => cast(&poll, &keys, &unit, &entry),
        Some(secret) => change(&poll, &keys, &unit, &entry, &secret),
    }
    .map(|(status, secret, replaced)| {
        Response::json(
            status,
            &json!({
                "poll": poll.id,
                "tracker": entry.tracker,
                "nonce": entry.nonce,
                "choices": entry.choices,
                "secret": secret,
                "replaced": replaced,
            }),
        )
    })
}

/// A first vote: the voted mark, the ballot and (for a changeable poll) its
/// slot, all or nothing, while the poll is open.
fn cast(
    poll: &Poll,
    keys: &Keys<'_>,
    unit: &str,
    entry: &Entry,
) -> Result<(u16, Option<String>, bool), Fail> {
    let mut ops = vec![
        Op::require(keys.open()),
        Op::insert(keys.voted(unit), Vec::new()),
        Op::insert(keys.ballot(&entry.suffix()), Vec::new()),
    ];
    let secret = if poll.changeable {
        let secret = ballot::random_hex(32)?;
        ops.push(Op::insert(
            keys.slot(&ballot::slot(&poll.id, &secret)),
            entry.suffix().into_bytes(),
        ));
        Some(secret)
    } else {
        None
    };
    match kv::commit(ops)? {
        Commit::Applied => Ok((201, secret, false)),
        Commit::Failed(0) => Err(closed(poll)),
        Commit::Failed(1) => Err(Fail::refused(
            409,
            "already_voted",
            if poll.eligibility.per_household {
                "your household has already voted in this poll"
            } else {
                "you have already voted in this poll"
            },
        )),
        Commit::Failed(i) => Err(Fail::Host(Error::Internal(format!(
            "vote failed at operation {i}"
        )))),
    }
}

fn closed(poll: &Poll) -> Fail {
    Fail::refused(
        409,
        "closed",
        format!(
            "the poll closed at {} (ms since epoch); no more votes are taken",
            poll.closes_at_ms
        ),
    )
}

/// A changed vote: the slot named by the secret's hash moves from the old
/// ballot to the new one; the old ballot leaves the board.
fn change(
    poll: &Poll,
    keys: &Keys<'_>,
    unit: &str,
    entry: &Entry,
    secret: &str,
) -> Result<(u16, Option<String>, bool), Fail> {
    if !poll.changeable {
        return Err(Fail::refused(
            409,
            "not_changeable",
            "this poll does not allow changing a vote",
        ));
    }
    let slot = keys.slot(&ballot::slot(&poll.id, secret));
    let unknown = || {
        Fail::refused(
            403,
            "unknown_secret",
            "no ballot of this poll has that secret; it is the one your receipt gave",
        )
    };
    let old = kv::get(&slot)?.ok_or_else(unknown)?;
    let old = String::from_utf8_lossy(&old).into_owned();
    let ops = vec![
        Op::require(keys.open()),
        Op::require(keys.voted(unit)),
        Op::swap(slot, old.as_bytes(), entry.suffix().into_bytes()),
        Op::remove(keys.ballot(&old)),
        Op::insert(keys.ballot(&entry.suffix()), Vec::new()),
    ];
    match kv::commit(ops)? {
        Commit::Applied => Ok((200, Some(secret.to_owned()), true)),
        Commit::Failed(0) => Err(closed(poll)),
        Commit::Failed(1) => Err(unknown()),
        Commit::Failed(_) => Err(Fail::refused(
            409,
            "changed_meanwhile",
            "this ballot was changed by another request at the same moment; look at the board and try again",
        )),
    }
}

fn me(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = caller(req)?;
    let (poll, state) = current(poll_id(params))?;
    let keys = Keys(&poll.id);
    let unit = match &caller.resident_id {
        Some(r) => kv::get(&keys.roll(r))?,
        None => None,
    };
    let voted = match &unit {
        Some(unit) => {
            let unit = String::from_utf8_lossy(unit);
            kv::get(&keys.voted(&unit))?.is_some() || kv::get(&keys.turnout(&unit))?.is_some()
        }
        None => false,
    };
    Ok(Response::json(
        200,
        &json!({ "poll": poll.id, "phase": state.phase, "on_roll": unit.is_some(), "voted": voted }),
    ))
}

fn board_visible(poll: &Poll, state: &State) -> Result<(), Fail> {
    let visible = match poll.board {
        Board::Live => matches!(state.phase, Phase::Open | Phase::Closing | Phase::Closed),
        Board::AfterClose => state.phase == Phase::Closed,
    };
    if visible {
        Ok(())
    } else {
        Err(Fail::refused(
            409,
            "board_not_published",
            format!(
                "the bulletin board of this poll is published {}",
                match poll.board {
                    Board::Live => "once the poll opens",
                    Board::AfterClose => "when the poll closes",
                }
            ),
        ))
    }
}

fn board(req: &Request, params: &Params) -> Result<Response, Fail> {
    caller(req)?;
    let (poll, state) = current(poll_id(params))?;
    board_visible(&poll, &state)?;
    let limit = match req.query_param("limit") {
        None => 500,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=kv::MAX_PAGE).contains(l))
            .ok_or_else(|| Fail::invalid(format!("limit must be 1..={}", kv::MAX_PAGE)))?,
    };
    let prefix = Keys(&poll.id).ballot_prefix();
    let cursor = req.query_param("cursor").map(|c| format!("{prefix}{c}"));
    let page = kv::list_keys(&prefix, cursor.as_deref(), limit)?;
    let entries: Vec<Entry> = page
        .keys
        .iter()
        .filter_map(|k| k.strip_prefix(&prefix).and_then(Entry::parse))
        .collect();
    let next = page
        .next_cursor
        .map(|c| c.strip_prefix(&prefix).unwrap_or(&c).to_owned());
    Ok(Response::json(
        200,
        &json!({ "poll": poll.id, "entries": entries, "next_cursor": next }),
    ))
}

/// One tracker on the board: how a voter checks their receipt. Answered
/// whenever asked, since only the holder of a receipt knows a tracker.
fn board_entry(req: &Request, params: &Params) -> Result<Response, Fail> {
    caller(req)?;
    let (poll, _) = current(poll_id(params))?;
    let tracker = params.get("tracker").unwrap_or_default();
    let missing = || {
        Fail::not_found(format!(
            "tracker {tracker:?} is not on the board of this poll"
        ))
    };
    if tracker.len() != 64 || !tracker.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(missing());
    }
    let prefix = format!("{}{tracker}/", Keys(&poll.id).ballot_prefix());
    let page = kv::list_keys(&prefix, None, 1)?;
    let entry = page
        .keys
        .first()
        .and_then(|k| {
            k.strip_prefix(&Keys(&poll.id).ballot_prefix())
                .and_then(Entry::parse)
        })
        .ok_or_else(missing)?;
    Ok(Response::json(200, &entry))
}

fn published(poll: &Poll, state: &State) -> Result<Tally, Fail> {
    if state.phase != Phase::Closed {
        return Err(Fail::refused(
            409,
            "not_closed",
            format!(
                "results are published when the poll closes at {} (ms since epoch)",
                poll.closes_at_ms
            ),
        ));
    }
    kv::get_json::<Tally>(&Keys(&poll.id).result())?.ok_or_else(|| {
        Fail::Host(Error::Internal(format!(
            "poll {} closed without a result",
            poll.id
        )))
    })
}

fn result(req: &Request, params: &Params) -> Result<Response, Fail> {
    caller(req)?;
    let (poll, state) = current(poll_id(params))?;
    let tally = published(&poll, &state)?;
    let options: Vec<_> = poll
        .options
        .iter()
        .zip(&tally.counts)
        .enumerate()
        .map(|(i, (name, count))| json!({ "option": i, "name": name, "votes": count }))
        .collect();
    Ok(Response::json(
        200,
        &json!({ "poll": poll.id, "options": options, "tally": tally }),
    ))
}

/// Recount the board and compare with what was published.
fn verify(req: &Request, params: &Params) -> Result<Response, Fail> {
    caller(req)?;
    let (poll, state) = current(poll_id(params))?;
    let tally = published(&poll, &state)?;
    let recount = lifecycle::recount(&poll)?;
    let checks = json!({
        "counts": recount.counts == tally.counts,
        "ballots": recount.ballots == tally.ballots,
        "board_digest": recount.board_digest == tally.board_digest,
        "trackers": recount.invalid_entries == 0,
        "one_ballot_per_voter": recount.ballots == tally.voted,
        "roll_fingerprint": state.fingerprint.as_deref() == Some(tally.roll_fingerprint.as_str()),
    });
    let verified = checks
        .as_object()
        .is_some_and(|c| c.values().all(|v| v == true));
    Ok(Response::json(
        200,
        &json!({ "poll": poll.id, "verified": verified, "checks": checks, "published": tally, "recount": recount }),
    ))
}

/// The frozen roll, for recomputing its fingerprint: residents in id order
/// with their voting unit. Staff only; it says nothing of who voted.
fn roll(req: &Request, params: &Params) -> Result<Response, Fail> {
    staff(req)?;
    let (poll, state) = current(poll_id(params))?;
    if !matches!(state.phase, Phase::Open | Phase::Closing | Phase::Closed) {
        return Err(Fail::refused(
            409,
            "not_open",
            "the roll is published when the poll opens",
        ));
    }
    let prefix = Keys(&poll.id).roll_prefix();
    let cursor = req.query_param("cursor").map(|c| format!("{prefix}{c}"));
    let page = kv::list_keys(&prefix, cursor.as_deref(), kv::MAX_PAGE)?;
    let mut entries = Vec::with_capacity(page.keys.len());
    for key in &page.keys {
        let unit = kv::get(key)?.unwrap_or_default();
        entries.push(json!({
            "resident": key.strip_prefix(&prefix).unwrap_or(key),
            "unit": String::from_utf8_lossy(&unit),
        }));
    }
    let next = page
        .next_cursor
        .map(|c| c.strip_prefix(&prefix).unwrap_or(&c).to_owned());
    Ok(Response::json(
        200,
        &json!({ "poll": poll.id, "fingerprint": state.fingerprint, "entries": entries, "next_cursor": next }),
    ))
}
