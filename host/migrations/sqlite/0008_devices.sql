-- Devices of a district (door sensors, smoke and gas detectors, gateways)
-- and the events they report, with one delivery row per subscribed install.

-- household_id / resident_id: what the device is bound to, checked against
-- the community data at registration. community_id is the binding's
-- community, kept so delivery can apply an install's scope without a join.
-- Only the SHA-256 of the device's token is stored.
CREATE TABLE devices (
    district TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    household_id TEXT,
    resident_id TEXT,
    community_id TEXT,
    token_sha256 TEXT NOT NULL,
    heartbeat_ms BIGINT NOT NULL,
    last_seen_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district, id),
    FOREIGN KEY (district) REFERENCES districts(id)
);

CREATE UNIQUE INDEX devices_by_token ON devices (token_sha256);

-- An event keeps the device's kind and binding as they were when it was
-- received, so a later change to the device does not rewrite history.
CREATE TABLE device_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    district TEXT NOT NULL,
    device_id TEXT NOT NULL,
    device_kind TEXT NOT NULL,
    event_type TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    payload TEXT NOT NULL,
    household_id TEXT,
    resident_id TEXT,
    community_id TEXT
);

CREATE INDEX device_events_by_device ON device_events (district, device_id, id);

-- The outbox: one row per (event, subscribed install), deleted once the app
-- handled it; dead rows are the dead-letter list.
CREATE TABLE event_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    district TEXT NOT NULL,
    app TEXT NOT NULL,
    device_id TEXT NOT NULL,
    event_id BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL,
    last_error TEXT,
    dead BIGINT NOT NULL
);

-- No index on (dead, next_at): a claim walks the primary key in id order and
-- stops after its limit (dead and not-yet-due rows are few), where such an
-- index would make the planner test every pending row and sort them.
CREATE INDEX event_deliveries_by_stream ON event_deliveries (district, app, device_id, id);
