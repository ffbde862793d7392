//! `test-app`: the component the host's integration tests drive. Each route
//! exercises one behaviour of the host (a capability, a limit, the sandbox),
//! so that a test can assert what the host did about it.
//!
//! Routes answer JSON unless noted; query parameters are read with
//! [`Request::query_param`], and a missing or malformed one is a 400.

use std::hint::black_box;
use std::str::FromStr;

use hutong_sdk::bindings::hutong::platform::log as raw_log;
use hutong_sdk::cases::{self, CaseEvent, CaseInfo, CaseReport, Priority, Tier};
use hutong_sdk::data::{self, FieldClass, Resident, ResidentQuery};
use hutong_sdk::notify::{self, Audience, Channel, Message, Recipient, RoleInPlace};
use hutong_sdk::{
    App, CaseChange, CaseState, DeviceEvent, Error, Params, Request, Response, Router, Tick, kv,
};
use serde_json::json;

const MIB: usize = 1024 * 1024;

/// Touch one byte per page of this size, so the memory is really committed.
const PAGE: usize = 4096;

struct TestApp;

impl App for TestApp {
    fn handle(req: Request) -> Response {
        // The benchmark route answers before the router is built, so that it
        // measures the host, not the app.
        if req.method() == "GET" && req.path() == "/ping" {
            return Response::text(200, "pong");
        }
        Router::new()
            .route("*", "/echo", echo)
            .route("*", "/echo/{*rest}", echo)
            .get("/kv/get", kv_get)
            .get("/page", page)
            .put("/kv/set", kv_set)
            .put("/kv/fill", kv_fill)
            .delete("/kv/delete", kv_delete)
            .post("/kv/insert", kv_insert)
            .post("/kv/commit", kv_commit)
            .get("/kv/list", kv_list)
            .get("/kv/entries", kv_entries)
            .get("/data/resident", data_resident)
            .get("/data/residents", data_residents)
            .get("/data/all", data_all)
            .get("/data/household", data_household)
            .get("/data/households", data_households)
            .get("/data/building", data_building)
            .get("/data/buildings", data_buildings)
            .get("/data/organisation", data_organisation)
            .get("/data/organisations", data_organisations)
            .get("/data/members", data_members)
            .get("/data/worker-grids", data_worker_grids)
            .post("/cases/open", cases_open)
            .get("/cases/get", cases_get)
            .get("/cases/history", cases_history)
            .get("/cases/list", cases_list)
            .post("/cases/comment", cases_comment)
            .get("/cases/heard", cases_heard)
            .post("/notify/send", notify_send)
            .post("/notify/family", notify_family)
            .get("/events/heard", events_heard)
            .get("/loop", spin)
            .get("/spin", spin_for)
            .get("/alloc", alloc)
            .get("/alloc-forever", alloc_forever)
            .get("/panic", |_, _| panic!("test-app panicked on purpose"))
            .get("/sandbox/file", sandbox_file)
            .get("/sandbox/dir", sandbox_dir)
            .get("/sandbox/env", sandbox_env)
            .get("/sandbox/socket", sandbox_socket)
            .get("/log", log_lines)
            .get("/stdout", stdout)
            .get("/big", big)
            .get("/status", status)
            .post("/respond", respond)
            .post("/sub/respond", respond)
            .post("/log/raw", log_raw)
            .post("/stdout/raw", stdout_raw)
            .get("/clock", |_, _| {
                Ok(Response::json(
                    200,
                    &json!({ "now_ms": hutong_sdk::now_ms() }),
                ))
            })
            .handle(req)
    }

    /// Records each change it hears under `heard/<case-id>/<n>` (n counting
    /// from 0 per case, three digits), so the tests can check what arrived
    /// and in which order. Fails on purpose while the kv key `watcher/fail`
    /// (every case) or `watcher/fail/<case-id>` (that case) exists, so the
    /// tests can check retries; never returns while `watcher/loop` exists,
    /// so the tests can check the deadline holds for the watcher too.
    fn on_case_changed(change: CaseChange) -> Result<(), Error> {
        if kv::get(WATCHER_LOOP)?.is_some() {
            spin_forever();
        }
        let for_case = format!("{WATCHER_FAIL}/{}", change.case_id);
        if kv::get(WATCHER_FAIL)?.is_some() || kv::get(&for_case)?.is_some() {
            return Err(Error::Unavailable(format!(
                "test-app was told to fail (kv key {WATCHER_FAIL} or {for_case})"
            )));
        }
        let prefix = format!("heard/{}/", change.case_id);
        let heard = kv::list_keys(&prefix, None, kv::MAX_PAGE)?.keys.len();
        let value = json!({
            "case_id": change.case_id,
            "from": state_name(change.from_state),
            "to": state_name(change.to_state),
            "actor": change.actor,
            "note": change.note,
            "at_ms": change.at_ms,
        });
        kv::set(&format!("{prefix}{heard:03}"), value.to_string().as_bytes())
    }

