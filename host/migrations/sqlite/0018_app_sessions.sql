-- A signed-in person's sessions with apps, on the apps' own origins.
--
-- The console hands a person over to an app's origin with a one-time
-- pass (kept as its sha256, good for a minute). Entering with it turns the
-- row into the app session: the pass is cleared and the sha256 of the
-- app cookie's secret is kept. An app session lasts only as long as the
-- console session it came from, which it names.
CREATE TABLE app_sessions (
    pass_sha256 TEXT UNIQUE,
    secret_sha256 TEXT UNIQUE,
    session_sha256 TEXT NOT NULL REFERENCES sessions(id_sha256),
    district TEXT NOT NULL,
    app TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    entered_at BIGINT
);

CREATE INDEX app_sessions_by_session ON app_sessions (session_sha256);
