-- kv rows carry no write time. Nothing read it, and it told whoever reads
-- the database when each key was last written: for the e-voting app, when
-- each credential last voted. SQLite rewrites the table without it; the
-- pages it frees keep the old bytes until reused (or a VACUUM).
ALTER TABLE kv DROP COLUMN updated_at;
