-- name: identity_insert_token
INSERT INTO user_sessions (token_hash, user_email, user_name, teams, roles, description, expires_at)
VALUES (%(token_hash)s, %(user_email)s, %(user_name)s, %(teams)s, %(roles)s, %(description)s,
        now() + make_interval(days => %(days)s))
RETURNING id, user_email, user_name, teams, roles, description, created_at, expires_at;

-- name: identity_find_token
-- Only live tokens: expiry and revocation are checked on every call.
SELECT id, user_email, user_name, teams, roles,
       (last_used_at IS NULL OR last_used_at < now() - interval '1 minute') AS stale
FROM user_sessions
WHERE token_hash = %(token_hash)s AND revoked_at IS NULL AND expires_at > now();

-- name: identity_touch_token
-- At most one write per token a minute.
UPDATE user_sessions SET last_used_at = now()
WHERE id = %(id)s AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');

-- name: identity_list_tokens
SELECT id, user_email, user_name, teams, roles, description, created_at, expires_at, revoked_at,
       last_used_at
FROM user_sessions
WHERE (%(user_email)s::text IS NULL OR user_email = %(user_email)s)
ORDER BY created_at, id;

-- name: identity_revoke_token
UPDATE user_sessions SET revoked_at = now()
WHERE id = %(id)s AND revoked_at IS NULL
RETURNING id, user_email;

-- name: identity_audit_event
-- Application audit rows for identity changes (never the token or its hash).
INSERT INTO audit_logs (table_name, row_id, operation, actor, correlation_id, source, old_data,
                        new_data)
VALUES ('user_sessions', %(row_id)s, %(operation)s, %(actor)s, %(correlation_id)s, %(source)s,
        NULL, %(new_data)s);

-- name: identity_request_facts
-- What the policy needs to decide about one request: its requester and the item's owner.
SELECT r.requester_email, r.requester_teams, ci.owner_team
FROM requests r LEFT JOIN catalog_items ci ON ci.id = r.catalog_item_id
WHERE r.id = %(id)s;

-- name: identity_owner_teams
SELECT DISTINCT owner_team FROM catalog_items WHERE owner_team = ANY(%(teams)s::text[]);

-- name: identity_list_audit
-- Keyset pagination over id, newest first; every filter optional and bound. ``request_id``
-- selects a request's own rows and those of its actions; ``since`` inclusive, ``until`` not.
SELECT id, table_name, row_id, operation, actor, agent, correlation_id, source, old_data,
       new_data, created_at
FROM audit_logs
WHERE (%(table_name)s::text IS NULL OR table_name = %(table_name)s)
  AND (%(row_id)s::text IS NULL OR row_id = %(row_id)s)
  AND (%(request_id)s::text IS NULL
       OR (table_name = 'requests' AND row_id = %(request_id)s)
       OR (table_name = 'request_actions'
           AND COALESCE(new_data, old_data) ->> 'request_id' = %(request_id)s))
  AND (%(operation)s::text IS NULL OR operation = %(operation)s)
  AND (%(actor)s::text IS NULL OR actor = %(actor)s)
  AND (%(correlation_id)s::text IS NULL OR correlation_id = %(correlation_id)s)
  AND (%(source)s::text IS NULL OR source = %(source)s)
  AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s)
  AND (%(before_id)s::bigint IS NULL OR id < %(before_id)s)
ORDER BY id DESC
LIMIT %(limit)s;

-- name: maintenance_purge_audit
-- Audit rows past retention (before the request purge, whose own audit rows are kept).
WITH gone AS (
    DELETE FROM audit_logs WHERE created_at < now() - make_interval(days => %(days)s)
    RETURNING 1
)
SELECT count(*) AS n FROM gone;

-- name: maintenance_purge_requests
-- Finished requests past retention; actions, logs, secrets, jobs and links cascade.
WITH gone AS (
    DELETE FROM requests
    WHERE status IN ('completed', 'aborted')
      AND COALESCE(completed_at, updated_at) < now() - make_interval(days => %(days)s)
    RETURNING 1
)
SELECT count(*) AS n FROM gone;

-- name: maintenance_purge_sessions
WITH gone AS (
    DELETE FROM user_sessions WHERE expires_at < now() OR revoked_at IS NOT NULL
    RETURNING 1
)
SELECT count(*) AS n FROM gone;

-- name: identity_use_signature
-- An aws-iam token's signature on its first use; no row back means it was used before.
INSERT INTO used_signatures (signature, expires_at)
VALUES (%(signature)s, to_timestamp(%(expires_at)s))
ON CONFLICT (signature) DO NOTHING
RETURNING signature;

-- name: identity_prune_signatures
-- Signatures past their age limit: they fail the freshness check, so forgetting them is safe.
DELETE FROM used_signatures WHERE expires_at < now();

-- name: maintenance_purge_signatures
-- The same for `pao maintenance` (``days`` unused: the age limit is the signatures' own).
WITH gone AS (
    DELETE FROM used_signatures WHERE expires_at < now() - make_interval(days => %(days)s)
    RETURNING 1
)
SELECT count(*) AS n FROM gone;
