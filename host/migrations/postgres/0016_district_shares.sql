-- The most calls of a district's apps alive at once, as the platform
-- administrator set it; NULL for the host's default share.
ALTER TABLE districts ADD COLUMN max_calls BIGINT;
