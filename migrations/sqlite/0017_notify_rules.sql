-- Notification rules written through the admin API (issue 18), besides those of [notify] in
-- the configuration file: one row per rule, the rule itself as JSON (gridwatch_core's Rule:
-- on, to, channel). Read at each expansion, so a rule saved on one hub node applies on all.
CREATE TABLE notify_rules (
    name        TEXT PRIMARY KEY,
    rule        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
