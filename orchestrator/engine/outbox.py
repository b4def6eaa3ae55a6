"""Retention of the SQS backend's outbox: sent rows are only history once SQS has the message.

The outbox relay prunes as part of its periodic pass and ``pao maintenance`` prunes too; both
delete in batches (each its own short statement, ``SKIP LOCKED``), so neither holds locks long
nor gets in the other's way. Unsent rows are never deleted: they are work still to deliver.
"""

from __future__ import annotations

from typing import Final

from orchestrator.store.database import Database
from orchestrator.store.queries import QUERIES

__all__ = [
    "DEFAULT_OUTBOX_RETENTION_SECONDS",
    "OUTBOX_PRUNE_BATCH",
    "prunable_outbox",
    "prune_outbox",
]

DEFAULT_OUTBOX_RETENTION_SECONDS: Final = 86_400.0  # PAO_RETENTION_OUTBOX_HOURS=24
OUTBOX_PRUNE_BATCH: Final = 1000


async def prune_outbox(
    db: Database, retention_seconds: float, *, batch: int = OUTBOX_PRUNE_BATCH
) -> int:
    """Delete the rows sent more than ``retention_seconds`` ago, ``batch`` at a time; how many."""
    params = {"retention_seconds": max(0.0, float(retention_seconds)), "limit": max(1, batch)}
    total = 0
    while True:
        row = await db.fetch_one(None, QUERIES.sqs_outbox_prune, params)
        deleted = int(row["n"]) if row else 0
        total += deleted
        if deleted < params["limit"]:
            return total


async def prunable_outbox(db: Database, retention_seconds: float) -> int:
    """How many rows ``prune_outbox`` would delete now (for ``pao maintenance --dry-run``)."""
    row = await db.fetch_one(
        None, QUERIES.sqs_outbox_prunable, {"retention_seconds": max(0.0, float(retention_seconds))}
    )
    return int(row["n"]) if row else 0
