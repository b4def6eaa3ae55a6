-- Secrets supplied after submission (orchestrator/requests/secrets.py).

-- name: secrets_store
-- The secret values of a request, added to any it already holds.
INSERT INTO request_secrets (request_id, fields) VALUES (%(request_id)s, %(fields)s)
ON CONFLICT (request_id) DO UPDATE SET fields = request_secrets.fields || EXCLUDED.fields;
