-- Queries of the migration runner (orchestrator/store/migrator.py).

-- name: migrations_lock
-- Session-level advisory lock held for the whole run: concurrent migrators queue here.
SELECT pg_advisory_lock(%(key)s);

-- name: migrations_unlock
SELECT pg_advisory_unlock(%(key)s);

-- name: migrations_create_table
-- The migrator's own bookkeeping; created under the advisory lock, so never concurrently.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    duration_ms integer
);

-- name: migrations_table_exists
SELECT to_regclass('schema_migrations') IS NOT NULL AS present;

-- name: migrations_applied
SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version;

-- name: migrations_record
INSERT INTO schema_migrations (version, name, checksum, duration_ms)
VALUES (%(version)s, %(name)s, %(checksum)s, %(duration_ms)s);

-- name: migrations_set_context
-- Rows changed by data migrations are audited as the migrator's work.
SELECT set_config('pao.actor', 'pao db migrate', true),
       set_config('pao.source', 'migration', true);
