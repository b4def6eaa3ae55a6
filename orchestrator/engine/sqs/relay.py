"""The outbox relay (unsent ``outbox`` rows to SQS) and the delivery tasks every process that
enqueues runs: the relay, the reconciler and the dead-letter drain."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final

from orchestrator.engine.outbox import DEFAULT_OUTBOX_RETENTION_SECONDS, prune_outbox
from orchestrator.engine.reachability import Outages, Reachability, run_periodically
from orchestrator.engine.reconciler import OutboxReconciler
from orchestrator.engine.records import ENGINE_ACTOR, ENGINE_SOURCE
from orchestrator.engine.sqs.client import (
    SQS_BATCH,
    SQS_MAX_DELAY_SECONDS,
    SqsError,
    call,
    queue_name,
    seconds,
    sqs_client,
)
from orchestrator.engine.sqs.dead_letters import DeadLetterDrain
from orchestrator.settings import EngineSettings
from orchestrator.store.database import Database
from orchestrator.store.errors import StoreUnavailable
from orchestrator.store.queries import QUERIES

log = logging.getLogger(__name__)

OUTBOX_PRUNE_INTERVAL_SECONDS: Final = 300.0


class OutboxRelay:
    """Sends the outbox's unsent rows to SQS (see the module docstring); every process that
    enqueues runs ``run`` every ``interval_seconds`` (``delivery_tasks``). Every
    ``prune_interval_seconds`` it also deletes sent rows older than ``retention_seconds``
    (None: never), so the table stays small."""

    def __init__(
        self,
        db: Database,
        client: Any,
        queue_url: str,
        *,
        send_ahead_seconds: float = SQS_MAX_DELAY_SECONDS,
        interval_seconds: float = 0.2,
        retention_seconds: float | None = DEFAULT_OUTBOX_RETENTION_SECONDS,
        prune_interval_seconds: float = OUTBOX_PRUNE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        reachability: Reachability | None = None,
        database: Reachability | None = None,
    ) -> None:
        self.db = db
        self.client = client
        self.queue_url = queue_url
        self.reachability = reachability or Reachability(f"SQS queue {queue_name(queue_url)}")
        self.database = database or Reachability("PostgreSQL")
        self.send_ahead_seconds = max(0.0, min(float(SQS_MAX_DELAY_SECONDS), send_ahead_seconds))
        self.interval_seconds = interval_seconds
        self.retention_seconds = retention_seconds
        self.prune_interval_seconds = prune_interval_seconds
        self._clock = clock
        self._pruned_at: float | None = None

    async def prune_if_due(self) -> int:
        """Delete the sent rows past retention when the last pruning is old enough; the number
        deleted (0 when not due)."""
        if self.retention_seconds is None:
            return 0
        now = self._clock()
        if self._pruned_at is not None and now - self._pruned_at < self.prune_interval_seconds:
            return 0
        self._pruned_at = now
        return await prune_outbox(self.db, self.retention_seconds)

    async def run_once(self) -> int:
        """Send every due unsent row; the number of messages sent."""
        total = 0
        while True:
            sent, settled, fetched = await self._send_batch()
            total += sent
            if fetched < SQS_BATCH or settled == 0:
                return total

    async def _send_batch(self) -> tuple[int, int, int]:
        """(messages sent, rows settled, rows fetched) of one batch, in one transaction: the
        rows stay locked (other relays skip them) until they are marked sent."""
        async with self.db.transaction(
            actor=ENGINE_ACTOR, source=ENGINE_SOURCE, durable=False
        ) as conn:
            rows = await self.db.fetch_all(
                conn,
                QUERIES.sqs_outbox_due,
                {"ahead_seconds": self.send_ahead_seconds, "limit": SQS_BATCH},
            )
            if not rows:
                return 0, 0, 0
            live = [r for r in rows if r["job_status"] in ("ready", "running")]
            settled = [int(r["id"]) for r in rows if r["job_status"] not in ("ready", "running")]
            sent = 0
            if live:
                reply = await call(
                    self.client,
                    "send_message_batch",
                    self.queue_url,
                    self.reachability,
                    Entries=[
                        {
                            "Id": str(r["id"]),
                            "MessageBody": json.dumps({"job_id": r["job_id"], "kind": r["kind"]}),
                            "DelaySeconds": seconds(r["delay_seconds"], SQS_MAX_DELAY_SECONDS),
                        }
                        for r in live
                    ],
                )
                successful = [int(entry["Id"]) for entry in reply.get("Successful") or []]
                for failure in reply.get("Failed") or []:
                    log.warning(
                        "outbox row %s not sent to %s: %s: %s",
                        failure.get("Id"),
                        self.queue_url,
                        failure.get("Code"),
                        failure.get("Message"),
                    )
                sent = len(successful)
                settled += successful
            if settled:
                await conn.execute(QUERIES.sqs_outbox_mark_sent, {"ids": settled})
        return sent, len(settled), len(rows)

    async def relay_and_prune(self) -> None:
        """One round: send what is due, then prune when that is due too."""
        await self.run_once()
        await self.prune_if_due()

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set. While SQS or PostgreSQL does not answer, the relay backs
        off and says so once (``orchestrator.engine.reachability``); unsent rows wait."""
        await run_periodically(
            self.relay_and_prune,
            stop,
            interval_seconds=self.interval_seconds,
            what=f"outbox relay to {queue_name(self.queue_url)}",
            outages=Outages((SqsError, self.reachability), (StoreUnavailable, self.database)),
            touched=(self.database,),
            logger=log,
        )


