-- What each install keeps in kv: its keys and their bytes (key and value),
-- kept by a trigger in the same transaction as every write, so a quota is
-- checked against one row instead of a scan, and exactly on both back ends.
CREATE TABLE kv_usage (
    district TEXT NOT NULL,
    app TEXT NOT NULL,
    keys BIGINT NOT NULL DEFAULT 0,
    bytes BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (district, app)
);

INSERT INTO kv_usage (district, app, keys, bytes)
    SELECT district, app, COUNT(*), SUM(OCTET_LENGTH(key) + LENGTH(value))
    FROM kv GROUP BY district, app;

CREATE FUNCTION kv_usage_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO kv_usage (district, app, keys, bytes)
            VALUES (NEW.district, NEW.app, 1, OCTET_LENGTH(NEW.key) + LENGTH(NEW.value))
            ON CONFLICT (district, app) DO UPDATE
            SET keys = kv_usage.keys + 1, bytes = kv_usage.bytes + EXCLUDED.bytes;
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE kv_usage SET bytes = bytes + LENGTH(NEW.value) - LENGTH(OLD.value)
            WHERE district = NEW.district AND app = NEW.app;
        RETURN NEW;
    ELSE
        UPDATE kv_usage
            SET keys = keys - 1, bytes = bytes - OCTET_LENGTH(OLD.key) - LENGTH(OLD.value)
            WHERE district = OLD.district AND app = OLD.app;
        RETURN OLD;
    END IF;
END;
$$;

CREATE TRIGGER kv_usage_track AFTER INSERT OR UPDATE OF value OR DELETE ON kv
    FOR EACH ROW EXECUTE FUNCTION kv_usage_track();
