-- Reaching people off the console (issue 18).
--
-- notify_outbox: one row per event that may notify someone (incident.raised, .undelivered,
-- .at_risk, .breached, .escalated, camera.offline, post.offline), written in the transaction
-- that records the event, so an event committed is an event that will be looked at by the
-- notification worker, whatever happens to the hub right after. A worker claims rows for a
-- while (claimed_by, claimed_until), turns each into deliveries by the rules, and marks it
-- expanded; a claim that runs out (the node died) is taken by another node.
CREATE TABLE notify_outbox (
    event_seq      BIGINT PRIMARY KEY REFERENCES events(seq),
    created_at     BIGINT NOT NULL,
    claimed_by     TEXT,
    claimed_until  BIGINT,
    expanded_at    BIGINT
);
CREATE INDEX notify_outbox_open ON notify_outbox(event_seq) WHERE expanded_at IS NULL;

-- One notification owed to one recipient through one channel. key is the idempotency key
-- (gw-<seq>-<rule>-<recipient hash>) sent with every attempt; it makes the expansion
-- idempotent too. status: pending | sent | failed (given up after the retry policy's attempts).
CREATE TABLE notify_deliveries (
    key            TEXT PRIMARY KEY,
    event_seq      BIGINT NOT NULL REFERENCES events(seq),
    incident_id    TEXT REFERENCES incidents(id),
    rule           TEXT NOT NULL,
    channel        TEXT NOT NULL,
    recipient      TEXT NOT NULL,
    status         TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_at        BIGINT NOT NULL,
    claimed_by     TEXT,
    claimed_until  BIGINT,
    last_error     TEXT,
    created_at     BIGINT NOT NULL,
    sent_at        BIGINT
);
CREATE INDEX notify_deliveries_due ON notify_deliveries(next_at) WHERE status = 'pending';
CREATE INDEX notify_deliveries_incident ON notify_deliveries(incident_id);

-- Every attempt and its outcome (sent | failed | gave_up), for the incident's timeline.
CREATE TABLE notify_attempts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_key  TEXT NOT NULL REFERENCES notify_deliveries(key),
    incident_id   TEXT,
    channel       TEXT NOT NULL,
    recipient     TEXT NOT NULL,
    at            BIGINT NOT NULL,
    outcome       TEXT NOT NULL,
    detail        TEXT
);
CREATE INDEX notify_attempts_incident ON notify_attempts(incident_id, id);

-- A post's group-bot addresses, one per channel (wecom, dingtalk, feishu, …).
CREATE TABLE post_contacts (
    post_id   TEXT NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    channel   TEXT NOT NULL,
    address   TEXT NOT NULL,
    PRIMARY KEY (post_id, channel)
);
