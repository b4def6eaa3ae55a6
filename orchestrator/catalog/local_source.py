"""The local-directory catalog source of the embedded default, watched for changes.

A cheap fingerprint (each ``*.yaml``/``*.yml`` file's path, size and modification time) is
taken every few seconds; when it differs, the directory is synced again (validated as a whole,
stored through ``CatalogService.sync_directory``). Editing an example item while ``pao serve``
runs shows up within seconds, with no file-system notification library.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from orchestrator.catalog.service import CatalogService

log = logging.getLogger(__name__)

Fingerprint = frozenset[tuple[str, int, int]]


def fingerprint(root: Path) -> Fingerprint:
    entries: set[tuple[str, int, int]] = set()
    for pattern in ("*.yaml", "*.yml"):
        for path in root.rglob(pattern):
            try:
                stat = path.stat()
            except OSError:
                continue  # removed while listing: the next look sees it gone
            entries.add((str(path.relative_to(root)), stat.st_size, stat.st_mtime_ns))
    return frozenset(entries)


class LocalCatalogWatcher:
    def __init__(self, catalog: CatalogService, root: Path, interval_seconds: float = 2.0) -> None:
        self.catalog = catalog
        self.root = root
        self.interval_seconds = interval_seconds
        self._seen: Fingerprint | None = None

    async def check_once(self) -> bool:
        """Sync when the directory changed since the last look; whether it synced."""
        current = await asyncio.to_thread(fingerprint, self.root)
        if self._seen is None:
            self._seen = current  # the start-up sync covered this state
            return False
        if current == self._seen:
            return False
        result = await self.catalog.sync_directory(self.root)
        self._seen = current
        log.info(
            "catalog %s changed: %d stored, %d removed, %d errors",
            self.root,
            len(result.stored),
            len(result.deactivated),
            len(result.errors),
        )
        return True

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.check_once()
            except Exception:
                log.exception("watching the catalog directory %s failed", self.root)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_seconds)
