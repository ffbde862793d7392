//! 电子投票 · community polls for a Hutong district, to the Helios and
//! Belenios standard: a voter roll frozen when the poll opens, one secret
//! credential per voting unit, ballots encrypted and proved on the voter's
//! device and signed with the credential, a homomorphic tally decrypted
//! only by every trustee together, and a public board anyone can verify
//! with `hutong-evote verify`.
//!
//! The design decision to know: the app never sees a choice. It stores
//! ciphertexts with their proofs, keyed by credential (so a later ballot
//! replaces an earlier one), checks every ballot when it arrives and again
//! before adding them up, and holds no key that decrypts anything; nothing
//! it keeps says whose a credential is once the credential is sent (it
//! goes as a confidential message, which no staff view of the host shows
//! and which the host erases once a text message is delivered). The
//! cryptography is the `hutong-evote` crate's; see the README for the
//! threat model and the board's format.

mod ballot;
mod lifecycle;
mod model;
mod page;

use std::time::Duration;

use hutong_sdk::data::{self, ResidentQuery};
use hutong_sdk::kv::{self, Commit, Op};
use hutong_sdk::{App, Caller, Error, Params, Request, Response, Role, Router, Tick};
use serde_json::json;

use hutong_evote::{BOARD_FORMAT, Ballot, Decryption, TrusteePublic};

use crate::lifecycle::{BUDGET, Budget, Tally, decryptions, election, tally_of, trustee_keys};
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

/// A page's handler: a refusal or failure becomes a page too, in the
/// reader's language.
fn route_page(handler: Handler) -> impl Fn(&Request, &Params) -> Result<Response, Error> {
    move |req, params| {
        Ok(match handler(req, params) {
            Ok(response) => response,
            Err(Fail::Refused { status: 401, .. }) => page::error_page(
                req,
                401,
                "请先登录平台，再打开投票页面。",
                "Sign in to the platform first, then open the voting page.",
            ),
            Err(Fail::Refused { status: 404, .. }) => page::error_page(
                req,
                404,
                "没有这个投票：请从投票列表打开。",
                "There is no such poll: open it from the list of polls.",
            ),
            Err(Fail::Refused {
                status, message, ..
            }) => page::error_page(req, status, &message, &message),
            Err(Fail::Host(error)) => {
                hutong_sdk::log::error("a page failed", &[("error", &error.to_string())]);
                page::error_page(
                    req,
                    503,
                    "页面暂时无法打开，请稍后再试。",
                    "The page cannot be shown just now; try again shortly.",
                )
            }
        })
    }
}

/// `GET /`: the polls, newest first, as a page.
fn index_page(req: &Request, _: &Params) -> Result<Response, Fail> {
    caller(req)?;
    let mut polls = Vec::new();
    for key in kv::keys("poll/") {
        let key = key?;
        let poll = load_poll(key.trim_start_matches("poll/"))?;
        let (state, _) = load_state(&poll.id)?;
        polls.push((poll, state));
    }
    polls.sort_by_key(|(poll, _)| std::cmp::Reverse(poll.created_at_ms));
    Ok(page::index(req, &polls))
}

/// `GET /vote/{id}`: a poll's ballot page (its result once published).
fn vote_page(req: &Request, params: &Params) -> Result<Response, Fail> {
    caller(req)?;
    let (poll, state) = current_cheap(poll_id(params))?;
    let result = match state.phase {
        Phase::Closed => {
            let tally = published(&poll, &state)?;
            let names = election(&poll)?.map_or_else(|| poll.options.clone(), |e| e.option_names);
            Some((names, tally))
        }
        _ => None,
    };
    Ok(page::vote(
        req,
        &poll,
        &state,
        result.as_ref().map(|(n, t)| (n.as_slice(), t)),
    ))
}

struct EVoting;

