-- Evidence clips to make: one row per incident and camera it names, written when the incident
-- is first seen (with the lock on that camera's recordings, in the same transaction) and
-- sealed `post` seconds after it was raised. Rows, not timers: a restart loses none, and the
-- hub's clock decides when one is due (tests advance a manual clock instead of sleeping).
CREATE TABLE evidence_jobs (
    incident_id  TEXT NOT NULL REFERENCES incidents(id),
    camera_id    TEXT NOT NULL,
    from_ms      BIGINT NOT NULL,           -- raised - pre
    to_ms        BIGINT NOT NULL,           -- raised + post
    due_ms       BIGINT NOT NULL,           -- when to seal (to_ms; later after a failure)
    state        TEXT NOT NULL,             -- pending | sealed | no_recording | failed
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    clip_id      TEXT,                      -- evidence_clips(id) once sealed
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (incident_id, camera_id)
);
CREATE INDEX evidence_jobs_due ON evidence_jobs (state, due_ms);

-- The locks still open-ended (their incident open, or closed and not yet given its end): what
-- the evidence task looks at every second.
CREATE INDEX recording_locks_open ON recording_locks (incident_id) WHERE until_ms IS NULL;
