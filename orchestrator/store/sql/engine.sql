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
-- Also a statement in its own transaction (no BEGIN, no COMMIT round trips), committed without
-- waiting for the WAL flush like the engine's transactions (jobs are not audited, so no audit
-- context is needed).
WITH next AS (
    SELECT id, set_config('synchronous_commit', 'off', true) AS commit_mode FROM jobs
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

-- name: queue_release_dedupe
-- The job in hand ends in the caller's transaction but another delivery holds it now (this
-- worker's lease ran out and it was received again): the job gives up its dedupe key, so the
-- next step the caller enqueues in the same transaction is not swallowed by it. The other
-- delivery then finds the action its job names already recorded, and stops. A job names its
-- action from the action's start (engine_advance); one naming none has started nothing, and
-- keeps its key: its other delivery goes on with the chain.
UPDATE jobs SET dedupe_key = NULL
WHERE id = %(id)s AND status IN ('ready', 'running') AND dedupe_key IS NOT NULL
  AND payload ? 'action_id'
  AND (locked_by IS DISTINCT FROM %(worker_id)s OR receives <> %(receives)s);

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

-- name: engine_adopt_correlation
-- The request's correlation id becomes the audit context of the rest of this transaction.
SELECT set_config('pao.correlation_id', correlation_id, true) AS correlation_id
FROM requests WHERE id = %(id)s;

-- name: engine_fail_open_actions
-- An action failed while in progress (e.g. its worker kept crashing) has an unknown outcome:
-- an operator's retry keeps its correlation key (engine_retry_failed_action).
UPDATE request_actions
SET status = 'failed', error = %(error)s, next_poll_at = NULL,
    outcome_unknown = outcome_unknown OR status = 'in_progress'
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

-- name: engine_advance
-- A chain's step in one statement: the action starts an attempt (or resumes one after a
-- redelivery: attempts unchanged) with the attempt's own deadline (a resumed attempt gets a new
-- one: the deadline belongs to the attempt, not to the action's first start) and its log rows
-- are written in order. Going on inside a job, the same statement records the action just
-- completed (done_id, outputs); done_id NULL otherwise. It points the job (job_id) at the new
-- action, giving it a fresh receive budget for that action (crash_limit receives, the one in
-- hand the first: action_receives_from is the receive before it), when going on or when the job
-- named no action yet (a request's first job); job_id NULL otherwise.
WITH done AS (
    UPDATE request_actions
    SET status = 'completed', outputs = %(outputs)s, completed_at = now(), next_poll_at = NULL,
        error = NULL
    WHERE id = %(done_id)s
), job AS (
    UPDATE jobs
    SET payload = jsonb_set(jsonb_set(payload, '{action_id}', to_jsonb(%(action_id)s::text)),
                            '{action_receives_from}', to_jsonb(receives - 1)),
        max_receives = receives - 1 + %(crash_limit)s
    WHERE id = %(job_id)s
), logged AS (
    INSERT INTO request_logs (request_id, action_id, level, event, message, details,
                              correlation_id)
    SELECT %(request_id)s, l.entry ->> 'action_id', l.entry ->> 'level', l.entry ->> 'event',
           l.entry ->> 'message', l.entry -> 'details', %(correlation_id)s
    FROM jsonb_array_elements(%(logs)s) WITH ORDINALITY AS l(entry, n)
    ORDER BY l.n
)
UPDATE request_actions
SET status = 'in_progress', attempts = %(attempts)s, rendered_config = %(rendered_config)s,
    started_at = COALESCE(started_at, now()), error = NULL,
    deadline_at = %(deadline_at)s,
    -- resuming an attempt whose worker died: its call may have reached the target
    outcome_unknown = outcome_unknown OR status = 'in_progress'
WHERE id = %(id)s;

-- name: engine_advance_guarded
-- The plain step of a chain as one statement in its own transaction (no BEGIN, no COMMIT
-- round trips): the action in hand completed and the next one starts, both rendered from the
-- state the job read when it started the action. Nothing is written unless that state still
-- holds: the request (locked here) in the same status, the job's delivery holding its lease,
-- the action in hand in progress with the same attempts, the next action as it was read.
-- Sets the audit context (actor, source, the request's correlation id) and commits without
-- waiting for the WAL flush, as the engine's transactions do. advanced = 0: nothing written.
WITH req AS (
    SELECT r.id,
           set_config('pao.actor', %(actor)s, true)
           || set_config('pao.source', %(source)s, true)
           || set_config('pao.correlation_id', COALESCE(r.correlation_id, ''), true)
           || set_config('synchronous_commit', 'off', true) AS audit_context
    FROM requests r
    WHERE r.id = %(request_id)s AND r.status = %(request_status)s
    FOR UPDATE OF r
), ok AS (
    SELECT req.id FROM req
    WHERE EXISTS (SELECT 1 FROM jobs j
                  WHERE j.id = %(job_id)s AND j.status = 'running'
                    AND j.locked_by = %(worker_id)s AND j.receives = %(receives)s)
      AND EXISTS (SELECT 1 FROM request_actions a
                  WHERE a.id = %(done_id)s AND a.request_id = req.id
                    AND a.status = 'in_progress' AND a.attempts = %(done_attempts)s)
      AND EXISTS (SELECT 1 FROM request_actions a
                  WHERE a.id = %(id)s AND a.request_id = req.id
                    AND a.status = %(next_status)s AND a.attempts = %(next_attempts)s)
), done AS (
    UPDATE request_actions
    SET status = 'completed', outputs = %(outputs)s, completed_at = now(), next_poll_at = NULL,
        error = NULL
    WHERE id = %(done_id)s AND EXISTS (SELECT 1 FROM ok)
), job AS (
    UPDATE jobs
    SET payload = jsonb_set(jsonb_set(payload, '{action_id}', to_jsonb(%(action_id)s::text)),
                            '{action_receives_from}', to_jsonb(receives - 1)),
        max_receives = receives - 1 + %(crash_limit)s
    WHERE id = %(job_id)s AND EXISTS (SELECT 1 FROM ok)
), logged AS (
    INSERT INTO request_logs (request_id, action_id, level, event, message, details,
                              correlation_id)
    SELECT %(request_id)s, l.entry ->> 'action_id', l.entry ->> 'level', l.entry ->> 'event',
           l.entry ->> 'message', l.entry -> 'details', %(correlation_id)s
    FROM jsonb_array_elements(%(logs)s) WITH ORDINALITY AS l(entry, n)
    WHERE EXISTS (SELECT 1 FROM ok)
    ORDER BY l.n
), started AS (
    UPDATE request_actions
    SET status = 'in_progress', attempts = %(attempts)s, rendered_config = %(rendered_config)s,
        started_at = COALESCE(started_at, now()), error = NULL,
        deadline_at = %(deadline_at)s
    WHERE id = %(id)s AND EXISTS (SELECT 1 FROM ok)
    RETURNING id
)
SELECT count(*) AS advanced FROM started;

-- name: engine_finish_guarded
-- The last step of a chain as one statement, guarded as engine_advance_guarded: the action in
-- hand completed, every other action already completed, the request completed, the job done,
-- the request's secrets forgotten, the log rows written. finished = 0: nothing written.
WITH req AS (
    SELECT r.id,
           set_config('pao.actor', %(actor)s, true)
           || set_config('pao.source', %(source)s, true)
           || set_config('pao.correlation_id', COALESCE(r.correlation_id, ''), true)
           || set_config('synchronous_commit', 'off', true) AS audit_context
    FROM requests r
    WHERE r.id = %(request_id)s AND r.status = %(request_status)s
    FOR UPDATE OF r
), ok AS (
    SELECT req.id FROM req
    WHERE EXISTS (SELECT 1 FROM jobs j
                  WHERE j.id = %(job_id)s AND j.status = 'running'
                    AND j.locked_by = %(worker_id)s AND j.receives = %(receives)s)
      AND EXISTS (SELECT 1 FROM request_actions a
                  WHERE a.id = %(done_id)s AND a.request_id = req.id
                    AND a.status = 'in_progress' AND a.attempts = %(done_attempts)s)
      AND NOT EXISTS (SELECT 1 FROM request_actions a
                      WHERE a.request_id = req.id AND a.id <> %(done_id)s
                        AND a.status <> 'completed')
), done AS (
    UPDATE request_actions
    SET status = 'completed', outputs = %(outputs)s, completed_at = now(), next_poll_at = NULL,
        error = NULL
    WHERE id = %(done_id)s AND EXISTS (SELECT 1 FROM ok)
), job AS (
    UPDATE jobs
    SET status = 'done', finished_at = now(), locked_by = NULL, locked_until = NULL
    WHERE id = %(job_id)s AND EXISTS (SELECT 1 FROM ok)
), forgotten AS (
    DELETE FROM request_secrets WHERE request_id IN (SELECT id FROM ok)
), logged AS (
    INSERT INTO request_logs (request_id, action_id, level, event, message, details,
                              correlation_id)
    SELECT %(request_id)s, l.entry ->> 'action_id', l.entry ->> 'level', l.entry ->> 'event',
           l.entry ->> 'message', l.entry -> 'details', %(correlation_id)s
    FROM jsonb_array_elements(%(logs)s) WITH ORDINALITY AS l(entry, n)
    WHERE EXISTS (SELECT 1 FROM ok)
    ORDER BY l.n
), finished AS (
    UPDATE requests
    SET status = 'completed', completed_at = now(), error_context = NULL
    WHERE id IN (SELECT id FROM ok)
    RETURNING id
)
SELECT count(*) AS finished FROM finished;

-- name: engine_lock_request_for_job
-- One step of a job begins: the request row locked, whether the job's delivery still holds
-- its lease, and the request's correlation id set for the audit trigger, in one round trip.
SELECT r.*,
       set_config('pao.correlation_id', COALESCE(r.correlation_id, ''), true) AS audit_context,
       COALESCE((SELECT j.status = 'running' AND j.locked_by = %(worker_id)s
                        AND j.receives = %(receives)s
                 FROM jobs j WHERE j.id = %(job_id)s), false) AS job_held
FROM requests r
WHERE r.id = %(id)s
FOR UPDATE OF r;

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
-- A failed attempt is tried again later. After a known failure the retry gets a new
-- correlation key (new_key: generation + 1); after an unknown outcome (or a rate limit, which
-- the target did not act on) it keeps the one the target saw. Unknown is sticky for the key:
-- once any attempt under it may have done the work, a later known failure (e.g. a 500 to the
-- retry) does not prove that earlier work undone, so the key is kept until the action ends.
-- (SET expressions read the row as it was before this statement.)
UPDATE request_actions
SET status = 'retrying', error = %(error)s, next_poll_at = NULL,
    outcome_unknown = CASE WHEN %(new_key)s AND NOT outcome_unknown THEN false
                           ELSE outcome_unknown OR %(outcome_unknown)s END,
    generation = generation + CASE WHEN %(new_key)s AND NOT outcome_unknown THEN 1 ELSE 0 END
WHERE id = %(id)s
RETURNING *;

-- name: engine_action_failed
-- The action failed for good (an operator may retry it: engine_retry_failed_action). Unknown
-- stays sticky for the key (engine_action_retrying).
UPDATE request_actions
SET status = 'failed', error = %(error)s, next_poll_at = NULL,
    outcome_unknown = outcome_unknown OR %(outcome_unknown)s
WHERE id = %(id)s
RETURNING *;

-- name: engine_action_delayed
-- The target's circuit is open: the attempt just started (or resumed) is given back unspent
-- and the action waits for the probe time (its job is rescheduled in the same transaction).
UPDATE request_actions
SET status = 'retrying', attempts = GREATEST(0, attempts - 1), deadline_at = NULL,
    next_poll_at = NULL
WHERE id = %(id)s AND status = 'in_progress' AND external_ref IS NULL
RETURNING *;

-- name: engine_actions
SELECT * FROM request_actions WHERE request_id = %(request_id)s ORDER BY position;

-- name: engine_retry_failed_action
-- An operator's retry: the failed action gets a fresh attempt budget (request stays failed).
-- A new correlation key (generation + 1) only after a known failure: after an unknown outcome
-- (timeout, lost connection) the retry must find what the target may already have done.
UPDATE request_actions
SET status = 'retrying', attempts = 0, error = NULL, next_poll_at = NULL, deadline_at = NULL,
    external_ref = NULL, external_url = NULL,
    generation = generation + CASE WHEN outcome_unknown THEN 0 ELSE 1 END
WHERE request_id = %(request_id)s AND status = 'failed'
RETURNING action_id;

-- name: engine_in_flight_actions
-- Actions of a request with an external run still going (cancelled on abort where supported).
SELECT * FROM request_actions
WHERE request_id = %(request_id)s AND status = 'in_progress' AND external_ref IS NOT NULL
ORDER BY position;

-- name: engine_get_action
SELECT * FROM request_actions WHERE request_id = %(request_id)s AND action_id = %(action_id)s;

-- name: queue_continue_job
-- The run-action job in hand goes on with the request's next action (recorded with the result),
-- with a fresh receive budget for it (as engine_advance).
UPDATE jobs
SET payload = jsonb_set(jsonb_set(payload, '{action_id}', to_jsonb(%(action_id)s::text)),
                        '{action_receives_from}', to_jsonb(receives - 1)),
    max_receives = receives - 1 + %(crash_limit)s
WHERE id = %(id)s;
