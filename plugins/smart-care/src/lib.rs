//! `smart-care` (智慧关怀): watches the door sensors of residents tagged
//! elderly, living-alone or disabled, and the smoke and gas detectors of
//! their homes, for the grid workers who look after them.
//!
//! - **Inactivity (长久不出)**: no door activity for `inactivity_hours`.
//! - **Night absence (久出不归)**: a door event during the night hours and
//!   none after it for `night_absence_hours`.
//! - **Alarm**: a smoke or gas alarm opens an urgent case at once and calls
//!   and texts the grid's workers and the residents' family contacts.
//! - **Device fault**: a device the host reports offline (silent past its
//!   heartbeat interval) is a fault for the worker, not a welfare alert.
//! - **Daily check-in (智能外呼)**: residents who opted in get a voice call at
//!   `check_in_time`; no answer within `check_in_answer_minutes` (and no
//!   door activity since the call) is an alert.
//!
//! An alert goes to the grid's workers (inbox and SMS); if nobody
//! acknowledges it within `ack_window_minutes` it becomes a case (category
//! `case_category`) and the case lifecycle takes over. One quiet stretch is
//! one episode and raises one alert; a new door event ends it.
//!
//! The app sees residents masked (it does not ask for personal fields), and
//! never a phone number: the host resolves every recipient.
//!
//! See `README.md` for the settings, the HTTP API and the kv layout.

pub mod alerts;
pub mod events;
pub mod settings;
pub mod state;
pub mod time;
pub mod view;
pub mod watch;

use hutong_sdk::{App, CaseChange, CaseState, DeviceEvent, Error, Request, Response, Tick, kv};

use crate::settings::Settings;

/// The app, as the host calls it.
pub struct SmartCare;

impl App for SmartCare {
    fn handle(req: Request) -> Response {
        view::router().handle(req)
    }

    fn on_event(event: DeviceEvent) -> Result<(), Error> {
        events::handle(event)
    }

    fn on_tick(tick: Tick) -> Result<(), Error> {
        // The host's clock, not the period's due time: a tick delivered late
        // judges the quiet up to now.
        let _ = tick.scheduled_at_ms;
        let cfg = Settings::load()?;
        watch::run(&cfg, hutong_sdk::now_ms()).map(|_| ())
    }

    fn on_case_changed(change: CaseChange) -> Result<(), Error> {
        let Some(alert) = kv::get(&state::case_alert(&change.case_id))? else {
            return Ok(());
        };
        let alert = String::from_utf8_lossy(&alert).into_owned();
        kv::set(
            &state::case_state(&alert),
            view::case_state_name(change.to_state).as_bytes(),
        )?;
        if change.to_state == CaseState::Closed {
            alerts::resolve(&alert, hutong_sdk::now_ms(), "its case was closed")?;
        }
        Ok(())
    }
}

// Exported only for WebAssembly: the rules' unit tests build the crate for
// the machine running them, where the component's exports cannot link.
#[cfg(target_arch = "wasm32")]
hutong_sdk::export_app!(SmartCare);
