-- The segments recorded in `incidents` mode (a pre-event buffer of a few minutes, kept longer
-- only where an incident locks them), by directory and start: what a retention pass reads for
-- them when no directory is short of space. Without it that read walked every segment of the
-- directory by start (a retention pass read its 20,000 oldest every minute: 129 ms on SQLite
-- with 30 days of two cameras).
CREATE INDEX recording_segments_buffer ON recording_segments (dir_id, start_ms)
    WHERE mode = 'incidents';
