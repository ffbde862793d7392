-- Open browser sessions, and which console session each app session
-- names, are kept in memory too, under the revision of the credentials
-- (0023). So every change to a session but its use moves the revision:
-- ending it above all, and removing it. Using a session moves only its
-- `seen_at`, which does not: a process that finds a kept session idle
-- reads it again before ending it. (A column added to `sessions` later
-- must be added to the list below.) An app session is kept only once
-- entered (its secret recorded), so every change to an entered one moves
-- the revision, and so does removing one. New rows do not: nothing is kept
-- for a secret the database did not know.
CREATE TRIGGER sessions_revised
    AFTER UPDATE OF id_sha256, account_id, csrf, created_at, expires_at, ended_at, ended_why,
        address ON sessions BEGIN
    UPDATE credentials_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER sessions_removed AFTER DELETE ON sessions BEGIN
    UPDATE credentials_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER app_sessions_revised AFTER UPDATE ON app_sessions
    WHEN OLD.secret_sha256 IS NOT NULL BEGIN
    UPDATE credentials_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER app_sessions_removed AFTER DELETE ON app_sessions BEGIN
    UPDATE credentials_revision SET revision = revision + 1 WHERE id = 1;
END;
