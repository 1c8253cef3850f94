-- The outage each camera is in, if any: when it began (ms since the epoch) and why. Kept in
-- the database so that the offline_incident_seconds before a camera_offline incident count
-- from the outage's real start, also after a hub restart or when another node sees it; the
-- first node to see an outage sets its start, and the camera's return removes the row.
CREATE TABLE camera_outages (
    camera_id  TEXT PRIMARY KEY REFERENCES cameras(id) ON DELETE CASCADE,
    since      BIGINT NOT NULL,
    reason     TEXT NOT NULL
);
