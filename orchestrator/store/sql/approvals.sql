-- Approval gates (orchestrator/approvals/store.py): rounds per request, decisions per person.

-- name: approvals_open_round
-- Start the request's round for a revision, or restart it for a new one (a changed request):
-- returns the row when it was created or reset, nothing when the revision is unchanged.
WITH previous AS (
    SELECT revision FROM approval_rounds WHERE request_id = %(request_id)s FOR UPDATE
)
INSERT INTO approval_rounds (request_id, revision, started_at)
VALUES (%(request_id)s, %(revision)s, %(started_at)s)
ON CONFLICT (request_id) DO UPDATE
    SET revision = EXCLUDED.revision, started_at = EXCLUDED.started_at, stage = NULL,
        stage_started_at = NULL, approver_teams = '{}', approver_users = '{}',
        allow_requester = false, outcome = 'pending', expires_at = NULL
    WHERE approval_rounds.revision <> EXCLUDED.revision
RETURNING *, (SELECT revision FROM previous) AS previous_revision;

-- name: approvals_get_round
SELECT * FROM approval_rounds WHERE request_id = %(request_id)s;

-- name: approvals_lock_round
-- The round, locked until the transaction ends: decisions on one request are taken one at a
-- time, so each is checked against every decision before it.
SELECT * FROM approval_rounds WHERE request_id = %(request_id)s FOR UPDATE;

-- name: approvals_update_round
-- The gate's state after a decision (or a start): the current stage and who may decide it.
UPDATE approval_rounds
SET stage = %(stage)s, stage_started_at = %(stage_started_at)s,
    approver_teams = %(approver_teams)s, approver_users = %(approver_users)s,
    allow_requester = %(allow_requester)s, outcome = %(outcome)s, expires_at = %(expires_at)s
WHERE request_id = %(request_id)s AND revision = %(revision)s
RETURNING *;

-- name: approvals_record_decision
-- One decision per person per stage per revision: a repeat (or a concurrent twin) inserts
-- nothing and returns nothing.
INSERT INTO approval_decisions (request_id, stage, approver, approver_name, via, decision, reason,
                                revision, created_at)
VALUES (%(request_id)s, %(stage)s, %(approver)s, %(approver_name)s, %(via)s, %(decision)s,
        %(reason)s, %(revision)s, %(created_at)s)
ON CONFLICT ON CONSTRAINT approval_decisions_once DO NOTHING
RETURNING *;

-- name: approvals_get_decision
SELECT * FROM approval_decisions
WHERE request_id = %(request_id)s AND stage = %(stage)s AND approver = %(approver)s
  AND revision = %(revision)s;

-- name: approvals_list_decisions
-- Every decision on the request, every revision, oldest first.
SELECT * FROM approval_decisions WHERE request_id = %(request_id)s ORDER BY created_at, id;

-- name: approvals_inbox
-- Requests awaiting a decision the caller may take: their team (slug) or identity is among the
-- current stage's approvers, they are not the requester (unless the stage allows it) and they
-- have not decided this stage on this revision yet. Oldest waiting first.
SELECT r.id AS request_id, r.catalog_item_id, r.catalog_item_version, r.title,
       r.requester_email, r.requester_name, r.created_at, a.revision, a.stage,
       a.stage_started_at, a.expires_at, a.approver_teams, a.approver_users
FROM approval_rounds a
JOIN requests r ON r.id = a.request_id
WHERE a.outcome = 'pending' AND a.stage IS NOT NULL AND r.status = 'awaiting_approval'
  AND (a.approver_teams && %(teams)s::text[] OR a.approver_users && %(users)s::text[])
  AND (a.allow_requester OR lower(r.requester_email) <> %(email)s)
  AND NOT EXISTS (
      SELECT 1 FROM approval_decisions d
      WHERE d.request_id = a.request_id AND d.stage = a.stage AND d.revision = a.revision
        AND d.approver = %(email)s)
ORDER BY a.stage_started_at NULLS LAST, r.created_at, r.id
LIMIT %(limit)s;

-- name: approvals_expired_rounds
-- Rounds whose current stage expired: for the sweeper that ends them (only requests still
-- awaiting approval: an aborted one's round is left as it was).
SELECT a.request_id, a.revision, a.stage, a.expires_at FROM approval_rounds a
JOIN requests r ON r.id = a.request_id AND r.status = 'awaiting_approval'
WHERE a.outcome = 'pending' AND a.expires_at IS NOT NULL AND a.expires_at < %(now)s
ORDER BY a.expires_at
LIMIT %(limit)s;

-- name: approvals_revise_request
-- A changed request while it waits for approval: its new (masked) fields; the caller restarts
-- the round for the new revision. No row: the request is not awaiting approval.
UPDATE requests SET fields = %(fields)s
WHERE id = %(id)s AND status = 'awaiting_approval'
RETURNING *;

-- name: approvals_item_source_path
-- Where the item version a request resolves to came from (its CODEOWNERS apply).
SELECT source_path FROM catalog_item_versions WHERE id = %(version_id)s;

-- name: approvals_inbox_fields
-- The fields of requests in an approver's inbox (stored masked: secrets are never in them), so
-- the inbox shows what each decision is about.
SELECT id, fields FROM requests WHERE id = ANY(%(ids)s::uuid[]);