impl App for EVoting {
    fn handle(req: Request) -> Response {
        Router::new()
            .get("/", route_page(index_page))
            .get("/vote/{id}", route_page(vote_page))
            .get("/assets/{file}", |_, params: &Params| {
                Ok(page::asset(params.get("file").unwrap_or_default()))
            })
            .post("/polls", route(create))
            .get("/polls", route(list))
            .get("/polls/{id}", route(show))
            .post("/polls/{id}/advance", route(advance))
            .post("/polls/{id}/trustees", route(upload_trustee_key))
            .post("/polls/{id}/credentials", route(upload_credentials))
            .post("/polls/{id}/ballots", route(cast))
            .post("/polls/{id}/decryptions", route(upload_decryption))
            .get("/polls/{id}/me", route(me))
            .get("/polls/{id}/board", route(board))
            .get("/polls/{id}/board/credentials", route(board_credentials))
            .get("/polls/{id}/board/ballots", route(board_ballots))
            .get(
                "/polls/{id}/board/ballots/{credential}",
                route(board_ballot),
            )
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
fn view(poll: &Poll, state: &State) -> Result<serde_json::Value, Fail> {
    let trustees = trustee_keys(poll)?;
    let shares = if matches!(state.phase, Phase::Decrypting | Phase::Closed) {
        decryptions(poll)?.iter().filter(|d| d.is_some()).count()
    } else {
        0
    };
    let opened = !matches!(state.phase, Phase::Scheduled | Phase::Freezing);
    Ok(json!({
        "poll": poll,
        "phase": state.phase,
        "roll": {
            "complete": state.roll_complete,
            "residents": state.residents,
            "units": opened.then_some(state.units),
            "fingerprint": state.fingerprint,
            "credentials_digest": state.credentials_digest,
        },
        "credentials": {
            "sent": state.credentials_sent,
            "uploaded": state.credentials_uploaded,
            "unreachable": state.credentials_unreachable,
        },
        "trustees": {
            "expected": poll.trustees.len(),
            "keys": trustees.iter().filter(|t| t.is_some()).count(),
            "shares": shares,
        },
        "opened_at_ms": state.opened_at_ms,
        "closed_at_ms": state.closed_at_ms,
    }))
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
    Ok(Response::json(201, &view(&poll, &state)?))
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

/// The poll, moved on only by its cheap steps (opening and closing on
/// time): for the requests voters make.
fn current_cheap(id: &str) -> Result<(Poll, State), Fail> {
    let poll = load_poll(id)?;
    let state = lifecycle::advance(&poll, &Budget::new(Duration::ZERO))?;
    Ok((poll, state))
}

fn show(req: &Request, params: &Params) -> Result<Response, Fail> {
    caller(req)?;
    let (poll, state) = current(poll_id(params))?;
    Ok(Response::json(200, &view(&poll, &state)?))
}

fn advance(req: &Request, params: &Params) -> Result<Response, Fail> {
    staff(req)?;
    let (poll, state) = current(poll_id(params))?;
    Ok(Response::json(200, &view(&poll, &state)?))
}

/// Which trustee of `poll` the caller is, or a 403.
fn trustee_index(req: &Request, poll: &Poll) -> Result<usize, Fail> {
    let caller = caller(req)?;
    poll.trustees
        .iter()
        .position(|t| *t == caller.account_id)
        .ok_or_else(|| {
            Fail::refused(
                403,
                "not_a_trustee",
                format!("only the poll's trustees may do this: {:?}", poll.trustees),
            )
        })
}

fn body<T: serde::de::DeserializeOwned>(req: &Request, what: &str) -> Result<T, Fail> {
    req.json().map_err(|e| {
        Fail::refused(
            400,
            "malformed",
            format!("{e}; send {what} as `hutong-evote` writes it"),
        )
    })
}

/// `POST /polls/{id}/trustees`: a trustee's public key with its proof,
/// as `hutong-evote trustee new` prints it. Once each, before the opening.
fn upload_trustee_key(req: &Request, params: &Params) -> Result<Response, Fail> {
    let poll = load_poll(poll_id(params))?;
    let index = trustee_index(req, &poll)?;
    let key: TrusteePublic = body(req, "the public key")?;
    let (state, _) = load_state(&poll.id)?;
    if state.phase == Phase::Cancelled || now() >= poll.closes_at_ms {
        return Err(cancelled());
    }
    if !matches!(state.phase, Phase::Scheduled | Phase::Freezing) {
        return Err(Fail::refused(
            409,
            "already_open",
            "the poll is open: its election key can no longer change",
        ));
    }
    if !key.verify(&poll.id) {
        return Err(Fail::refused(
            422,
            "invalid_key",
            format!(
                "the proof of knowledge does not hold for poll {:?}: make the key with `hutong-evote trustee new --poll {}`",
                poll.id, poll.id
            ),
        ));
    }
    let keys = Keys(&poll.id);
    let bytes = serde_json::to_vec(&key).unwrap_or_default();
    // The key's own marker in the same commit: of two trustees uploading
    // one key at once, one gets it.
    match kv::commit(vec![
        Op::insert(keys.trustee(index), bytes),
        Op::insert(keys.trustee_key(&key.key.to_hex()), Vec::new()),
    ])? {
        Commit::Applied => Ok(Response::json(
            201,
            &json!({ "poll": poll.id, "trustee": index, "key": key.key }),
        )),
        Commit::Failed(0) => Err(Fail::refused(
            409,
            "already_uploaded",
            "you uploaded your key for this poll already; it cannot be replaced (if you did not, someone else did in your name: tell the poll's creator)",
        )),
        Commit::Failed(_) => Err(Fail::refused(
            409,
            "duplicate_key",
            "another trustee uploaded this key; each trustee makes their own",
        )),
    }
}

/// The body of `POST /polls/{id}/credentials`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialKeys {
    /// Credential public keys (hex), at most 1000.
    credentials: Vec<hutong_evote::Point>,
}

/// `POST /polls/{id}/credentials`: the credential authority uploads the
/// public keys of the credentials it made, up to 1000 a request, once the
/// roll is frozen and until there is one per voting unit.
fn upload_credentials(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = caller(req)?;
    let poll = load_poll(poll_id(params))?;
    if poll.credentials != model::Delivery::Authority
        || poll.credential_authority.as_deref() != Some(caller.account_id.as_str())
    {
        return Err(Fail::refused(
            403,
            "not_the_credential_authority",
            "only the poll's credential authority uploads credentials",
        ));
    }
    let upload: CredentialKeys = body(req, "{\"credentials\": [public keys]}")?;
    let (state, raw) = load_state(&poll.id)?;
    if !matches!(state.phase, Phase::Scheduled | Phase::Freezing) {
        return Err(Fail::refused(
            409,
            "already_open",
            "the roll's credentials are fixed once the poll opens",
        ));
    }
    if !state.roll_complete {
        return Err(Fail::refused(
            409,
            "not_frozen",
            "upload the credentials once the roll is frozen: it says how many units need one",
        ));
    }
    let count = upload.credentials.len() as u64;
    let room = state.units.saturating_sub(state.credentials_uploaded);
    if count == 0 || count > u64::from(kv::MAX_PAGE) - 1 || count > room {
        return Err(Fail::refused(
            422,
            "wrong_count",
            format!(
                "send 1..={} keys a request, and no more than the {room} units still without one (the roll has {})",
                kv::MAX_PAGE - 1,
                state.units
            ),
        ));
    }
    if upload
        .credentials
        .contains(&hutong_evote::Point::identity())
    {
        return Err(Fail::refused(
            422,
            "invalid_credential",
            "the neutral element is not a credential key",
        ));
    }
    let keys = Keys(&poll.id);
    let mut next = state.clone();
    next.credentials_uploaded += count;
    let mut ops = vec![Op::swap(keys.state(), raw, next.bytes())];
    ops.extend(
        upload
            .credentials
            .iter()
            .map(|c| Op::insert(keys.made(&c.to_hex()), Vec::new())),
    );
    match kv::commit(ops)? {
        Commit::Applied => {
            // The last keys may open the poll (once the roll's credential
            // rows are written again, a step that takes a budget).
            let (_, state) = if next.credentials_uploaded == next.units {
                current(&poll.id)?
            } else {
                current_cheap(&poll.id)?
            };
            Ok(Response::json(
                201,
                &json!({ "poll": poll.id, "uploaded": next.credentials_uploaded, "units": next.units, "phase": state.phase }),
            ))
        }
        Commit::Failed(0) => Err(Fail::Host(Error::Unavailable(
            "the poll changed meanwhile; send the same keys again".into(),
        ))),
        Commit::Failed(_) => Err(Fail::refused(
            409,
            "duplicate_credential",
            "a key in this request is already on the roll (sent twice?); nothing of it was stored",
        )),
    }
}

/// Refuse unless the poll takes ballots now.
fn taking_ballots(poll: &Poll, state: &State) -> Result<(), Fail> {
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
            "the voter roll is being frozen, or a trustee's key is missing; voting opens as soon as both are done",
        )),
        Phase::Closing | Phase::Decrypting | Phase::Closed => Err(closed(poll)),
        Phase::Cancelled => Err(cancelled()),
    }
}

