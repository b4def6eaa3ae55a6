"""The SQS queue backend: PostgreSQL keeps every job, SQS decides who receives which job when.

Settings (``orchestrator.settings.EngineSettings``, read from the environment at start-up):
``PAO_QUEUE_BACKEND=sqs``, ``SQS_QUEUE_URL``, ``SQS_DEAD_LETTER_QUEUE_URL`` (drained when set),
``AWS_REGION`` (or ``AWS_DEFAULT_REGION``), ``AWS_ENDPOINT_URL_SQS`` (an SQS-compatible server
or VPC endpoint), ``PAO_JOB_LEASE_SECONDS`` (the visibility timeout of a receive). Credentials
come from boto3's default chain (instance role, profile) unless given to ``sqs_client``.

How a job travels:

* ``enqueue`` writes the ``jobs`` row on the caller's connection, exactly as PgQueue does. The
  connections of an SQS deployment carry ``pao.queue_outbox=on`` (``Database.open(...,
  queue_outbox=True)``), so a trigger adds an ``outbox`` row in the same transaction.
* ``OutboxRelay`` sends unsent outbox rows (batches of 10) and marks them sent. A crash between
  commit and send loses nothing (the row stays unsent); a crash between send and mark sends
  twice, and the second message finds its job held or finished and is dropped. A job due more
  than 15 minutes ahead (SQS's longest delay) waits in the outbox rather than being received and
  put back, which would count receives towards the dead-letter queue.
* ``SqsQueue.claim`` receives a message ``{"job_id", "kind"}`` and leases the job row (its
  ``locked_by`` names the worker, the message and its receipt handle), so ``still_held`` and
  ``complete`` inside the runner's transactions work exactly as with PgQueue. A message whose
  job is finished, or that duplicates the delivery holding the job, is deleted and skipped.
* ``complete`` without a connection also deletes the message once the row is finished; a lost
  delete only redelivers a finished job, which is then dropped.
* ``retry_later`` puts the row back and the message out of sight for the delay; after the last
  receive it dead-letters the job, as PgQueue does. A worker that dies holding a job lets its
  message come back; after ``maxReceiveCount`` (3) receives SQS moves it to the dead-letter
  queue, where ``DeadLetterDrain`` dead-letters the row and fails its request.

boto3 is synchronous: every call runs in a thread; timeouts and retries live in ``SqsPolicy``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from orchestrator.engine.jobs import DEFAULT_MAX_RECEIVES, enqueue_job
from orchestrator.engine.pg_queue import DEFAULT_LEASE_SECONDS, Job, QueueDepth
from orchestrator.engine.records import ENGINE_ACTOR, ENGINE_SOURCE, fail_request
from orchestrator.settings import EngineSettings
from orchestrator.store.database import Connection, Database
from orchestrator.store.queries import QUERIES

__all__ = [
    "DeadLetterDrain",
    "OutboxRelay",
    "SqsError",
    "SqsPolicy",
    "SqsQueue",
    "SqsQueueDepth",
    "ensure_queues",
    "sqs_client",
]

log = logging.getLogger(__name__)

SQS_MAX_DELAY_SECONDS: Final = 900
SQS_MAX_VISIBILITY_SECONDS: Final = 43_200
SQS_BATCH: Final = 10
RETENTION_SECONDS: Final = 1_209_600  # 14 days, the spec's retention
QUEUE_VISIBILITY_SECONDS: Final = 300
MAX_RECEIVE_COUNT: Final = DEFAULT_MAX_RECEIVES
# SQS counts visibility in whole seconds: a job due within this much is due.
DUE_TOLERANCE_SECONDS: Final = 1.0
_SEPARATOR: Final = "|"


class SqsError(RuntimeError):
    """An SQS call failed; the message names the operation, the queue and SQS's error code."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class SqsPolicy:
    """Timeouts and retries of every SQS call, in one place."""

    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0  # above the longest receive wait (20 s)
    max_attempts: int = 3  # botocore's "standard" mode: throttling and 5xx, with backoff

    def config(self) -> Any:
        from botocore.config import Config  # type: ignore[import-untyped]

        return Config(
            connect_timeout=self.connect_timeout_seconds,
            read_timeout=self.read_timeout_seconds,
            retries={"mode": "standard", "max_attempts": self.max_attempts},
        )


