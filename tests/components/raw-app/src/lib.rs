//! `raw-app`: a Hutong app written straight against the WIT contract with
//! `wit_bindgen`, no SDK. It proves the contract is usable on its own, and,
//! since it calls no host function, that its component imports neither
//! `hutong:platform/kv` nor `hutong:platform/log`.
//!
//! `GET` of any path answers `raw app at {path}`; other methods get 405.

wit_bindgen::generate!({
    world: "app",
    path: "../../../wit",
});

use exports::hutong::platform::{case_watcher, event_handler, http_handler, tick_handler};
use hutong::platform::types::Error;

struct RawApp;

impl http_handler::Guest for RawApp {
    fn handle(request: http_handler::Request) -> http_handler::Response {
        let (status, body) = if request.method == "GET" {
            (200, format!("raw app at {}", request.path))
        } else {
            (405, format!("{} is not allowed; only GET", request.method))
        };
        let mut headers = vec![(
            "content-type".to_owned(),
            "text/plain; charset=utf-8".to_owned(),
        )];
        if status == 405 {
            headers.push(("allow".to_owned(), "GET".to_owned()));
        }
        http_handler::Response {
            status,
            headers,
            body: body.into_bytes(),
        }
    }
}

impl event_handler::Guest for RawApp {
    fn on_event(_event: event_handler::DeviceEvent) -> Result<(), Error> {
        Ok(())
    }
}

impl tick_handler::Guest for RawApp {
    fn on_tick(_tick: tick_handler::Tick) -> Result<(), Error> {
        Ok(())
    }
}

impl case_watcher::Guest for RawApp {
    fn on_case_changed(_change: case_watcher::CaseChange) -> Result<(), Error> {
        Ok(())
    }
}

export!(RawApp);
