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
  job is finished, or that duplicates the delivery holding the job, is deleted and skipped; the
  very message of a job whose table lease is live (its visibility ran out first: a heartbeat
  could not reach SQS) is put back out of sight until the lease would end, never run twice.
* ``heartbeat`` extends the table's lease, which is the lease, and the message's visibility;
  SQS failing there only leaves the visibility as it was.
* ``OutboxReconciler`` (``orchestrator.engine.reconciler``) writes a new outbox row for a job
  due too long with no message on its way (a purged or recreated queue), with bounded delay.
* While SQS does not answer, every caller backs off and the outage is one log line when it
  starts and one when it ends (``orchestrator.engine.reachability``).
* ``complete`` without a connection also deletes the message once the row is finished; a lost
  delete only redelivers a finished job, which is then dropped.
* ``retry_later`` puts the row back and the message out of sight for the delay; after the last
  receive it dead-letters the job, as PgQueue does. A worker that dies holding a job lets its
  message come back; after ``maxReceiveCount`` (3) receives SQS moves it to the dead-letter
  queue, where ``DeadLetterDrain`` dead-letters the row and fails its request, unless the row
  still has receives left: a ``run-action`` job's budget counts per action (``jobs.max_receives``
  grows when it goes on with the next action), while SQS counts receives per message, so a job
  that moved on is sent again as a new message instead (``orchestrator.engine.dead_letters``).

Operations: ``provision_queues`` creates (or finds) the queue and its dead-letter queue with the
spec's attributes (``pao worker --create-queues``, ``pao queues create``); the relay also prunes
sent outbox rows past ``PAO_RETENTION_OUTBOX_HOURS``; ``SqsQueueStats`` reads SQS's approximate
message counts for the metrics, cached, and never raises (an unreachable SQS leaves the last
counts, which then age, and counts an error).

boto3 is synchronous: every call runs in a thread; timeouts and retries live in ``SqsPolicy``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from orchestrator.engine.dead_letters import fail_for_dead_letter
from orchestrator.engine.jobs import DEFAULT_MAX_RECEIVES, enqueue_job, release_dedupe
from orchestrator.engine.outbox import DEFAULT_OUTBOX_RETENTION_SECONDS, prune_outbox
from orchestrator.engine.pg_queue import DEFAULT_LEASE_SECONDS, Job, QueueDepth
from orchestrator.engine.reachability import Outages, Reachability, run_periodically
from orchestrator.engine.reconciler import OutboxReconciler
from orchestrator.engine.records import ENGINE_ACTOR, ENGINE_SOURCE
from orchestrator.settings import EngineSettings
from orchestrator.store.database import Connection, Database
from orchestrator.store.errors import StoreUnavailable
from orchestrator.store.queries import QUERIES

