-- The auditor's pages read one install's access log a page at a time,
-- newest first: all of it, its denials, its uses of personal fields, and
-- when each permission was last used. Each from an index, however long the
-- log (other filters look through a bounded window of entries per page).
CREATE INDEX access_log_by_install_seq ON access_log (district, app, seq);
CREATE INDEX access_log_by_outcome ON access_log (district, app, outcome, seq);
CREATE INDEX access_log_by_permission ON access_log (district, app, permission, outcome, seq);
CREATE INDEX access_log_by_field_class ON access_log (district, app, field_class, seq);
