-- How to reach a person who called for help: their phone and address, shown to the duty room
-- and the post dispatched to (to call back, and to find the door). NULL when not given.
ALTER TABLE users ADD COLUMN phone TEXT;
ALTER TABLE users ADD COLUMN address TEXT;
