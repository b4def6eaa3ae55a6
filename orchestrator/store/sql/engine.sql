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
-- action from the action's start (engine_step); one naming none has started nothing, and
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
-- The request stops for a human: failed with its error context (from any non-final state), and
-- its open actions failed with it. An action failed while in progress (e.g. its worker kept
-- crashing) has an unknown outcome: an operator's retry keeps its correlation key
-- (engine_retry_failed_action). No row: the request was already final.
WITH failed AS (
    UPDATE requests
    SET status = 'failed', error_context = %(error_context)s
    WHERE id = %(id)s
      AND status IN ('submitted', 'validating', 'queued', 'in_progress', 'failed')
    RETURNING *
), open_actions AS (
    UPDATE request_actions
    SET status = 'failed', error = %(action_error)s, next_poll_at = NULL,
        outcome_unknown = outcome_unknown OR status = 'in_progress'
    WHERE request_id IN (SELECT id FROM failed) AND status IN ('in_progress', 'retrying')
)
SELECT * FROM failed;

-- name: engine_adopt_correlation
-- The request's correlation id becomes the audit context of the rest of this transaction.
SELECT set_config('pao.correlation_id', correlation_id, true) AS correlation_id
FROM requests WHERE id = %(id)s;

-- name: engine_actions_for_update
SELECT * FROM request_actions WHERE request_id = %(request_id)s ORDER BY position FOR UPDATE;

-- name: engine_get_request_secrets
SELECT fields FROM request_secrets WHERE request_id = %(request_id)s;

