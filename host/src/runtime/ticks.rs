//! Calling an install's `tick-handler` export for one of its schedules.

use std::time::Instant;

use tracing::Instrument;

use super::{CallError, Runtime, call_timeout, check_active};
use crate::bindings::exports::hutong::platform::tick_handler::Tick;
use crate::manifest::Permission;

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
        let loaded = self.find(district, app).await?;
        check_active(&loaded)?;
        if !loaded.identity.holds(Permission::Schedules) {
            return Ok(TickOutcome::NotGranted);
        }
        let span = tracing::info_span!(
            "app_call",
            district,
            app,
            version = %loaded.install.version,
            request_id = %request_id,
            schedule,
        );
        async {
            let started = Instant::now();
            let mut store = self.fresh_store(&loaded, request_id, started);
            let tick = Tick {
                schedule: schedule.to_owned(),
                scheduled_at_ms: u64::try_from(scheduled_at_ms).unwrap_or(0),
            };
            let pre = loaded.pre.clone();
            let call = async {
                let instance = pre.instantiate_async(&mut store).await?;
                instance
                    .hutong_platform_tick_handler()
                    .call_on_tick(&mut store, &tick)
                    .await
            };
            let outcome = tokio::time::timeout(call_timeout(&loaded), call).await;
            self.settle(
                &loaded,
                &mut store,
                started,
                outcome,
                |answer| {
                    Ok(match answer {
                        Ok(()) => TickOutcome::Handled,
                        Err(error) => TickOutcome::Refused(error.describe()),
                    })
                },
                |_| None,
            )
            .await
        }
        .instrument(span)
        .await
    }
}
