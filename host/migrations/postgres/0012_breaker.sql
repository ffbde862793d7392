-- When an install suspended after repeated failures is tried again, in ms
-- since the Unix epoch: the next call after it is let through as a trial,
-- which resumes the install if it succeeds and suspends it again, for
-- longer, if it fails. NULL when the install is active or an administrator
-- suspended it (then only an administrator resumes it).
ALTER TABLE installs ADD COLUMN retry_at BIGINT;
