-- Each sample-file directory's indexed bytes and segments (those being deleted left out),
-- kept as rows are added, marked for deletion and removed, in the same transactions. Retention
-- (every minute) and the metrics (every 30 s) read them; summing every segment row instead
-- took 195 ms on SQLite with 86,400 rows (two cameras, 30 days) and grew with the rows.
CREATE TABLE recording_dir_usage (
    dir_id    TEXT PRIMARY KEY,
    bytes     BIGINT NOT NULL,
    segments  BIGINT NOT NULL
);
INSERT INTO recording_dir_usage (dir_id, bytes, segments)
    SELECT dir_id, SUM(bytes), COUNT(*) FROM recording_segments WHERE NOT deleting
    GROUP BY dir_id;
