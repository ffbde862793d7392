-- Nothing to change here. SQLite's kv table numbered its rows in the order
-- they were first inserted and is rebuilt without that number (its
-- 0027_kv_keyed.sql). A PostgreSQL table has no such column; each row
-- version does carry the transaction that wrote it (xmin) and its place
-- (ctid): an app that must not keep an order moves its rows to new keys in
-- key order (see plugins/e-voting/README.md, "What storage keeps").
SELECT 1;
