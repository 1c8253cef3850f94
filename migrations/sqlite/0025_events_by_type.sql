-- Audit lists read the log by kind and time (who downloaded recorded video, issue 13) rather
-- than by incident or seq.
CREATE INDEX events_type_at ON events(type, at);
