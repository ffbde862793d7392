-- Open browser sessions, and which console session each app session
-- names, are kept in memory too, under the revision of the credentials
-- (0023). So ending a session (or changing what it is: its account, CSRF
-- token or expiry) is announced on `hutong_credentials`, and so is
-- removing a session or an app session. Using a session moves only its
-- `seen_at`, which is not: a process that finds a kept session idle reads
-- it again before ending it. New rows are not announced: nothing is kept
-- for a secret the database did not know, and an app session is kept only
-- once entered, after which nothing changes it.
CREATE TRIGGER sessions_revised
    AFTER UPDATE OF account_id, csrf, created_at, expires_at, ended_at OR DELETE OR TRUNCATE
    ON sessions FOR EACH STATEMENT EXECUTE FUNCTION credentials_revised();

CREATE TRIGGER app_sessions_revised
    AFTER UPDATE OF session_sha256, district, app OR DELETE OR TRUNCATE
    ON app_sessions FOR EACH STATEMENT EXECUTE FUNCTION credentials_revised();