    /// Records each tick under kv `ticks/<schedule>/<scheduled-at-ms>`
    /// (with how many times that period was delivered), so the tests can
    /// check each period runs once; fails while kv `tick/fail` exists.
    fn on_tick(tick: Tick) -> Result<(), Error> {
        if kv::get(TICK_FAIL)?.is_some() {
            return Err(Error::Unavailable(format!(
                "test-app was told to fail ticks (kv key {TICK_FAIL})"
            )));
        }
        let key = format!("ticks/{}/{}", tick.schedule, tick.scheduled_at_ms);
        let times = match kv::get(&key)? {
            Some(v) => String::from_utf8_lossy(&v).parse::<u32>().unwrap_or(0),
            None => 0,
        };
        kv::set(&key, (times + 1).to_string().as_bytes())
    }
    /// Records each event it hears (see [`record_event`]); fails on purpose
    /// while the kv key `events/fail` (every device) or
    /// `events/fail/<device-id>` (that device) exists, so the tests can check
    /// retries, ordering and dead letters.
    fn on_event(event: DeviceEvent) -> Result<(), Error> {
        record_event(event)
    }
}

/// While this kv key (or the key followed by `/<device-id>`) exists, the
/// event handler fails.
const EVENTS_FAIL: &str = "events/fail";

/// Records one device event under `events/heard/<device-id>/<n>` (n counting
/// from 0 per device, five digits), as `TestApp::on_event` hears it.
fn record_event(event: DeviceEvent) -> Result<(), Error> {
    let for_device = format!("{EVENTS_FAIL}/{}", event.device_id);
    if kv::get(EVENTS_FAIL)?.is_some() || kv::get(&for_device)?.is_some() {
        return Err(Error::Unavailable(format!(
            "test-app was told to fail (kv key {EVENTS_FAIL} or {for_device})"
        )));
    }
    let prefix = format!("events/heard/{}/", event.device_id);
    let heard = kv::list_keys(&prefix, None, kv::MAX_PAGE)?.keys.len();
    let payload: serde_json::Value = serde_json::from_str(&event.payload)
        .map_err(|e| Error::InvalidArgument(format!("the payload is not JSON: {e}")))?;
    let value = json!({
        "event_id": event.event_id,
        "device_id": event.device_id,
        "device_kind": event.device_kind,
        "type": event.event_type,
        "occurred_at_ms": event.occurred_at_ms,
        "payload": payload,
        "household_id": event.household_id,
        "resident_id": event.resident_id,
    });
    kv::set(&format!("{prefix}{heard:05}"), value.to_string().as_bytes())
}

