-- How each camera's RTP reaches the hub (`tcp`, interleaved, or `udp`) and the RTSP
-- workarounds it needs (a JSON array of quirk names, see gridwatch_core::camera::CAMERA_QUIRKS).
-- Existing cameras keep what they had: TCP, no quirks.
ALTER TABLE cameras
    ADD COLUMN transport TEXT NOT NULL DEFAULT 'tcp',
    ADD COLUMN quirks TEXT NOT NULL DEFAULT '[]';
