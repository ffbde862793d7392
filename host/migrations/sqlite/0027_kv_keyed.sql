-- kv rows carry no number. SQLite gave each row a number (its rowid) as it
-- was first inserted, which told whoever reads the database in which order
-- keys were first written: for the e-voting app, which credential was made
-- beside which resident of the roll, and in which order credentials first
-- voted. A table WITHOUT ROWID keeps its rows by their key alone. Dropping
-- the table drops its triggers: they are made again as they were.
CREATE TABLE kv_keyed (
    district TEXT NOT NULL,
    app TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (district, app, key)
) WITHOUT ROWID;

INSERT INTO kv_keyed (district, app, key, value)
    SELECT district, app, key, value FROM kv ORDER BY district, app, key;

DROP TABLE kv;

ALTER TABLE kv_keyed RENAME TO kv;

CREATE TRIGGER kv_usage_insert AFTER INSERT ON kv BEGIN
    INSERT OR IGNORE INTO kv_usage (district, app) VALUES (NEW.district, NEW.app);
    UPDATE kv_usage
        SET keys = keys + 1, bytes = bytes + LENGTH(CAST(NEW.key AS BLOB)) + LENGTH(NEW.value)
        WHERE district = NEW.district AND app = NEW.app;
END;

CREATE TRIGGER kv_usage_update AFTER UPDATE OF value ON kv BEGIN
    UPDATE kv_usage
        SET bytes = bytes + LENGTH(NEW.value) - LENGTH(OLD.value)
        WHERE district = NEW.district AND app = NEW.app;
END;

CREATE TRIGGER kv_usage_delete AFTER DELETE ON kv BEGIN
    UPDATE kv_usage
        SET keys = keys - 1, bytes = bytes - LENGTH(CAST(OLD.key AS BLOB)) - LENGTH(OLD.value)
        WHERE district = OLD.district AND app = OLD.app;
END;