fn cancelled() -> Fail {
    Fail::refused(
        409,
        "cancelled",
        "the poll was cancelled: its close came before every trustee's key",
    )
}

fn closed(poll: &Poll) -> Fail {
    Fail::refused(
        409,
        "closed",
        format!(
            "the poll closed at {} (ms since epoch); no more ballots are taken",
            poll.closes_at_ms
        ),
    )
}

/// `POST /polls/{id}/ballots`: an encrypted ballot signed with a roll
/// credential. Who sends it does not matter, only the credential: the
/// ballot is checked (credential on the roll, signature, every proof) and
/// stored under its credential, replacing that credential's earlier
/// ballot. The answer gives the tracker to find it on the board.
fn cast(req: &Request, params: &Params) -> Result<Response, Fail> {
    caller(req)?;
    let poll = load_poll(poll_id(params))?;
    let ballot: Ballot = req.json().map_err(|e| {
        Fail::refused(
            400,
            "malformed_ballot",
            format!("{e}; send the ballot your device made for this poll's election (GET /polls/{{id}}/board)"),
        )
    })?;
    let state = lifecycle::advance(&poll, &Budget::new(Duration::ZERO))?;
    taking_ballots(&poll, &state)?;
    let keys = Keys(&poll.id);
    let credential = ballot.credential.to_hex();
    if kv::get(&keys.credential(&credential))?.is_none() {
        return Err(Fail::refused(
            403,
            "not_on_roll",
            "the ballot's credential is not on this poll's roll: use the credential you were sent for this poll",
        ));
    }
    let Some(election) = election(&poll)? else {
        return Err(Fail::Host(Error::Internal(format!(
            "poll {} is open without an election",
            poll.id
        ))));
    };
    ballot
        .verify(&election)
        .map_err(|e| Fail::unprocessable(format!("the ballot does not verify: {e}")))?;
    let key = keys.ballot(&credential);
    let replaced = kv::get(&key)?.is_some();
    let bytes = serde_json::to_vec(&ballot)
        .map_err(|e| Fail::Host(Error::Internal(format!("ballot does not serialize: {e}"))))?;
    match kv::commit(vec![Op::require(keys.open()), Op::set(key, bytes)])? {
        Commit::Applied => Ok(Response::json(
            if replaced { 200 } else { 201 },
            &json!({ "poll": poll.id, "tracker": ballot.tracker(), "replaced": replaced }),
        )),
        Commit::Failed(_) => Err(closed(&poll)),
    }
}

