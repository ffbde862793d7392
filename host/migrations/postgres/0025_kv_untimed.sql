-- kv rows carry no write time. Nothing read it, and it told whoever reads
-- the database when each key was last written: for the e-voting app, when
-- each credential last voted. PostgreSQL hides the column at once; rows
-- written before keep its bytes on disk until they are next rewritten
-- (an update, or VACUUM FULL).
ALTER TABLE kv DROP COLUMN updated_at;
