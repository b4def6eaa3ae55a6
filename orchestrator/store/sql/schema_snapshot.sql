-- Catalog reads behind the current-schema snapshot (orchestrator/store/schema_snapshot.py):
-- everything the migrations create in the public schema, each object as its definition text,
-- in a fixed order so that two databases with the same schema give the same snapshot.

-- name: snapshot_columns
SELECT c.relname AS table_name, a.attname AS column_name,
       format_type(a.atttypid, a.atttypmod) AS data_type, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS default_value, a.attidentity AS identity,
       a.attgenerated AS generated
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
ORDER BY c.relname, a.attnum;

-- name: snapshot_constraints
SELECT c.relname AS table_name, k.conname AS name, pg_get_constraintdef(k.oid) AS definition
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public'
ORDER BY c.relname, k.conname;

-- name: snapshot_indexes
-- Indexes that no constraint creates (those are in the table's constraints).
SELECT i.indexname AS name, i.indexdef AS definition
FROM pg_indexes i
WHERE i.schemaname = 'public'
  AND NOT EXISTS (
      SELECT 1 FROM pg_constraint k
      WHERE k.conindid = format('public.%I', i.indexname)::regclass
  )
ORDER BY i.tablename, i.indexname;

-- name: snapshot_views
SELECT c.relname AS name, c.relkind = 'm' AS materialized, pg_get_viewdef(c.oid) AS definition
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')
ORDER BY c.relname;

-- name: snapshot_sequences
-- Sequences a column does not own (identity and serial ones come with their column).
SELECT s.sequencename AS name, s.data_type::text AS data_type, s.start_value, s.increment_by
FROM pg_sequences s
WHERE s.schemaname = 'public'
  AND NOT EXISTS (
      SELECT 1 FROM pg_depend d
      WHERE d.objid = format('public.%I', s.sequencename)::regclass
        AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
  )
ORDER BY s.sequencename;

-- name: snapshot_types
-- Enum types with their labels in order; other user types by name and kind.
SELECT t.typname AS name, t.typtype::text AS kind,
       array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
           FILTER (WHERE e.enumlabel IS NOT NULL) AS labels
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_enum e ON e.enumtypid = t.oid
WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd')
GROUP BY t.typname, t.typtype
ORDER BY t.typname;

-- name: snapshot_functions
SELECT p.proname AS name, pg_get_function_identity_arguments(p.oid) AS arguments,
       pg_get_functiondef(p.oid) AS definition
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (
      SELECT 1 FROM pg_depend d
      WHERE d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
  )
ORDER BY p.proname, pg_get_function_identity_arguments(p.oid);

-- name: snapshot_triggers
SELECT c.relname AS table_name, t.tgname AS name, pg_get_triggerdef(t.oid) AS definition
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND NOT t.tgisinternal
ORDER BY c.relname, t.tgname;

-- name: snapshot_extensions
SELECT e.extname AS name FROM pg_extension e WHERE e.extname <> 'plpgsql' ORDER BY e.extname;
