-- The SQS queue backend (orchestrator/engine/sqs/): the jobs table stays the source of
-- truth; these queries lease a job on a received message and drain the outbox.

-- name: sqs_claim_job
-- Lease the job a received message names (the row was read FOR UPDATE just before). Receives
-- never go down: the job's own count, or SQS's count for this message when that is higher.
UPDATE jobs
SET status = 'running', receives = GREATEST(receives + 1, %(receive_count)s),
    locked_by = %(locked_by)s,
    locked_until = now() + make_interval(secs => %(lease_seconds)s)
WHERE id = %(id)s
RETURNING *;

-- name: sqs_job_for_message
-- The job a message names, locked, with whether it is due and whether its lease ran out (and
-- how much of it is left).
SELECT j.*, j.run_after <= now() + make_interval(secs => %(tolerance_seconds)s) AS due,
       GREATEST(0, EXTRACT(EPOCH FROM j.run_after - now()))::float8 AS wait_seconds,
       (j.locked_until IS NULL OR j.locked_until <= now()) AS lease_expired,
       GREATEST(0, EXTRACT(EPOCH FROM j.locked_until - now()))::float8 AS lease_left_seconds
FROM jobs j WHERE j.id = %(id)s
FOR UPDATE;

-- name: sqs_job_status
-- Where a job stands (the Lambda face: whether a record's job is finished after its run).
SELECT status FROM jobs WHERE id = %(id)s;

-- name: sqs_complete
-- Complete the job if this delivery holds it; either way say whether the job is finished (then
-- its message can be deleted). The outer SELECT sees the row as it was before the UPDATE.
WITH done AS (
    UPDATE jobs
    SET status = 'done', finished_at = now(), locked_by = NULL, locked_until = NULL
    WHERE id = %(id)s AND status = 'running' AND locked_by = %(worker_id)s
      AND receives = %(receives)s
    RETURNING id
)
SELECT EXISTS (SELECT 1 FROM done) AS completed,
       (SELECT status FROM jobs WHERE id = %(id)s) AS status;

-- name: sqs_outbox_due
-- Unsent outbox rows whose job is due within the send-ahead window (SQS delays at most 15
-- minutes, so later jobs wait here), plus rows whose job no longer needs a message.
SELECT o.id, o.job_id, j.kind, j.status AS job_status,
       GREATEST(0, EXTRACT(EPOCH FROM j.run_after - now()))::float8 AS delay_seconds
FROM outbox o
JOIN jobs j ON j.id = o.job_id
WHERE o.sent_at IS NULL
  AND (j.run_after <= now() + make_interval(secs => %(ahead_seconds)s)
       OR j.status NOT IN ('ready', 'running'))
ORDER BY o.id
LIMIT %(limit)s
FOR UPDATE OF o SKIP LOCKED;

-- name: sqs_outbox_mark_sent
UPDATE outbox SET sent_at = now() WHERE id = ANY(%(ids)s);

-- name: sqs_outbox_pending
-- How many outbox rows are still unsent (for depth and tests).
SELECT count(*) AS pending FROM outbox WHERE sent_at IS NULL;

-- name: sqs_outbox_prune
-- One batch of sent outbox rows past retention (oldest first, by outbox_sent_idx); rows another
-- pruner holds are skipped. Unsent rows are never touched.
WITH doomed AS (
    SELECT id FROM outbox
    WHERE sent_at < now() - make_interval(secs => %(retention_seconds)s)
    ORDER BY sent_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM outbox o USING doomed d WHERE o.id = d.id
    RETURNING 1
)
SELECT count(*) AS n FROM gone;

-- name: sqs_outbox_prunable
-- How many sent outbox rows are past retention (what a prune would delete).
SELECT count(*) AS n FROM outbox
WHERE sent_at < now() - make_interval(secs => %(retention_seconds)s);

-- name: sqs_requeue_job
-- A job SQS dead-lettered while it still has receives left in the table (its budget counts
-- per action, SQS's per message) gets a new message through the outbox.
INSERT INTO outbox (job_id, body)
SELECT id, jsonb_build_object('job_id', id, 'kind', kind, 'delay', 0)
FROM jobs WHERE id = %(id)s;

-- name: sqs_reconcile
-- The reconciler (orchestrator/engine/reconciler.py): jobs that should have been received by
-- now and whose message may be gone (queue purged, deleted or recreated, message expired) get a
-- new outbox row, which the relay sends. "Should have been received": ready and due for more
-- than resend_after_seconds, or running with a lease that ran out that long ago (SQS would
-- have shown the message again). "May be gone": no unsent outbox row and none sent within
-- resend_after_seconds. One reconciler at a time (a transaction advisory lock); a resend
-- whose original message was not gone is a duplicate, which a receive drops.
WITH turn AS (
    SELECT pg_try_advisory_xact_lock(hashtext('pao:sqs-reconcile')) AS mine
), lost AS (
    SELECT j.id, j.kind FROM jobs j, turn
    WHERE turn.mine
      AND ((j.status = 'ready'
            AND j.run_after <= now() - make_interval(secs => %(resend_after_seconds)s))
           OR (j.status = 'running'
               AND j.locked_until <= now() - make_interval(secs => %(resend_after_seconds)s)))
      AND NOT EXISTS (
          SELECT 1 FROM outbox o
          WHERE o.job_id = j.id
            AND (o.sent_at IS NULL
                 OR o.sent_at > now() - make_interval(secs => %(resend_after_seconds)s)))
    ORDER BY j.run_after, j.id
    LIMIT %(limit)s
)
INSERT INTO outbox (job_id, body)
SELECT id, jsonb_build_object('job_id', id, 'kind', kind, 'delay', 0) FROM lost
RETURNING job_id;