def sqs_client(
    settings: EngineSettings,
    *,
    policy: SqsPolicy | None = None,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    aws_session_token: str | None = None,
) -> Any:
    """A boto3 SQS client for ``settings`` (region, endpoint) with the one retry policy."""
    import boto3  # type: ignore[import-untyped]

    session = boto3.session.Session(
        aws_access_key_id=aws_access_key_id,
        aws_secret_access_key=aws_secret_access_key,
        aws_session_token=aws_session_token,
        region_name=settings.aws_region,
    )
    return session.client(
        "sqs", endpoint_url=settings.sqs_endpoint_url, config=(policy or SqsPolicy()).config()
    )


async def _call(client: Any, operation: str, queue_url: str, **params: Any) -> dict[str, Any]:
    """Run one SQS call in a thread; failures become ``SqsError`` naming the call and queue."""
    method = getattr(client, operation)
    try:
        reply: dict[str, Any] = await asyncio.to_thread(method, QueueUrl=queue_url, **params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code")
        raise SqsError(
            f"SQS {operation} on {queue_url} failed: {code}: {error.get('Message', '')}", code
        ) from exc
    except BotoCoreError as exc:
        raise SqsError(f"SQS {operation} on {queue_url} failed: {exc}") from exc
    return reply


def ensure_queues(
    client: Any,
    name: str,
    *,
    visibility_timeout: int = QUEUE_VISIBILITY_SECONDS,
    retention_seconds: int = RETENTION_SECONDS,
    max_receive_count: int = MAX_RECEIVE_COUNT,
) -> tuple[str, str]:
    """Create (or find) queue ``name`` and its dead-letter queue ``name-dlq`` with the spec's
    attributes; their URLs (queue, dead-letter queue). Synchronous, like boto3."""
    dlq_url = str(
        client.create_queue(
            QueueName=f"{name}-dlq",
            Attributes={"MessageRetentionPeriod": str(retention_seconds)},
        )["QueueUrl"]
    )
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
    queue_url = str(
        client.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(visibility_timeout),
                "MessageRetentionPeriod": str(retention_seconds),
                "RedrivePolicy": json.dumps(redrive),
            },
        )["QueueUrl"]
    )
    return queue_url, dlq_url


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
class SqsQueueDepth(QueueDepth):
    """The table's counts plus what SQS and the outbox hold."""

    visible: int
    in_flight: int
    delayed: int
    dead_letter_messages: int
    unsent: int


def _job_message(message: Mapping[str, Any]) -> tuple[int, int] | None:
    """(job id, receive count) of a PAO message, or None for anything else."""
    try:
        body = json.loads(message["Body"])
        job_id = int(body["job_id"])
    except (KeyError, TypeError, ValueError):
        return None
    attributes = message.get("Attributes") or {}
    return job_id, int(attributes.get("ApproximateReceiveCount", "1"))


def _seconds(value: float, limit: int) -> int:
    """Whole seconds for SQS (rounded up: never earlier than asked), within ``[0, limit]``."""
    return max(0, min(limit, math.ceil(max(0.0, value))))


