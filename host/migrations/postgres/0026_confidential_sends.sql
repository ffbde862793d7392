-- Messages only their recipients may read (`send-confidential`): staff
-- views never show their body, and outside the inbox the host erases it
-- once every delivery has gone through. The partial index finds those
-- still to erase.
ALTER TABLE notify_sends ADD COLUMN confidential BIGINT NOT NULL DEFAULT 0;
CREATE INDEX notify_sends_to_erase ON notify_sends (id)
    WHERE confidential = 1 AND body <> '' AND channel <> 'inbox';