def delivery_tasks(
    db: Database,
    client: Any,
    settings: EngineSettings,
    *,
    reachability: Reachability,
    database: Reachability,
) -> list[Callable[[asyncio.Event], Coroutine[Any, Any, None]]]:
    """What moves jobs between the outbox and SQS, each ``task(stop)``: the outbox relay, the
    reconciler and, with a dead-letter queue, its drain. Every process that enqueues runs them
    (the worker pool, and an API without one in-process), so no deployment strands the outbox;
    several processes running them at once is safe (rows are locked, resends deduplicated)."""
    if settings.sqs_queue_url is None:
        raise ValueError("the SQS queue backend needs SQS_QUEUE_URL")
    relay = OutboxRelay(
        db,
        client,
        settings.sqs_queue_url,
        retention_seconds=settings.outbox_retention_hours * 3600.0,
        reachability=reachability,
        database=database,
    )
    reconciler = OutboxReconciler(
        db,
        interval_seconds=float(settings.sqs_reconcile_seconds),
        resend_after_seconds=float(settings.sqs_resend_after_seconds),
        database=database,
    )
    tasks: list[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = [
        relay.run,
        reconciler.run,
    ]
    if settings.sqs_dead_letter_queue_url is not None:
        drain = DeadLetterDrain(
            db,
            client,
            settings.sqs_dead_letter_queue_url,
            reachability=Reachability(
                f"SQS queue {queue_name(settings.sqs_dead_letter_queue_url)}"
            ),
            database=database,
        )
        tasks.append(drain.run)
    else:
        log.warning("no SQS_DEAD_LETTER_QUEUE_URL: jobs SQS gives up on are not reported")
    return tasks


async def run_delivery(
    db: Database, settings: EngineSettings, stop: asyncio.Event, *, client: Any | None = None
) -> None:
    """Run ``delivery_tasks`` until ``stop`` is set: for a process that enqueues jobs but runs
    no worker pool (``pao api``, ``pao serve`` with ``PAO_SERVE_WORKER=false``)."""
    if settings.sqs_queue_url is None:
        raise ValueError("the SQS queue backend needs SQS_QUEUE_URL")
    tasks = delivery_tasks(
        db,
        client if client is not None else sqs_client(settings),
        settings,
        reachability=Reachability(f"SQS queue {queue_name(settings.sqs_queue_url)}"),
        database=Reachability("PostgreSQL"),
    )
    log.info("outbox relay to %s runs in this process", queue_name(settings.sqs_queue_url))
    await asyncio.gather(*(task(stop) for task in tasks))
