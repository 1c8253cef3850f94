-- The User-Agent to send to a camera instead of the hub's own (cameras that only talk to the
-- clients they know); NULL for the default.
ALTER TABLE cameras ADD COLUMN user_agent TEXT;
