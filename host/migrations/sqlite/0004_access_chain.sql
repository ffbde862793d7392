-- The access log is hash-chained per district: each entry carries the hash
-- of the one before it, and access_chain holds the newest hash, so an entry
-- changed, removed or inserted afterwards breaks the chain.
ALTER TABLE access_log ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE access_log ADD COLUMN hash TEXT NOT NULL DEFAULT '';

CREATE TABLE access_chain (
    district TEXT PRIMARY KEY NOT NULL,
    head TEXT NOT NULL,
    entries BIGINT NOT NULL
);
