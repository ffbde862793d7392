-- Where an install came from: for a registry install, the registry, the log
-- entry that published the release, the log head it was checked against and
-- the signing key (JSON); none for an install from local files.
ALTER TABLE installs ADD COLUMN source TEXT;

-- Earlier versions of an install, newest last: an upgrade pushes the version
-- it replaces, a rollback pops the newest back into installs. The component
-- stays in components (by digest), so a rollback needs no download.
CREATE TABLE install_history (
    id BIGSERIAL PRIMARY KEY,
    district TEXT NOT NULL,
    app TEXT NOT NULL,
    version TEXT NOT NULL,
    digest TEXT NOT NULL REFERENCES components(digest),
    manifest TEXT NOT NULL,
    granted TEXT NOT NULL,
    limits TEXT NOT NULL,
    source TEXT,
    installed_at BIGINT NOT NULL,
    replaced_at BIGINT NOT NULL
);

CREATE INDEX install_history_by_app ON install_history (district, app, id);

-- Publisher keys a district trusts for registry installs. A revoked key
-- keeps its row (revoked_at set) so the record of what was trusted stays.
CREATE TABLE trusted_keys (
    district TEXT NOT NULL REFERENCES districts(id),
    key_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    name TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    revoked_at BIGINT,
    PRIMARY KEY (district, key_id)
);

-- The last log head this host saw from each registry (by URL or directory):
-- a registry whose log no longer extends it is refused.
CREATE TABLE registry_heads (
    registry TEXT PRIMARY KEY NOT NULL,
    size BIGINT NOT NULL,
    head TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
