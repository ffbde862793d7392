-- A device or gateway may give an event its own key; a second post of the
-- same key from the same device is the same event, stored and handed to
-- apps once, so a gateway can post again when it is unsure the first
-- arrived.
ALTER TABLE device_events ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX device_events_by_key ON device_events (district, device_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
