-- The escalation ticket's own state: an escalated request whose ticket cannot be opened yet
-- (JIRA down, nothing configured) says so, with its attempts and last (redacted) error, instead
-- of sitting in `escalated` with no ticket and no way out (orchestrator/requests/states.py).

ALTER TABLE requests
    ADD COLUMN escalation_state text
        CHECK (escalation_state IN ('pending', 'created', 'failed', 'not_configured', 'cancelled')),
    ADD COLUMN escalation_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN escalation_error text,
    ADD COLUMN escalation_next_attempt_at timestamptz;

-- Escalations made before: a ticket is a ticket; without one, an escalate job still queued will
-- open it, else the ticket failed (the operator may escalate again, retry or abort).
UPDATE requests r
SET escalation_state = CASE
        WHEN r.escalation_ticket IS NOT NULL THEN 'created'
        WHEN EXISTS (SELECT 1 FROM jobs j WHERE j.request_id = r.id AND j.kind = 'escalate'
                     AND j.status IN ('ready', 'running')) THEN 'pending'
        ELSE 'failed' END,
    escalation_error = CASE
        WHEN r.escalation_ticket IS NULL
         AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.request_id = r.id AND j.kind = 'escalate'
                         AND j.status IN ('ready', 'running'))
        THEN 'the ticket was not opened before this upgrade; escalate again, retry or abort' END
WHERE r.status = 'escalated' OR r.escalation_ticket IS NOT NULL;
