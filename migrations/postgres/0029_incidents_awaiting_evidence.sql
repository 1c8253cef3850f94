-- When an incident's evidence clips were scheduled (its jobs written and its recordings
-- locked). The evidence task asks every second for the incidents naming cameras that have
-- none yet; it found them by checking every incident of the retention period (30 days)
-- against evidence_jobs, a cost that grew with the history. The partial index holds only the
-- incidents still waiting, usually none; its condition is the one the task asks, in the same
-- words, so that both SQLite and PostgreSQL use it.
ALTER TABLE incidents ADD COLUMN evidence_at BIGINT;
UPDATE incidents SET evidence_at = (
    SELECT MIN(j.created_at) FROM evidence_jobs j WHERE j.incident_id = incidents.id)
    WHERE EXISTS (SELECT 1 FROM evidence_jobs j WHERE j.incident_id = incidents.id);
CREATE INDEX incidents_awaiting_evidence ON incidents(created_at)
    WHERE evidence_at IS NULL AND cameras <> '[]';
