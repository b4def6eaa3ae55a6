"""The catalog sync pipeline for a GitHub source, and the periodic processor that runs it.

One cycle: poll the branch head (a 304 ends it: one request, no rate limit spent); on a new
commit list the catalog files, fetch only the blobs whose SHA changed, keep every file's text
in ``catalog_source_files``, validate the whole catalog again (cross-file checks need every
file) and store it through ``CatalogService.store_report``: valid items become new versions
(with the commit SHA), invalid files are excluded without replacing their items' last good
version, deleted files deactivate their items, and the errors are kept for
``GET /api/v1/catalog/validation-errors``. A commit status summarises the result on the
catalog commit. State (commit, ETag) is saved only after the catalog is stored, so a failed
cycle is simply done again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator.catalog.codeowners import CodeOwners
from orchestrator.catalog.github_source import (
    CODEOWNERS_LOCATIONS,
    GitHubCatalogSource,
    RateLimited,
    SourceError,
)
from orchestrator.catalog.service import CatalogService, SyncResult
from orchestrator.github_client import github_session
from orchestrator.store.database import Database
from orchestrator.store.queries import QUERIES

log = logging.getLogger(__name__)

STATUS_CONTEXT = "pao/catalog"
# Blobs fetched at once: well under GitHub's secondary-limit guidance for concurrent requests.
BLOB_CONCURRENCY = 8


@dataclass(slots=True)
class SyncReport:
    """What one cycle did."""

    source: str
    changed: bool = False
    commit_sha: str | None = None
    fetched: list[str] = field(default_factory=list)  # paths whose blobs were read
    deleted: list[str] = field(default_factory=list)
    result: SyncResult | None = None
    requests: int = 0  # GitHub calls this cycle
    deferred_seconds: float | None = None  # rate limited: try again after this long
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "changed": self.changed,
            "commit_sha": self.commit_sha,
            "fetched": self.fetched,
            "deleted": self.deleted,
            "github_requests": self.requests,
            "deferred_seconds": self.deferred_seconds,
            "error": self.error,
            **({"result": self.result.to_dict()} if self.result is not None else {}),
        }


class GitHubCatalogSync:
    def __init__(self, db: Database, catalog: CatalogService, source: GitHubCatalogSource) -> None:
        self.db = db
        self.catalog = catalog
        self.source = source
        self._lock = asyncio.Lock()

    async def sync(self, *, force: bool = False) -> SyncReport:
        """One cycle; ``force`` skips the conditional request (``POST /catalog/refresh``)."""
        async with self._lock:
            report = SyncReport(self.source.name)
            before = self.source.requests
            try:
                async with github_session(self.source.client):
                    await self._sync(report, force=force)
            except RateLimited as exc:
                report.deferred_seconds = exc.retry_after
                report.error = str(exc)
                await self._record_error(str(exc))
            except SourceError as exc:
                report.error = str(exc)
                await self._record_error(str(exc))
            report.requests = self.source.requests - before
            return report

    async def _sync(self, report: SyncReport, *, force: bool) -> None:
        name = self.source.name
        state = await self.db.fetch_one(None, QUERIES.catalog_sync_state, {"source": name})
        etag = None if force or state is None else state["etag"]
        head = await self.source.head(etag)
        if head.sha is None or head.tree_sha is None:
            return  # 304: nothing changed
        if not force and state is not None and state["commit_sha"] == head.sha:
            return
        report.changed, report.commit_sha = True, head.sha
        wanted = await self.source.files(head.tree_sha)
        stored = {
            row["path"]: row
            for row in await self.db.fetch_all(None, QUERIES.catalog_source_files, {"source": name})
        }
        texts = {path: row["content"] for path, row in stored.items() if path in wanted}
        changed = sorted(p for p, sha in wanted.items() if stored.get(p, {}).get("blob_sha") != sha)
        limit = asyncio.Semaphore(BLOB_CONCURRENCY)

        async def fetch(path: str) -> None:
            async with limit:
                texts[path] = await self.source.blob(wanted[path])

        await asyncio.gather(*(fetch(path) for path in changed))
        report.fetched = changed
        report.deleted = sorted(set(stored) - set(wanted))
        validator = self.catalog.validator
        catalog_texts = sorted((p, t) for p, t in texts.items() if p not in CODEOWNERS_LOCATIONS)
        catalog_report = await asyncio.to_thread(validator.validate_texts, catalog_texts)
        actor = f"catalog-sync github:{self.source.repo}@{head.sha}"
        correlation_id = f"catalog-sync-{uuid.uuid4()}"
        async with self.db.transaction(
            actor=actor, correlation_id=correlation_id, source="sync"
        ) as conn:
            for path in changed:
                await conn.execute(
                    QUERIES.catalog_source_file_upsert,
                    {
                        "source": name,
                        "path": path,
                        "blob_sha": wanted[path],
                        "content": texts[path],
                    },
                )
            if report.deleted:
                await conn.execute(
                    QUERIES.catalog_source_files_delete, {"source": name, "paths": report.deleted}
                )
        report.result = await self.catalog.store_report(
            catalog_report, git_sha=head.sha, actor=actor, correlation_id=correlation_id
        )
        await self._post_status(head.sha, report.result)
        await self.db.execute(
            None,
            QUERIES.catalog_sync_save_state,
            {
                "source": name,
                "commit_sha": head.sha,
                "etag": head.etag,
                "synced_at": datetime.now(UTC),
                "last_error": None,
            },
        )

    async def codeowners(self) -> CodeOwners | None:
        """The catalog repository's CODEOWNERS as last synced (GitHub's lookup order)."""
        rows = await self.db.fetch_all(
            None, QUERIES.catalog_source_files, {"source": self.source.name}
        )
        by_path = {row["path"]: row["content"] for row in rows}
        for location in CODEOWNERS_LOCATIONS:
            if location in by_path:
                return CodeOwners.parse(by_path[location])
        return None

    async def _post_status(self, sha: str, result: SyncResult) -> None:
        errors = [e for e in result.errors if e.get("severity", "error") == "error"]
        if errors:
            files = sorted({str(e["file"]) for e in errors})
            state = "failure"
            description = (
                f"{len(errors)} error(s) in {len(files)} file(s), excluded; "
                f"{len(result.stored) + len(result.unchanged)} item(s) served"
            )
        else:
            state = "success"
            description = (
                f"{len(result.stored)} item(s) updated, {len(result.unchanged)} unchanged, "
                f"{len(result.deactivated)} removed"
            )
        try:
            await self.source.set_status(sha, state, description, STATUS_CONTEXT)
        except (SourceError, RateLimited) as exc:  # the catalog is stored; the status is a courtesy
            log.warning("could not post the catalog commit status: %s", exc)

    async def _record_error(self, message: str) -> None:
        await self.db.execute(
            None,
            QUERIES.catalog_sync_record_error,
            {"source": self.source.name, "last_error": message},
        )


class CatalogProcessor:
    """``catalog-processor``: syncs every ``interval`` seconds (default 300) until stopped;
    a rate-limited cycle waits as long as GitHub asks, when that is longer."""

    def __init__(self, sync: GitHubCatalogSync, interval_seconds: float = 300.0) -> None:
        self.sync = sync
        self.interval_seconds = interval_seconds

    async def run_once(self) -> SyncReport:
        """One cycle, logged when it changed something or failed."""
        report = await self.sync.sync()
        if report.changed or report.error:
            log.info("catalog sync: %s", report.to_dict())
        return report

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            wait = self.interval_seconds
            try:
                report = await self.run_once()
                if report.deferred_seconds is not None:
                    wait = max(wait, report.deferred_seconds)
            except Exception:
                log.exception("catalog sync failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
