//! Schedule runs: which period of which schedule ran, claimed by inserting
//! its row, so each period runs once across every host process.

use std::collections::HashMap;

use serde::Serialize;

use crate::kernel::store::{Store, StoreError};

/// One period of a schedule that was run (or is running).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ScheduleRun {
    /// The schedule's name.
    pub schedule: String,
    /// When the period was due (ms).
    pub period_at: i64,
    /// When the tick started (ms).
    pub started_at: i64,
    /// When it ended (ms), if it has.
    pub finished_at: Option<i64>,
    /// `running`, `handled`, `refused`, `failed` or `not-granted`.
    pub outcome: String,
    /// What went wrong, if anything.
    pub detail: Option<String>,
}

impl Store {
    /// The latest period run of every schedule, keyed by (district, app,
    /// schedule).
    pub async fn latest_schedule_runs(
        &self,
    ) -> Result<HashMap<(String, String, String), i64>, StoreError> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT district, app, schedule, MAX(period_at) AS latest FROM schedule_runs \
             GROUP BY district, app, schedule",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(district, app, schedule, latest)| ((district, app, schedule), latest))
            .collect())
    }

    /// Claim the period of a schedule due at `period_at`: true if this
    /// caller is the one to run it.
    pub async fn claim_schedule_run(
        &self,
        district: &str,
        app: &str,
        schedule: &str,
        period_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO schedule_runs (district, app, schedule, period_at, started_at, \
             finished_at, outcome, detail) VALUES ($1, $2, $3, $4, $5, NULL, 'running', NULL) \
             ON CONFLICT (district, app, schedule, period_at) DO NOTHING",
        )
        .bind(district)
        .bind(app)
        .bind(schedule)
        .bind(period_at)
        .bind(now)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Record how a claimed run ended.
    #[expect(clippy::too_many_arguments, reason = "one row's key and its outcome")]
    pub async fn finish_schedule_run(
        &self,
        district: &str,
        app: &str,
        schedule: &str,
        period_at: i64,
        now: i64,
        outcome: &str,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE schedule_runs SET finished_at = $1, outcome = $2, detail = $3 \
             WHERE district = $4 AND app = $5 AND schedule = $6 AND period_at = $7",
        )
        .bind(now)
        .bind(outcome)
        .bind(detail)
        .bind(district)
        .bind(app)
        .bind(schedule)
        .bind(period_at)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    /// An install's most recent runs, newest first.
    pub async fn schedule_runs(
        &self,
        district: &str,
        app: &str,
        limit: u32,
    ) -> Result<Vec<ScheduleRun>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT schedule, period_at, started_at, finished_at, outcome, detail FROM schedule_runs \
             WHERE district = $1 AND app = $2 ORDER BY period_at DESC, schedule LIMIT {limit}"
        ))
        .bind(district)
        .bind(app)
        .fetch_all(self.pool())
        .await?)
    }
}
