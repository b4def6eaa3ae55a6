"""The ``catalog_processor`` function: one catalog sync cycle per scheduled event (EventBridge,
every 5 minutes), then the queue's housekeeping that ``pao worker`` runs periodically (outbox
relay and pruning, the reconciler, the dead-letter drain)."""

from __future__ import annotations

import time

_IMPORTS_STARTED = time.perf_counter()

import functools  # noqa: E402
import logging  # noqa: E402
from collections.abc import Mapping  # noqa: E402
from typing import Any  # noqa: E402

from lambda_handlers.runtime import LambdaRuntime, container  # noqa: E402
from orchestrator.catalog.sync import CatalogProcessor as SyncCycle  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - _IMPORTS_STARTED

log = logging.getLogger(__name__)


class CatalogProcessor:
    def __init__(self, runtime: LambdaRuntime) -> None:
        self.runtime = runtime
        sync = runtime.services.catalog_sync
        self.cycle = SyncCycle(sync) if sync is not None else None

    def __call__(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        runtime = self.runtime
        runtime.run(runtime.thaw())
        return runtime.run(self.sync())

    async def sync(self) -> dict[str, Any]:
        """One cycle: the GitHub catalog (``CATALOG_GITHUB_REPO``), else the local directory;
        what it did (a failed sync says why under ``error``, and is recorded for
        ``GET /api/v1/catalog/validation-errors``); the housekeeping runs either way."""
        runtime = self.runtime
        try:
            if self.cycle is not None:
                report = await self.cycle.run_once()
                result: dict[str, Any] = dict(report.to_dict())
            elif runtime.settings.catalog.local_path is not None:
                synced = await runtime.services.catalog.sync_directory(
                    runtime.settings.catalog.local_path
                )
                result = {
                    "stored": len(synced.stored),
                    "unchanged": len(synced.unchanged),
                    "errors": len(synced.errors),
                }
            else:
                result = {"skipped": "no catalog source configured"}
        finally:
            await runtime.housekeeping()
        return result


@functools.cache
def function() -> CatalogProcessor:
    started = time.perf_counter()
    built = CatalogProcessor(container())
    log.info(
        "catalog-processor cold start: imports %.2fs, services %.2fs",
        IMPORT_SECONDS,
        time.perf_counter() - started,
    )
    return built


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda's entry point (``lambda_handlers.catalog_processor.handler``)."""
    return function()(event, context)
