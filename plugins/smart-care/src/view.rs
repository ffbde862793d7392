//! The worker view: JSON endpoints and one plain HTML page.
//!
//! Grid workers see the watched residents of the grids they serve (masked,
//! as the app sees them), their last door activity and open alerts; they
//! acknowledge alerts and log visits. District and platform administrators
//! see every grid; auditors see every grid and change nothing. A resident
//! may opt in or out of check-in calls and answer today's call for
//! themselves; a worker may do both for the residents of their grids (the
//! voice gateway's IVR answers through a worker-role service account).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hutong_sdk::{
    CaseState, Error, Params, Request, Response, Role, Router, data, html_escape, kv,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::alerts;
use crate::settings::Settings;
use crate::state::{self, Ack, Activity, Alert, OptIn, SensorState, Visit, Watched};
use crate::time;

/// Longest visit note, in bytes.
pub const MAX_NOTE: usize = 2000;

/// The app's routes.
pub fn router() -> Router {
    Router::new()
        .get("/", page)
        .get("/api/residents", residents_json)
        .get("/api/alerts", alerts_json)
        .post("/api/alerts/{id}/ack", ack_json)
        .get("/api/residents/{id}/visits", visits_json)
        .post("/api/residents/{id}/visits", visit_json)
        .put("/api/residents/{id}/check-in", check_in_json)
        .post("/api/check-ins/{id}/answer", answer_json)
        .post("/alerts/{id}/ack", ack_form)
        .post("/residents/{id}/visits", visit_form)
}

/// Who is asking, and which grids they may see (`None`: all).
struct Viewer {
    account: String,
    role: Role,
    grids: Option<BTreeSet<String>>,
    resident: Option<String>,
}

impl Viewer {
    fn sees(&self, grid: &str) -> bool {
        self.grids.as_ref().is_none_or(|g| g.contains(grid))
    }

    /// Workers act on their grids, administrators on every grid; auditors
    /// and residents only look.
    fn acts_on(&self, grid: &str) -> bool {
        match self.role {
            Role::Worker => self.sees(grid),
            Role::DistrictAdmin | Role::PlatformAdmin => true,
            Role::Auditor | Role::Resident => false,
        }
    }
}

fn forbidden(message: &str) -> Response {
    Response::error(403, "forbidden", message)
}

/// The viewer of a request, or the answer refusing it.
fn viewer(req: &Request) -> Result<Result<Viewer, Response>, Error> {
    let Some(caller) = req.caller() else {
        return Ok(Err(Response::error(
            401,
            "unauthenticated",
            "sign in: send a bearer token of a worker or administrator account of this district",
        )));
    };
    let grids = match caller.role {
        Role::Worker => Some(match data::worker_grids(&caller.account_id) {
            Ok(grids) => grids.into_iter().collect(),
            Err(Error::NotFound) => BTreeSet::new(),
            Err(e) => return Err(e),
        }),
        Role::Resident => Some(BTreeSet::new()),
        Role::DistrictAdmin | Role::PlatformAdmin | Role::Auditor => None,
    };
    Ok(Ok(Viewer {
        account: caller.account_id.clone(),
        role: caller.role,
        grids,
        resident: caller.resident_id.clone(),
    }))
}

macro_rules! viewer_or_answer {
    ($req:expr) => {
        match viewer($req)? {
            Ok(v) => v,
            Err(answer) => return Ok(answer),
        }
    };
}

/// The watched residents a viewer sees, by id.
fn visible_residents(viewer: &Viewer) -> Result<BTreeMap<String, Watched>, Error> {
    Ok(state::scan::<Watched>("roster/")?
        .into_iter()
        .filter(|(_, w)| viewer.sees(&w.grid))
        .collect())
}

/// The open alerts a viewer sees, as JSON, oldest first.
fn open_alerts(viewer: &Viewer) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for entry in kv::entries("open/") {
        let (key, grid) = entry?;
        let id = key.strip_prefix("open/").unwrap_or_default();
        let grid = String::from_utf8_lossy(&grid);
        if !viewer.sees(&grid) {
            continue;
        }
        if let Some(alert) = kv::get_json::<Alert>(&state::alert(id))? {
            out.push(alert_json(&alert)?);
        }
    }
    out.sort_by_key(|a| a["raised_at_ms"].as_i64().unwrap_or(0));
    Ok(out)
}

