"""``SqsQueue``: the queue contract (``orchestrator.engine.queue``) over SQS messages and the
``jobs`` table, which stays the source of truth (see the package docstring)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from orchestrator.engine.dead_letters import dead_letter, give_back, out_of_receives
from orchestrator.engine.jobs import DEFAULT_MAX_RECEIVES, enqueue_job, release_dedupe
from orchestrator.engine.pg_queue import DEFAULT_LEASE_SECONDS, Job
from orchestrator.engine.reachability import Outages, Reachability
from orchestrator.engine.records import ENGINE_ACTOR, ENGINE_SOURCE
from orchestrator.engine.sqs.client import (
    SQS_BATCH,
    SQS_MAX_VISIBILITY_SECONDS,
    SqsError,
    call,
    job_message,
    queue_name,
    seconds,
)
from orchestrator.engine.sqs.stats import STATS_MAX_AGE_SECONDS, SqsQueueDepth, SqsQueueStats
from orchestrator.store.database import Connection, Database
from orchestrator.store.errors import StoreUnavailable
from orchestrator.store.queries import QUERIES

log = logging.getLogger(__name__)

# SQS counts visibility in whole seconds: a job due within this much is due.
DUE_TOLERANCE_SECONDS: Final = 1.0
_SEPARATOR: Final = "|"


@dataclass(frozen=True, slots=True)
class Delivery:
    """Which received message a job's lease belongs to (kept in ``jobs.locked_by``)."""

    worker_id: str
    message_id: str
    receipt_handle: str

    def locked_by(self) -> str:
        return _SEPARATOR.join((self.worker_id, self.message_id, self.receipt_handle))

    @classmethod
    def of(cls, locked_by: str | None) -> Delivery | None:
        if not locked_by or locked_by.count(_SEPARATOR) < 2:
            return None
        worker_id, message_id, receipt = locked_by.rsplit(_SEPARATOR, 2)
        return cls(worker_id, message_id, receipt)


@dataclass(frozen=True, slots=True)
class Acceptance:
    """What a received message came to (``SqsQueue.accept``): the job it leased, or none, and
    whether the message was settled (deleted) rather than left to come back."""

    job: Job | None
    settled: bool


