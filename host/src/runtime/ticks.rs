//! Calling an install's `tick-handler` export for one of its schedules.

use super::call::{Export, Subject};
use crate::kernel::app_state::AppState;
use crate::kernel::manifest::Permission;
use crate::kernel::store::Store;
use crate::kernel::wit::Prepared;
use crate::kernel::wit::WitError;
use crate::kernel::wit::exports::hutong::platform::tick_handler::Tick;
use crate::runtime::{CallError, Failure, Loaded, Runtime};
use wasmtime::component::Instance;

/// What became of one tick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TickOutcome {
    /// The app handled the tick.
    Handled,
    /// The app answered with an error (the message says which).
    Refused(String),
    /// The install does not hold `schedules`, so it was not called.
    NotGranted,
}

impl Runtime {
    /// Call the `tick-handler` of `district`/`app` for the period of
    /// `schedule` that was due at `scheduled_at_ms`, under the install's
    /// limits and deadline, counted towards its health like any call.
    pub async fn tick(
        &self,
        district: &str,
        app: &str,
        schedule: &str,
        scheduled_at_ms: i64,
        request_id: String,
    ) -> Result<TickOutcome, CallError> {
        let tick = Tick {
            schedule: schedule.to_owned(),
            scheduled_at_ms: u64::try_from(scheduled_at_ms).unwrap_or(0),
        };
        let subject = Subject::Tick(schedule);
        self.call(district, app, request_id, subject, TickHandler(tick))
            .await
    }
}

/// One period of a schedule, for the app's `tick-handler`.
struct TickHandler(Tick);

impl Export for TickHandler {
    type Returned = Result<(), WitError>;
    type Admitted = ();
    type Output = TickOutcome;

    async fn admit(
        &mut self,
        _store: &Store,
        loaded: &Loaded,
        _request_id: &str,
    ) -> Result<Result<(), TickOutcome>, CallError> {
        if loaded.identity.holds(Permission::Schedules) {
            Ok(Ok(()))
        } else {
            Ok(Err(TickOutcome::NotGranted))
        }
    }

    async fn invoke(
        self,
        (): (),
        (pre, instance): (&Prepared, Instance),
        store: &mut wasmtime::Store<AppState>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        pre.ticks(store, &instance)?
            .call_on_tick(store, &self.0)
            .await
    }

    fn check(answer: Result<(), WitError>, _loaded: &Loaded) -> Result<TickOutcome, Failure> {
        Ok(match answer {
            Ok(()) => TickOutcome::Handled,
            Err(error) => TickOutcome::Refused(error.describe()),
        })
    }
}
