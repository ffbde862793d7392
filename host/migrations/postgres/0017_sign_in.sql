-- Signing in with a password in the browser.
--
-- An account's password, as an argon2id PHC string; NULL until the person
-- redeems a set-password code.
ALTER TABLE accounts ADD COLUMN password_hash TEXT;
ALTER TABLE accounts ADD COLUMN password_set_at BIGINT;

-- One-time set-password codes an administrator issues. Only the sha256 of
-- the code is kept; a code works once, before it expires, and issuing a
-- new one for the account ends the earlier ones.
CREATE TABLE password_codes (
    code_sha256 TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    issued_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE INDEX password_codes_by_account ON password_codes (account_id);

-- Browser sessions, kept here so that every host process sees them. The
-- cookie carries the session's secret; only its sha256 is kept. A session
-- ends at its absolute expiry, after being idle too long, or when ended
-- (sign-out, password change, account disabled, revoked).
CREATE TABLE sessions (
    id_sha256 TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at BIGINT,
    ended_why TEXT,
    address TEXT NOT NULL
);

CREATE INDEX sessions_by_account ON sessions (account_id);

-- Failed sign-ins, per account id as typed and per address, counted in a
-- window: past the limit, sign-in is refused until the window ends.
CREATE TABLE sign_in_failures (
    subject TEXT PRIMARY KEY NOT NULL,
    window_start BIGINT NOT NULL,
    failures BIGINT NOT NULL
);
