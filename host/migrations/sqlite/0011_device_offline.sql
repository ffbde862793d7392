-- When the host noticed a device had gone silent for longer than its
-- heartbeat interval, and reported `device.offline` to subscribed apps;
-- NULL while the device is online (or has not been noticed yet). Setting it
-- is the claim: of several host processes, the one whose update sets it
-- reports the silence, so it is reported once. The device's next post
-- clears it and reports `device.online`.
ALTER TABLE devices ADD COLUMN offline_since BIGINT;
