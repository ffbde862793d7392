-- Entries are sealed into the chain after they are written, off the request
-- path: chain_pos is an entry's place in its district's chain, NULL until
-- it is sealed.
ALTER TABLE access_log ADD COLUMN chain_pos BIGINT;
CREATE INDEX access_log_unsealed ON access_log (district, chain_pos);
