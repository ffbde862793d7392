-- Open browser sessions, and which console session each app session
-- names, are kept in memory too, under the revision of the credentials
-- (0023). So ending a session (or changing what it is: its account, CSRF
-- token or expiry) moves the revision, and so does removing a session or
-- an app session. Using a session moves only its `seen_at`, which does
-- not: a process that finds a kept session idle reads it again before
-- ending it. New rows do not move it: nothing is kept for a secret the
-- database did not know, and an app session is kept only once entered,
-- after which nothing changes it.
CREATE TRIGGER sessions_revised
    AFTER UPDATE OF account_id, csrf, created_at, expires_at, ended_at ON sessions BEGIN
    UPDATE credentials_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER sessions_removed AFTER DELETE ON sessions BEGIN
    UPDATE credentials_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER app_sessions_revised
    AFTER UPDATE OF session_sha256, district, app ON app_sessions BEGIN
    UPDATE credentials_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER app_sessions_removed AFTER DELETE ON app_sessions BEGIN
    UPDATE credentials_revision SET revision = revision + 1 WHERE id = 1;
END;