/// The events the handler recorded for `device`, in the order heard.
fn events_heard(req: &Request, _: &Params) -> Result<Response, Error> {
    let prefix = format!("events/heard/{}/", required(req, "device")?);
    let mut heard = Vec::new();
    let mut cursor = None;
    loop {
        let page = kv::list_keys(&prefix, cursor.as_deref(), kv::MAX_PAGE)?;
        for key in &page.keys {
            if let Some(value) = kv::get(key)? {
                let value: serde_json::Value = serde_json::from_slice(&value)
                    .map_err(|e| Error::Internal(format!("{key} holds no JSON: {e}")))?;
                heard.push(value);
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(Response::json(200, &json!({ "heard": heard })))
}

/// While this kv key exists, ticks fail.
const TICK_FAIL: &str = "tick/fail";

/// While this kv key (or the key followed by `/<case-id>`) exists, the case
/// watcher fails.
const WATCHER_FAIL: &str = "watcher/fail";

/// While this kv key exists, the case watcher never returns.
const WATCHER_LOOP: &str = "watcher/loop";

hutong_sdk::export_app!(TestApp);

/// The query parameter `name`, or a 400 saying it is required.
fn required(req: &Request, name: &str) -> Result<String, Error> {
    req.query_param(name)
        .ok_or_else(|| Error::InvalidArgument(format!("the `{name}` query parameter is required")))
}

/// The query parameter `name` parsed as a number, or a 400.
fn number<T: FromStr>(req: &Request, name: &str) -> Result<T, Error> {
    let value = required(req, name)?;
    value.parse().map_err(|_| {
        Error::InvalidArgument(format!(
            "the `{name}` query parameter is not a number: {value:?}"
        ))
    })
}

fn echo(req: &Request, _: &Params) -> Result<Response, Error> {
    let headers: Vec<[&str; 2]> = req
        .headers()
        .iter()
        .map(|(name, value)| [name.as_str(), value.as_str()])
        .collect();
    Ok(Response::json(
        200,
        &json!({
            "method": req.method(),
            "path": req.path(),
            "query": req.query(),
            "body": String::from_utf8_lossy(req.body()),
            "caller": req.caller(),
            "request_id": req.request_id(),
            "headers": headers,
        }),
    ))
}

fn kv_get(req: &Request, _: &Params) -> Result<Response, Error> {
    match kv::get(&required(req, "key")?)? {
        Some(value) => Ok(Response::new(200)
            .with_header("content-type", "application/octet-stream")
            .with_body(value)),
        None => Err(Error::NotFound),
    }
}

/// Serves the kv value under `page/<name>` as an HTML page, so that the
/// browser tests can show pages of their own making from an app's origin.
fn page(req: &Request, _: &Params) -> Result<Response, Error> {
    match kv::get(&format!("page/{}", required(req, "name")?))? {
        Some(html) => Ok(Response::new(200)
            .with_header("content-type", "text/html; charset=utf-8")
            .with_body(html)),
        None => Err(Error::NotFound),
    }
}

fn kv_set(req: &Request, _: &Params) -> Result<Response, Error> {
    kv::set(&required(req, "key")?, req.body())?;
    Ok(Response::new(204))
}

fn resident_json(r: &Resident) -> serde_json::Value {
    json!({
        "id": r.id,
        "household_id": r.household_id,
        "building_id": r.building_id,
        "grid_id": r.grid_id,
        "community_id": r.community_id,
        "tags": r.tags,
        "name": r.name,
        "phone": r.phone,
        "id_number": r.id_number,
        "birth_year": r.birth_year,
        "birth_date": r.birth_date,
        "address": r.address,
        "family_contact_name": r.family_contact_name,
        "family_contact_phone": r.family_contact_phone,
        "field_class": match r.field_class {
            FieldClass::Masked => "masked",
            FieldClass::Personal => "personal",
        },
    })
}

/// The query parameters of a resident query: `grid`, `community`, `tags`
/// (comma-separated), `min_age`, `max_age`, `cursor`, `limit`.
fn resident_query(req: &Request) -> Result<ResidentQuery, Error> {
    let age = |name: &str| -> Result<Option<u8>, Error> {
        req.query_param(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| Error::InvalidArgument(format!("`{name}` must be 0..=255")))
            })
            .transpose()
    };
    Ok(ResidentQuery {
        grid_id: req.query_param("grid"),
        community_id: req.query_param("community"),
        household_id: req.query_param("household"),
        tags: req
            .query_param("tags")
            .map(|t| t.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        min_age: age("min_age")?,
        max_age: age("max_age")?,
        cursor: req.query_param("cursor"),
        limit: match req.query_param("limit") {
            Some(_) => number(req, "limit")?,
            None => data::MAX_PAGE,
        },
    })
}

fn data_resident(req: &Request, _: &Params) -> Result<Response, Error> {
    let resident = data::resident(&required(req, "id")?)?;
    Ok(Response::json(200, &resident_json(&resident)))
}

fn data_residents(req: &Request, _: &Params) -> Result<Response, Error> {
    let page = data::query_residents(&resident_query(req)?)?;
    let residents: Vec<_> = page.residents.iter().map(resident_json).collect();
    Ok(Response::json(
        200,
        &json!({ "residents": residents, "next_cursor": page.next_cursor }),
    ))
}

/// Every matching resident's id, following the cursor to the end.
fn data_all(req: &Request, _: &Params) -> Result<Response, Error> {
    let ids = data::residents(resident_query(req)?)
        .map(|r| r.map(|r| r.id))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Response::json(200, &json!({ "ids": ids })))
}

fn limit(req: &Request) -> Result<u32, Error> {
    match req.query_param("limit") {
        Some(_) => number(req, "limit"),
        None => Ok(data::MAX_PAGE),
    }
}

fn data_household(req: &Request, _: &Params) -> Result<Response, Error> {
    let h = data::household(&required(req, "id")?)?;
    Ok(Response::json(
        200,
        &json!({ "id": h.id, "building_id": h.building_id, "grid_id": h.grid_id,
                 "community_id": h.community_id, "unit": h.unit, "room": h.room }),
    ))
}

fn data_households(req: &Request, _: &Params) -> Result<Response, Error> {
    let cursor = req.query_param("cursor");
    let page = data::households(&required(req, "building")?, cursor.as_deref(), limit(req)?)?;
    let ids: Vec<_> = page.households.iter().map(|h| h.id.clone()).collect();
    Ok(Response::json(
        200,
        &json!({ "ids": ids, "next_cursor": page.next_cursor }),
    ))
}

fn data_building(req: &Request, _: &Params) -> Result<Response, Error> {
    let b = data::building(&required(req, "id")?)?;
    Ok(Response::json(
        200,
        &json!({ "id": b.id, "community_id": b.community_id, "grid_id": b.grid_id, "name": b.name }),
    ))
}

fn data_buildings(req: &Request, _: &Params) -> Result<Response, Error> {
    let (community, grid, cursor) = (
        req.query_param("community"),
        req.query_param("grid"),
        req.query_param("cursor"),
    );
    let page = data::buildings(
        community.as_deref(),
        grid.as_deref(),
        cursor.as_deref(),
        limit(req)?,
    )?;
    let ids: Vec<_> = page.buildings.iter().map(|b| b.id.clone()).collect();
    Ok(Response::json(
        200,
        &json!({ "ids": ids, "next_cursor": page.next_cursor }),
    ))
}

fn kind_name(kind: data::OrganisationKind) -> &'static str {
    match kind {
        data::OrganisationKind::PartyBranch => "party-branch",
        data::OrganisationKind::SocialOrganisation => "social-organisation",
        data::OrganisationKind::PropertyCompany => "property-company",
    }
}

