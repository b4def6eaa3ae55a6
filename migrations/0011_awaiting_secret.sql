-- A request from GitHub (issue form, request file) whose item needs a secret for the values
-- given waits in 'awaiting_secret' until the requester supplies it through the API: secrets
-- never travel in an issue or a pull request (orchestrator/requests/secrets.py).

ALTER TABLE requests DROP CONSTRAINT requests_status_check;
ALTER TABLE requests ADD CONSTRAINT requests_status_check
    CHECK (status IN ('submitted', 'validating', 'awaiting_secret', 'queued', 'in_progress',
                      'completed', 'failed', 'aborted', 'escalated'));
