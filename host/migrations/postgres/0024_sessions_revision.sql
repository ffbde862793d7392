-- Open browser sessions, and which console session each app session
-- names, are kept in memory too, under the revision of the credentials
-- (0023). So every change to a session but its use is announced on
-- `hutong_credentials`: ending it above all, and removing it. Using a
-- session moves only its `seen_at`, which is not: a process that finds a
-- kept session idle reads it again before ending it. (A column added to
-- `sessions` later must be added to the list below.) An app session is
-- kept only once entered (its secret recorded), so every change to an
-- entered one is announced, and so is removing one. New rows are not:
-- nothing is kept for a secret the database did not know. Changes are
-- announced per row changed, so a statement that ends no session says
-- nothing; PostgreSQL folds the same announcement made several times in
-- one transaction into one.
CREATE TRIGGER sessions_revised
    AFTER UPDATE OF id_sha256, account_id, csrf, created_at, expires_at, ended_at, ended_why,
        address OR DELETE
    ON sessions FOR EACH ROW EXECUTE FUNCTION credentials_revised();

CREATE TRIGGER sessions_truncated AFTER TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION credentials_revised();

CREATE TRIGGER app_sessions_revised AFTER UPDATE ON app_sessions
    FOR EACH ROW WHEN (OLD.secret_sha256 IS NOT NULL)
    EXECUTE FUNCTION credentials_revised();

CREATE TRIGGER app_sessions_removed AFTER DELETE ON app_sessions
    FOR EACH ROW EXECUTE FUNCTION credentials_revised();

CREATE TRIGGER app_sessions_truncated AFTER TRUNCATE ON app_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION credentials_revised();
