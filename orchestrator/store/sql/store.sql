-- Queries of the connector itself (orchestrator/store/database.py).

-- name: store_set_audit_context
-- Who is acting (and pao.agent, the bot credential acting for them), for the audit trigger;
-- local to the current transaction (is_local = true).
-- synchronous_commit 'off' for engine progress: see Database.transaction.
SELECT set_config('pao.actor', %(actor)s, true),
       set_config('pao.correlation_id', %(correlation_id)s, true),
       set_config('pao.source', %(source)s, true),
       set_config('pao.agent', %(agent)s, true),
       set_config('synchronous_commit', %(synchronous_commit)s, true);

-- name: store_ping
SELECT 1 AS ok;
