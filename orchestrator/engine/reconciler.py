"""The SQS backend's reconciler: the outbox is the record, SQS only the transport.

A job's message can disappear while its ``jobs`` row still waits for it: the queue purged,
deleted and recreated, a message past its retention, a message moved to the dead-letter queue
while its job was held. Every ``interval_seconds`` the reconciler finds the jobs that should
have been received by now and were not (ready and due for more than ``resend_after_seconds``,
or running with a lease that ran out that long ago) and that have no message on its way (no
unsent outbox row, none sent within ``resend_after_seconds``), and writes a new outbox row for
each; the relay sends it (``orchestrator.store.sql.sqs.sql``: ``sqs_reconcile``).

How late a job can be when its message is lost: at most ``resend_after_seconds`` +
``interval_seconds`` after it was due (or after its lease ran out), plus the relay's interval
and a receive, while SQS, PostgreSQL and a worker are up. A resend whose original message was
not lost (the workers were busy) is a duplicate: the receive that finds the job held or
finished drops it, so a backlog costs one extra message per job per ``resend_after_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from orchestrator.engine.reachability import Outages, Reachability, run_periodically
from orchestrator.engine.records import ENGINE_ACTOR, ENGINE_SOURCE
from orchestrator.store.database import Database
from orchestrator.store.errors import StoreUnavailable
from orchestrator.store.queries import QUERIES

__all__ = [
    "DEFAULT_RECONCILE_INTERVAL_SECONDS",
    "DEFAULT_RESEND_AFTER_SECONDS",
    "OutboxReconciler",
]

log = logging.getLogger(__name__)

DEFAULT_RECONCILE_INTERVAL_SECONDS: Final = 60.0  # PAO_SQS_RECONCILE_SECONDS
DEFAULT_RESEND_AFTER_SECONDS: Final = 120.0  # PAO_SQS_RESEND_AFTER_SECONDS
RECONCILE_BATCH: Final = 500


class OutboxReconciler:
    """Sends again the jobs whose message is lost (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        *,
        interval_seconds: float = DEFAULT_RECONCILE_INTERVAL_SECONDS,
        resend_after_seconds: float = DEFAULT_RESEND_AFTER_SECONDS,
        batch: int = RECONCILE_BATCH,
        database: Reachability | None = None,
    ) -> None:
        self.db = db
        self.interval_seconds = max(0.0, interval_seconds)
        self.resend_after_seconds = max(0.0, resend_after_seconds)
        self.batch = max(1, batch)
        self.database = database or Reachability("PostgreSQL")

    async def run_once(self) -> int:
        """Queue a new message for every job whose message looks lost; how many."""
        total = 0
        while True:
            async with self.db.transaction(
                actor=ENGINE_ACTOR, source=ENGINE_SOURCE, durable=False
            ) as conn:
                rows = await self.db.fetch_all(
                    conn,
                    QUERIES.sqs_reconcile,
                    {"resend_after_seconds": self.resend_after_seconds, "limit": self.batch},
                )
            total += len(rows)
            if len(rows) < self.batch:
                break
        if total:
            log.warning(
                "reconciler: %d job(s) due for over %gs had no message on its way; sent again",
                total,
                self.resend_after_seconds,
            )
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile every ``interval_seconds`` until ``stop`` is set (backing off while
        PostgreSQL does not answer)."""
        await run_periodically(
            self.run_once,
            stop,
            interval_seconds=self.interval_seconds,
            what="outbox reconciler",
            outages=Outages((StoreUnavailable, self.database)),
            touched=(self.database,),
            logger=log,
        )