fn data_organisation(req: &Request, _: &Params) -> Result<Response, Error> {
    let o = data::organisation(&required(req, "id")?)?;
    Ok(Response::json(
        200,
        &json!({ "id": o.id, "community_id": o.community_id, "kind": kind_name(o.kind), "name": o.name }),
    ))
}

fn data_organisations(req: &Request, _: &Params) -> Result<Response, Error> {
    let kind = match req.query_param("kind").as_deref() {
        None => None,
        Some("party-branch") => Some(data::OrganisationKind::PartyBranch),
        Some("social-organisation") => Some(data::OrganisationKind::SocialOrganisation),
        Some("property-company") => Some(data::OrganisationKind::PropertyCompany),
        Some(other) => return Err(Error::InvalidArgument(format!("unknown kind `{other}`"))),
    };
    let (community, cursor) = (req.query_param("community"), req.query_param("cursor"));
    let page = data::organisations(kind, community.as_deref(), cursor.as_deref(), limit(req)?)?;
    let ids: Vec<_> = page.organisations.iter().map(|o| o.id.clone()).collect();
    Ok(Response::json(
        200,
        &json!({ "ids": ids, "next_cursor": page.next_cursor }),
    ))
}

fn data_members(req: &Request, _: &Params) -> Result<Response, Error> {
    let cursor = req.query_param("cursor");
    let page = data::members(
        &required(req, "organisation")?,
        cursor.as_deref(),
        limit(req)?,
    )?;
    let members: Vec<_> = page
        .members
        .iter()
        .map(|m| json!({ "resident_id": m.resident_id, "role": m.role }))
        .collect();
    Ok(Response::json(
        200,
        &json!({ "members": members, "next_cursor": page.next_cursor }),
    ))
}

/// Stores a value of `bytes` generated bytes, to exercise the value limit
/// beyond what a request body can carry.
fn kv_fill(req: &Request, _: &Params) -> Result<Response, Error> {
    let bytes: usize = number(req, "bytes")?;
    kv::set(&required(req, "key")?, &vec![b'v'; bytes])?;
    Ok(Response::new(204))
}

fn kv_delete(req: &Request, _: &Params) -> Result<Response, Error> {
    let existed = kv::delete(&required(req, "key")?)?;
    Ok(Response::json(200, &json!({ "existed": existed })))
}

fn kv_insert(req: &Request, _: &Params) -> Result<Response, Error> {
    let inserted = kv::insert_if_absent(&required(req, "key")?, req.body())?;
    Ok(Response::json(200, &json!({ "inserted": inserted })))
}

