-- The longest segment each camera stream has had, so that a lookup of the segments that
-- overlap a time range can start its index scan at `from` minus that instead of at the
-- camera's oldest segment: without it, the timeline, playback and clips near now read every
-- row of the retention (43,200 a camera over 30 days). Raised before a segment's row is
-- written, never lowered (a deleted long segment leaves it high: a wider scan, never a
-- missed segment).
CREATE TABLE recording_longest (
    camera_id   TEXT NOT NULL,
    stream      TEXT NOT NULL,
    longest_ms  BIGINT NOT NULL,
    PRIMARY KEY (camera_id, stream)
);
INSERT INTO recording_longest (camera_id, stream, longest_ms)
    SELECT camera_id, stream, MAX(end_ms - start_ms) FROM recording_segments
    GROUP BY camera_id, stream;
