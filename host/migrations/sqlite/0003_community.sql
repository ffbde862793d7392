-- The community data model. Ids are the district's own stable ids, unique
-- within a district, so a re-import updates records in place.
CREATE TABLE streets (
    district TEXT NOT NULL REFERENCES districts(id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district, id)
);

CREATE TABLE communities (
    district TEXT NOT NULL,
    id TEXT NOT NULL,
    street_id TEXT NOT NULL,
    name TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district, id),
    FOREIGN KEY (district, street_id) REFERENCES streets(district, id)
);

CREATE TABLE grids (
    district TEXT NOT NULL,
    id TEXT NOT NULL,
    community_id TEXT NOT NULL,
    name TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district, id),
    FOREIGN KEY (district, community_id) REFERENCES communities(district, id)
);

CREATE TABLE buildings (
    district TEXT NOT NULL,
    id TEXT NOT NULL,
    community_id TEXT NOT NULL,
    grid_id TEXT NOT NULL,
    name TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district, id),
    FOREIGN KEY (district, community_id) REFERENCES communities(district, id),
    FOREIGN KEY (district, grid_id) REFERENCES grids(district, id)
);

CREATE TABLE households (
    district TEXT NOT NULL,
    id TEXT NOT NULL,
    building_id TEXT NOT NULL,
    unit TEXT NOT NULL,
    room TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district, id),
    FOREIGN KEY (district, building_id) REFERENCES buildings(district, id)
);

-- community_id is derived from the grid on write, so scope checks need no join.
CREATE TABLE residents (
    district TEXT NOT NULL,
    id TEXT NOT NULL,
    household_id TEXT,
    grid_id TEXT NOT NULL,
    community_id TEXT NOT NULL,
    tags TEXT NOT NULL,
    name TEXT NOT NULL,
    phone TEXT,
    id_number TEXT,
    birth_date TEXT,
    address TEXT,
    family_contact_name TEXT,
    family_contact_phone TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district, id),
    FOREIGN KEY (district, grid_id) REFERENCES grids(district, id),
    FOREIGN KEY (district, household_id) REFERENCES households(district, id)
);

CREATE INDEX residents_by_grid ON residents (district, grid_id, id);
CREATE INDEX residents_by_community ON residents (district, community_id, id);

CREATE TABLE organisations (
    district TEXT NOT NULL,
    id TEXT NOT NULL,
    community_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district, id),
    FOREIGN KEY (district, community_id) REFERENCES communities(district, id)
);

CREATE TABLE memberships (
    district TEXT NOT NULL,
    organisation_id TEXT NOT NULL,
    resident_id TEXT NOT NULL,
    role TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district, organisation_id, resident_id),
    FOREIGN KEY (district, organisation_id) REFERENCES organisations(district, id),
    FOREIGN KEY (district, resident_id) REFERENCES residents(district, id)
);

-- Every data call an app makes, allowed or denied.
CREATE TABLE access_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    district TEXT NOT NULL,
    app TEXT NOT NULL,
    version TEXT NOT NULL,
    request_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    permission TEXT NOT NULL,
    outcome TEXT NOT NULL,
    record_count BIGINT NOT NULL,
    record_ids TEXT NOT NULL,
    field_class TEXT NOT NULL
);

CREATE INDEX access_log_by_install ON access_log (district, app, at);

-- The communities an install is narrowed to (JSON list); NULL for the whole district.
ALTER TABLE installs ADD COLUMN scope TEXT;
