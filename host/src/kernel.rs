//! The kernel every capability stands on, and which names none of them:
//! typed ids, the one clock, the manifest and its permissions, the grant
//! (the one place a capability is checked and its use written to the access
//! log), the WIT bindings, what each call's fresh store holds
//! (`app_state::AppState`), and storage: the [`store::Store`] handle with
//! its shared helpers, the district table, the access log and the outbox
//! engine.

pub mod access_log;
pub(crate) mod app_state;
pub mod clock;
pub mod districts;
pub mod events;
pub mod grant;
pub mod ids;
pub mod limits;
pub mod manifest;
pub mod metrics;
pub mod outbox;
pub mod store;
pub(crate) mod wit;
