-- name: insert_catalog_version
-- Keep every version ever synced; the same content is stored once.
INSERT INTO catalog_item_versions (item_id, version, content_hash, definition, source_path, git_sha)
VALUES (%(item_id)s, %(version)s, %(content_hash)s, %(definition)s, %(source_path)s, %(git_sha)s)
ON CONFLICT (item_id, content_hash) DO UPDATE SET source_path = EXCLUDED.source_path
RETURNING id;

-- name: upsert_catalog_item
INSERT INTO catalog_items (id, name, description, category, owner_team, tags, version, lifecycle,
                           active, definition, content_hash, source_path, git_sha, blob_sha,
                           current_version_id)
VALUES (%(id)s, %(name)s, %(description)s, %(category)s, %(owner_team)s, %(tags)s, %(version)s,
        %(lifecycle)s, true, %(definition)s, %(content_hash)s, %(source_path)s, %(git_sha)s,
        %(blob_sha)s, %(current_version_id)s)
ON CONFLICT (id) DO UPDATE SET
    name = EXCLUDED.name, description = EXCLUDED.description, category = EXCLUDED.category,
    owner_team = EXCLUDED.owner_team, tags = EXCLUDED.tags, version = EXCLUDED.version,
    lifecycle = EXCLUDED.lifecycle, active = true, definition = EXCLUDED.definition,
    content_hash = EXCLUDED.content_hash, source_path = EXCLUDED.source_path,
    git_sha = EXCLUDED.git_sha, blob_sha = EXCLUDED.blob_sha,
    current_version_id = EXCLUDED.current_version_id
WHERE catalog_items.content_hash IS DISTINCT FROM EXCLUDED.content_hash
   OR NOT catalog_items.active;

-- name: deactivate_missing_items
-- Items whose files are gone stop being offered; their history and requests stay.
UPDATE catalog_items SET active = false
WHERE active AND NOT (id = ANY(%(present_ids)s))
RETURNING id;

-- name: list_catalog_hashes
SELECT id, content_hash, source_path, active FROM catalog_items;

-- name: get_catalog_item
SELECT id, name, description, category, owner_team, tags, version, lifecycle, active,
       definition, source_path, git_sha, current_version_id, created_at, updated_at
FROM catalog_items
WHERE id = %(id)s;

-- name: get_catalog_version
SELECT id, item_id, version, definition, source_path, git_sha, created_at
FROM catalog_item_versions
WHERE id = %(id)s;

-- name: list_catalog_items
-- Keyset pagination on id; filters are optional (NULL means "any"). The search is a plain
-- case-insensitive substring (strpos, not LIKE: a percent sign or underscore typed is text).
SELECT id, name, description, category, owner_team, tags, version, lifecycle, updated_at
FROM catalog_items
WHERE active
  AND (%(category)s::text IS NULL OR category = %(category)s)
  AND (%(owner)s::text IS NULL OR owner_team = %(owner)s)
  AND (%(search)s::text IS NULL
       OR strpos(lower(name), lower(%(search)s)) > 0
       OR strpos(lower(description), lower(%(search)s)) > 0
       OR %(search)s = ANY(tags))
  AND (%(include_retired)s OR lifecycle <> 'retired')
  AND (%(after)s::text IS NULL OR id > %(after)s)
ORDER BY id
LIMIT %(limit)s;

-- name: count_catalog_items
SELECT count(*) AS total
FROM catalog_items
WHERE active
  AND (%(category)s::text IS NULL OR category = %(category)s)
  AND (%(owner)s::text IS NULL OR owner_team = %(owner)s)
  AND (%(search)s::text IS NULL
       OR strpos(lower(name), lower(%(search)s)) > 0
       OR strpos(lower(description), lower(%(search)s)) > 0
       OR %(search)s = ANY(tags))
  AND (%(include_retired)s OR lifecycle <> 'retired');

-- name: clear_validation_errors
DELETE FROM catalog_validation_errors;

-- name: insert_validation_error
INSERT INTO catalog_validation_errors (source_path, line, column_number, code, message, pointer,
                                       severity, git_sha)
VALUES (%(source_path)s, %(line)s, %(column)s, %(code)s, %(message)s, %(pointer)s, %(severity)s,
        %(git_sha)s);

-- name: list_validation_errors
SELECT source_path, line, column_number AS column, code, message, pointer, severity, git_sha,
       created_at
FROM catalog_validation_errors
ORDER BY source_path, line, column_number, id;

-- name: catalog_sync_state
SELECT source, commit_sha, etag, synced_at, last_error FROM catalog_sync_state
WHERE source = %(source)s;

-- name: catalog_sync_save_state
INSERT INTO catalog_sync_state (source, commit_sha, etag, synced_at, last_error, updated_at)
VALUES (%(source)s, %(commit_sha)s, %(etag)s, %(synced_at)s, %(last_error)s, now())
ON CONFLICT (source) DO UPDATE
SET commit_sha = EXCLUDED.commit_sha, etag = EXCLUDED.etag, synced_at = EXCLUDED.synced_at,
    last_error = EXCLUDED.last_error, updated_at = now();

-- name: catalog_sync_record_error
INSERT INTO catalog_sync_state (source, last_error, updated_at)
VALUES (%(source)s, %(last_error)s, now())
ON CONFLICT (source) DO UPDATE SET last_error = EXCLUDED.last_error, updated_at = now();

-- name: catalog_source_files
SELECT path, blob_sha, content FROM catalog_source_files WHERE source = %(source)s ORDER BY path;

-- name: catalog_source_file_upsert
INSERT INTO catalog_source_files (source, path, blob_sha, content, updated_at)
VALUES (%(source)s, %(path)s, %(blob_sha)s, %(content)s, now())
ON CONFLICT (source, path) DO UPDATE
SET blob_sha = EXCLUDED.blob_sha, content = EXCLUDED.content, updated_at = now();

-- name: catalog_source_files_delete
DELETE FROM catalog_source_files WHERE source = %(source)s AND path = ANY(%(paths)s);
