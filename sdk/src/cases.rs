//! Cases (案件, work orders): open them, read and comment on the ones the app
//! opened, and hear about their progress.
//!
//! The district's workers and departments take a case through its lifecycle
//! (accept → dispatch → handle → verify → close, escalated tier by tier when
//! needed); the app follows along. Each function needs a permission, which
//! the manifest declares with a reason and the district grants:
//!
//! | permission | gives |
//! |---|---|
//! | `open-cases` | [`open`] |
//! | `read-own-cases` | [`get`], [`history`], [`list`], and being told about changes |
//! | `comment-cases` | [`comment`] |
//!
//! Without the grant a call returns [`Error::Denied`] naming the permission.
//! An app sees only the cases it opened: any other case is
//! [`Error::NotFound`], like one that does not exist. Every call is recorded
//! in the district's access log.
//!
//! ```no_run
//! use hutong_sdk::cases::{self, CaseReport, Priority};
//!
//! # fn main() -> Result<(), hutong_sdk::Error> {
//! // A door sensor saw no movement for two days at an elderly resident's.
//! let id = cases::open(&CaseReport {
//!     priority: Priority::High,
//!     resident_id: Some("r-0042".into()),
//!     ..CaseReport::new("elderly-care", "No door movement for 48 hours; please visit.")
//! })?;
//! let case = cases::get(&id)?;
//! println!("case {id} is {:?} at the {:?} tier", case.state, case.tier);
//! cases::comment(&id, "The family was called; no answer.")?;
//! # Ok(())
//! # }
//! ```
//!
//! # Hearing about changes
//!
//! After each transition of a case the app opened (accepted, dispatched,
//! handled, closed, escalated, …) the host calls [`App::on_case_changed`]
//! with a [`CaseChange`], in a fresh instance like any other call, as long
//! as the install holds `read-own-cases`. Changes of one case arrive in
//! order and at least once: an error (or a trap) makes the host tell the app
//! again later, up to 8 times with growing pauses, so handle a change
//! idempotently.
//!
//! ```no_run
//! use hutong_sdk::{App, CaseChange, CaseState, Error, Request, Response, kv};
//!
//! struct Alerts;
//!
//! impl App for Alerts {
//!     fn handle(_req: Request) -> Response {
//!         Response::text(404, "nothing here")
//!     }
//!
//!     fn on_case_changed(change: CaseChange) -> Result<(), Error> {
//!         if change.to_state == CaseState::Closed {
//!             kv::set(&format!("closed/{}", change.case_id), b"")?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! hutong_sdk::export_app!(Alerts);
//! ```
//!
//! [`App::on_case_changed`]: crate::App::on_case_changed
//! [`CaseChange`]: crate::CaseChange

use crate::Error;
use crate::bindings::hutong::platform::cases as wit;
// In WebAssembly the host's functions; outside it (an app's `cargo test`)
// the SDK's in-memory test host, so that calls never abort.
#[cfg(target_arch = "wasm32")]
use crate::bindings::hutong::platform::cases as host;
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::cases as host;

pub use crate::bindings::hutong::platform::case_types::{CaseChange, CaseState, Priority, Tier};
pub use wit::{CaseEvent, CaseInfo, CasePage, CaseReport};

/// The most cases one [`list`] page holds.
pub const MAX_PAGE: u32 = 500;

/// The longest description or comment, in characters.
pub const MAX_TEXT: usize = 4000;

impl CaseReport {
    /// A report of `description` in `category` (one of the district's
    /// category codes), at normal priority, with no location, resident or
    /// attachments; set those fields as needed.
    pub fn new(category: impl Into<String>, description: impl Into<String>) -> Self {
        CaseReport {
            category: category.into(),
            priority: Priority::Normal,
            grid_id: None,
            building_id: None,
            description: description.into(),
            resident_id: None,
            attachments: Vec::new(),
        }
    }
}

/// Open a case reported by this app and return its id. Needs `open-cases`.
///
/// [`Error::InvalidArgument`] says what was wrong (an unknown category, an
/// empty or too long description, a grid, building or resident the install
/// cannot see, …); nothing is stored then.
pub fn open(report: &CaseReport) -> Result<String, Error> {
    Ok(host::open(report)?)
}

/// Open a case on behalf of the resident it concerns
/// (`report.resident_id`, required): it is the app's case like any other,
/// and also the resident's, who follows, evaluates and may reopen it in the
/// console as their own report. Use [`open`] for a case that concerns a
/// resident but is not theirs to follow. Needs `open-cases`.
pub fn open_for_resident(report: &CaseReport) -> Result<String, Error> {
    Ok(host::open_for_resident(report)?)
}

/// One case the app opened. Needs `read-own-cases`.
pub fn get(id: &str) -> Result<CaseInfo, Error> {
    Ok(host::get(id)?)
}

/// The history of a case the app opened, oldest first: its report, every
/// transition and comment. Needs `read-own-cases`.
pub fn history(id: &str) -> Result<Vec<CaseEvent>, Error> {
    Ok(host::history(id)?)
}

/// One page of the cases the app opened, newest first, optionally only
/// those in `state`; `limit` is 1..=[`MAX_PAGE`], `cursor` the
/// [`CasePage::next_cursor`] of the previous page. Needs `read-own-cases`.
pub fn list(state: Option<CaseState>, cursor: Option<&str>, limit: u32) -> Result<CasePage, Error> {
    Ok(host::list(state, cursor, limit)?)
}

/// Add a comment (1..=[`MAX_TEXT`] characters) to a case the app opened. Needs
/// `comment-cases`.
pub fn comment(id: &str, text: &str) -> Result<(), Error> {
    Ok(host::comment(id, text)?)
}
