-- Notifications: what apps sent (one row per send, unique per idempotency
-- key), one delivery per resolved recipient (the outbox, and the inbox), the
-- district's gateways, and each install's use of its rate limit.

-- A phone number for worker accounts, for SMS and voice; residents' phones
-- come from the community data.
ALTER TABLE accounts ADD COLUMN phone TEXT;

-- Each district's gateways. The secret signs every request; it is never
-- shown back.
CREATE TABLE notify_settings (
    district TEXT PRIMARY KEY NOT NULL REFERENCES districts(id),
    sms_url TEXT,
    voice_url TEXT,
    webhook_url TEXT,
    secret TEXT,
    rate_per_minute BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row per send. The unique key makes a repeated send (same install,
-- same idempotency key) find the first one instead of writing again.
CREATE TABLE notify_sends (
    id BIGSERIAL PRIMARY KEY,
    district TEXT NOT NULL,
    app TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    recipients BIGINT NOT NULL,
    unreachable BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (district, app, idempotency_key)
);

-- One delivery per recipient: inbox messages are written delivered; the
-- others wait as pending for a delivery worker, which claims them for a
-- lease (claimed_until), retries them at next_at, and after the last
-- attempt marks them failed (the dead letters an administrator retries).
-- address is how the channel reaches the recipient (a phone number, an
-- account id) and never leaves the host except to the district's gateway.
CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY,
    send_id BIGINT NOT NULL REFERENCES notify_sends(id),
    district TEXT NOT NULL,
    app TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient_kind TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    address TEXT,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    read_at BIGINT,
    UNIQUE (send_id, recipient_kind, recipient_id)
);

CREATE INDEX notifications_due ON notifications (status, next_at);
CREATE INDEX notifications_inbox ON notifications (recipient_id, channel, id);
CREATE INDEX notifications_by_district ON notifications (district, status, id);

-- Deliveries written per install and minute, for the rate limit; shared by
-- every host process on the database.
CREATE TABLE notify_rate (
    district TEXT NOT NULL,
    app TEXT NOT NULL,
    minute BIGINT NOT NULL,
    used BIGINT NOT NULL,
    PRIMARY KEY (district, app, minute)
);
