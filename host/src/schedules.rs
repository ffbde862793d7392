//! Schedules: the periodic ticks an app's manifest declares, claimed once
//! per period across every host process.

pub mod ops;
pub mod store;

use serde::Serialize;

/// A schedule as an administrator sees it.
#[derive(Clone, Debug, Serialize)]
pub struct ScheduleView {
    /// Its name.
    pub name: String,
    /// `every = …` or `cron = …` (with its UTC offset).
    pub timing: String,
    /// When the next tick is due (ms).
    pub next_due_at: Option<i64>,
}
