-- A motion alert dismissed by a duty officer as a false alarm (误报): the incident is
-- cancelled as any other, and this mark is what the false-alarm report counts per camera.
ALTER TABLE incidents ADD COLUMN false_alarm BOOLEAN NOT NULL DEFAULT FALSE;
