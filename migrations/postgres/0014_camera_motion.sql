-- Motion and intrusion alerts (issue 19): each camera's settings (zones, schedule, minimum
-- area and duration, cooldown) as the JSON of gridwatch_core::motion::MotionSettings. One
-- JSON value rather than columns: the settings are read and written whole, and polygons have
-- no relational shape. A camera without a row has motion detection off.
CREATE TABLE camera_motion (
    camera_id  TEXT PRIMARY KEY REFERENCES cameras(id) ON DELETE CASCADE,
    settings   TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