class SqsQueue:
    """The queue backend for the serverless deployment (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        client: Any,
        queue_url: str,
        *,
        dead_letter_queue_url: str | None = None,
        max_receives: int = DEFAULT_MAX_RECEIVES,
        wait_seconds: int = 2,
        stats_max_age_seconds: float = STATS_MAX_AGE_SECONDS,
        reachability: Reachability | None = None,
        database: Reachability | None = None,
    ) -> None:
        """``reachability``/``database``: where SQS's and PostgreSQL's answers (or their
        absence) are reported (``orchestrator.engine.reachability``)."""
        self.db = db
        self.client = client
        self.queue_url = queue_url
        self.dead_letter_queue_url = dead_letter_queue_url
        self.reachability = reachability or Reachability(f"SQS queue {queue_name(queue_url)}")
        self.database = database or Reachability("PostgreSQL")
        self.outages = Outages((SqsError, self.reachability), (StoreUnavailable, self.database))
        self.max_receives = max_receives
        self.wait_seconds = max(0, min(20, wait_seconds))  # a receive's long poll
        self.stats = SqsQueueStats(
            lambda: client,
            queue_url,
            dead_letter_queue_url,
            max_age_seconds=stats_max_age_seconds,
        )

    async def enqueue(
        self,
        conn: Connection,
        kind: str,
        payload: Mapping[str, Any],
        *,
        request_id: Any = None,
        delay: float = 0.0,
        dedupe_key: str | None = None,
        max_receives: int | None = None,
    ) -> int | None:
        """Insert a job on ``conn`` (inside the caller's transaction; its outbox row comes from
        the connection's ``pao.queue_outbox`` setting); None when deduplicated."""
        return await enqueue_job(
            conn,
            kind,
            payload,
            request_id=request_id,
            delay=delay,
            dedupe_key=dedupe_key,
            max_receives=max_receives or self.max_receives,
        )

    async def claim(
        self,
        worker_id: str,
        kinds: Sequence[str],
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> Job | None:
        """Receive a message and lease its job to ``worker_id``; None when nothing arrived.
        Messages not worth a lease (finished jobs, duplicates, jobs not due) are skipped."""
        lease = seconds(lease_seconds, SQS_MAX_VISIBILITY_SECONDS)
        wanted = frozenset(kinds)
        for _ in range(SQS_BATCH):
            reply = await self._call(
                "receive_message",
                MaxNumberOfMessages=1,
                WaitTimeSeconds=self.wait_seconds,
                VisibilityTimeout=lease,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
            messages = reply.get("Messages") or []
            if not messages:
                return None
            job = await self._lease(messages[0], worker_id, wanted, lease)
            if job is not None:
                return job
        return None

    async def accept(
        self,
        message: Mapping[str, Any],
        worker_id: str,
        kinds: Collection[str],
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> Acceptance:
        """Lease the job of a message received by someone else (e.g. Lambda's SQS event source
        mapping; ``message`` in ReceiveMessage's shape) as ``claim`` does: the job, or None
        with whether the message is settled (deleted: a finished job or a duplicate) or must
        stay (not due yet, held by a live delivery, not a PAO job, a kind not handled here)."""
        lease = seconds(lease_seconds, SQS_MAX_VISIBILITY_SECONDS)
        return await self._accept(message, worker_id, frozenset(kinds), lease)

    async def job_finished(self, job_id: int) -> bool:
        """Whether the job is done or dead (or gone): its message has nothing left to do."""
        row = await self.db.fetch_one(None, QUERIES.sqs_job_status, {"id": job_id})
        return row is None or row["status"] in ("done", "dead")

    async def _lease(
        self, message: Mapping[str, Any], worker_id: str, kinds: Collection[str], lease: int
    ) -> Job | None:
        return (await self._accept(message, worker_id, kinds, lease)).job

    async def _accept(
        self, message: Mapping[str, Any], worker_id: str, kinds: Collection[str], lease: int
    ) -> Acceptance:
        found = job_message(message)
        message_id = str(message.get("MessageId", ""))
        receipt = str(message["ReceiptHandle"])
        if found is None:
            log.warning(
                "message %s on %s is not a PAO job; left for the dead-letter queue",
                message_id,
                self.queue_url,
            )
            return Acceptance(None, settled=False)
        job_id, count = found
        delivery = Delivery(worker_id, message_id, receipt)
        delete = False
        hide_for: int | None = None
        leased: Job | None = None
        async with self.db.transaction(
            actor=ENGINE_ACTOR, source=ENGINE_SOURCE, durable=False
        ) as conn:
            row = await self.db.fetch_one(
                conn,
                QUERIES.sqs_job_for_message,
                {"id": job_id, "tolerance_seconds": DUE_TOLERANCE_SECONDS},
            )
            holder = Delivery.of(row["locked_by"]) if row is not None else None
            if row is None or row["status"] in ("done", "dead"):
                delete = True  # finished (a lost delete, or a duplicate): nothing to do
            elif row["kind"] not in kinds:
                log.warning("job %s: no handler for kind %r in this worker", job_id, row["kind"])
            elif row["status"] == "running" and not row["lease_expired"]:
                # Held by a live delivery: this message duplicates it (a relay resend), or it
                # is that very message, back because SQS's visibility ran out before the
                # database lease (a heartbeat could not reach SQS). The database lease rules:
                # the message goes out of sight until the lease would end, and is not run.
                if holder is None or holder.message_id != message_id:
                    delete = True
                else:
                    hide_for = max(
                        1, seconds(row["lease_left_seconds"], SQS_MAX_VISIBILITY_SECONDS)
                    )
                    log.info(
                        "job %s: its message came back while worker %s holds the job; put back "
                        "for %ss",
                        job_id,
                        holder.worker_id,
                        hide_for,
                    )
            elif row["status"] == "running" and row["receives"] >= row["max_receives"]:
                await dead_letter(conn, job_id, out_of_receives(row, "lease expired"))
                delete = True
            elif row["status"] == "ready" and not row["due"]:
                hide_for = seconds(row["wait_seconds"], SQS_MAX_VISIBILITY_SECONDS)
            else:
                leased = await self._take(conn, row, delivery, count, lease)
        self.database.succeeded()
        if delete:
            await self._forget(self.queue_url, receipt)
        elif hide_for is not None:
            with contextlib.suppress(SqsError):
                await self._call(
                    "change_message_visibility", ReceiptHandle=receipt, VisibilityTimeout=hide_for
                )
        return Acceptance(leased, settled=delete)

    async def _take(
        self,
        conn: Connection,
        row: Mapping[str, Any],
        delivery: Delivery,
        count: int,
        lease: int,
    ) -> Job:
        updated = await self.db.fetch_one(
            conn,
            QUERIES.sqs_claim_job,
            {
                "id": row["id"],
                "receive_count": count,
                "locked_by": delivery.locked_by(),
                "lease_seconds": float(lease),
            },
        )
        assert updated is not None  # the row is locked FOR UPDATE in this transaction
        return Job.from_row(updated)

    async def complete(self, job: Job, conn: Connection | None = None) -> bool:
        """Mark the job done (on ``conn`` to commit with a state change); False if this delivery
        no longer holds it (then, on ``conn``, the job gives up its dedupe key: ``jobs.
        release_dedupe``). Without ``conn`` the message is deleted too once the job is
        finished; with one, the worker's own ``complete`` after the handler deletes it."""
        params = {"id": job.id, "worker_id": job.locked_by, "receives": job.receives}
        row = await self.db.fetch_one(conn, QUERIES.sqs_complete, params)
        completed = bool(row is not None and row["completed"])
        if not completed and conn is not None:
            await release_dedupe(conn, job)
        finished = completed or row is None or row["status"] in (None, "done", "dead")
        if conn is None and finished:
            delivery = Delivery.of(job.locked_by)
            if delivery is not None:
                await self._forget(self.queue_url, delivery.receipt_handle)
        return completed

    def completed_by_step(self, job: Job) -> None:
        """Nothing to skip: the worker's ``complete`` after the handler still deletes the
        message (it reads the row, finds it done and forgets the delivery)."""
        del job

    async def still_held(self, job: Job, conn: Connection | None = None) -> bool:
        """Whether this delivery still holds the job's lease (as PgQueue.still_held)."""
        params = {"id": job.id, "worker_id": job.locked_by, "receives": job.receives}
        row = await self.db.fetch_one(conn, QUERIES.queue_still_held, params)
        return bool(row and row["held"])

    async def retry_later(self, job: Job, delay: float, error: str) -> bool:
        """Give the job back after ``delay`` seconds (row ready again, message hidden that
        long); after its last receive it is dead-lettered and its request failed instead
        (``dead_letters.give_back``, as PgQueue), and its message deleted."""
        delivery = Delivery.of(job.locked_by)
        given = await give_back(self.db, job, delay, error)
        if given is None or delivery is None:
            return given is not None
        if given == "dead":
            await self._forget(self.queue_url, delivery.receipt_handle)
            return True
        try:
            await self._call(
                "change_message_visibility",
                ReceiptHandle=delivery.receipt_handle,
                VisibilityTimeout=seconds(delay, SQS_MAX_VISIBILITY_SECONDS),
            )
        except SqsError as exc:  # the message comes back when its lease runs out
            log.warning("job %s: could not reschedule its message: %s", job.id, exc)
        return True

    async def heartbeat(self, job: Job, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
        """Extend the lease of a job still held by this delivery, in the table and in SQS;
        False when it was lost (the table says so). The table's lease is the lease: when SQS
        cannot be reached (reported to ``reachability``) or refuses the receipt handle (the
        message was received again and put back), the message may show up before the lease
        ends, and a receive then puts it back (``claim``) instead of running it."""
        params = {"id": job.id, "worker_id": job.locked_by, "lease_seconds": lease_seconds}
        extended = await self.db.execute(None, QUERIES.queue_heartbeat, params)
        self.database.succeeded()
        if extended == 0:
            return False
        delivery = Delivery.of(job.locked_by)
        if delivery is None:
            return False
        try:
            await self._call(
                "change_message_visibility",
                ReceiptHandle=delivery.receipt_handle,
                VisibilityTimeout=seconds(lease_seconds, SQS_MAX_VISIBILITY_SECONDS),
            )
        except SqsError as exc:
            log.debug("job %s: its message's visibility stays as it is: %s", job.id, exc)
        return True

    async def depth(self) -> SqsQueueDepth:
        """The table's counts and SQS's (cached, see ``SqsQueueStats``): SQS being unreachable
        never fails this."""
        row = await self.db.fetch_one(None, QUERIES.queue_depth)
        outbox = await self.db.fetch_one(None, QUERIES.sqs_outbox_pending)
        assert row is not None
        assert outbox is not None
        age = row["oldest_ready_age_seconds"]
        return SqsQueueDepth(
            ready=int(row["ready"]),
            running=int(row["running"]),
            dead=int(row["dead"]),
            oldest_ready_age_seconds=float(age) if age is not None else None,
            unsent=int(outbox["pending"]),
            messages=await self.stats.read(),
        )

    async def _forget(self, queue_url: str, receipt: str) -> None:
        try:
            await call(
                self.client, "delete_message", queue_url, self.reachability, ReceiptHandle=receipt
            )
        except SqsError as exc:  # it comes back, finds its job finished, and is deleted then
            log.warning("a finished job's message stays on %s: %s", queue_url, exc)

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        return await call(self.client, operation, self.queue_url, self.reachability, **params)
