CREATE TABLE districts (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE components (
    digest TEXT PRIMARY KEY NOT NULL,
    bytes BYTEA NOT NULL,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE installs (
    district TEXT NOT NULL REFERENCES districts(id),
    app TEXT NOT NULL,
    version TEXT NOT NULL,
    digest TEXT NOT NULL REFERENCES components(digest),
    manifest TEXT NOT NULL,
    granted TEXT NOT NULL,
    limits TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    installed_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district, app)
);

-- Keys sort bytewise ("C" collation) so paging order matches SQLite's.
CREATE TABLE kv (
    district TEXT NOT NULL,
    app TEXT NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value BYTEA NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district, app, key)
);
