//! Schedules: the host calls each install's `tick-handler` once per period
//! of every schedule its manifest declares, across all host processes.
//!
//! The design decision to know: **a period is claimed by inserting its row**
//! in `schedule_runs` (the primary key is district, app, schedule and the
//! time the period was due). Every process computes the same periods (an
//! interval is aligned to the Unix epoch; a cron expression gives the same
//! instants everywhere), so whichever process inserts first runs the tick
//! and the others skip it. Only the latest due period is ever run: a host
//! that was down for several periods runs one tick when it starts, not one
//! per missed period. A period due before the app was installed is not run.
//! A tick that fails (an error result, a trap, a missed deadline) is
//! recorded and not retried: the next period is the next chance.

use serde::Serialize;
use tokio::task::JoinSet;

use crate::error::PlatformError;
use crate::installs::store::InstallStatus;
use crate::kernel::grant;
use crate::kernel::manifest::Permission;
use crate::platform::Platform;
use crate::runtime::TickOutcome;
use crate::schedules::ScheduleView;
use crate::schedules::store::ScheduleRun;

/// What one pass over the schedules did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// Ticks the apps handled.
    pub handled: u64,
    /// Ticks that failed (an error result, a trap, a missed deadline).
    pub failed: u64,
    /// Due periods another process had already claimed.
    pub skipped: u64,
}

impl Platform {
    /// Run every tick that is due now and has not run yet, in any process.
    pub async fn run_due_ticks(&self) -> Result<TickReport, PlatformError> {
        let now = self.store.clock().now_ms();
        let installs = self.store.list_installs(None).await?;
        let latest = self.store.latest_schedule_runs().await?;
        let mut due = Vec::new();
        for install in &installs {
            if install.status != InstallStatus::Active
                || !grant::holds(&install.granted, Permission::Schedules)
            {
                continue;
            }
            for (schedule, timing) in install.manifest.timings() {
                let Some(period) = timing.latest_due(now) else {
                    continue;
                };
                let key = (
                    install.district.clone(),
                    install.app.clone(),
                    schedule.name.clone(),
                );
                let already = latest.get(&key).is_some_and(|&last| last >= period);
                if period < install.installed_at || already {
                    continue;
                }
                due.push((key, period));
            }
        }
        let mut report = TickReport::default();
        let mut calls = JoinSet::new();
        for ((district, app, schedule), period) in due {
            if !self
                .store
                .claim_schedule_run(&district, &app, &schedule, period, now)
                .await?
            {
                report.skipped += 1;
                continue;
            }
            let platform = self.clone();
            calls.spawn(async move {
                let request_id = format!("tick-{district}-{app}-{schedule}-{period}");
                let outcome = platform
                    .runtime
                    .tick(&district, &app, &schedule, period, request_id)
                    .await;
                let (recorded, detail) = match &outcome {
                    Ok(TickOutcome::Handled) => ("handled", None),
                    Ok(TickOutcome::Refused(why)) => ("refused", Some(why.clone())),
                    Ok(TickOutcome::NotGranted) => ("not-granted", None),
                    Err(err) => ("failed", Some(err.to_string())),
                };
                if let Some(why) = &detail {
                    tracing::warn!(
                        district,
                        app,
                        schedule,
                        period,
                        outcome = recorded,
                        why,
                        "tick not handled"
                    );
                }
                let finished = platform.store.clock().now_ms();
                platform
                    .store
                    .finish_schedule_run(
                        &district,
                        &app,
                        &schedule,
                        period,
                        finished,
                        recorded,
                        detail.as_deref(),
                    )
                    .await?;
                Ok::<bool, PlatformError>(recorded == "handled")
            });
        }
        while let Some(done) = calls.join_next().await {
            match done {
                Ok(Ok(true)) => report.handled += 1,
                Ok(Ok(false)) => report.failed += 1,
                Ok(Err(err)) => {
                    report.failed += 1;
                    tracing::warn!(error = %err, "could not record a tick's outcome");
                }
                Err(err) => {
                    report.failed += 1;
                    tracing::error!(error = %err, "a tick panicked in the host");
                }
            }
        }
        Ok(report)
    }

    /// An install's schedules, with when each is next due, and its recent
    /// runs.
    pub async fn schedules(
        &self,
        district: &str,
        app: &str,
    ) -> Result<(Vec<ScheduleView>, Vec<ScheduleRun>), PlatformError> {
        let install = self.store.get_install(district, app).await?;
        let now = self.store.clock().now_ms();
        let views = install
            .manifest
            .timings()
            .into_iter()
            .map(|(s, t)| ScheduleView {
                name: s.name.clone(),
                timing: match (&s.every, &s.cron) {
                    (Some(every), _) => format!("every {every}"),
                    (_, Some(cron)) => format!(
                        "cron {cron} at UTC{}",
                        s.utc_offset.as_deref().unwrap_or("+00:00")
                    ),
                    _ => String::new(),
                },
                next_due_at: t.next_due(now),
            })
            .collect();
        let runs = self.store.schedule_runs(district, app, 50).await?;
        Ok((views, runs))
    }
}