-- name: engine_step
-- The chain's state transitions in one statement, the one place where an action starts or
-- completes and a request completes (orchestrator/engine/transitions.py, ``step``):
-- * done_id: the action in hand completes with its outputs;
-- * id: the next action starts an attempt (or resumes one after a redelivery: attempts
--   unchanged) with the attempt's own deadline (a resumed attempt gets a new one; resuming an
--   attempt whose worker died makes its outcome unknown: its call may have reached the target);
-- * finish: the request completes (its secrets forgotten);
-- * the request moves queued -> in_progress when an action starts, failed -> in_progress when
--   an action completes (an operator's retry resolved it), -> completed on finish;
-- * the log rows are written in order;
-- * job_effect 'point': the job is pointed at the started action with a fresh receive budget
--   for it (crash_limit receives, the one in hand the first: action_receives_from is the
--   receive before it); 'done': the job is done (the chain's last step outside a transaction).
-- Nothing is written unless the state read still holds: the request (locked here) in
-- request_status; with job_id, the job's delivery holding its lease; the action in hand in
-- progress with done_attempts; the next action with next_status and next_attempts; on finish,
-- every other action finished. Run on its own, it is its own transaction (no BEGIN, no COMMIT
-- round trips): it sets the audit context and commits without waiting for the WAL flush, as
-- the engine's transactions do. ok = false: nothing written.
WITH req AS (
  SELECT r.id, r.status,
    set_config('pao.actor', %(actor)s, true) || set_config('pao.source', %(source)s, true)
    || set_config('pao.correlation_id', COALESCE(r.correlation_id, ''), true)
    || set_config('synchronous_commit', 'off', true) AS audit_context
  FROM requests r WHERE r.id = %(request_id)s AND r.status = %(request_status)s
  FOR UPDATE OF r
), ok AS (
  SELECT req.id, req.status FROM req
  WHERE (%(job_id)s::bigint IS NULL
         OR EXISTS (SELECT 1 FROM jobs j WHERE j.id = %(job_id)s::bigint
                    AND j.status = 'running' AND j.locked_by = %(worker_id)s
                    AND j.receives = %(receives)s))
    AND (%(done_id)s::bigint IS NULL
         OR EXISTS (SELECT 1 FROM request_actions a WHERE a.id = %(done_id)s::bigint
                    AND a.request_id = req.id AND a.status = 'in_progress'
                    AND a.attempts = %(done_attempts)s))
    AND (%(id)s::bigint IS NULL
         OR EXISTS (SELECT 1 FROM request_actions a WHERE a.id = %(id)s::bigint
                    AND a.request_id = req.id AND a.status = %(next_status)s
                    AND a.attempts = %(next_attempts)s))
    AND (NOT %(finish)s
         OR NOT EXISTS (SELECT 1 FROM request_actions a WHERE a.request_id = req.id
                        AND a.id IS DISTINCT FROM %(done_id)s::bigint
                        AND a.status NOT IN ('completed', 'cancelled')))
), done AS (
  UPDATE request_actions
  SET status = 'completed', outputs = %(outputs)s, completed_at = now(), next_poll_at = NULL,
      error = NULL
  WHERE id = %(done_id)s::bigint AND EXISTS (SELECT 1 FROM ok)
), started AS (
  UPDATE request_actions
  SET status = 'in_progress', attempts = %(attempts)s, rendered_config = %(rendered_config)s,
      started_at = COALESCE(started_at, now()), error = NULL, deadline_at = %(deadline_at)s,
      outcome_unknown = outcome_unknown OR status = 'in_progress'
  WHERE id = %(id)s::bigint AND EXISTS (SELECT 1 FROM ok)
), pointed AS (
  UPDATE jobs
  SET payload = jsonb_set(jsonb_set(payload, '{action_id}', to_jsonb(%(action_id)s::text)),
                          '{action_receives_from}', to_jsonb(receives - 1)),
      max_receives = receives - 1 + %(crash_limit)s
  WHERE id = %(job_id)s::bigint AND %(job_effect)s::text = 'point' AND EXISTS (SELECT 1 FROM ok)
), job_done AS (
  UPDATE jobs SET status = 'done', finished_at = now(), locked_by = NULL, locked_until = NULL
  WHERE id = %(job_id)s::bigint AND %(job_effect)s::text = 'done' AND EXISTS (SELECT 1 FROM ok)
), forgotten AS (
  DELETE FROM request_secrets WHERE %(finish)s AND request_id IN (SELECT id FROM ok)
), logged AS (
  INSERT INTO request_logs (request_id, action_id, level, event, message, details,
                            correlation_id)
  SELECT %(request_id)s, l.entry ->> 'action_id', l.entry ->> 'level', l.entry ->> 'event',
         l.entry ->> 'message', l.entry -> 'details', %(correlation_id)s
  FROM jsonb_array_elements(%(logs)s) WITH ORDINALITY AS l(entry, n)
  WHERE EXISTS (SELECT 1 FROM ok) ORDER BY l.n
), moved AS (
  UPDATE requests r
  SET status = CASE WHEN %(finish)s THEN 'completed' ELSE 'in_progress' END,
      completed_at = CASE WHEN %(finish)s THEN now() ELSE r.completed_at END,
      error_context = CASE WHEN %(finish)s THEN NULL ELSE r.error_context END
  FROM ok WHERE r.id = ok.id
    AND (%(finish)s OR (%(id)s::bigint IS NOT NULL AND ok.status = 'queued')
         OR (%(done_id)s::bigint IS NOT NULL AND ok.status = 'failed'))
  RETURNING r.status
)
SELECT EXISTS (SELECT 1 FROM ok) AS ok, (SELECT status FROM moved) AS status;

-- name: engine_lock_request_for_job
-- One step of a job begins, in one round trip: the request row locked, whether the job's
-- delivery still holds its lease, the request's secret field values (secret_fields, NULL when
-- none), and the transaction's audit context (actor, source, the request's correlation id) set
-- for the audit trigger, committing without waiting for the WAL flush as the engine's
-- transactions do (the step's first statement: nothing was written before it).
SELECT r.*,
       set_config('pao.actor', %(actor)s, true) || set_config('pao.source', %(source)s, true)
       || set_config('pao.correlation_id', COALESCE(r.correlation_id, ''), true)
       || set_config('synchronous_commit', 'off', true) AS audit_context,
       COALESCE((SELECT j.status = 'running' AND j.locked_by = %(worker_id)s
                        AND j.receives = %(receives)s
                 FROM jobs j WHERE j.id = %(job_id)s), false) AS job_held,
       (SELECT s.fields FROM request_secrets s WHERE s.request_id = r.id) AS secret_fields
FROM requests r
WHERE r.id = %(id)s
FOR UPDATE OF r;

-- name: engine_read_request_for_job
-- A job's first look at its request, without a lock and outside any transaction (the chain's
-- plain start: the guarded engine_step that starts the action checks that nothing it relies
-- on changed since): the request row, whether the job's delivery still holds its lease, and
-- the request's secret field values (secret_fields, NULL when none).
SELECT r.*,
       COALESCE((SELECT j.status = 'running' AND j.locked_by = %(worker_id)s
                        AND j.receives = %(receives)s
                 FROM jobs j WHERE j.id = %(job_id)s), false) AS job_held,
       (SELECT s.fields FROM request_secrets s WHERE s.request_id = r.id) AS secret_fields
