-- The auditor's pages read one install's access log a page at a time,
-- newest first, all of it or its denials: both from an index, however long
-- the log.
CREATE INDEX access_log_by_install_seq ON access_log (district, app, seq);
CREATE INDEX access_log_by_outcome ON access_log (district, app, outcome, seq);