/// `POST /polls/{id}/decryptions`: a trustee's shares of the tally, as
/// `hutong-evote trustee decrypt` prints them; each share's proof is
/// checked against the published tally.
fn upload_decryption(req: &Request, params: &Params) -> Result<Response, Fail> {
    let poll = load_poll(poll_id(params))?;
    let index = trustee_index(req, &poll)?;
    let decryption: Decryption = body(req, "your shares")?;
    let (poll, state) = current_cheap(&poll.id)?;
    let Some(tally) = tally_of(&poll)?.filter(|_| state.phase == Phase::Decrypting) else {
        return Err(Fail::refused(
            409,
            "no_tally",
            "the tally is not waiting for the trustees: shares are taken after the close, once the tally is published",
        ));
    };
    let own = trustee_keys(&poll)?.get(index).cloned().flatten();
    if own.as_ref().map(|t| t.key) != Some(decryption.trustee) {
        return Err(Fail::refused(
            422,
            "wrong_key",
            "these shares are not made with the key you uploaded for this poll",
        ));
    }
    if let Some(option) = decryption.first_wrong(&poll.id, &tally) {
        return Err(Fail::refused(
            422,
            "invalid_share",
            format!(
                "the share for option {option} does not hold: decrypt the published tally with `hutong-evote trustee decrypt`"
            ),
        ));
    }
    let bytes = serde_json::to_vec(&decryption).unwrap_or_default();
    match kv::commit(vec![Op::insert(Keys(&poll.id).decryption(index), bytes)])? {
        Commit::Applied => {
            let (_, state) = current(&poll.id)?;
            Ok(Response::json(
                201,
                &json!({ "poll": poll.id, "trustee": index, "phase": state.phase }),
            ))
        }
        Commit::Failed(_) => Err(Fail::refused(
            409,
            "already_uploaded",
            "you uploaded your shares for this poll already",
        )),
    }
}

