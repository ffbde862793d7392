-- Accounts and their API tokens. A token's secret is never stored: only its
-- sha256, so a database dump does not hand out credentials.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    role TEXT NOT NULL,
    district TEXT REFERENCES districts(id),
    display_name TEXT NOT NULL,
    resident_id TEXT,
    grids TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    secret_sha256 TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE INDEX api_tokens_by_account ON api_tokens (account_id);
