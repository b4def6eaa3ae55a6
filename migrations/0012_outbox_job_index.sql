-- The SQS reconciler (orchestrator/engine/reconciler.py) asks, per job, whether an outbox row
-- is unsent or was sent lately; deleting a job cascades to its outbox rows. Both by job_id.
CREATE INDEX outbox_job_idx ON outbox (job_id, sent_at);
