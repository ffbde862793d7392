//! `foreign-import`: a Hutong app whose component also imports
//! `acme:widgets/gadgets@1.0.0`, an interface no Hutong host provides. The
//! host must refuse to install (or instantiate) it, naming the import.
//!
//! The handler calls `frobnicate`, so the import survives linking.

wit_bindgen::generate!({
    world: "acme:widgets/foreign-app",
    // The Hutong contract first: the local package depends on it.
    path: ["../../../wit", "wit"],
    // The Hutong interfaces live in another package than this world.
    generate_all,
});

use acme::widgets::gadgets::frobnicate;
use exports::hutong::platform::{case_watcher, event_handler, http_handler, tick_handler};
use hutong::platform::types::Error;

struct ForeignImport;

impl http_handler::Guest for ForeignImport {
    fn handle(request: http_handler::Request) -> http_handler::Response {
        let len = u32::try_from(request.path.len()).unwrap_or(u32::MAX);
        http_handler::Response {
            status: 200,
            headers: vec![("content-type".to_owned(), "text/plain".to_owned())],
            body: format!("frobnicated: {}", frobnicate(len)).into_bytes(),
        }
    }
}

impl event_handler::Guest for ForeignImport {
    fn on_event(_event: event_handler::DeviceEvent) -> Result<(), Error> {
        Ok(())
    }
}

impl tick_handler::Guest for ForeignImport {
    fn on_tick(_tick: tick_handler::Tick) -> Result<(), Error> {
        Ok(())
    }
}

impl case_watcher::Guest for ForeignImport {
    fn on_case_changed(_change: case_watcher::CaseChange) -> Result<(), Error> {
        Ok(())
    }
}

export!(ForeignImport);
