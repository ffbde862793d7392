//! `handlers-only`: a Hutong app built from its own world
//! (`wit/world.wit`), which imports `kv` and `cases` and exports only
//! `http-handler`, the way componentize-py and componentize-js build an app
//! that implements one handler. No stub for the other three.
//!
//! - `GET /count` adds one to a kv counter and answers it.
//! - `POST /open` with the body `CATEGORY GRID` opens a case and answers
//!   its id.
//! - `GET /case/{id}` answers the case's status.

wit_bindgen::generate!({
    world: "test:handlers-only/handlers-only",
    // The Hutong contract first: the local package depends on it.
    path: ["../../../wit", "wit"],
    generate_all,
});

use exports::hutong::platform::http_handler;
use hutong::platform::{cases, kv};

struct HandlersOnly;

fn answer(status: u16, body: String) -> http_handler::Response {
    http_handler::Response {
        status,
        headers: vec![(
            "content-type".to_owned(),
            "text/plain; charset=utf-8".to_owned(),
        )],
        body: body.into_bytes(),
    }
}

impl http_handler::Guest for HandlersOnly {
    fn handle(request: http_handler::Request) -> http_handler::Response {
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/count") => {
                let before = match kv::get("count") {
                    Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).parse::<u64>().unwrap_or(0),
                    Ok(None) => 0,
                    Err(e) => return answer(500, format!("{e:?}")),
                };
                let now = before + 1;
                match kv::set("count", now.to_string().as_bytes()) {
                    Ok(()) => answer(200, now.to_string()),
                    Err(e) => answer(500, format!("{e:?}")),
                }
            }
            ("POST", "/open") => {
                let body = String::from_utf8_lossy(&request.body).into_owned();
                let (category, grid) = body.split_once(' ').unwrap_or((&body, ""));
                let report = cases::CaseReport {
                    category: category.to_owned(),
                    priority: hutong::platform::case_types::Priority::Normal,
                    grid_id: (!grid.is_empty()).then(|| grid.to_owned()),
                    building_id: None,
                    description: "opened by handlers-only".to_owned(),
                    resident_id: None,
                    attachments: Vec::new(),
                };
                match cases::open(&report) {
                    Ok(id) => answer(201, id),
                    Err(e) => answer(500, format!("{e:?}")),
                }
            }
            ("GET", path) if path.starts_with("/case/") => {
                match cases::get(&path["/case/".len()..]) {
                    Ok(case) => answer(200, format!("{:?}", case.state)),
                    Err(e) => answer(500, format!("{e:?}")),
                }
            }
            _ => answer(404, "no such route".to_owned()),
        }
    }
}

export!(HandlersOnly);
