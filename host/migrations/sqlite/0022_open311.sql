-- Open311 (GeoReport v2) as clients speak it: what a district publishes,
-- the attributes its services ask for, and what an intake carried beside
-- a case's description.

-- Whether a district's service requests are readable without a key. No row:
-- readable (the default GeoReport v2 expects) for a district created from
-- now on; the districts that exist now get a row saying no (below).
CREATE TABLE open311_policies (
    district TEXT PRIMARY KEY NOT NULL REFERENCES districts(id),
    public_reads BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A service's Open311 settings beside its case category. No row: public,
-- no keywords, no attributes. keywords is a JSON list of strings;
-- attributes a JSON list of GeoReport v2 attribute definitions.
CREATE TABLE open311_services (
    district TEXT NOT NULL,
    code TEXT NOT NULL,
    public BIGINT NOT NULL,
    keywords TEXT NOT NULL,
    attributes TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district, code),
    FOREIGN KEY (district, code) REFERENCES case_categories(district, code)
);

-- What a service request carried beside its description, written with the
-- case: the caller's contact (a JSON object of first_name, last_name,
-- phone, email, and earlier: the one line an earlier version appended to
-- the description; shown to those who handle the case, never in a public
-- read) and the attribute[…] answers (a JSON list of {code, values}).
CREATE TABLE case_intake (
    case_id BIGINT PRIMARY KEY NOT NULL REFERENCES cases(id),
    contact TEXT NOT NULL,
    attributes TEXT NOT NULL
);

-- Every Open311 read of the districts that exist now needed a key: they
-- keep it so until an administrator publishes (hutong case open311, or the
-- console's case settings).
INSERT INTO open311_policies (district, public_reads, updated_at)
SELECT id, 0, 0 FROM districts;

-- Earlier versions appended a caller's contact to the description
-- ("…\n\nContact: 三 张, 13800001111"): it moves beside the case, out of
-- the description that public reads show.
INSERT INTO case_intake (case_id, contact, attributes)
SELECT id,
       json_object('earlier', substr(description, instr(description, char(10) || char(10) || 'Contact: ') + 11)),
       '[]'
FROM cases WHERE instr(description, char(10) || char(10) || 'Contact: ') > 1;
UPDATE cases SET description = substr(description, 1, instr(description, char(10) || char(10) || 'Contact: ') - 1)
WHERE instr(description, char(10) || char(10) || 'Contact: ') > 1;