fn me(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = caller(req)?;
    let (poll, state) = current_cheap(poll_id(params))?;
    let keys = Keys(&poll.id);
    let on_roll = match &caller.resident_id {
        Some(r) => kv::get(&keys.roll(r))?.is_some(),
        None => false,
    };
    Ok(Response::json(
        200,
        &json!({ "poll": poll.id, "phase": state.phase, "on_roll": on_roll }),
    ))
}

fn ballots_visible(poll: &Poll, state: &State) -> Result<(), Fail> {
    let visible = match poll.board {
        Board::Live => !matches!(state.phase, Phase::Scheduled | Phase::Freezing),
        Board::AfterClose => matches!(state.phase, Phase::Decrypting | Phase::Closed),
    };
    if visible {
        Ok(())
    } else {
        Err(Fail::refused(
            409,
            "board_not_published",
            format!(
                "the ballots of this poll are published {}",
                match poll.board {
                    Board::Live => "once the poll opens",
                    Board::AfterClose => "when the poll closes",
                }
            ),
        ))
    }
}

/// Where the board's ballots are now, or a refusal while the recount
/// moves them (a live board only: one published after the close waits for
/// the recount).
fn board_prefix(poll: &Poll, state: &State) -> Result<String, Fail> {
    Keys(&poll.id).board_prefix(state).ok_or_else(|| {
        Fail::refused(
            409,
            "recounting",
            "the ballots are being checked and counted since the close; the board is back within a minute",
        )
    })
}

/// `GET /polls/{id}/board`: everything on the board but its two long
/// lists (credentials and ballots, paged under it): the election and its
/// key, the trustees' keys, the tally, the trustees' shares and the result.
/// Ballot-making devices read the election from here.
fn board(req: &Request, params: &Params) -> Result<Response, Fail> {
    caller(req)?;
    let (poll, state) = current(poll_id(params))?;
    let Some(election) = election(&poll)? else {
        return Err(Fail::refused(
            409,
            "not_open",
            "the board is published when the poll opens",
        ));
    };
    let trustees: Vec<TrusteePublic> = trustee_keys(&poll)?.into_iter().flatten().collect();
    let decryptions: Vec<Decryption> = decryptions(&poll)?.into_iter().flatten().collect();
    let result = match state.phase {
        Phase::Closed => kv::get_json::<Tally>(&Keys(&poll.id).result())?.map(|t| t.counts),
        _ => None,
    };
    Ok(Response::json(
        200,
        &json!({
            "format": BOARD_FORMAT,
            "phase": state.phase,
            "election": election,
            "trustees": trustees,
            "credentials_count": state.units,
            "credentials_digest": state.credentials_digest,
            "ballots_published": ballots_visible(&poll, &state).is_ok()
                && Keys(&poll.id).board_prefix(&state).is_some(),
            "tally": tally_of(&poll)?,
            "decryptions": decryptions,
            "result": result,
        }),
    ))
}

fn page_limit(req: &Request, default: u32) -> Result<u32, Fail> {
    match req.query_param("limit") {
        None => Ok(default),
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=kv::MAX_PAGE).contains(l))
            .ok_or_else(|| Fail::invalid(format!("limit must be 1..={}", kv::MAX_PAGE))),
    }
}

