-- name: catalog_item_version_history
-- Every version of an item ever synced, newest first (a portal's item page lists them).
SELECT id, version, source_path, git_sha, created_at
FROM catalog_item_versions
WHERE item_id = %(item_id)s
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;
