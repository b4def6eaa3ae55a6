"""The versions of a catalog item ever synced, for faces that show an item's history.

Kept apart from ``orchestrator.catalog`` (sync, cache, validation): this is a plain read of
the version table, not cached, since only an item's page asks for it.
"""

from __future__ import annotations

from typing import Any

from orchestrator.store.database import Database
from orchestrator.store.queries import QUERIES

HISTORY_LIMIT = 50


class CatalogHistory:
    """The version table of one ``Database``, read for an item's page: built once in
    ``orchestrator.services`` (``services.catalog_history``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def item_versions(self, item_id: str, limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
        """``[{version, source_path, git_sha, synced_at}]`` of ``item_id``, newest first."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                QUERIES.catalog_item_version_history, {"item_id": item_id, "limit": limit}
            )
            rows = await cur.fetchall()
        return [
            {
                "version": row["version"],
                "source_path": row["source_path"],
                "git_sha": row["git_sha"],
                "synced_at": row["created_at"].isoformat(),
            }
            for row in rows
        ]