/// `GET /polls/{id}/board/credentials?cursor=`: the roll's credential
/// keys, ascending, up to 1000 a page.
fn board_credentials(req: &Request, params: &Params) -> Result<Response, Fail> {
    caller(req)?;
    let (poll, state) = current_cheap(poll_id(params))?;
    if matches!(state.phase, Phase::Scheduled | Phase::Freezing) {
        return Err(Fail::refused(
            409,
            "not_open",
            "the roll's credentials are published when the poll opens",
        ));
    }
    let prefix = Keys(&poll.id).credential_prefix();
    let cursor = req.query_param("cursor").map(|c| format!("{prefix}{c}"));
    let page = kv::list_keys(&prefix, cursor.as_deref(), page_limit(req, kv::MAX_PAGE)?)?;
    let credentials: Vec<&str> = page
        .keys
        .iter()
        .map(|k| k.strip_prefix(&prefix).unwrap_or(k))
        .collect();
    let next = page
        .next_cursor
        .map(|c| c.strip_prefix(&prefix).unwrap_or(&c).to_owned());
    Ok(Response::json(
        200,
        &json!({ "poll": poll.id, "credentials": credentials, "next_cursor": next }),
    ))
}

/// The most bytes of ballots one page of the board holds, within the
/// manifest's 1 MiB answer.
const BALLOT_PAGE_BYTES: usize = 768 * 1024;

/// `GET /polls/{id}/board/ballots?cursor=&limit=`: the ballots, in
/// credential order, as many as fit in about 768 KiB (at most `limit`).
fn board_ballots(req: &Request, params: &Params) -> Result<Response, Fail> {
    caller(req)?;
    let (poll, state) = current_cheap(poll_id(params))?;
    ballots_visible(&poll, &state)?;
    let prefix = board_prefix(&poll, &state)?;
    let cursor = req.query_param("cursor").map(|c| format!("{prefix}{c}"));
    let page = kv::list_entries(&prefix, cursor.as_deref(), page_limit(req, 500)?)?;
    let mut ballots = Vec::new();
    let mut bytes = 0;
    let mut last = None;
    let mut taken = 0;
    for (key, value) in &page.entries {
        if bytes + value.len() > BALLOT_PAGE_BYTES && taken > 0 {
            break;
        }
        taken += 1;
        bytes += value.len();
        last = Some(key.strip_prefix(&prefix).unwrap_or(key).to_owned());
        match serde_json::from_slice::<serde_json::Value>(value) {
            Ok(ballot) => ballots.push(ballot),
            // Only a changed database holds one; the recount moves it off.
            Err(e) => hutong_sdk::log::error(
                "a stored ballot is not JSON; left off the page",
                &[("poll", &poll.id), ("key", key), ("error", &e.to_string())],
            ),
        }
    }
    let next = if taken < page.entries.len() {
        last
    } else {
        page.next_cursor
            .map(|c| c.strip_prefix(&prefix).unwrap_or(&c).to_owned())
    };
    Ok(Response::json(
        200,
        &json!({ "poll": poll.id, "ballots": ballots, "next_cursor": next }),
    ))
}

/// `GET /polls/{id}/board/ballots/{credential}`: the ballot counted for a
/// credential and its tracker: how a voter checks theirs is the one their
/// device made. Published when the ballots are (the answer to a cast gives
/// the tracker meanwhile).
fn board_ballot(req: &Request, params: &Params) -> Result<Response, Fail> {
    caller(req)?;
    let (poll, state) = current_cheap(poll_id(params))?;
    ballots_visible(&poll, &state)?;
    let credential = params.get("credential").unwrap_or_default();
    let missing = || {
        Fail::not_found(format!(
            "no ballot of credential {credential:?} in this poll"
        ))
    };
    if credential.len() != 64
        || !credential
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(missing());
    }
    let key = format!("{}{credential}", board_prefix(&poll, &state)?);
    let ballot = kv::get_json::<Ballot>(&key)?.ok_or_else(missing)?;
    Ok(Response::json(
        200,
        &json!({ "poll": poll.id, "tracker": ballot.tracker(), "ballot": ballot }),
    ))
}

