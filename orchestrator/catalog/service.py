"""Catalog reads and local syncs: PostgreSQL is the truth, the cache holds ready-made JSON."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from orchestrator.cache import Cache, CacheStats
from orchestrator.catalog.models import CatalogItem
from orchestrator.catalog.validator import CatalogReport, CatalogValidator, discover
from orchestrator.errors import NotFound
from orchestrator.settings import CacheSettings
from orchestrator.store.database import Database
from orchestrator.store.queries import QUERIES

ITEM_KEY = "pao:catalog:item:"
LIST_KEY = "pao:catalog:list:"
CURRENT_KEY = "pao:catalog:current:"


def content_hash(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def item_summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "category": row["category"],
        "owner_team": row["owner_team"],
        "tags": list(row["tags"]),
        "version": row["version"],
        "lifecycle": row["lifecycle"],
    }


@dataclass(slots=True)
class SyncResult:
    files: int = 0
    stored: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "stored": self.stored,
            "unchanged": self.unchanged,
            "deactivated": self.deactivated,
            "errors": self.errors,
        }


class CatalogService:
    def __init__(
        self, db: Database, cache: Cache, cache_settings: CacheSettings, stats: CacheStats
    ) -> None:
        self.db = db
        self.cache = cache
        self.ttl = cache_settings
        self.stats = stats
        self.validator = CatalogValidator()
        self._models: dict[int, CatalogItem] = {}

    # -- sync ---------------------------------------------------------------------------------

    async def sync_directory(
        self, root: Path, *, git_sha: str | None = None, actor: str | None = None
    ) -> SyncResult:
        """Validate a local catalog and store what is valid; invalid files keep their last version.

        The audit rows name the directory (``catalog-sync <root>``) unless ``actor`` is given."""
        files, _ = discover([root])
        report = await asyncio.to_thread(self.validator.validate_files, files, display_root=root)
        return await self.store_report(
            report, git_sha=git_sha, actor=actor or f"catalog-sync {root}"
        )

    async def store_report(
        self,
        report: CatalogReport,
        *,
        git_sha: str | None,
        actor: str | None = None,
        correlation_id: str | None = None,
    ) -> SyncResult:
        """Store a validated catalog in one transaction, audited as source ``sync`` by ``actor``
        (what synced: a directory, a repository at a commit) under one correlation id per sync,
        so every item a sync changed can be pulled from the audit trail together."""
        result = SyncResult(files=report.files)
        invalid_paths = report.invalid_files()
        async with self.db.transaction(
            actor=actor or "catalog-sync",
            correlation_id=correlation_id or f"catalog-sync-{uuid.uuid4()}",
            source="sync",
        ) as conn:
            cur = await conn.execute(QUERIES.list_catalog_hashes)
            known = {row["id"]: row for row in await cur.fetchall()}
            for item_id, entry in sorted(report.items.items()):
                if entry.doc.file in invalid_paths:
                    continue  # e.g. a duplicate id in another file: keep the last good version
                digest = content_hash(entry.doc.data)
                previous = known.get(item_id)
                if previous and previous["content_hash"] == digest and previous["active"]:
                    result.unchanged.append(item_id)
                    continue
                item = entry.item
                cur = await conn.execute(
                    QUERIES.insert_catalog_version,
                    {
                        "item_id": item_id,
                        "version": item.metadata.version,
                        "content_hash": digest,
                        "definition": Jsonb(entry.doc.data),
                        "source_path": entry.doc.file,
                        "git_sha": git_sha,
                    },
                )
                version_row = await cur.fetchone()
                assert version_row is not None
                await conn.execute(
                    QUERIES.upsert_catalog_item,
                    {
                        "id": item_id,
                        "name": item.metadata.name,
                        "description": item.metadata.description,
                        "category": item.metadata.category,
                        "owner_team": item.metadata.owner.team,
                        "tags": list(item.metadata.tags),
                        "version": item.metadata.version,
                        "lifecycle": item.lifecycle.status,
                        "definition": Jsonb(entry.doc.data),
                        "content_hash": digest,
                        "source_path": entry.doc.file,
                        "git_sha": git_sha,
                        "blob_sha": None,
                        "current_version_id": version_row["id"],
                    },
                )
                result.stored.append(item_id)
            keep = set(report.items) | {
                item_id for item_id, row in known.items() if row["source_path"] in invalid_paths
            }
            cur = await conn.execute(
                QUERIES.deactivate_missing_items, {"present_ids": sorted(keep)}
            )
            result.deactivated = [row["id"] for row in await cur.fetchall()]
            await conn.execute(QUERIES.clear_validation_errors)
            for issue in report.issues:
                await conn.execute(
                    QUERIES.insert_validation_error,
                    {
                        "source_path": issue.file,
                        "line": issue.line,
                        "column": issue.column,
                        "code": issue.code,
                        "message": issue.message,
                        "pointer": issue.pointer,
                        "severity": issue.severity,
                        "git_sha": git_sha,
                    },
                )
                result.errors.append(issue.to_dict())
        await self.invalidate()
        return result

    async def invalidate(self) -> None:
        await self.cache.delete_prefix("pao:catalog:")

    # -- reads --------------------------------------------------------------------------------

    async def _cached(self, key: str) -> bytes | None:
        value = await self.cache.get(key)
        # L2 holds listings and search results; L1 the items (details, current versions)
        self.stats.record("l2" if key.startswith(LIST_KEY) else "l1", value is not None)
        return value

    async def item_json(self, item_id: str) -> bytes:
        """The item detail document as JSON bytes, from the L1 cache when warm."""
        key = ITEM_KEY + item_id
        cached = await self._cached(key)
        if cached is not None:
            return cached
        async with self.db.connection() as conn:
            cur = await conn.execute(QUERIES.get_catalog_item, {"id": item_id})
            row = await cur.fetchone()
        if row is None or not row["active"]:
            raise NotFound(f"catalog item '{item_id}' does not exist", item_id=item_id)
        body = json.dumps(
            {
                **item_summary(row),
                "source_path": row["source_path"],
                "git_sha": row["git_sha"],
                "updated_at": row["updated_at"].isoformat(),
                "definition": row["definition"],
            },
            separators=(",", ":"),
        ).encode()
        await self.cache.set(key, body, self.ttl.item_ttl_seconds)
        return body

    async def current(self, item_id: str) -> tuple[CatalogItem, int]:
        """The current definition of an active item and its version row id.

        The cache holds only the current version id; versions never change, so their parsed
        models are kept in memory by id.
        """
        key = CURRENT_KEY + item_id
        cached = await self._cached(key)
        if cached is not None:
            return await self.version(int(cached)), int(cached)
        async with self.db.connection() as conn:
            cur = await conn.execute(QUERIES.get_catalog_item, {"id": item_id})
            row = await cur.fetchone()
        if row is None or not row["active"]:
            raise NotFound(f"catalog item '{item_id}' does not exist", item_id=item_id)
        version_id = int(row["current_version_id"])
        await self.cache.set(key, str(version_id).encode(), self.ttl.item_ttl_seconds)
        return self._model(version_id, row["definition"]), version_id

    async def version(self, version_id: int) -> CatalogItem:
        """The exact definition a request was submitted against (versions never change)."""
        if version_id in self._models:
            return self._models[version_id]
        async with self.db.connection() as conn:
            cur = await conn.execute(QUERIES.get_catalog_version, {"id": version_id})
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"catalog version {version_id} does not exist")
        return self._model(version_id, row["definition"])

    def _model(self, version_id: int, definition: dict[str, Any]) -> CatalogItem:
        model = self._models.get(version_id)
        if model is None:
            model = CatalogItem.model_validate(definition)
            if len(self._models) > 1000:
                self._models.clear()
            self._models[version_id] = model
        return model

    async def list_page(
        self,
        *,
        category: str | None,
        owner: str | None,
        search: str | None,
        after: str | None,
        limit: int,
        with_total: bool,
    ) -> tuple[list[dict[str, Any]], bool, int | None]:
        """One page of active items ordered by id; (items, has_more, total)."""
        params: dict[str, Any] = {
            "category": category,
            "owner": owner,
            "search": search,
            "include_retired": False,
            "after": after,
            "limit": limit + 1,
        }
        key = LIST_KEY + content_hash({**params, "with_total": with_total})
        cached = await self._cached(key)
        if cached is not None:
            items, has_more, total = json.loads(cached)
            return items, has_more, total
        async with self.db.connection() as conn:
            cur = await conn.execute(QUERIES.list_catalog_items, params)
            rows = await cur.fetchall()
            total = None
            if with_total:
                cur = await conn.execute(QUERIES.count_catalog_items, params)
                count_row = await cur.fetchone()
                total = int(count_row["total"]) if count_row else 0
        items = [item_summary(row) for row in rows[:limit]]
        has_more = len(rows) > limit
        await self.cache.set(
            key, json.dumps([items, has_more, total]).encode(), self.ttl.listing_ttl_seconds
        )
        return items, has_more, total

    async def validation_errors(self) -> list[dict[str, Any]]:
        async with self.db.connection() as conn:
            cur = await conn.execute(QUERIES.list_validation_errors)
            rows = await cur.fetchall()
        return [{**row, "created_at": row["created_at"].isoformat()} for row in rows]
