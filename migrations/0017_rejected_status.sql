-- Approval gates (issue 21): a request whose approval is refused, or whose current stage
-- expired, ends as `rejected`: terminal, nothing was dispatched. Why it ended is in
-- error_context (`error`, and `approval`: rejected or expired); the gate's decisions stay in
-- approval_decisions.
ALTER TABLE requests DROP CONSTRAINT requests_status_check;
ALTER TABLE requests ADD CONSTRAINT requests_status_check
    CHECK (status IN ('submitted', 'validating', 'awaiting_secret', 'awaiting_approval', 'queued',
                      'in_progress', 'completed', 'failed', 'aborted', 'escalated', 'rejected'));