fn alert_json(alert: &Alert) -> Result<Value, Error> {
    let ack: Option<Ack> = kv::get_json(&state::ack(&alert.id))?;
    let case = alerts::case_of(&alert.id)?;
    let case_state =
        kv::get(&state::case_state(&alert.id))?.map(|c| String::from_utf8_lossy(&c).into_owned());
    Ok(json!({
        "id": alert.id,
        "kind": alert.kind,
        "title": alert.kind.title(),
        "resident": alert.resident,
        "grid": alert.grid,
        "device": alert.device,
        "since_ms": alert.since,
        "raised_at_ms": alert.raised_at,
        "detail": alert.detail,
        "acknowledged": ack.map(|a| json!({ "by": a.by, "at_ms": a.at })),
        "case": case.map(|id| json!({ "id": id, "state": case_state })),
    }))
}

/// What the residents list shows of each resident.
fn resident_rows(viewer: &Viewer) -> Result<Vec<Value>, Error> {
    let roster = visible_residents(viewer)?;
    let acts: HashMap<String, Activity> = state::scan("act/")?.into_iter().collect();
    let outs: HashMap<String, SensorState> = state::scan("out/")?.into_iter().collect();
    let opted: BTreeSet<String> = state::scan::<OptIn>("check-in/")?
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let mut open_per_resident: HashMap<String, usize> = HashMap::new();
    for alert in open_alerts(viewer)? {
        if let Some(r) = alert["resident"].as_str() {
            *open_per_resident.entry(r.to_owned()).or_default() += 1;
        }
    }
    Ok(roster
        .into_iter()
        .map(|(id, w)| {
            let sensor = match outs.get(&id) {
                Some(s) if s.offline => "offline",
                _ if acts.contains_key(&id) => "ok",
                _ => "no data",
            };
            json!({
                "id": id,
                "name": w.name,
                "grid": w.grid,
                "tags": w.tags,
                "last_activity_ms": acts.get(&id).map(|a| a.at),
                "sensor": sensor,
                "check_in": opted.contains(&id),
                "open_alerts": open_per_resident.get(&id).copied().unwrap_or(0),
            })
        })
        .collect())
}

fn residents_json(req: &Request, _: &Params) -> Result<Response, Error> {
    let viewer = viewer_or_answer!(req);
    if viewer.role == Role::Resident {
        return Ok(forbidden(
            "the residents list is for grid workers and administrators",
        ));
    }
    Ok(Response::json(
        200,
        &json!({ "residents": resident_rows(&viewer)? }),
    ))
}

fn alerts_json(req: &Request, _: &Params) -> Result<Response, Error> {
    let viewer = viewer_or_answer!(req);
    if viewer.role == Role::Resident {
        return Ok(forbidden("alerts are for grid workers and administrators"));
    }
    Ok(Response::json(
        200,
        &json!({ "alerts": open_alerts(&viewer)? }),
    ))
}

/// Acknowledge alert `id` for `viewer`: the answer, or the refusal.
fn acknowledge(viewer: &Viewer, id: &str) -> Result<Result<bool, Response>, Error> {
    let Some(alert) = kv::get_json::<Alert>(&state::alert(id))? else {
        return Ok(Err(Response::error(
            404,
            "not_found",
            &format!("no alert `{id}`; GET api/alerts lists the open ones"),
        )));
    };
    let grid = alert.grid.clone().unwrap_or_default();
    if !viewer.sees(&grid) {
        // Not theirs: as if it did not exist.
        return Ok(Err(Response::error(
            404,
            "not_found",
            &format!("no alert `{id}`; GET api/alerts lists the open ones"),
        )));
    }
    if !viewer.acts_on(&grid) {
        return Ok(Err(forbidden(
            "only the grid's workers and district administrators acknowledge alerts",
        )));
    }
    alerts::acknowledge(id, &viewer.account, hutong_sdk::now_ms()).map(Ok)
}

fn ack_json(req: &Request, params: &Params) -> Result<Response, Error> {
    let viewer = viewer_or_answer!(req);
    let id = params.get("id").unwrap_or_default();
    match acknowledge(&viewer, id)? {
        Ok(first) => {
            let ack: Option<Ack> = kv::get_json(&state::ack(id))?;
            Ok(Response::json(
                200,
                &json!({
                    "alert": id,
                    "acknowledged_now": first,
                    "acknowledged": ack.map(|a| json!({ "by": a.by, "at_ms": a.at })),
                }),
            ))
        }
        Err(refusal) => Ok(refusal),
    }
}

