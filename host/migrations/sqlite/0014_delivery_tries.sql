-- How many times each notification delivery has been claimed and sent,
-- counting the tries a process that died never got to record. A gateway
-- reads it as the payload's `attempt`, so a repeat after a crash says it is
-- one. Until now the count was only of failures recorded.
ALTER TABLE notifications ADD COLUMN tries BIGINT NOT NULL DEFAULT 0;
UPDATE notifications SET tries = attempts;