fn published(poll: &Poll, state: &State) -> Result<Tally, Fail> {
    if state.phase != Phase::Closed {
        return Err(Fail::refused(
            409,
            "not_closed",
            match state.phase {
                Phase::Decrypting => {
                    "the tally is waiting for the trustees' shares; the result follows the last one"
                        .to_owned()
                }
                _ => format!(
                    "results are published after the poll closes at {} (ms since epoch) and the trustees decrypt the tally",
                    poll.closes_at_ms
                ),
            },
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
    // The names the ballots were proved against, not the poll's record.
    let names = election(&poll)?.map_or_else(|| poll.options.clone(), |e| e.option_names);
    let options: Vec<_> = names
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

/// `GET /polls/{id}/verify`: what the app checked. Every ballot was checked
/// when cast and again, with its credential on the roll, before being
/// added up; here the trustees' keys, the shares and the result are
/// checked again against the stored tally. The full check of the board is
/// `hutong-evote verify`, which needs nothing of this server.
fn verify(req: &Request, params: &Params) -> Result<Response, Fail> {
    caller(req)?;
    let (poll, state) = current(poll_id(params))?;
    let result = published(&poll, &state)?;
    let trustees: Vec<TrusteePublic> = trustee_keys(&poll)?.into_iter().flatten().collect();
    let shares: Vec<Decryption> = decryptions(&poll)?.into_iter().flatten().collect();
    let tally = tally_of(&poll)?.unwrap_or_default();
    let election = election(&poll)?;
    let keys_hold = trustees.len() == poll.trustees.len()
        && trustees.iter().all(|t| t.verify(&poll.id))
        && election.as_ref().map(|e| e.key) == Some(hutong_evote::trustee::election_key(&trustees));
    let shares_hold = shares.len() == trustees.len()
        && shares
            .iter()
            .zip(&trustees)
            .all(|(s, t)| s.trustee == t.key && s.first_wrong(&poll.id, &tally).is_none());
    let result_holds = tally.len() == result.counts.len()
        && tally
            .iter()
            .zip(&result.counts)
            .enumerate()
            .all(|(i, (ct, count))| hutong_evote::trustee::decrypts_to(ct, &shares, i, *count));
    let checks = json!({
        "trustee_keys": keys_hold,
        "shares": shares_hold,
        "result": result_holds,
        "every_ballot_verified": result.rejected == 0,
        "roll_fingerprint": state.fingerprint.as_deref() == Some(result.roll_fingerprint.as_str()),
        "credentials_digest": state.credentials_digest.as_deref() == Some(result.credentials_digest.as_str()),
    });
    let verified = checks
        .as_object()
        .is_some_and(|c| c.values().all(|v| v == true));
    Ok(Response::json(
        200,
        &json!({ "poll": poll.id, "verified": verified, "checks": checks, "published": result }),
    ))
}

/// The frozen roll, for recomputing its fingerprint: residents in id order
/// with their voting unit. Staff only; it says nothing of who voted.
fn roll(req: &Request, params: &Params) -> Result<Response, Fail> {
    staff(req)?;
    let (poll, state) = current(poll_id(params))?;
    // A credential authority reads it once complete, before the opening.
    if matches!(state.phase, Phase::Scheduled | Phase::Freezing) && !state.roll_complete {
        return Err(Fail::refused(
            409,
            "not_frozen",
            "the roll is published once it is frozen",
        ));
    }
    let prefix = Keys(&poll.id).roll_prefix();
    let cursor = req.query_param("cursor").map(|c| format!("{prefix}{c}"));
    let page = kv::list_entries(&prefix, cursor.as_deref(), kv::MAX_PAGE)?;
    let entries: Vec<_> = page
        .entries
        .iter()
        .map(|(key, unit)| {
            json!({
                "resident": key.strip_prefix(&prefix).unwrap_or(key),
                "unit": String::from_utf8_lossy(unit),
            })
        })
        .collect();
    let next = page
        .next_cursor
        .map(|c| c.strip_prefix(&prefix).unwrap_or(&c).to_owned());
    Ok(Response::json(
        200,
        &json!({ "poll": poll.id, "fingerprint": state.fingerprint, "entries": entries, "next_cursor": next }),
    ))
}