__all__ = [
    "Acceptance",
    "DeadLetterDrain",
    "OutboxRelay",
    "QueueReport",
    "SqsError",
    "SqsMessageCounts",
    "SqsPolicy",
    "SqsQueue",
    "SqsQueueDepth",
    "SqsQueueStats",
    "delivery_tasks",
    "ensure_queues",
    "provision_queues",
    "queue_name",
    "run_delivery",
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
STATS_MAX_AGE_SECONDS: Final = 15.0  # SQS's message counts are re-read at most this often
STATS_WAIT_SECONDS: Final = 2.0  # a scrape waits this long for a fresh read, then uses the last
OUTBOX_PRUNE_INTERVAL_SECONDS: Final = 300.0
_NO_SUCH_QUEUE: Final = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
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


def _call_sync(client: Any, operation: str, target: str, **params: Any) -> dict[str, Any]:
    """One SQS call; failures become ``SqsError`` naming the call and ``target`` (a queue)."""
    method = getattr(client, operation)
    try:
        reply: dict[str, Any] = method(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code")
        raise SqsError(
            f"SQS {operation} on {target} failed: {code}: {error.get('Message', '')}", code
        ) from exc
    except BotoCoreError as exc:
        raise SqsError(f"SQS {operation} on {target} failed: {exc}") from exc
    return reply


# SQS answered, but the queue cannot be used now (gone, overloaded, failing): an outage too.
_UNAVAILABLE: Final = _NO_SUCH_QUEUE | frozenset(
    {
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestThrottled",
        "ThrottlingException",
        "KMS.ThrottlingException",
    }
)


def unavailable(exc: SqsError) -> bool:
    """Whether ``exc`` means SQS could not be used (no answer, or an outage answer) rather
    than SQS refusing this one call (e.g. a receipt handle no longer valid)."""
    return exc.code is None or exc.code in _UNAVAILABLE


async def _call(
    client: Any,
    operation: str,
    queue_url: str,
    reachability: Reachability | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Run one SQS call in a thread; failures become ``SqsError`` naming the call and queue.
    Each outcome is reported to ``reachability`` (one log line per change, not per call)."""
    try:
        reply = await asyncio.to_thread(
            _call_sync, client, operation, queue_url, QueueUrl=queue_url, **params
        )
    except SqsError as exc:
        if reachability is not None:
            if unavailable(exc):
                reachability.failed(exc, during=operation)
            else:
                reachability.succeeded()
        raise
    if reachability is not None:
        reachability.succeeded()
    return reply


def queue_name(queue_url: str) -> str:
    """The queue's name: the last path segment of its URL."""
    return queue_url.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class QueueReport:
    """What ``provision_queues`` did with one queue: created it, or found it (and how its
    attributes differ from the spec's, which it leaves alone)."""

    name: str
    url: str
    created: bool
    drift: tuple[str, ...] = ()

    def describe(self) -> str:
        line = f"queue {self.name}: {'created' if self.created else 'found'} ({self.url})"
        if self.drift:
            line += "; differs from the spec: " + "; ".join(self.drift)
        return line


def _find_queue(client: Any, name: str) -> str | None:
    try:
        reply = _call_sync(client, "get_queue_url", name, QueueName=name)
    except SqsError as exc:
        if exc.code in _NO_SUCH_QUEUE:
            return None
        raise
    return str(reply["QueueUrl"])


def _same_redrive(have: str | None, want: str) -> bool:
    try:
        policy, expected = json.loads(have or "{}"), json.loads(want)
        return bool(
            policy.get("deadLetterTargetArn") == expected["deadLetterTargetArn"]
            and int(policy.get("maxReceiveCount", -1)) == int(expected["maxReceiveCount"])
        )
    except (AttributeError, TypeError, ValueError):
        return False


def _drift(actual: Mapping[str, str], expected: Mapping[str, str]) -> tuple[str, ...]:
    """``Name is X, expected Y`` for each spec attribute the queue has otherwise."""
    found: list[str] = []
    for key, want in expected.items():
        have = actual.get(key)
        same = _same_redrive(have, want) if key == "RedrivePolicy" else have == want
        if not same:
            found.append(f"{key} is {have or 'unset'}, expected {want}")
    return tuple(found)


def _ensure_queue(client: Any, name: str, attributes: Mapping[str, str]) -> QueueReport:
    url = _find_queue(client, name)
    if url is None:
        # Two processes creating at once both succeed: CreateQueue with the same attributes
        # is idempotent.
        reply = _call_sync(client, "create_queue", name, QueueName=name, Attributes=attributes)
        return QueueReport(name, str(reply["QueueUrl"]), created=True)
    reply = _call_sync(
        client, "get_queue_attributes", url, QueueUrl=url, AttributeNames=list(attributes)
    )
    return QueueReport(
        name, url, created=False, drift=_drift(reply.get("Attributes") or {}, attributes)
    )


def provision_queues(
    client: Any,
    name: str,
    *,
    dead_letter_name: str | None = None,
    visibility_timeout: int = QUEUE_VISIBILITY_SECONDS,
    retention_seconds: int = RETENTION_SECONDS,
    max_receive_count: int = MAX_RECEIVE_COUNT,
) -> tuple[QueueReport, QueueReport]:
    """Create queue ``name`` and its dead-letter queue (``name-dlq`` unless named) with the
    spec's attributes, or find them; (queue, dead-letter queue). A queue found with other
    attributes is reported, not changed: its owner may have had a reason. Synchronous."""
    dlq = _ensure_queue(
        client,
        dead_letter_name or f"{name}-dlq",
        {"MessageRetentionPeriod": str(retention_seconds)},
    )
    dlq_arn = _call_sync(
        client, "get_queue_attributes", dlq.url, QueueUrl=dlq.url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
    queue = _ensure_queue(
        client,
        name,
        {
            "VisibilityTimeout": str(visibility_timeout),
            "MessageRetentionPeriod": str(retention_seconds),
            "RedrivePolicy": json.dumps(redrive),
        },
    )
    return queue, dlq


def ensure_queues(
    client: Any,
    name: str,
    *,
    visibility_timeout: int = QUEUE_VISIBILITY_SECONDS,
    retention_seconds: int = RETENTION_SECONDS,
    max_receive_count: int = MAX_RECEIVE_COUNT,
) -> tuple[str, str]:
    """``provision_queues``' URLs (queue, dead-letter queue)."""
    queue, dlq = provision_queues(
        client,
        name,
        visibility_timeout=visibility_timeout,
        retention_seconds=retention_seconds,
        max_receive_count=max_receive_count,
    )
    return queue.url, dlq.url


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
class SqsMessageCounts:
    """SQS's approximate message counts of the queue (and its dead-letter queue)."""

    visible: int
    in_flight: int
    delayed: int
    dead_letter: int | None  # None: no dead-letter queue configured
    fetched_at: float  # the stats clock's time of the read


@dataclass(frozen=True, slots=True)
class SqsQueueDepth(QueueDepth):
    """The table's counts plus what the outbox holds and SQS's last known message counts
    (None while SQS has not answered yet)."""

    unsent: int
    messages: SqsMessageCounts | None


_COUNT_ATTRIBUTES: Final = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


class SqsQueueStats:
    """SQS's message counts for the metrics: read at most every ``max_age_seconds``; a reader
    waits at most ``wait_seconds`` for a read in progress (it goes on in the background) and
    otherwise gets the last counts. Failures never raise: they count in ``errors`` and leave
    the last counts, whose ``age`` then grows. The client is built on first use, so a process
    without AWS credentials starts, and reports the failure."""

    def __init__(
        self,
        client: Callable[[], Any],
        queue_url: str,
        dead_letter_queue_url: str | None = None,
        *,
        max_age_seconds: float = STATS_MAX_AGE_SECONDS,
        wait_seconds: float = STATS_WAIT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make_client = client
        self._client: Any = None
        self.queue_url = queue_url
        self.dead_letter_queue_url = dead_letter_queue_url
        self.queue_name = queue_name(queue_url)
        self.max_age_seconds = max(0.0, max_age_seconds)
        self.wait_seconds = max(0.0, wait_seconds)
        self._clock = clock
        self.counts: SqsMessageCounts | None = None
        self.errors = 0
        self.last_error: str | None = None
        self._attempted_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: EngineSettings) -> SqsQueueStats:
        """Stats of the configured queues, with a client from boto3's default credentials."""
        if settings.sqs_queue_url is None:
            raise ValueError("the SQS queue backend needs SQS_QUEUE_URL")
        return cls(
            lambda: sqs_client(settings),
            settings.sqs_queue_url,
            settings.sqs_dead_letter_queue_url,
            max_age_seconds=settings.sqs_metrics_seconds,
        )

    def age(self) -> float | None:
        """Seconds since the last successful read (None: never read)."""
        if self.counts is None:
            return None
        return max(0.0, self._clock() - self.counts.fetched_at)

    async def read(self, *, wait: bool = True) -> SqsMessageCounts | None:
        """The latest counts, re-read from SQS when older than ``max_age_seconds`` (waiting
        up to ``wait_seconds`` for that read unless ``wait`` is False, as readiness does)."""
        if self._task is not None and self._task.done():
            self._task = None
        now = self._clock()
        if self._task is None and (
            self._attempted_at is None or now - self._attempted_at >= self.max_age_seconds
        ):
            self._attempted_at = now
            self._task = asyncio.create_task(self._fetch())
        if self._task is not None and wait:
            await asyncio.wait({self._task}, timeout=self.wait_seconds)
        return self.counts

    @property
    def reachable(self) -> bool:
        """Whether SQS answered the last read (True before the first read ends)."""
        return self.last_error is None

    async def settle(self) -> None:
        """Wait for a read in progress (at shutdown, and in tests)."""
        if self._task is not None:
            await asyncio.wait({self._task})

    async def _fetch(self) -> None:
        try:
            counts = await asyncio.to_thread(self._fetch_sync)
        except Exception as exc:  # never fail a scrape: count it, keep the last counts
            self.errors += 1
            level = logging.WARNING if self.last_error is None else logging.DEBUG
            self.last_error = str(exc)
            log.log(level, "reading SQS message counts of %s failed: %s", self.queue_name, exc)
            return
        if self.last_error is not None:
            log.info("reading SQS message counts of %s works again", self.queue_name)
        self.last_error = None
        self.counts = counts

    def _fetch_sync(self) -> SqsMessageCounts:
        if self._client is None:
            try:
                self._client = self._make_client()
            except BotoCoreError as exc:  # e.g. no region configured
                raise SqsError(f"SQS client for {self.queue_url}: {exc}") from exc
        main = self._attributes(self.queue_url)
        dead = None
        if self.dead_letter_queue_url is not None:
            dead = int(self._attributes(self.dead_letter_queue_url)[_COUNT_ATTRIBUTES[0]])
        return SqsMessageCounts(
            visible=int(main.get(_COUNT_ATTRIBUTES[0], 0)),
            in_flight=int(main.get(_COUNT_ATTRIBUTES[1], 0)),
            delayed=int(main.get(_COUNT_ATTRIBUTES[2], 0)),
            dead_letter=dead,
            fetched_at=self._clock(),
        )

    def _attributes(self, queue_url: str) -> dict[str, str]:
        reply = _call_sync(
            self._client,
            "get_queue_attributes",
            queue_url,
            QueueUrl=queue_url,
            AttributeNames=list(_COUNT_ATTRIBUTES),
        )
        return dict(reply.get("Attributes") or {})


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
        lease = _seconds(lease_seconds, SQS_MAX_VISIBILITY_SECONDS)
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
        found = _job_message(message)
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
                        1, _seconds(row["lease_left_seconds"], SQS_MAX_VISIBILITY_SECONDS)
                    )
                    log.info(
                        "job %s: its message came back while worker %s holds the job; put back "
                        "for %ss",
                        job_id,
                        holder.worker_id,
                        hide_for,
                    )
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
                await fail_for_dead_letter(conn, dead, dead["last_error"], crashed=False)
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
                VisibilityTimeout=_seconds(lease_seconds, SQS_MAX_VISIBILITY_SECONDS),
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
            await _call(
                self.client, "delete_message", queue_url, self.reachability, ReceiptHandle=receipt
            )
        except SqsError as exc:  # it comes back, finds its job finished, and is deleted then
            log.warning("a finished job's message stays on %s: %s", queue_url, exc)

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        return await _call(self.client, operation, self.queue_url, self.reachability, **params)


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
                reply = await _call(
                    self.client,
                    "send_message_batch",
                    self.queue_url,
                    self.reachability,
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
            reply = await _call(
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
            if row is not None and unfinished and row["receives"] < row["max_receives"]:
                # Receives left for the job's current action: SQS counted the earlier actions'
                # receives of this message too. A new message, with a fresh count.
                await conn.execute(QUERIES.sqs_requeue_job, {"id": job_id})
                log.info("job %s: back from the dead-letter queue as a new message", job_id)
            elif row is not None and unfinished:
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
