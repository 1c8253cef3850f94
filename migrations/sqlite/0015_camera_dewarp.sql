-- How each 360° camera's fisheye is straightened in the browser (gridwatch_core::dewarp):
-- the image circle (centre and radius as fractions of the frame) and how the camera hangs.
-- A camera without a row is shown with the default circle until an admin calibrates it.
CREATE TABLE camera_dewarp (
    camera_id TEXT PRIMARY KEY REFERENCES cameras(id) ON DELETE CASCADE,
    mount TEXT NOT NULL CHECK (mount IN ('ceiling', 'wall', 'floor')),
    center_x DOUBLE PRECISION NOT NULL,
    center_y DOUBLE PRECISION NOT NULL,
    radius DOUBLE PRECISION NOT NULL,
    orientation DOUBLE PRECISION NOT NULL,
    updated_at BIGINT NOT NULL
);
