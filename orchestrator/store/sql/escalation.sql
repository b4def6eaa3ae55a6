-- Escalations (orchestrator/requests/service.py, orchestrator/engine/escalation.py): the
-- request's move to `escalated` and its manual-support ticket's state. Every statement is
-- guarded by the states it moves from (orchestrator/engine/states.py), so a decision and a
-- ticket job racing each other cannot both win. A NULL ticket state (rows written without it)
-- reads as ``states.ticket_state`` reads it: `created` with a ticket, else `failed`.

-- name: escalate_request
-- The operator's decision: escalated, with a fresh ticket budget (also a re-escalation after
-- the ticket failed or was not configured).
UPDATE requests
SET status = 'escalated', escalated_at = now(), escalation_state = 'pending',
    escalation_attempts = 0, escalation_error = NULL, escalation_next_attempt_at = NULL,
    escalation_ticket = NULL, escalation_url = NULL
WHERE id = %(id)s AND status = ANY(%(from_statuses)s)
  AND (status <> 'escalated'
       OR COALESCE(escalation_state, CASE WHEN escalation_ticket IS NULL THEN 'failed'
                                          ELSE 'created' END) = ANY(%(from_tickets)s))
RETURNING *;

-- name: withdraw_escalation
-- An operator's retry of an escalated request without a ticket: back to failed (the retry
-- resolves it), the pending ticket cancelled.
UPDATE requests
SET status = 'failed', escalation_state = 'cancelled', escalation_next_attempt_at = NULL
WHERE id = %(id)s AND status = 'escalated' AND escalation_ticket IS NULL
  AND COALESCE(escalation_state, 'failed') = ANY(%(from_tickets)s)
RETURNING *;

-- name: escalation_ticket_created
-- The ticket job's success, only for the attempt the request expects (a stale or withdrawn
-- job changes nothing).
UPDATE requests
SET escalation_ticket = %(ticket)s, escalation_url = %(url)s, escalation_state = 'created',
    escalation_attempts = %(attempt)s, escalation_error = NULL, escalation_next_attempt_at = NULL
WHERE id = %(id)s AND status = 'escalated' AND escalation_state = ANY(%(from_tickets)s)
  AND escalation_attempts = %(attempt)s - 1
RETURNING *;

-- name: escalation_ticket_attempt_failed
-- A failed attempt: recorded with its (redacted) error; ``state`` is `pending` while another
-- attempt is scheduled at ``delay_seconds``, else `failed` or `not_configured`.
UPDATE requests
SET escalation_state = %(state)s, escalation_attempts = %(attempt)s,
    escalation_error = %(error)s,
    escalation_next_attempt_at = CASE WHEN %(delay_seconds)s::float8 IS NULL THEN NULL
                                      ELSE now() + make_interval(secs => %(delay_seconds)s) END
WHERE id = %(id)s AND status = 'escalated' AND escalation_state = ANY(%(from_tickets)s)
  AND escalation_attempts = %(attempt)s - 1
RETURNING *;