async def fail_for_dead_letter(
    conn: Connection, job: Mapping[str, Any], reason: str | None
) -> None:
    """Fail the dead job's request with the reason (as PgQueue does for its dead letters)."""
    if job["request_id"] is None:
        return
    payload = dict(job["payload"] or {})
    reason = reason or "job dead-lettered"
    await fail_request(
        conn,
        job["request_id"],
        {
            "reason": "dead-lettered",
            "error": reason,
            "job": {"id": int(job["id"]), "kind": job["kind"], "receives": job["receives"]},
            "failed_action": payload.get("action_id"),
        },
        f"job {job['id']} ({job['kind']}) dead-lettered: {reason}",
        action_id=payload.get("action_id"),
    )


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
    ) -> None:
        self.db = db
        self.client = client
        self.queue_url = queue_url
        self.dead_letter_queue_url = dead_letter_queue_url
        self.max_receives = max_receives
        self.wait_seconds = max(0, min(20, wait_seconds))  # a receive's long poll

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
        lease = _seconds(lease_seconds, SQS_MAX_VISIBILITY_SECONDS)
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

    async def _lease(
        self, message: Mapping[str, Any], worker_id: str, kinds: Collection[str], lease: int
    ) -> Job | None:
        found = _job_message(message)
        message_id = str(message.get("MessageId", ""))
        receipt = str(message["ReceiptHandle"])
        if found is None:
            log.warning(
                "message %s on %s is not a PAO job; left for the dead-letter queue",
                message_id,
                self.queue_url,
            )
            return None
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
                # Held by a live delivery: this message duplicates it (a relay resend), unless
                # it is that very message, back after SQS's visibility ran out first.
                if holder is None or holder.message_id != message_id:
                    delete = True
                else:
                    leased = await self._take(conn, row, delivery, count, lease)
            elif row["status"] == "running" and row["receives"] >= row["max_receives"]:
                error = f"lease expired after {row['receives']} receives without completion"
                if row["last_error"]:
                    error += f" (last error: {row['last_error']})"
                dead = await self.db.fetch_one(
                    conn, QUERIES.queue_dead_letter, {"id": job_id, "error": error}
                )
                if dead is not None:
                    await fail_for_dead_letter(conn, dead, dead["last_error"])
                delete = True
            elif row["status"] == "ready" and not row["due"]:
                hide_for = _seconds(row["wait_seconds"], SQS_MAX_VISIBILITY_SECONDS)
            else:
                leased = await self._take(conn, row, delivery, count, lease)
        if delete:
            await self._forget(self.queue_url, receipt)
        elif hide_for is not None:
            with contextlib.suppress(SqsError):
                await self._call(
                    "change_message_visibility", ReceiptHandle=receipt, VisibilityTimeout=hide_for
                )
        return leased

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
        no longer holds it. Without ``conn`` the message is deleted too once the job is
        finished; with one, the worker's own ``complete`` after the handler deletes it."""
        params = {"id": job.id, "worker_id": job.locked_by, "receives": job.receives}
        row = await self.db.fetch_one(conn, QUERIES.sqs_complete, params)
        completed = bool(row is not None and row["completed"])
        finished = completed or row is None or row["status"] in (None, "done", "dead")
        if conn is None and finished:
            delivery = Delivery.of(job.locked_by)
            if delivery is not None:
                await self._forget(self.queue_url, delivery.receipt_handle)
        return completed

    async def still_held(self, job: Job, conn: Connection | None = None) -> bool:
        """Whether this delivery still holds the job's lease (as PgQueue.still_held)."""
        params = {"id": job.id, "worker_id": job.locked_by, "receives": job.receives}
        row = await self.db.fetch_one(conn, QUERIES.queue_still_held, params)
        return bool(row and row["held"])

    async def retry_later(self, job: Job, delay: float, error: str) -> bool:
        """Give the job back after ``delay`` seconds (row ready again, message hidden that
        long); after its last receive it is dead-lettered and its request failed instead."""
        delivery = Delivery.of(job.locked_by)
        if job.receives >= job.max_receives:
            async with self.db.transaction(actor=ENGINE_ACTOR, source=ENGINE_SOURCE) as conn:
                dead = await self.db.fetch_one(
                    conn,
                    QUERIES.queue_dead_letter,
                    {
                        "id": job.id,
                        "error": f"failed on all {job.receives} receives; last error: {error}",
                    },
                )
                if dead is None:
                    return False
                await fail_for_dead_letter(conn, dead, dead["last_error"])
            if delivery is not None:
                await self._forget(self.queue_url, delivery.receipt_handle)
            return True
        async with self.db.transaction(actor=ENGINE_ACTOR, source=ENGINE_SOURCE) as conn:
            row = await self.db.fetch_one(
                conn,
                QUERIES.queue_retry_later,
                {
                    "id": job.id,
                    "worker_id": job.locked_by,
                    "delay_seconds": max(0.0, float(delay)),
                    "error": error[:2000],
                },
            )
        if row is None:
            return False
        if delivery is not None:
            try:
                await self._call(
                    "change_message_visibility",
                    ReceiptHandle=delivery.receipt_handle,
                    VisibilityTimeout=_seconds(delay, SQS_MAX_VISIBILITY_SECONDS),
                )
            except SqsError as exc:  # the message comes back when its lease runs out
                log.warning("job %s: could not reschedule its message: %s", job.id, exc)
        return True

    async def heartbeat(self, job: Job, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
        """Extend the lease of a job still held by this delivery, in the table and in SQS;
        False when it was lost."""
        params = {"id": job.id, "worker_id": job.locked_by, "lease_seconds": lease_seconds}
        if await self.db.execute(None, QUERIES.queue_heartbeat, params) == 0:
            return False
        delivery = Delivery.of(job.locked_by)
        if delivery is None:
            return False
        try:
            await self._call(
                "change_message_visibility",
                ReceiptHandle=delivery.receipt_handle,
                VisibilityTimeout=_seconds(lease_seconds, SQS_MAX_VISIBILITY_SECONDS),
            )
        except SqsError as exc:
            log.warning("job %s: its message's lease could not be extended: %s", job.id, exc)
            return False
        return True

    async def depth(self) -> SqsQueueDepth:
        row = await self.db.fetch_one(None, QUERIES.queue_depth)
        outbox = await self.db.fetch_one(None, QUERIES.sqs_outbox_pending)
        assert row is not None
        assert outbox is not None
        main = await self._attributes(self.queue_url)
        dlq = (
            await self._attributes(self.dead_letter_queue_url) if self.dead_letter_queue_url else {}
        )
        age = row["oldest_ready_age_seconds"]
        return SqsQueueDepth(
            ready=int(row["ready"]),
            running=int(row["running"]),
            dead=int(row["dead"]),
            oldest_ready_age_seconds=float(age) if age is not None else None,
            visible=int(main.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(main.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(main.get("ApproximateNumberOfMessagesDelayed", 0)),
            dead_letter_messages=int(dlq.get("ApproximateNumberOfMessages", 0)),
            unsent=int(outbox["pending"]),
        )

    async def _attributes(self, queue_url: str) -> dict[str, str]:
        reply = await _call(
            self.client,
            "get_queue_attributes",
            queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )
        return dict(reply.get("Attributes") or {})

    async def _forget(self, queue_url: str, receipt: str) -> None:
        try:
            await _call(self.client, "delete_message", queue_url, ReceiptHandle=receipt)
        except SqsError as exc:  # it comes back, finds its job finished, and is deleted then
            log.warning("a finished job's message stays on %s: %s", queue_url, exc)

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        return await _call(self.client, operation, self.queue_url, **params)


class OutboxRelay:
    """Sends the outbox's unsent rows to SQS (see the module docstring); the worker pool runs
    ``run`` every ``interval_seconds``."""

    def __init__(
        self,
        db: Database,
        client: Any,
        queue_url: str,
        *,
        send_ahead_seconds: float = SQS_MAX_DELAY_SECONDS,
        interval_seconds: float = 0.2,
    ) -> None:
        self.db = db
        self.client = client
        self.queue_url = queue_url
        self.send_ahead_seconds = max(0.0, min(float(SQS_MAX_DELAY_SECONDS), send_ahead_seconds))
        self.interval_seconds = interval_seconds

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
                reply = await _call(
                    self.client,
                    "send_message_batch",
                    self.queue_url,
                    Entries=[
                        {
                            "Id": str(r["id"]),
                            "MessageBody": json.dumps({"job_id": r["job_id"], "kind": r["kind"]}),
                            "DelaySeconds": _seconds(r["delay_seconds"], SQS_MAX_DELAY_SECONDS),
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

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set; a failed round is logged and tried again."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.warning("outbox relay to %s failed; retrying", self.queue_url, exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_seconds)


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
    ) -> None:
        self.db = db
        self.client = client
        self.queue_url = dead_letter_queue_url
        self.interval_seconds = interval_seconds
        self.visibility_seconds = visibility_seconds

    async def run_once(self) -> int:
        """Handle every message now in the dead-letter queue; the number of jobs dead-lettered."""
        dead = 0
        while True:
            reply = await _call(
                self.client,
                "receive_message",
                self.queue_url,
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
        found = _job_message(message)
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
            if row is not None and unfinished:
                error = (
                    f"moved to the dead-letter queue after {row['receives']} receives "
                    "without completion"
                )
                if row["last_error"]:
                    error += f" (last error: {row['last_error']})"
                gone = await self.db.fetch_one(
                    conn, QUERIES.queue_dead_letter, {"id": job_id, "error": error}
                )
                if gone is not None:
                    await fail_for_dead_letter(conn, gone, gone["last_error"])
                    dead = 1
        try:
            await _call(
                self.client,
                "delete_message",
                self.queue_url,
                ReceiptHandle=message["ReceiptHandle"],
            )
        except SqsError as exc:  # received again later: the job is dead by then, nothing to do
            log.warning("dead-letter message of job %s stays: %s", job_id, exc)
        return dead

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until ``stop`` is set; a failed round is logged and tried again."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.warning("draining %s failed; retrying", self.queue_url, exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_seconds)
