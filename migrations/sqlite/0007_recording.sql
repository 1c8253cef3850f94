-- Recording: the sample-file directories, the segments written there, the time ranges that
-- incidents lock as evidence, and the evidence clips sealed from them. Times are ms since the
-- epoch, as everywhere.

-- A sample-file directory, known by the ID in its meta file (gridwatch-sample-dir.json), so
-- that an unmounted disk or a directory of another installation is recognised as such.
CREATE TABLE recording_dirs (
    id          TEXT PRIMARY KEY,
    path        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- One fragmented MP4 file of about a minute. A row is written only once its file is synced
-- to disk; `deleting` marks a row whose file retention is removing (start-up repair finishes
-- what a crash interrupted). No foreign key to cameras: recordings, evidence among them,
-- outlive a camera's removal until retention lets them go.
CREATE TABLE recording_segments (
    id          TEXT PRIMARY KEY,
    camera_id   TEXT NOT NULL,
    stream      TEXT NOT NULL,              -- main | sub
    mode        TEXT NOT NULL,              -- continuous | incidents (a pre-event buffer)
    dir_id      TEXT NOT NULL REFERENCES recording_dirs(id),
    path        TEXT NOT NULL,              -- relative to the directory
    start_ms    BIGINT NOT NULL,
    end_ms      BIGINT NOT NULL,
    bytes       BIGINT NOT NULL,
    frames      BIGINT NOT NULL,
    sha256      TEXT NOT NULL,              -- of the whole file, lowercase hex
    codec       TEXT NOT NULL,              -- RFC 6381, e.g. avc1.640028
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    deleting    BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (dir_id, path)
);
-- Playback and clips: a camera's segments in time order. Retention: a directory's oldest.
CREATE INDEX recording_segments_by_camera ON recording_segments (camera_id, stream, start_ms);
CREATE INDEX recording_segments_by_dir ON recording_segments (dir_id, start_ms);

-- A camera's recordings from from_ms to to_ms that retention must keep: while until_ms is NULL
-- (the incident is open) and until until_ms after. By time, not by segment, so that the
-- segments of the `post` part, not yet written when the lock is taken, are covered too.
CREATE TABLE recording_locks (
    id           TEXT PRIMARY KEY,
    camera_id    TEXT NOT NULL,
    from_ms      BIGINT NOT NULL,
    to_ms        BIGINT NOT NULL,
    incident_id  TEXT REFERENCES incidents(id),
    until_ms     BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX recording_locks_by_camera ON recording_locks (camera_id, from_ms);
CREATE INDEX recording_locks_by_incident ON recording_locks (incident_id);

-- An evidence clip: one MP4 file and the manifest that chains it (manifest_seq, with the
-- manifest's hash; the newest one is the chain's head `gridwatch evidence verify` checks).
CREATE TABLE evidence_clips (
    id               TEXT PRIMARY KEY,
    incident_id      TEXT NOT NULL REFERENCES incidents(id),
    camera_id        TEXT NOT NULL,
    from_ms          BIGINT NOT NULL,
    to_ms            BIGINT NOT NULL,
    file             TEXT NOT NULL,
    bytes            BIGINT NOT NULL,
    sha256           TEXT NOT NULL,
    manifest_seq     BIGINT NOT NULL UNIQUE,
    manifest_file    TEXT NOT NULL,
    manifest_sha256  TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX evidence_clips_by_incident ON evidence_clips (incident_id);

-- Per camera: whether its main stream is recorded (continuous | incidents | off), and how
-- many days its recordings are kept (NULL: the configured default).
ALTER TABLE cameras ADD COLUMN record TEXT NOT NULL DEFAULT 'continuous';
ALTER TABLE cameras ADD COLUMN retention_days INTEGER;
