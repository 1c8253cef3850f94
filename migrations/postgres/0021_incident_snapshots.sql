-- A picture taken when a camera raised an incident (a motion alert): the first keyframe after
-- the detection, as a JPEG. Kept in the database (tens of kilobytes, one per alert, after the
-- detector's cooldown) so that it is backed up, replicated and deleted with the incident's
-- other records; its SHA-256 is also on the timeline event that announced it.
CREATE TABLE incident_snapshots (
    id          TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    camera_id   TEXT NOT NULL,
    taken_at    BIGINT NOT NULL,
    jpeg        BYTEA NOT NULL,
    sha256      TEXT NOT NULL
);
CREATE INDEX incident_snapshots_incident ON incident_snapshots (incident_id);