/// Apply the body's operations with `kv::commit`: a JSON list of
/// `{"op": "insert"|"set"|"swap"|"remove"|"require", "key": …, "value": …,
/// "expected": …}` (values as text; `"fill": n` for a value of n bytes).
fn kv_commit(req: &Request, _: &Params) -> Result<Response, Error> {
    let ops: Vec<serde_json::Value> = req.json()?;
    let text = |op: &serde_json::Value, field: &str| -> Vec<u8> {
        match op.get("fill").and_then(serde_json::Value::as_u64) {
            Some(n) if field == "value" => vec![b'v'; usize::try_from(n).unwrap_or(0)],
            _ => op[field].as_str().unwrap_or_default().as_bytes().to_vec(),
        }
    };
    let ops = ops
        .iter()
        .map(|op| {
            let key = op["key"].as_str().unwrap_or_default().to_owned();
            match op["op"].as_str() {
                Some("insert") => Ok(kv::Op::insert(key, text(op, "value"))),
                Some("set") => Ok(kv::Op::set(key, text(op, "value"))),
                Some("swap") => Ok(kv::Op::swap(key, text(op, "expected"), text(op, "value"))),
                Some("remove") => Ok(kv::Op::remove(key)),
                Some("require") => Ok(kv::Op::require(key)),
                other => Err(Error::InvalidArgument(format!("unknown op {other:?}"))),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let body = match kv::commit(ops)? {
        kv::Commit::Applied => json!({ "applied": true }),
        kv::Commit::Failed(index) => json!({ "applied": false, "failed": index }),
    };
    Ok(Response::json(200, &body))
}

fn kv_list(req: &Request, _: &Params) -> Result<Response, Error> {
    let prefix = req.query_param("prefix").unwrap_or_default();
    let limit = match req.query_param("limit") {
        Some(_) => number(req, "limit")?,
        None => kv::MAX_PAGE,
    };
    let cursor = req.query_param("cursor");
    let page = kv::list_keys(&prefix, cursor.as_deref(), limit)?;
    Ok(Response::json(
        200,
        &json!({ "keys": page.keys, "next_cursor": page.next_cursor }),
    ))
}

/// One page of `kv::list_entries`, each entry as its key and its value's
/// length (the values themselves may be large).
fn kv_entries(req: &Request, _: &Params) -> Result<Response, Error> {
    let prefix = req.query_param("prefix").unwrap_or_default();
    let limit = match req.query_param("limit") {
        Some(_) => number(req, "limit")?,
        None => kv::MAX_PAGE,
    };
    let cursor = req.query_param("cursor");
    let page = kv::list_entries(&prefix, cursor.as_deref(), limit)?;
    let entries: Vec<_> = page
        .entries
        .iter()
        .map(|(key, value)| json!([key, value.len()]))
        .collect();
    Ok(Response::json(
        200,
        &json!({ "entries": entries, "next_cursor": page.next_cursor }),
    ))
}

/// The grids of the worker account `?account=`.
fn data_worker_grids(req: &Request, _: &Params) -> Result<Response, Error> {
    let grids = hutong_sdk::data::worker_grids(&required(req, "account")?)?;
    Ok(Response::json(200, &json!({ "grids": grids })))
}

/// Sends `{"resident", "channel", "subject", "body", "key"}` to the
/// resident's family contact; answers the receipt.
fn notify_family(req: &Request, _: &Params) -> Result<Response, Error> {
    let body: serde_json::Value = req.json()?;
    let text = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
    let channel = match body["channel"].as_str() {
        Some("inbox") => Channel::Inbox,
        Some("sms") => Channel::Sms,
        Some("voice") => Channel::Voice,
        Some("webhook") => Channel::Webhook,
        other => return Err(Error::InvalidArgument(format!("unknown channel {other:?}"))),
    };
    let receipt = notify::send_to_family_contact(
        &text("resident"),
        channel,
        &text("subject"),
        &text("body"),
        &text("key"),
    )?;
    Ok(Response::json(
        200,
        &json!({
            "recipients": receipt.recipients,
            "unreachable": receipt.unreachable,
            "replayed": receipt.replayed,
        }),
    ))
}

/// Never returns: the host's deadline must end it.
fn spin(_: &Request, _: &Params) -> Result<Response, Error> {
    spin_forever()
}

/// Keeps the core busy for `ms` milliseconds, then answers 200: an app
/// that is slow but healthy, whose calls succeed.
fn spin_for(req: &Request, _: &Params) -> Result<Response, Error> {
    let ms: u64 = number(req, "ms")?;
    let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    let mut turns: u64 = 0;
    while std::time::Instant::now() < until {
        turns = black_box(turns.wrapping_add(1));
    }
    Ok(Response::json(200, &json!({ "turns": turns })))
}

/// Never returns: the host's deadline must end it.
fn spin_forever() -> ! {
    let mut turns: u64 = 0;
    loop {
        // `black_box` keeps the optimiser from proving the loop empty.
        turns = black_box(turns.wrapping_add(1));
    }
}

/// Write to one byte of every page of `block`, so that it is really
/// allocated rather than merely reserved.
fn touch(block: &mut [u8]) {
    block.iter_mut().step_by(PAGE).for_each(|byte| *byte = 1);
    black_box(block);
}

fn alloc(req: &Request, _: &Params) -> Result<Response, Error> {
    let mib: usize = number(req, "mib")?;
    let bytes = mib
        .checked_mul(MIB)
        .ok_or_else(|| Error::InvalidArgument(format!("{mib} MiB does not fit in memory")))?;
    let mut block = vec![0u8; bytes];
    touch(&mut block);
    Ok(Response::json(200, &json!({ "allocated_mib": mib })))
}

/// Never returns: the host's memory limit must end it.
fn alloc_forever(_: &Request, _: &Params) -> Result<Response, Error> {
    let mut chunks = Vec::new();
    loop {
        let mut chunk = vec![0u8; MIB];
        touch(&mut chunk);
        chunks.push(chunk);
        black_box(&chunks);
    }
}

fn sandbox_file(req: &Request, _: &Params) -> Result<Response, Error> {
    let body = match std::fs::read_to_string(required(req, "path")?) {
        Ok(content) => json!({ "ok": true, "error": null, "content": content }),
        Err(error) => json!({ "ok": false, "error": error.to_string(), "content": null }),
    };
    Ok(Response::json(200, &body))
}

fn sandbox_dir(_: &Request, _: &Params) -> Result<Response, Error> {
    Ok(Response::json(
        200,
        &json!({
            "root_ok": std::fs::read_dir("/").is_ok(),
            "cwd_ok": std::fs::read_dir(".").is_ok(),
        }),
    ))
}

fn sandbox_env(_: &Request, _: &Params) -> Result<Response, Error> {
    Ok(Response::json(
        200,
        &json!({
            "vars": std::env::vars().count(),
            "home": std::env::var("HOME").ok(),
            "path": std::env::var("PATH").ok(),
            "args": std::env::args().count(),
        }),
    ))
}

fn sandbox_socket(req: &Request, _: &Params) -> Result<Response, Error> {
    let body = match std::net::TcpStream::connect(required(req, "addr")?) {
        Ok(_) => json!({ "ok": true, "error": null }),
        Err(error) => json!({ "ok": false, "error": error.to_string() }),
    };
    Ok(Response::json(200, &body))
}

/// Calls the host's log directly, not through `hutong_sdk::log`, which drops
/// refusals: the tests need to see them.
fn log_lines(req: &Request, _: &Params) -> Result<Response, Error> {
    let n: u32 = number(req, "n")?;
    let (mut written, mut refused, mut first_error) = (0u32, 0u32, None);
    for i in 0..n {
        let fields = [("line".to_owned(), i.to_string())];
        match raw_log::write(raw_log::Level::Info, "test-app log line", &fields) {
            Ok(()) => written += 1,
            Err(error) => {
                refused += 1;
                let error = Error::from(error);
                first_error.get_or_insert_with(|| format!("{}: {error}", error.code()));
            }
        }
    }
    Ok(Response::json(
        200,
        &json!({ "written": written, "refused": refused, "first_error": first_error }),
    ))
}

fn stdout(_: &Request, _: &Params) -> Result<Response, Error> {
    println!("test-app says hello on stdout");
    eprintln!("test-app says hello on stderr");
    Ok(Response::json(200, &json!({ "written": true })))
}

fn big(req: &Request, _: &Params) -> Result<Response, Error> {
    let bytes: usize = number(req, "bytes")?;
    Ok(Response::new(200)
        .with_header("content-type", "text/plain")
        .with_body(vec![b'a'; bytes]))
}

/// Answers with the status as given, unchecked: the host must police it.
fn status(req: &Request, _: &Params) -> Result<Response, Error> {
    Ok(Response::new(number(req, "code")?))
}

/// Answers with exactly the status, headers and body of the JSON request
/// (`{"status": 200, "headers": [["name", "value"]], "body": "…",
/// "repeat": [name, value, n]}`), unchecked: the host must police them.
fn respond(req: &Request, _: &Params) -> Result<Response, Error> {
    let spec: serde_json::Value = serde_json::from_slice(req.body())
        .map_err(|e| Error::InvalidArgument(format!("expected JSON: {e}")))?;
    let mut response = Response::new(spec["status"].as_u64().unwrap_or(200) as u16);
    for pair in spec["headers"].as_array().into_iter().flatten() {
        response = response.with_header(
            pair[0].as_str().unwrap_or_default(),
            pair[1].as_str().unwrap_or_default(),
        );
    }
    if let Some(repeat) = spec["repeat"].as_array() {
        let (name, value) = (
            repeat[0].as_str().unwrap_or_default(),
            repeat[1].as_str().unwrap_or_default(),
        );
        for i in 0..repeat[2].as_u64().unwrap_or(0) {
            response = response.with_header(&format!("{name}-{i}"), value);
        }
    }
    Ok(response.with_body(
        spec["body"]
            .as_str()
            .unwrap_or_default()
            .as_bytes()
            .to_vec(),
    ))
}

/// Writes one log line through the log interface exactly as given
/// (`{"message": "…", "fields": [["key", "value"]]}`), and answers whether
/// the host took it.
fn log_raw(req: &Request, _: &Params) -> Result<Response, Error> {
    let spec: serde_json::Value = serde_json::from_slice(req.body())
        .map_err(|e| Error::InvalidArgument(format!("expected JSON: {e}")))?;
    let fields: Vec<(String, String)> = spec["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|pair| {
            (
                pair[0].as_str().unwrap_or_default().to_owned(),
                pair[1].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let written = raw_log::write(
        raw_log::Level::Info,
        spec["message"].as_str().unwrap_or_default(),
        &fields,
    );
    Ok(Response::json(
        200,
        &json!({ "written": written.is_ok(), "error": written.err().map(|e| Error::from(e).to_string()) }),
    ))
}

/// Prints the request body to stdout as it is.
fn stdout_raw(req: &Request, _: &Params) -> Result<Response, Error> {
    print!("{}", String::from_utf8_lossy(req.body()));
    Ok(Response::json(200, &json!({ "written": true })))
}

fn state_name(state: CaseState) -> &'static str {
    match state {
        CaseState::Reported => "reported",
        CaseState::Rejected => "rejected",
        CaseState::Accepted => "accepted",
        CaseState::Dispatched => "dispatched",
        CaseState::InProgress => "in-progress",
        CaseState::Handled => "handled",
        CaseState::Verified => "verified",
        CaseState::Closed => "closed",
    }
}

fn parse_state(name: &str) -> Result<CaseState, Error> {
    [
        CaseState::Reported,
        CaseState::Rejected,
        CaseState::Accepted,
        CaseState::Dispatched,
        CaseState::InProgress,
        CaseState::Handled,
        CaseState::Verified,
        CaseState::Closed,
    ]
    .into_iter()
    .find(|s| state_name(*s) == name)
    .ok_or_else(|| Error::InvalidArgument(format!("unknown case state `{name}`")))
}

fn priority_name(priority: Priority) -> &'static str {
    match priority {
        Priority::Low => "low",
        Priority::Normal => "normal",
        Priority::High => "high",
        Priority::Urgent => "urgent",
    }
}

fn tier_name(tier: Tier) -> &'static str {
    match tier {
        Tier::Grid => "grid",
        Tier::Community => "community",
        Tier::Street => "street",
        Tier::District => "district",
        Tier::City => "city",
    }
}

fn case_json(c: &CaseInfo) -> serde_json::Value {
    json!({
        "id": c.id,
        "category": c.category,
        "priority": priority_name(c.priority),
        "state": state_name(c.state),
        "tier": tier_name(c.tier),
        "grid_id": c.grid_id,
        "building_id": c.building_id,
        "description": c.description,
        "resident_id": c.resident_id,
        "assignee": c.assignee,
        "overdue": c.overdue,
        "created_at_ms": c.created_at_ms,
        "updated_at_ms": c.updated_at_ms,
        "closed_at_ms": c.closed_at_ms,
        "satisfaction": c.satisfaction,
    })
}

fn event_json(e: &CaseEvent) -> serde_json::Value {
    json!({
        "at_ms": e.at_ms,
        "actor": e.actor,
        "action": e.action,
        "from": state_name(e.from_state),
        "to": state_name(e.to_state),
        "from_tier": tier_name(e.from_tier),
        "to_tier": tier_name(e.to_tier),
        "note": e.note,
    })
}

/// Opens a case from a JSON body: `category`, `description`, and optionally
/// `priority` (`low`, `normal`, `high`, `urgent`), `grid_id`, `building_id`,
/// `resident_id` and `attachments`. Answers 201 with the case id.
fn cases_open(req: &Request, _: &Params) -> Result<Response, Error> {
    let body: serde_json::Value = req.json()?;
    let text = |name: &str| body[name].as_str().map(str::to_owned);
    let priority = match body["priority"].as_str() {
        None | Some("normal") => Priority::Normal,
        Some("low") => Priority::Low,
        Some("high") => Priority::High,
        Some("urgent") => Priority::Urgent,
        Some(other) => {
            return Err(Error::InvalidArgument(format!(
                "unknown priority `{other}`"
            )));
        }
    };
    let report = CaseReport {
        priority,
        grid_id: text("grid_id"),
        building_id: text("building_id"),
        resident_id: text("resident_id"),
        attachments: body["attachments"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        ..CaseReport::new(
            text("category").unwrap_or_default(),
            text("description").unwrap_or_default(),
        )
    };
    let id = if body["for_resident"].as_bool() == Some(true) {
        cases::open_for_resident(&report)?
    } else {
        cases::open(&report)?
    };
    Ok(Response::json(201, &json!({ "id": id })))
}

fn cases_get(req: &Request, _: &Params) -> Result<Response, Error> {
    let case = cases::get(&required(req, "id")?)?;
    Ok(Response::json(200, &case_json(&case)))
}

fn cases_history(req: &Request, _: &Params) -> Result<Response, Error> {
    let events = cases::history(&required(req, "id")?)?;
    let events: Vec<_> = events.iter().map(event_json).collect();
    Ok(Response::json(200, &json!({ "events": events })))
}

/// One page of the app's cases: `state`, `cursor` and `limit` (default
/// [`cases::MAX_PAGE`]) are optional.
fn cases_list(req: &Request, _: &Params) -> Result<Response, Error> {
    let state = req
        .query_param("state")
        .map(|s| parse_state(&s))
        .transpose()?;
    let limit = match req.query_param("limit") {
        Some(_) => number(req, "limit")?,
        None => cases::MAX_PAGE,
    };
    let cursor = req.query_param("cursor");
    let page = cases::list(state, cursor.as_deref(), limit)?;
    let cases: Vec<_> = page.cases.iter().map(case_json).collect();
    Ok(Response::json(
        200,
        &json!({ "cases": cases, "next_cursor": page.next_cursor }),
    ))
}

/// Comments on case `id` with the request body as the text.
fn cases_comment(req: &Request, _: &Params) -> Result<Response, Error> {
    let text = String::from_utf8_lossy(req.body());
    cases::comment(&required(req, "id")?, &text)?;
    Ok(Response::new(204))
}

/// The changes the watcher recorded for case `id`, in the order heard.
fn cases_heard(req: &Request, _: &Params) -> Result<Response, Error> {
    let prefix = format!("heard/{}/", required(req, "id")?);
    let mut heard = Vec::new();
    for key in kv::list_keys(&prefix, None, kv::MAX_PAGE)?.keys {
        if let Some(value) = kv::get(&key)? {
            let value: serde_json::Value = serde_json::from_slice(&value)
                .map_err(|e| Error::Internal(format!("{key} holds no JSON: {e}")))?;
            heard.push(value);
        }
    }
    Ok(Response::json(200, &json!({ "heard": heard })))
}

/// Send what the JSON body describes: `{"to": {"resident" | "worker" |
/// "workers-of-grid" | "residents-of-grid" | "workers-of-community" |
/// "residents-of-community" | "organisation": "<id>"}, "channel": "inbox" |
/// "sms" | "voice" | "webhook", "subject", "body", "key"}`; answers the
/// receipt as the app got it.
fn notify_send(req: &Request, _: &Params) -> Result<Response, Error> {
    let body: serde_json::Value = req.json()?;
    let text = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
    let to = body["to"]
        .as_object()
        .and_then(|o| o.iter().next())
        .ok_or_else(|| Error::InvalidArgument("`to` must be an object with one key".into()))?;
    let id = to.1.as_str().unwrap_or_default().to_owned();
    let place = |audience| RoleInPlace {
        audience,
        place: id.clone(),
    };
    let recipient = match to.0.as_str() {
        "resident" => Recipient::Resident(id.clone()),
        "worker" => Recipient::Worker(id.clone()),
        "workers-of-grid" => Recipient::RoleInGrid(place(Audience::Workers)),
        "residents-of-grid" => Recipient::RoleInGrid(place(Audience::Residents)),
        "workers-of-community" => Recipient::RoleInCommunity(place(Audience::Workers)),
        "residents-of-community" => Recipient::RoleInCommunity(place(Audience::Residents)),
        "organisation" => Recipient::OrganisationMembers(id.clone()),
        other => {
            return Err(Error::InvalidArgument(format!(
                "unknown recipient `{other}`"
            )));
        }
    };
    let channel = match body["channel"].as_str() {
        Some("inbox") => Channel::Inbox,
        Some("sms") => Channel::Sms,
        Some("voice") => Channel::Voice,
        Some("webhook") => Channel::Webhook,
        other => return Err(Error::InvalidArgument(format!("unknown channel {other:?}"))),
    };
    let receipt = notify::send(&Message::new(
        recipient,
        channel,
        text("subject"),
        text("body"),
        text("key"),
    ))?;
    Ok(Response::json(
        200,
        &json!({
            "message_id": receipt.message_id,
            "recipients": receipt.recipients,
            "unreachable": receipt.unreachable,
            "replayed": receipt.replayed,
        }),
    ))
}
