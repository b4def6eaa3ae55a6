"""SQS's approximate message counts for the metrics: cached, read at most every
``STATS_MAX_AGE_SECONDS``, and never raising (an unreachable SQS leaves the last counts)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import BotoCoreError  # type: ignore[import-untyped]

from orchestrator.engine.pg_queue import QueueDepth
from orchestrator.engine.sqs.client import SqsError, call_sync, queue_name, sqs_client
from orchestrator.settings import EngineSettings

log = logging.getLogger(__name__)

STATS_MAX_AGE_SECONDS: Final = 15.0  # SQS's message counts are re-read at most this often
STATS_WAIT_SECONDS: Final = 2.0  # a scrape waits this long for a fresh read, then uses the last


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
        reply = call_sync(
            self._client,
            "get_queue_attributes",
            queue_url,
            QueueUrl=queue_url,
            AttributeNames=list(_COUNT_ATTRIBUTES),
        )
        return dict(reply.get("Attributes") or {})
