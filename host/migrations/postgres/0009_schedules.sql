-- One row per schedule period that was run. The primary key is the claim:
-- the process whose insert succeeds runs the tick, so a period runs once
-- however many host processes share the database.
CREATE TABLE schedule_runs (
    district TEXT NOT NULL,
    app TEXT NOT NULL,
    schedule TEXT NOT NULL,
    period_at BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    outcome TEXT NOT NULL,
    detail TEXT,
    PRIMARY KEY (district, app, schedule, period_at)
);
