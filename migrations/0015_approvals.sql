-- Approval gates (issue 21): a person says yes before anything is provisioned.
--
-- approval_rounds: one row per request that has a gate: the revision being approved and when it
-- began waiting (a changed request starts a new round: new revision, new started_at, and the
-- decisions on the old revision stop counting), plus a snapshot of the current stage's
-- approvers so the inbox ("what may I decide?") is one indexed query.
-- approval_decisions: every decision, one per person per stage per revision; the unique key
-- makes two concurrent identical approvals count once. Decisions are audited (the trigger);
-- rounds are derived state (the request's own transitions are audited with it).

ALTER TABLE requests DROP CONSTRAINT requests_status_check;
ALTER TABLE requests ADD CONSTRAINT requests_status_check
    CHECK (status IN ('submitted', 'validating', 'awaiting_secret', 'awaiting_approval', 'queued',
                      'in_progress', 'completed', 'failed', 'aborted', 'escalated'));

CREATE TABLE approval_rounds (
    request_id      uuid PRIMARY KEY REFERENCES requests (id) ON DELETE CASCADE,
    revision        text NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    stage           text,                              -- the current stage; NULL once decided
    stage_started_at timestamptz,
    approver_teams  text[] NOT NULL DEFAULT '{}',      -- who may decide the current stage
    approver_users  text[] NOT NULL DEFAULT '{}',      -- e-mails (lower case) and @logins
    allow_requester boolean NOT NULL DEFAULT false,
    outcome         text NOT NULL DEFAULT 'pending'
                    CHECK (outcome IN ('pending', 'approved', 'rejected', 'expired')),
    expires_at      timestamptz,                       -- of the current stage, for the sweeper
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX approval_rounds_teams_idx ON approval_rounds USING gin (approver_teams)
    WHERE outcome = 'pending';
CREATE INDEX approval_rounds_users_idx ON approval_rounds USING gin (approver_users)
    WHERE outcome = 'pending';
CREATE INDEX approval_rounds_expiry_idx ON approval_rounds (expires_at)
    WHERE outcome = 'pending' AND expires_at IS NOT NULL;
CREATE TRIGGER approval_rounds_touch BEFORE UPDATE ON approval_rounds
    FOR EACH ROW EXECUTE FUNCTION pao_touch_updated_at();

CREATE TABLE approval_decisions (
    id              bigserial PRIMARY KEY,
    request_id      uuid NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    stage           text NOT NULL,
    approver        text NOT NULL CHECK (approver = lower(approver)),   -- the e-mail
    approver_name   text,
    via             text NOT NULL,                     -- team:<t>, user:<u>, codeowner:<o>
    decision        text NOT NULL CHECK (decision IN ('approve', 'reject')),
    reason          text,
    revision        text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT approval_decisions_once UNIQUE (request_id, stage, approver, revision),
    CONSTRAINT approval_decisions_reject_reason
        CHECK (decision = 'approve' OR coalesce(btrim(reason), '') <> '')
);
CREATE INDEX approval_decisions_request_idx ON approval_decisions (request_id, created_at, id);
CREATE INDEX approval_decisions_approver_idx ON approval_decisions (approver, created_at DESC);

CREATE TRIGGER approval_decisions_audit AFTER INSERT OR UPDATE OR DELETE ON approval_decisions
    FOR EACH ROW EXECUTE FUNCTION pao_audit();
