"""The dead-letter queue's drain: each job SQS gave up on goes through the shared dead-letter
path (``orchestrator.engine.dead_letters``), unless its current action still has receives left."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from orchestrator.engine.dead_letters import dead_letter, out_of_receives
from orchestrator.engine.reachability import Outages, Reachability, run_periodically
from orchestrator.engine.records import ENGINE_ACTOR, ENGINE_SOURCE
from orchestrator.engine.sqs.client import SQS_BATCH, SqsError, call, job_message, queue_name
from orchestrator.store.database import Database
from orchestrator.store.errors import StoreUnavailable
from orchestrator.store.queries import QUERIES

log = logging.getLogger(__name__)


class DeadLetterDrain:
    """Reads the dead-letter queue: each job SQS gave up on is dead-lettered in the table and
    its request failed (PgQueue's dead-lettering, for jobs whose worker kept dying)."""

    def __init__(
        self,
        db: Database,
        client: Any,
        dead_letter_queue_url: str,
        *,
        interval_seconds: float = 5.0,
        visibility_seconds: int = 60,
        reachability: Reachability | None = None,
        database: Reachability | None = None,
    ) -> None:
        self.db = db
        self.client = client
        self.queue_url = dead_letter_queue_url
        self.reachability = reachability or Reachability(
            f"SQS queue {queue_name(dead_letter_queue_url)}"
        )
        self.database = database or Reachability("PostgreSQL")
        self.interval_seconds = interval_seconds
        self.visibility_seconds = visibility_seconds

    async def run_once(self) -> int:
        """Handle every message now in the dead-letter queue; the number of jobs dead-lettered."""
        dead = 0
        while True:
            reply = await call(
                self.client,
                "receive_message",
                self.queue_url,
                self.reachability,
                MaxNumberOfMessages=SQS_BATCH,
                WaitTimeSeconds=0,
                VisibilityTimeout=self.visibility_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
            messages = reply.get("Messages") or []
            if not messages:
                return dead
            for message in messages:
                dead += await self._settle(message)

    async def _settle(self, message: Mapping[str, Any]) -> int:
        found = job_message(message)
        if found is None:
            log.warning(
                "message %s on %s is not a PAO job; left there",
                message.get("MessageId"),
                self.queue_url,
            )
            return 0
        job_id, _ = found
        dead = 0
        async with self.db.transaction(actor=ENGINE_ACTOR, source=ENGINE_SOURCE) as conn:
            row = await self.db.fetch_one(
                conn, QUERIES.sqs_job_for_message, {"id": job_id, "tolerance_seconds": 0.0}
            )
            unfinished = row is not None and (
                row["status"] == "ready" or (row["status"] == "running" and row["lease_expired"])
            )
            if row is not None and unfinished and row["receives"] < row["max_receives"]:
                # Receives left for the job's current action: SQS counted the earlier actions'
                # receives of this message too. A new message, with a fresh count.
                await conn.execute(QUERIES.sqs_requeue_job, {"id": job_id})
                log.info("job %s: back from the dead-letter queue as a new message", job_id)
            elif row is not None and unfinished:
                reason = out_of_receives(row, "moved to the dead-letter queue")
                dead = int(await dead_letter(conn, job_id, reason) is not None)
        try:
            await call(
                self.client,
                "delete_message",
                self.queue_url,
                self.reachability,
                ReceiptHandle=message["ReceiptHandle"],
            )
        except SqsError as exc:  # received again later: the job is dead by then, nothing to do
            log.warning("dead-letter message of job %s stays: %s", job_id, exc)
        return dead

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until ``stop`` is set, backing off while SQS or PostgreSQL does not answer."""
        await run_periodically(
            self.run_once,
            stop,
            interval_seconds=self.interval_seconds,
            what=f"dead-letter drain of {queue_name(self.queue_url)}",
            outages=Outages((SqsError, self.reachability), (StoreUnavailable, self.database)),
            logger=log,
        )