FROM requests r
WHERE r.id = %(id)s;

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

-- name: engine_get_action
SELECT * FROM request_actions WHERE request_id = %(request_id)s AND action_id = %(action_id)s;


-- name: engine_abort_request
-- An operator aborts the request (from from_statuses): aborted with its reason, an escalation
-- ticket still being opened withdrawn with it, its unfinished actions cancelled, its secrets
-- forgotten; in_flight names the actions whose external run was still going (as read before
-- this statement), for the engine to cancel where the target supports it. No row: the request
-- may not be aborted.
WITH aborted AS (
    UPDATE requests
    SET status = 'aborted', abort_reason = %(reason)s, aborted_at = now(),
        escalation_state = CASE WHEN escalation_state = ANY(%(withdrawn_tickets)s)
                                THEN 'cancelled' ELSE escalation_state END,
        escalation_next_attempt_at = NULL
    WHERE id = %(id)s AND status = ANY(%(from_statuses)s)
    RETURNING *
), in_flight AS (
    SELECT a.action_id, a.position FROM request_actions a
    WHERE a.request_id = %(id)s AND a.status = 'in_progress' AND a.external_ref IS NOT NULL
      AND EXISTS (SELECT 1 FROM aborted)
), cancelled AS (
    UPDATE request_actions SET status = 'cancelled'
    WHERE request_id IN (SELECT id FROM aborted)
      AND status IN ('pending', 'retrying', 'in_progress')
), forgotten AS (
    DELETE FROM request_secrets WHERE request_id IN (SELECT id FROM aborted)
)
SELECT aborted.*, ARRAY(SELECT action_id FROM in_flight ORDER BY position) AS in_flight
FROM aborted;


-- name: engine_queue_request
-- A request moves to the queue (from from_statuses: just submitted, or its approval gate's
-- last stage passed); the caller enqueues its first job in the same transaction. No row: the
-- request was not in one of those states.
UPDATE requests SET status = 'queued'
WHERE id = %(id)s AND status = ANY(%(from_statuses)s)
RETURNING *;

-- name: engine_hold_for_secret
-- Nothing runs until the requester supplies the item's secret through the API (a request from
-- GitHub never carries one). No row: the request was not in one of from_statuses.
UPDATE requests SET status = 'awaiting_secret'
WHERE id = %(id)s AND status = ANY(%(from_statuses)s)
RETURNING *;

-- name: engine_hold_for_approval
-- Nothing runs until the item's approval gate passes (no job is enqueued). No row: the
-- request was not in one of from_statuses.
UPDATE requests SET status = 'awaiting_approval'
WHERE id = %(id)s AND status = ANY(%(from_statuses)s)
RETURNING *;

-- name: engine_release_secrets
-- The requester supplied the secrets it waited for: masked markers merged into its fields, and
-- on to the queue. No row: the request was not in one of from_statuses.
UPDATE requests SET fields = fields || %(masked)s, status = 'queued'
WHERE id = %(id)s AND status = ANY(%(from_statuses)s)
RETURNING *;

-- name: engine_reject_request
-- The approval gate ended without a yes (rejected, or its current stage expired): `rejected`
-- (terminal) with why in error_context, its actions (none ever ran) cancelled and its secrets
-- forgotten. No row: the request was not in one of from_statuses.
WITH ended AS (
    UPDATE requests SET status = 'rejected', error_context = %(context)s
    WHERE id = %(id)s AND status = ANY(%(from_statuses)s)
    RETURNING *
), cancelled AS (
    UPDATE request_actions SET status = 'cancelled'
    WHERE request_id IN (SELECT id FROM ended) AND status IN ('pending', 'retrying')
), forgotten AS (
    DELETE FROM request_secrets WHERE request_id IN (SELECT id FROM ended)
)
SELECT * FROM ended;
