-- The registries a district's administrators install from: the console's
-- catalogue lists their releases. Trust is still by publisher key
-- (trusted_keys); a registry here only says where to look.
CREATE TABLE district_registries (
    district TEXT NOT NULL REFERENCES districts(id),
    location TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (district, location)
);
