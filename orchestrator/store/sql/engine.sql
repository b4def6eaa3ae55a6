-- Queries of the fulfillment engine (orchestrator/engine/): the PostgreSQL queue and the runner.

-- name: queue_dead_letter_expired
-- Jobs whose lease ran out after their last allowed receive: dead, never claimed again.
UPDATE jobs
SET status = 'dead', finished_at = now(), locked_by = NULL, locked_until = NULL,
    last_error = 'lease expired after ' || receives || ' receives without completion'
                 || COALESCE(' (last error: ' || last_error || ')', '')
WHERE id IN (
    SELECT id FROM jobs
    WHERE status = 'running' AND locked_until <= now() AND receives >= max_receives
      AND kind = ANY(%(kinds)s)
    ORDER BY id
    LIMIT 20
    FOR UPDATE SKIP LOCKED
)
RETURNING *;

-- name: queue_claim
-- The oldest due job (ready and due, or running with an expired lease), leased to one worker.
WITH next AS (
    SELECT id FROM jobs
    WHERE kind = ANY(%(kinds)s)
      AND ((status = 'ready' AND run_after <= now())
           OR (status = 'running' AND locked_until <= now() AND receives < max_receives))
    ORDER BY run_after, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs AS j
SET status = 'running', receives = j.receives + 1, locked_by = %(worker_id)s,
    locked_until = now() + make_interval(secs => %(lease_seconds)s)
FROM next
WHERE j.id = next.id
RETURNING j.*;

-- name: queue_complete
-- Only the delivery that holds the lease completes the job (a stale one finds no row).
UPDATE jobs
SET status = 'done', finished_at = now(), locked_by = NULL, locked_until = NULL
WHERE id = %(id)s AND status = 'running' AND locked_by = %(worker_id)s
  AND receives = %(receives)s
RETURNING id;

-- name: queue_still_held
SELECT (status = 'running' AND locked_by = %(worker_id)s AND receives = %(receives)s) AS held
FROM jobs WHERE id = %(id)s;

-- name: queue_retry_later
UPDATE jobs
SET status = 'ready', run_after = now() + make_interval(secs => %(delay_seconds)s),
    locked_by = NULL, locked_until = NULL, last_error = %(error)s
WHERE id = %(id)s AND status = 'running' AND locked_by = %(worker_id)s
RETURNING *;

-- name: queue_get_job_for_update
SELECT * FROM jobs WHERE id = %(id)s FOR UPDATE;

-- name: queue_dead_letter
UPDATE jobs
SET status = 'dead', finished_at = now(), locked_by = NULL, locked_until = NULL,
    last_error = %(error)s
WHERE id = %(id)s AND status IN ('ready', 'running')
RETURNING *;

-- name: queue_heartbeat
-- Extend the lease of a job this worker still holds; no row means the lease was lost.
UPDATE jobs
SET locked_until = now() + make_interval(secs => %(lease_seconds)s)
WHERE id = %(id)s AND status = 'running' AND locked_by = %(worker_id)s
RETURNING locked_until;

-- name: queue_depth
SELECT count(*) FILTER (WHERE status = 'ready') AS ready,
       count(*) FILTER (WHERE status = 'running') AS running,
       count(*) FILTER (WHERE status = 'dead') AS dead,
       EXTRACT(EPOCH FROM now() - min(run_after) FILTER (WHERE status = 'ready'
                                                        AND run_after <= now()))::float8
           AS oldest_ready_age_seconds
FROM jobs;

-- name: engine_fail_request
-- The request stops for a human: failed with its error context (from any non-final state).
UPDATE requests
SET status = 'failed', error_context = %(error_context)s
WHERE id = %(id)s AND status IN ('submitted', 'validating', 'queued', 'in_progress', 'failed')
RETURNING *;

-- name: engine_fail_open_actions
UPDATE request_actions
SET status = 'failed', error = %(error)s, next_poll_at = NULL
WHERE request_id = %(request_id)s AND status IN ('in_progress', 'retrying')
RETURNING action_id;

-- name: engine_complete_request
UPDATE requests
SET status = 'completed', completed_at = now(), error_context = NULL
WHERE id = %(id)s AND status IN ('queued', 'in_progress', 'failed')
RETURNING *;

-- name: engine_actions_for_update
SELECT * FROM request_actions WHERE request_id = %(request_id)s ORDER BY position FOR UPDATE;

-- name: engine_get_request_secrets
SELECT fields FROM request_secrets WHERE request_id = %(request_id)s;

-- name: engine_start_action
-- An action begins an attempt (or resumes one after a redelivery: attempts unchanged).
UPDATE request_actions
SET status = 'in_progress', attempts = %(attempts)s, rendered_config = %(rendered_config)s,
    started_at = COALESCE(started_at, now()), error = NULL
WHERE id = %(id)s
RETURNING *;

-- name: engine_complete_action
UPDATE request_actions
SET status = 'completed', outputs = %(outputs)s, completed_at = now(), next_poll_at = NULL,
    error = NULL
WHERE id = %(id)s
RETURNING *;

-- name: engine_action_pending
UPDATE request_actions
SET external_ref = %(external_ref)s, external_url = %(external_url)s,
    next_poll_at = now() + make_interval(secs => %(delay_seconds)s)
WHERE id = %(id)s
RETURNING *;

-- name: engine_action_retrying
UPDATE request_actions
SET status = 'retrying', error = %(error)s, next_poll_at = NULL
WHERE id = %(id)s
RETURNING *;

-- name: engine_action_failed
UPDATE request_actions
SET status = 'failed', error = %(error)s, next_poll_at = NULL
WHERE id = %(id)s
RETURNING *;

-- name: engine_actions
SELECT * FROM request_actions WHERE request_id = %(request_id)s ORDER BY position;

-- name: engine_retry_failed_action
-- An operator's retry: the failed action gets a fresh attempt budget (request stays failed).
UPDATE request_actions
SET status = 'retrying', attempts = 0, error = NULL, next_poll_at = NULL, deadline_at = NULL,
    external_ref = NULL, external_url = NULL, generation = generation + 1
WHERE request_id = %(request_id)s AND status = 'failed'
RETURNING action_id;

-- name: engine_in_flight_actions
-- Actions of a request with an external run still going (cancelled on abort where supported).
SELECT * FROM request_actions
WHERE request_id = %(request_id)s AND status = 'in_progress' AND external_ref IS NOT NULL
ORDER BY position;

-- name: escalate_request
UPDATE requests
SET status = 'escalated', escalated_at = now()
WHERE id = %(id)s AND status = ANY(%(from_statuses)s)
RETURNING *;

-- name: engine_set_escalation_ticket
UPDATE requests
SET escalation_ticket = %(ticket)s, escalation_url = %(url)s
WHERE id = %(id)s
RETURNING *;

-- name: engine_get_action
SELECT * FROM request_actions WHERE request_id = %(request_id)s AND action_id = %(action_id)s;

-- name: engine_set_deadline
UPDATE request_actions
SET deadline_at = COALESCE(deadline_at, now() + make_interval(secs => %(timeout_seconds)s))
WHERE id = %(id)s
RETURNING deadline_at;

-- name: queue_continue_job
-- The run-action job in hand goes on with the request's next action (recorded with the result).
UPDATE jobs
SET payload = jsonb_set(payload, '{action_id}', to_jsonb(%(action_id)s::text))
WHERE id = %(id)s;
