//! `hello`: the example Hutong app. It greets visitors by name and counts,
//! in the install's kv store, how often each name was greeted.
//!
//! Routes (below the app's mount, `/d/{district}/apps/hello`):
//!
//! - `GET /` — what this app is and its endpoints;
//! - `GET /greet/{name}` — greets `name` and counts the visit;
//! - `GET /visits` — every name greeted so far, with its count;
//! - `GET /whoami` — who the host says is calling;
//! - `GET /ping` — `pong`, touching nothing (for benchmarks).

use hutong_sdk::{App, Error, Params, Request, Response, Router, kv, log};
use serde::Serialize;
use serde_json::json;

/// Visit counts live under `visits/{name}`, one JSON number per name, so that
/// one prefix listing finds them all.
const VISITS_PREFIX: &str = "visits/";

struct Hello;

impl App for Hello {
    fn handle(req: Request) -> Response {
        // Each request runs in a fresh instance, so the router is built per
        // request; it is a handful of small allocations.
        Router::new()
            .get("/", index)
            .get("/greet/{name}", greet)
            .get("/visits", visits)
            .get("/whoami", whoami)
            .get("/ping", |_, _| Ok(Response::text(200, "pong")))
            .handle(req)
    }
}

hutong_sdk::export_app!(Hello);

fn index(_: &Request, _: &Params) -> Result<Response, Error> {
    Ok(Response::json(
        200,
        &json!({
            "app": "hello",
            "message": "Hello from a Hutong app.",
            "endpoints": ["GET /greet/{name}", "GET /visits", "GET /whoami", "GET /ping"],
        }),
    ))
}

fn greet(_: &Request, params: &Params) -> Result<Response, Error> {
    let name = params
        .get("name")
        .ok_or_else(|| Error::InvalidArgument("a name is required: /greet/{name}".into()))?;
    let key = format!("{VISITS_PREFIX}{name}");
    // Read-modify-write: two concurrent greetings of one name may count once.
    // Good enough for a greeting counter; use `kv::insert_if_absent` for
    // anything that must not be lost.
    let visits = kv::get_json::<u64>(&key)?.unwrap_or(0) + 1;
    kv::set_json(&key, &visits)?;
    log::info(
        "greeted",
        &[("name", name), ("visits", &visits.to_string())],
    );
    Ok(Response::json(
        200,
        &json!({ "greeting": format!("Hello, {name}!"), "visits": visits }),
    ))
}

#[derive(Serialize)]
struct Visits {
    name: String,
    visits: u64,
}

fn visits(_: &Request, _: &Params) -> Result<Response, Error> {
    let mut all = Vec::new();
    for key in kv::keys(VISITS_PREFIX) {
        let key = key?;
        // A key deleted between the listing and the read is skipped.
        if let Some(visits) = kv::get_json::<u64>(&key)? {
            let name = key.strip_prefix(VISITS_PREFIX).unwrap_or(&key).to_owned();
            all.push(Visits { name, visits });
        }
    }
    Ok(Response::json(200, &json!({ "visits": all })))
}

fn whoami(req: &Request, _: &Params) -> Result<Response, Error> {
    let body = match req.caller() {
        Some(caller) => json!({ "anonymous": false, "caller": caller }),
        None => json!({ "anonymous": true, "caller": null }),
    };
    Ok(Response::json(200, &body))
}
