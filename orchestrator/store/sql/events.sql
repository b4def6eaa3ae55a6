-- Named queries of a request's live event stream (orchestrator/requests/events.py).

-- name: request_event_state
SELECT status, updated_at FROM requests WHERE id = %(request_id)s;

-- name: request_events_after
SELECT id, action_id, level, event, message, details, correlation_id, created_at
FROM request_logs
WHERE request_id = %(request_id)s AND id > %(after_id)s
ORDER BY id
LIMIT %(limit)s;
