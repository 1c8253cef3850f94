-- Incidents, the event log, the response check's deadlines and idempotency keys.
-- Times are milliseconds since the Unix epoch (UTC). An incident is history: it keeps the ids
-- of the grid, posts, people and cameras it names even after those records are deleted, so
-- those columns have no foreign keys.

CREATE TABLE incidents (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    state            TEXT NOT NULL,
    -- resident:<user_id> | device:<device_id> | officer:<user_id> | camera:<camera_id>;
    -- also "the same caller" for repeat presses, and what a resident may see.
    source           TEXT NOT NULL,
    grid_id          TEXT,
    post_id          TEXT,
    chain_position   INTEGER,
    lat              REAL,
    lon              REAL,
    note             TEXT,
    camera_id        TEXT,
    cameras          TEXT NOT NULL,   -- JSON array of camera ids, nearest first
    urgent           BOOLEAN NOT NULL,
    repeat_count     INTEGER NOT NULL,
    escalation_level INTEGER NOT NULL,
    post_chain       TEXT NOT NULL,   -- JSON array of post ids: the grid's chain, frozen at raise
    policy           TEXT NOT NULL,   -- JSON response policy (seconds), frozen at raise
    created_at       INTEGER NOT NULL,
    deadline_at      INTEGER NOT NULL,
    last_press_at    INTEGER NOT NULL,
    dispatched_at    INTEGER,
    acknowledged_at  INTEGER,
    on_scene_at      INTEGER,
    resolved_at      INTEGER,
    closed_at        INTEGER,
    at_risk_at       INTEGER,
    breached_at      INTEGER,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX incidents_created ON incidents(created_at);
CREATE INDEX incidents_source ON incidents(source, last_press_at);
CREATE INDEX incidents_post ON incidents(post_id);
CREATE INDEX incidents_grid ON incidents(grid_id);

-- The event log: audit trail, timelines and the real-time stream. `seq` is global and
-- gap-free: it is taken from event_counter in the transaction that records the change, and
-- that row's lock orders writers, so events commit in seq order.
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    type         TEXT NOT NULL,       -- incident.raised, incident.dispatched, …
    incident_id  TEXT REFERENCES incidents(id),
    actor        TEXT NOT NULL,       -- user:<id> | device:<id> | system
    origin       TEXT NOT NULL,       -- http <address> | mqtt | timer
    data         TEXT NOT NULL        -- JSON object
);
CREATE INDEX events_incident ON events(incident_id, seq);

CREATE TABLE event_counter (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL
);
INSERT INTO event_counter (id, seq) VALUES (1, 0);

-- The response check's timers: at most one of each kind per incident. A timer fires once: the
-- firing node claims it with a conditional UPDATE of fired_at in the transaction that records
-- its effect. Re-arming replaces the row.
CREATE TABLE deadlines (
    incident_id  TEXT NOT NULL REFERENCES incidents(id),
    kind         TEXT NOT NULL,       -- ack_due | at_risk | breach
    timer        TEXT NOT NULL,       -- JSON of the timer, e.g. {"timer":"ack_due","chain_position":0}
    due_at       INTEGER NOT NULL,
    armed_at     INTEGER NOT NULL,
    fired_at     INTEGER,
    PRIMARY KEY (incident_id, kind)
);
CREATE INDEX deadlines_pending ON deadlines(due_at) WHERE fired_at IS NULL;

-- Idempotency-Key of a raise, per caller (the incident source), for safe retries.
CREATE TABLE idempotency_keys (
    caller       TEXT NOT NULL,
    key          TEXT NOT NULL,
    incident_id  TEXT NOT NULL REFERENCES incidents(id),
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