fn ack_form(req: &Request, params: &Params) -> Result<Response, Error> {
    let viewer = viewer_or_answer!(req);
    match acknowledge(&viewer, params.get("id").unwrap_or_default())? {
        Ok(_) => Ok(back_to_page("../../")),
        Err(refusal) => Ok(refusal),
    }
}

/// The watched resident `id`, if `viewer` may act on them.
fn resident_for(viewer: &Viewer, id: &str) -> Result<Result<Watched, Response>, Error> {
    let watched = kv::get_json::<Watched>(&state::roster(id))?;
    match watched {
        Some(w) if viewer.sees(&w.grid) || viewer.resident.as_deref() == Some(id) => Ok(Ok(w)),
        _ => Ok(Err(Response::error(
            404,
            "not_found",
            &format!("no watched resident `{id}` in your grids"),
        ))),
    }
}

/// Record a visit: the answer, or the refusal.
fn record_visit(viewer: &Viewer, id: &str, note: &str) -> Result<Result<Visit, Response>, Error> {
    let watched = match resident_for(viewer, id)? {
        Ok(w) => w,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if !viewer.acts_on(&watched.grid) {
        return Ok(Err(forbidden(
            "only the grid's workers and district administrators log visits",
        )));
    }
    let note = note.trim();
    if note.is_empty() || note.len() > MAX_NOTE {
        return Ok(Err(Response::error(
            400,
            "invalid_argument",
            &format!(
                "the note must be 1 to {MAX_NOTE} bytes of text; it is {} bytes",
                note.len()
            ),
        )));
    }
    let visit = Visit {
        by: viewer.account.clone(),
        at: hutong_sdk::now_ms(),
        note: note.to_owned(),
    };
    // Two visits logged in the same millisecond each get their own key.
    for seq in 0..1000 {
        if state::insert_json(&state::visit(id, visit.at, seq), &visit)? {
            return Ok(Ok(visit));
        }
    }
    Err(Error::LimitExceeded(
        "too many visits logged at once; try again".into(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VisitBody {
    note: String,
}

fn visit_json(req: &Request, params: &Params) -> Result<Response, Error> {
    let viewer = viewer_or_answer!(req);
    let body: VisitBody = req.json()?;
    match record_visit(&viewer, params.get("id").unwrap_or_default(), &body.note)? {
        Ok(visit) => Ok(Response::json(
            201,
            &json!({ "by": visit.by, "at_ms": visit.at, "note": visit.note }),
        )),
        Err(refusal) => Ok(refusal),
    }
}

fn visit_form(req: &Request, params: &Params) -> Result<Response, Error> {
    let viewer = viewer_or_answer!(req);
    let note = req.form_param("note").unwrap_or_default();
    match record_visit(&viewer, params.get("id").unwrap_or_default(), &note)? {
        Ok(_) => Ok(back_to_page("../../")),
        Err(refusal) => Ok(refusal),
    }
}

fn visits_json(req: &Request, params: &Params) -> Result<Response, Error> {
    let viewer = viewer_or_answer!(req);
    let id = params.get("id").unwrap_or_default();
    if let Err(refusal) = resident_for(&viewer, id)? {
        return Ok(refusal);
    }
    let visits: Vec<Value> = state::scan::<Visit>(&format!("visit/{id}/"))?
        .into_iter()
        .map(|(_, v)| json!({ "by": v.by, "at_ms": v.at, "note": v.note }))
        .collect();
    Ok(Response::json(200, &json!({ "visits": visits })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckInBody {
    enabled: bool,
}

fn check_in_json(req: &Request, params: &Params) -> Result<Response, Error> {
    let viewer = viewer_or_answer!(req);
    let id = params.get("id").unwrap_or_default();
    let body: CheckInBody = req.json()?;
    let watched = match resident_for(&viewer, id)? {
        Ok(w) => w,
        Err(refusal) => return Ok(refusal),
    };
    let own = viewer.resident.as_deref() == Some(id);
    if !own && !viewer.acts_on(&watched.grid) {
        return Ok(forbidden(
            "a resident opts in for themselves; a worker for the residents of their grids",
        ));
    }
    if body.enabled {
        kv::set_json(
            &state::check_in(id),
            &OptIn {
                by: viewer.account.clone(),
                at: hutong_sdk::now_ms(),
            },
        )?;
    } else {
        kv::delete(&state::check_in(id))?;
    }
    Ok(Response::json(
        200,
        &json!({ "resident": id, "check_in": body.enabled }),
    ))
}

fn answer_json(req: &Request, params: &Params) -> Result<Response, Error> {
    let viewer = viewer_or_answer!(req);
    let id = params.get("id").unwrap_or_default();
    let watched = match resident_for(&viewer, id)? {
        Ok(w) => w,
        Err(refusal) => return Ok(refusal),
    };
    let own = viewer.resident.as_deref() == Some(id);
    if !own && !viewer.acts_on(&watched.grid) {
        return Ok(forbidden(
            "a resident answers for themselves; a worker (or the IVR's worker account) for the residents of their grids",
        ));
    }
    let cfg = Settings::load()?;
    let now = hutong_sdk::now_ms();
    let date = time::local_date(now, cfg.settings.utc_offset_minutes);
    let first = state::insert_json(
        &state::answer(&date, id),
        &Ack {
            by: viewer.account.clone(),
            at: now,
        },
    )?;
    Ok(Response::json(
        200,
        &json!({ "resident": id, "date": date, "answered_now": first }),
    ))
}

fn back_to_page(location: &str) -> Response {
    Response::new(303).with_header("location", location)
}

/// The case state's name, as the worker view shows it.
pub fn case_state_name(state: CaseState) -> &'static str {
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

/// The worker view as one plain HTML page, with forms to acknowledge alerts
/// and log visits (they post back and return here).
fn page(req: &Request, _: &Params) -> Result<Response, Error> {
    let viewer = viewer_or_answer!(req);
    if viewer.role == Role::Resident {
        return Ok(forbidden(
            "the worker view is for grid workers and administrators",
        ));
    }
    let alerts = open_alerts(&viewer)?;
    let residents = resident_rows(&viewer)?;
    let text = |v: &Value| html_escape(v.as_str().unwrap_or(""));
    let when = |v: &Value| {
        v.as_i64()
            .map(|ms| format!("{} min ago", (hutong_sdk::now_ms() - ms) / time::MINUTE_MS))
            .unwrap_or_else(|| "never".to_owned())
    };
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Smart care</title></head><body>\n<h1>Smart care (智慧关怀)</h1>\n",
    );
    html.push_str(&format!("<h2>Open alerts ({})</h2>\n<ul>\n", alerts.len()));
    for a in &alerts {
        html.push_str(&format!(
            "<li><b>{}</b>: {} <small>({})</small>",
            text(&a["title"]),
            text(&a["detail"]),
            html_escape(&when(&a["raised_at_ms"]))
        ));
        if let Some(case) = a["case"].as_object() {
            html.push_str(&format!(
                " — case {} {}",
                html_escape(case.get("id").and_then(Value::as_str).unwrap_or("")),
                html_escape(case.get("state").and_then(Value::as_str).unwrap_or(""))
            ));
        }
        if a["acknowledged"].is_null() {
            html.push_str(&format!(
                " <form method=\"post\" action=\"alerts/{}/ack\" style=\"display:inline\"><button>Acknowledge</button></form>",
                html_escape(a["id"].as_str().unwrap_or(""))
            ));
        } else {
            html.push_str(&format!(
                " — acknowledged by {}",
                text(&a["acknowledged"]["by"])
            ));
        }
        html.push_str("</li>\n");
    }
    html.push_str("</ul>\n");
    html.push_str(&format!(
        "<h2>Residents under care ({})</h2>\n<table border=\"1\"><tr><th>Resident</th><th>Grid</th><th>Last door activity</th><th>Sensor</th><th>Open alerts</th><th>Log a visit</th></tr>\n",
        residents.len()
    ));
    for r in &residents {
        html.push_str(&format!(
            "<tr><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><form method=\"post\" action=\"residents/{}/visits\"><input name=\"note\" maxlength=\"{MAX_NOTE}\" required><button>Save</button></form></td></tr>\n",
            text(&r["name"]),
            text(&r["id"]),
            text(&r["grid"]),
            html_escape(&when(&r["last_activity_ms"])),
            text(&r["sensor"]),
            r["open_alerts"],
            html_escape(r["id"].as_str().unwrap_or("")),
        ));
    }
    html.push_str("</table>\n</body></html>\n");
    Ok(Response::html(200, html))
}
