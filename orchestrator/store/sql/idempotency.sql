-- Idempotency-Key of request submissions (orchestrator/requests/idempotency.py). The key's
-- lock, its lookup, the request and the stored response are one transaction: a key row exists
-- only with the response of a request that exists.

-- name: idempotency_try_lock
-- Transaction-level advisory lock on (scope, key): false while another transaction holds it
-- (the same key in flight); released at commit or rollback, also when the client goes away.
SELECT pg_try_advisory_xact_lock(hashtextextended(%(lock)s, 0)) AS locked;

-- name: idempotency_lookup
-- A live key; rows with no response are leftovers of the earlier three-transaction scheme.
SELECT request_hash, response_status, response_body
FROM idempotency_keys
WHERE scope = %(scope)s AND key = %(key)s AND expires_at > now()
  AND response_status IS NOT NULL;

-- name: idempotency_store
-- Under the key's lock: a new key, or one whose row expired (or never got a response).
INSERT INTO idempotency_keys (scope, key, request_hash, response_status, response_body)
VALUES (%(scope)s, %(key)s, %(request_hash)s, %(status)s, %(body)s)
ON CONFLICT (scope, key) DO UPDATE SET
    request_hash = EXCLUDED.request_hash, response_status = EXCLUDED.response_status,
    response_body = EXCLUDED.response_body, response_headers = '{}'::jsonb,
    created_at = now(), expires_at = now() + interval '24 hours'
WHERE idempotency_keys.expires_at <= now() OR idempotency_keys.response_status IS NULL
RETURNING key;
