-- The GitHub face's state (orchestrator/github/): webhook deliveries, then request links.

-- name: bot_store_deliveries
-- Store a batch of webhook deliveries and enqueue one processing job for each, in one statement
-- (one round trip, one commit, atomic). A failed delivery is taken again (GitHub redelivery);
-- any other known id is left alone and is not returned (a duplicate). The job rows have the
-- queue's ``insert_job`` shape, so the SQS outbox trigger sees them like any other job.
-- The batch is one JSON array of {"d": delivery id, "e": event, "p": payload}: a single
-- text parameter, which costs the web process far less to send than text arrays.
WITH input AS (
    SELECT DISTINCT ON (x ->> 'd') x ->> 'd' AS delivery_id, x ->> 'e' AS event,
           x -> 'p' ->> 'action' AS action, x -> 'p' AS payload
    FROM jsonb_array_elements(%(batch)s::jsonb) AS x
    ORDER BY x ->> 'd'
), stored AS (
    INSERT INTO webhook_deliveries (delivery_id, event, action, payload)
    SELECT delivery_id, event, action, payload FROM input
    ON CONFLICT (delivery_id) DO UPDATE
        SET status = 'received', payload = EXCLUDED.payload, error = NULL, processed_at = NULL
        WHERE webhook_deliveries.status = 'failed'
    RETURNING delivery_id
), job AS (
    INSERT INTO jobs (kind, payload, request_id, run_after, max_receives, dedupe_key)
    SELECT %(kind)s, jsonb_build_object('delivery_id', delivery_id), NULL, now(),
           %(max_receives)s, %(kind)s || ':' || delivery_id
    FROM stored
    ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('ready', 'running')
    DO NOTHING
    RETURNING id
)
SELECT delivery_id, (SELECT count(*) FROM job) AS jobs FROM stored;

-- name: bot_get_delivery
SELECT delivery_id, event, action, status, attempts, error, received_at, processed_at
FROM webhook_deliveries
WHERE delivery_id = %(delivery_id)s;

-- name: bot_start_delivery
-- Claim a delivery for processing; none when it was already processed or ignored.
UPDATE webhook_deliveries
SET status = 'processing', attempts = attempts + 1
WHERE delivery_id = %(delivery_id)s AND status IN ('received', 'processing', 'failed')
RETURNING delivery_id, event, action, payload, attempts;

-- name: bot_finish_delivery
UPDATE webhook_deliveries
SET status = %(status)s, error = %(error)s, processed_at = now()
WHERE delivery_id = %(delivery_id)s;

-- name: bot_lock_key
-- Session advisory lock serialising submissions of one request file or issue across workers.
SELECT pg_advisory_lock(hashtextextended(%(key)s, 0));

-- name: bot_unlock_key
SELECT pg_advisory_unlock(hashtextextended(%(key)s, 0));

-- name: bot_link_for_file
-- Request links (orchestrator/github/links.py): each query returns a link's seven columns.
SELECT id, request_id, kind, repository, number, path, status_comment_id
FROM request_links
WHERE kind = 'pull_request' AND repository = %(repository)s AND path = %(path)s
  AND blob_sha = %(blob_sha)s;

-- name: bot_link_for_issue
SELECT id, request_id, kind, repository, number, path, status_comment_id
FROM request_links
WHERE kind = 'issue' AND repository = %(repository)s AND number = %(number)s
ORDER BY id DESC
LIMIT 1;

-- name: bot_insert_link
INSERT INTO request_links (request_id, kind, repository, number, path, blob_sha)
VALUES (%(request_id)s, %(kind)s, %(repository)s, %(number)s, %(path)s, %(blob_sha)s)
RETURNING id, request_id, kind, repository, number, path, status_comment_id;

-- name: bot_links_for_thread
-- The requests linked to one PR or issue, with what commands need to know about them.
SELECT l.id, l.request_id, l.kind, l.repository, l.number, l.path, l.status_comment_id,
       r.status, r.requester_email, r.catalog_item_id
FROM request_links l
JOIN requests r ON r.id = l.request_id
WHERE l.repository = %(repository)s AND l.number = %(number)s
  AND l.kind IN ('pull_request', 'issue')
ORDER BY l.id;

-- name: bot_links_for_request
SELECT id, request_id, kind, repository, number, path, status_comment_id
FROM request_links
WHERE request_id = %(request_id)s AND kind IN ('pull_request', 'issue')
ORDER BY id;

-- name: bot_link_by_id
SELECT id, request_id, kind, repository, number, path, status_comment_id
FROM request_links
WHERE id = %(id)s;

-- name: bot_set_status_comment
UPDATE request_links SET status_comment_id = %(comment_id)s WHERE id = %(id)s;
