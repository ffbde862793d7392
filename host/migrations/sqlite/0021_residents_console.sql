-- What residents see in the console.

-- "Who read my data": every access-log entry that named a resident or a
-- household, by that record, so one resident's page is read from an index
-- however long the log. kind is 'resident', 'household', or 'district'
-- (record_id '*') for a read of the whole district's data (an export),
-- which names everyone. Written when the entry is sealed into its
-- district's chain, in the same transaction (off the request path).
CREATE TABLE access_subjects (
    district TEXT NOT NULL,
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (district, kind, record_id, seq)
) WITHOUT ROWID;

-- Entries written before this table existed.
INSERT OR IGNORE INTO access_subjects (district, kind, record_id, seq)
SELECT l.district, 'resident', j.value, l.seq FROM access_log l, json_each(l.record_ids) j
WHERE l.operation IN ('get-resident', 'query-residents', 'list-members');
INSERT OR IGNORE INTO access_subjects (district, kind, record_id, seq)
SELECT l.district, 'household', j.value, l.seq FROM access_log l, json_each(l.record_ids) j
WHERE l.operation IN ('get-household', 'list-households');
INSERT OR IGNORE INTO access_subjects (district, kind, record_id, seq)
SELECT l.district, 'resident', substr(j.value, 10), l.seq FROM access_log l, json_each(l.record_ids) j
WHERE j.value LIKE 'resident:%';

-- A case an app opened on behalf of the resident it concerns (cases.open-
-- for-resident): that resident follows, evaluates and reopens it like a
-- report of their own. 0 for every other case.
ALTER TABLE cases ADD COLUMN for_resident BIGINT NOT NULL DEFAULT 0;
CREATE INDEX cases_opened_for ON cases (district, resident_id, for_resident, id);

-- Photos a resident attaches to a report: checked (JPEG or PNG, at most
-- 5 MiB) and stripped of their metadata (EXIF location) before they are
-- stored; served only to those who may see the case.
CREATE TABLE case_photos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT NOT NULL REFERENCES cases(id),
    content_type TEXT NOT NULL,
    bytes BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX case_photos_by_case ON case_photos (case_id, id);
