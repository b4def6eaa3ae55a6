-- name: insert_request
INSERT INTO requests (catalog_item_id, catalog_version_id, catalog_item_version, status, fields,
                      title, justification, requester_email, requester_name, requester_teams,
                      source, correlation_id)
VALUES (%(catalog_item_id)s, %(catalog_version_id)s, %(catalog_item_version)s, 'submitted',
        %(fields)s, %(title)s, %(justification)s, %(requester_email)s, %(requester_name)s,
        %(requester_teams)s, %(source)s, %(correlation_id)s)
RETURNING *;

-- name: insert_request_action
INSERT INTO request_actions (request_id, position, action_id, action_type, max_attempts)
VALUES (%(request_id)s, %(position)s, %(action_id)s, %(action_type)s, %(max_attempts)s);

-- name: get_request
SELECT * FROM requests WHERE id = %(id)s;

-- name: get_request_for_update
SELECT * FROM requests WHERE id = %(id)s FOR UPDATE;

-- name: list_request_actions
SELECT action_id, action_type, position, status, attempts, max_attempts, rendered_config, outputs,
       external_ref, external_url, error, started_at, completed_at, updated_at
FROM request_actions
WHERE request_id = %(request_id)s
ORDER BY position;

-- name: list_requests
-- Keyset pagination over (created_at, id), newest first; stable under concurrent inserts.
SELECT id, catalog_item_id, catalog_item_version, status, title, requester_email, requester_teams,
       source, correlation_id, created_at, updated_at, completed_at
FROM requests
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(catalog_item)s::text IS NULL OR catalog_item_id = %(catalog_item)s)
  AND (%(user)s::text IS NULL OR requester_email = %(user)s)
  AND (%(see_all)s::boolean OR requester_email = %(viewer_email)s
       OR requester_teams && %(viewer_teams)s::text[]
       OR catalog_item_id IN (SELECT id FROM catalog_items
                              WHERE owner_team = ANY(%(viewer_teams)s::text[])))
  AND (%(after_created)s::timestamptz IS NULL
       OR (created_at, id) < (%(after_created)s::timestamptz, %(after_id)s::uuid))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: count_requests
SELECT count(*) AS total
FROM requests
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(catalog_item)s::text IS NULL OR catalog_item_id = %(catalog_item)s)
  AND (%(user)s::text IS NULL OR requester_email = %(user)s)
  AND (%(see_all)s::boolean OR requester_email = %(viewer_email)s
       OR requester_teams && %(viewer_teams)s::text[]
       OR catalog_item_id IN (SELECT id FROM catalog_items
                              WHERE owner_team = ANY(%(viewer_teams)s::text[])));

-- name: insert_request_log
INSERT INTO request_logs (request_id, action_id, level, event, message, details, correlation_id)
VALUES (%(request_id)s, %(action_id)s, %(level)s, %(event)s, %(message)s, %(details)s,
        %(correlation_id)s);

-- name: list_request_logs
SELECT id, action_id, level, event, message, details, correlation_id, created_at
FROM request_logs
WHERE request_id = %(request_id)s AND id > %(after_id)s
ORDER BY id
LIMIT %(limit)s;

-- name: insert_audit_event
-- Application-level audit rows (decisions with who and why), beside the trigger's row changes.
INSERT INTO audit_logs (table_name, row_id, operation, actor, correlation_id, source, old_data,
                        new_data)
VALUES ('requests', %(row_id)s, %(operation)s, %(actor)s, %(correlation_id)s, %(source)s,
        %(old_data)s, %(new_data)s);

-- name: insert_job
INSERT INTO jobs (kind, payload, request_id, run_after, max_receives, dedupe_key)
VALUES (%(kind)s, %(payload)s, %(request_id)s, now() + make_interval(secs => %(delay_seconds)s),
        %(max_receives)s, %(dedupe_key)s)
ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('ready', 'running')
DO NOTHING
RETURNING id;

-- name: insert_request_secrets
INSERT INTO request_secrets (request_id, fields) VALUES (%(request_id)s, %(fields)s);
