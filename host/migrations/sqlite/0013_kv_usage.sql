-- What each install keeps in kv: its keys and their bytes (key and value),
-- kept by triggers in the same transaction as every write, so a quota is
-- checked against one row instead of a scan, and exactly on both back ends.
CREATE TABLE kv_usage (
    district TEXT NOT NULL,
    app TEXT NOT NULL,
    keys BIGINT NOT NULL DEFAULT 0,
    bytes BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (district, app)
);

INSERT INTO kv_usage (district, app, keys, bytes)
    SELECT district, app, COUNT(*), SUM(LENGTH(CAST(key AS BLOB)) + LENGTH(value))
    FROM kv GROUP BY district, app;

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
