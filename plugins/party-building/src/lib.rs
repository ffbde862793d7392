//! 智慧党建, the party-building app: a district's party branches, their
//! 三会一课 activities and attendance, in-service members' volunteer service,
//! an append-only points ledger, and monthly or quarterly compliance reports
//! in JSON and CSV. Written only against `hutong-sdk`.
//!
//! The one design decision to know: every figure a report counts is carried
//! in `kv` index keys (see [`records`]), so a report is a scan of keys, not a
//! read per record, and one call can report on every branch of a district.
//!
//! Routes (every one needs a signed-in caller of the district; see
//! `README.md` for bodies and answers):
//!
//! | route | who |
//! |---|---|
//! | `GET /branches` | anyone of the district |
//! | `GET /branches/{b}/members` | the branch's members, its secretary, administrators |
//! | `POST /branches/{b}/activities`, `GET` (`?period=`) | secretary or administrator; members read |
//! | `GET /activities/{a}` | members (their own standing), secretary (the sheet) |
//! | `POST /activities/{a}/cancel` | secretary or administrator, before the start |
//! | `POST /activities/{a}/check-in` | a member expected at it, within the window |
//! | `POST /activities/{a}/leave` | a member expected at it, before the start |
//! | `POST /activities/{a}/leave/{member}/approve`, `/refuse` | secretary or administrator |
//! | `POST /activities/{a}/attendance` | secretary or administrator (recorded by hand) |
//! | `POST /in-service`, `DELETE` | an account registering as in-service member, or leaving |
//! | `POST /branches/{b}/tasks`, `GET` | secretary or administrator; members read |
//! | `POST /tasks/{t}/hours` | a member of the task's branch |
//! | `POST /hours/{h}/confirm`, `/refuse` | secretary or administrator |
//! | `GET /branches/{b}/hours` (`?period=`) | secretary or administrator; members their own |
//! | `GET /branches/{b}/ledger` (`?period=&member=`) | secretary or administrator; members their own |
//! | `POST /branches/{b}/ledger/corrections` | secretary or administrator |
//! | `GET /branches/{b}/report` (`?period=&format=csv&table=`) | secretary, administrator, auditor |
//! | `GET /reports` (`?period=&format=csv&cursor=&limit=`) | administrator, auditor |

mod access;
mod activities;
mod csv;
mod ledger;
pub mod records;
mod report;
mod service;
mod settings;
mod time;

use hutong_sdk::{App, Error, Params, Request, Response, Router, Tick};

/// What a handler can answer besides success: the SDK's errors, and the
/// refusals this app makes itself (403 and 409 with its own message).
#[derive(Debug)]
pub enum Fail {
    /// A host call's error, or a bad request body.
    Sdk(Error),
    /// 400 with this message.
    Invalid(String),
    /// 401: no caller.
    Unauthenticated,
    /// 403 with this message.
    Forbidden(String),
    /// 404 with this message.
    NotFound(String),
    /// 409 with this message.
    Conflict(String),
}

impl From<Error> for Fail {
    fn from(error: Error) -> Fail {
        Fail::Sdk(error)
    }
}

impl Fail {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            Fail::Sdk(error) => return Response::from(error),
            Fail::Invalid(m) => (400, "invalid_argument", m),
            Fail::Unauthenticated => (
                401,
                "unauthenticated",
                "sign in: this app needs to know who you are".to_owned(),
            ),
            Fail::Forbidden(m) => (403, "forbidden", m),
            Fail::NotFound(m) => (404, "not_found", m),
            Fail::Conflict(m) => (409, "conflict", m),
        };
        Response::json(
            status,
            &serde_json::json!({ "error": { "code": code, "message": message } }),
        )
    }
}

/// A handler of this app.
type Handler = fn(&Request, &Params) -> Result<Response, Fail>;

fn wrap(handler: Handler) -> impl Fn(&Request, &Params) -> Result<Response, Error> {
    move |req, params| Ok(handler(req, params).unwrap_or_else(Fail::into_response))
}

/// The app.
pub struct PartyBuilding;

impl App for PartyBuilding {
    fn handle(req: Request) -> Response {
        Router::new()
            .get("/branches", wrap(activities::list_branches))
            .get("/branches/{branch}/members", wrap(activities::list_members))
            .post("/branches/{branch}/activities", wrap(activities::create))
            .get("/branches/{branch}/activities", wrap(activities::list))
            .get("/activities/{activity}", wrap(activities::show))
            .post(
                "/activities/{activity}/check-in",
                wrap(activities::check_in),
            )
            .post("/activities/{activity}/cancel", wrap(activities::cancel))
            .post(
                "/activities/{activity}/leave",
                wrap(activities::request_leave),
            )
            .post(
                "/activities/{activity}/leave/{member}/{decision}",
                wrap(activities::decide_leave),
            )
            .post(
                "/activities/{activity}/attendance",
                wrap(activities::record),
            )
            .post("/in-service", wrap(service::register))
            .delete("/in-service", wrap(service::unregister))
            .post("/branches/{branch}/tasks", wrap(service::create_task))
            .get("/branches/{branch}/tasks", wrap(service::list_tasks))
            .post("/tasks/{task}/hours", wrap(service::log_hours))
            .post("/hours/{log}/{decision}", wrap(service::decide_hours))
            .get("/branches/{branch}/hours", wrap(service::list_hours))
            .get("/branches/{branch}/ledger", wrap(service::ledger))
            .post(
                "/branches/{branch}/ledger/corrections",
                wrap(service::correct),
            )
            .get("/branches/{branch}/report", wrap(service::branch_report))
            .get("/reports", wrap(service::all_reports))
            .handle(req)
    }

    fn on_tick(tick: Tick) -> Result<(), Error> {
        activities::remind(hutong_sdk::now_ms(), &tick)
    }
}

hutong_sdk::export_app!(PartyBuilding);

/// A JSON body's field that must be text of `min..=max` characters.
pub(crate) fn text(value: &str, field: &str, min: usize, max: usize) -> Result<String, Fail> {
    let value = value.trim();
    let count = value.chars().count();
    if count < min || count > max {
        return Err(Fail::Invalid(format!(
            "`{field}` must be {min} to {max} characters, got {count}"
        )));
    }
    Ok(value.to_owned())
}

/// The `period` query parameter, or the current month.
pub(crate) fn period(
    req: &Request,
    settings: &settings::Settings,
    now_ms: i64,
) -> Result<time::Period, Fail> {
    match req.query_param("period") {
        Some(p) => time::Period::parse(&p).map_err(Fail::Invalid),
        None => Ok(time::Period::Month(settings.offset.month(now_ms))),
    }
}
