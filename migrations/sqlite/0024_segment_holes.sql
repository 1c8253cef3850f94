-- Frames lost inside a segment (a camera over a lossy network): the segment goes on after
-- each hole at the next keyframe, and its row lists the holes, as a JSON array of
-- [from_ms, to_ms] pairs, so that the timeline shows them as gaps. Older rows have none.
ALTER TABLE recording_segments ADD COLUMN holes TEXT NOT NULL DEFAULT '[]';
