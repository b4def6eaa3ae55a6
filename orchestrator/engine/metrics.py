"""The engine's Prometheus metrics (the spec's names), in a registry the process owns.

``pao serve`` and ``pao api`` put them in the API's registry (served at /metrics);
``pao worker`` serves its own registry on ``PAO_WORKER_METRICS_PORT``. Queue depth and the age
of the oldest due job are read from the queue when scraped, so any process reports the
whole queue, not only its own work.

With the SQS backend, ``watch_sqs`` adds SQS's own counts (``pao_queue_messages`` by queue and
state: visible, in_flight, delayed, dead_letter), read at most every PAO_SQS_METRICS_SECONDS.
An unreachable SQS never fails a scrape: the gauges keep their last values,
``pao_queue_messages_age_seconds`` grows and ``pao_queue_messages_errors_total`` counts.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from orchestrator.engine.queue import Queue

if TYPE_CHECKING:  # boto3 is imported only where the SQS backend is used
    from orchestrator.engine.sqs_queue import SqsQueueStats

REQUEST_DURATION_BUCKETS = (1, 5, 30, 60, 300, 900, 3600, 14400, 86400, 259200)


class EngineMetrics:
    """Implements ``EngineObserver``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.request_duration = Histogram(
            "pao_request_duration_seconds",
            "Time from submission to a final state, by catalog item and action type",
            ["catalog_item", "action_type"],
            registry=registry,
            buckets=REQUEST_DURATION_BUCKETS,
        )
        self.requests_finished = Counter(
            "pao_requests_finished_total",
            "Requests that reached completed or failed, by catalog item and status",
            ["catalog_item", "status"],
            registry=registry,
        )
        self.action_attempts = Counter(
            "pao_action_attempts_total",
            "Executor calls, by action type and outcome (completed, pending, failed)",
            ["action_type", "outcome"],
            registry=registry,
        )
        self.action_duration = Histogram(
            "pao_action_call_duration_seconds",
            "Duration of one executor call, by action type",
            ["action_type"],
            registry=registry,
        )
        self.action_failure_rate = Gauge(
            "pao_action_failure_rate",
            "Share of action attempts that failed since start, by action type",
            ["action_type"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "pao_queue_depth",
            "Jobs in the queue, by state (ready, running, dead)",
            ["state"],
            registry=registry,
        )
        self.queue_oldest_age = Gauge(
            "pao_queue_oldest_job_age_seconds",
            "How long the oldest due job has waited to be claimed (0 when none is due)",
            registry=registry,
        )
        self.queue_messages = Gauge(
            "pao_queue_messages",
            "SQS backend: SQS's approximate messages, by queue and state "
            "(visible, in_flight, delayed, dead_letter)",
            ["queue", "state"],
            registry=registry,
        )
        self.queue_messages_age = Gauge(
            "pao_queue_messages_age_seconds",
            "SQS backend: age of the pao_queue_messages values (grows while SQS cannot be read)",
            ["queue"],
            registry=registry,
        )
        self.queue_messages_errors = Counter(
            "pao_queue_messages_errors_total",
            "SQS backend: failed reads of SQS's message counts",
            ["queue"],
            registry=registry,
        )
        self._attempts: Tally[str] = Tally()
        self._failures: Tally[str] = Tally()
        self._sqs: SqsQueueStats | None = None
        self._sqs_errors_seen = 0

    def watch_sqs(self, stats: SqsQueueStats) -> None:
        """Report ``stats``' queue in ``pao_queue_messages`` from now on (SQS backend)."""
        self._sqs = stats
        self._sqs_errors_seen = stats.errors
        self.queue_messages_errors.labels(stats.queue_name)  # exported from 0

    def action_attempt(self, action_type: str, outcome: str, duration_seconds: float) -> None:
        self.action_attempts.labels(action_type, outcome).inc()
        self.action_duration.labels(action_type).observe(max(0.0, duration_seconds))
        self._attempts[action_type] += 1
        if outcome == "failed":
            self._failures[action_type] += 1
        self.action_failure_rate.labels(action_type).set(
            self._failures[action_type] / self._attempts[action_type]
        )

    def request_finished(
        self,
        catalog_item: str,
        status: str,
        duration_seconds: float,
        action_types: Sequence[str],
    ) -> None:
        self.requests_finished.labels(catalog_item, status).inc()
        for action_type in action_types or ("none",):
            self.request_duration.labels(catalog_item, action_type).observe(
                max(0.0, duration_seconds)
            )

    async def refresh_queue(self, queue: Queue) -> None:
        depth = await queue.depth()
        self.queue_depth.labels("ready").set(depth.ready)
        self.queue_depth.labels("running").set(depth.running)
        self.queue_depth.labels("dead").set(depth.dead)
        self.queue_oldest_age.set(depth.oldest_ready_age_seconds or 0.0)
        await self.refresh_sqs()

    async def refresh_sqs(self) -> None:
        """Copy the watched SQS counts into the gauges (cached reads; never raises)."""
        stats = self._sqs
        if stats is None:
            return
        counts = await stats.read()
        name = stats.queue_name
        if stats.errors > self._sqs_errors_seen:
            self.queue_messages_errors.labels(name).inc(stats.errors - self._sqs_errors_seen)
            self._sqs_errors_seen = stats.errors
        if counts is None:  # never read yet: nothing to report rather than a made-up 0
            return
        self.queue_messages.labels(name, "visible").set(counts.visible)
        self.queue_messages.labels(name, "in_flight").set(counts.in_flight)
        self.queue_messages.labels(name, "delayed").set(counts.delayed)
        if counts.dead_letter is not None:
            self.queue_messages.labels(name, "dead_letter").set(counts.dead_letter)
        self.queue_messages_age.labels(name).set(stats.age() or 0.0)
