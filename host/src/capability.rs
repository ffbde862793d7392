//! One module per host capability (WIT interface an app imports). Each
//! module holds the generated `Host` trait impl and, beside it, the one
//! place that checks the install's [`Grant`](crate::grant::Grant) for that
//! capability. A refusal is a typed [`WitError`](crate::bindings::WitError),
//! never a trap. [`events::admit_event`] and [`cases::admit_watcher`] are the
//! same kind of check for the exports the runtime calls with something to
//! hand over (a device event, a case change).
//!
//! A host call works with [`AppState`] alone: the database and the grant.
//! It never reaches the runtime or the install lifecycle, so every
//! capability can be called (and tested) without an engine. The case and
//! notification rules it applies are operations over the store alone
//! ([`Cases`](crate::platform::Cases),
//! [`Sends`](crate::platform::notifications::Sends)), shared with the API and
//! the CLI.

pub(crate) mod cases;
pub(crate) mod config;
pub(crate) mod data;
pub(crate) mod events;
pub(crate) mod kv;
pub(crate) mod log;
pub(crate) mod notify;
pub(crate) mod state;

use crate::bindings::hutong::platform::types;
pub(crate) use state::AppState;

// `types` and `case-types` hold only type definitions; they have nothing to
// check.
impl types::Host for AppState {}
impl crate::bindings::case_types::Host for AppState {}
