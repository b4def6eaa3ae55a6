"""The engine's and the request lifecycle's Prometheus metrics (the spec's), in a registry the
process owns.

``pao serve`` and ``pao api`` put them in the API's registry (served at /metrics);
``pao worker`` serves its own registry on ``PAO_WORKER_METRICS_PORT``. Every process counts
only what it did itself (the API its submissions and operator decisions, a worker the
requests and actions it finished), after the change committed (``observer.after_commit``), so
``sum`` across the processes' series is exact: nothing counted twice, nothing lost.

The spec's metrics:

- ``pao_requests_total{status,catalog_item,user_team}``: requests reaching a lifecycle status:
  ``submitted`` (API or bot), ``completed`` and ``failed`` (worker; ``failed`` again after a
  failed retry), ``aborted`` and ``escalated`` (operator decisions). The internal hops
  (``validating``, ``queued``, ``in_progress``) are not counted: they would repeat ``submitted``.
- ``pao_request_duration_seconds{catalog_item,action_type}`` (buckets 0.1 … 60 s): the time one
  executor call of a request's action took (every attempt and poll). The spec's buckets stop at
  a minute, which fits calls, not a request's whole life (hours with a human in the loop); that
  is ``pao_request_lifetime_seconds{catalog_item,status}``.
- ``pao_catalog_cache_hit_ratio{cache_type}``: see ``orchestrator.cache_metrics``.
- ``pao_approval_wait_seconds{catalog_item,outcome}`` (buckets 1 min … 7 days): how long a
  request waited in ``awaiting_approval``, observed by the process that ended the gate (the API
  or bot for a decision, a worker for an expiry); outcome ``approved``, ``rejected`` or
  ``expired``. Requests ended by a gate also count in ``pao_requests_total`` as ``rejected``.
- ``pao_action_failure_rate``: a rate is not something a process can export correctly (a
  since-start ratio per process cannot be summed across workers and never forgets). Processes
  export the counters ``pao_action_failures_total{action_type,failure_reason}`` and
  ``pao_action_attempts_total{action_type,outcome}``; the recording rule of the same name in
  ``deploy/prometheus/pao-rules.yml`` divides their rates over 5 minutes.

Labels stay bounded: catalog item ids and action types come from the catalog, ``user_team``
is the requester's first team (``unknown`` without one), ``failure_reason`` one of
``observer.FAILURE_REASONS``.

Queue depth and the age of the oldest due job are read from the queue when scraped, so any
process reports the whole queue, not only its own work (gauges: use ``max``, not ``sum``).

With the SQS backend, ``watch_sqs`` adds SQS's own counts (``pao_queue_messages`` by queue and
state: visible, in_flight, delayed, dead_letter), read at most every PAO_SQS_METRICS_SECONDS.
An unreachable SQS never fails a scrape: the gauges keep their last values,
``pao_queue_messages_age_seconds`` grows and ``pao_queue_messages_errors_total`` counts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from orchestrator.cache import CacheStats
from orchestrator.cache_metrics import CacheMetrics
from orchestrator.engine.breaker import BreakerState
from orchestrator.engine.observer import UNKNOWN, ApprovalObserver, RequestObserver, on_commit
from orchestrator.engine.queue import Queue

if TYPE_CHECKING:  # boto3 is imported only where the SQS backend is used
    from orchestrator.engine.sqs.stats import SqsQueueStats


class ObservedRequests(Protocol):
    observer: RequestObserver


class ObservedGates(Protocol):
    observer: ApprovalObserver


class ObservedServices(Protocol):
    """What ``EngineMetrics.observe`` reports on (``orchestrator.services.Services`` is one;
    a protocol, so the engine does not import the composition root that imports it)."""

    @property
    def requests(self) -> ObservedRequests: ...

    @property
    def approval_gates(self) -> ObservedGates: ...

    @property
    def cache_stats(self) -> CacheStats: ...


REQUEST_DURATION_BUCKETS: Final = (0.1, 0.5, 1, 5, 10, 30, 60)  # the spec's, exactly
REQUEST_LIFETIME_BUCKETS: Final = (1, 5, 30, 60, 300, 900, 3600, 14400, 86400, 259200)
ESCALATION_FAILURE_REASONS: Final = ("not_configured", "unavailable", "rejected")
# An approval waits for people: minutes to days (a stage's expiresAfter bounds it).
APPROVAL_WAIT_BUCKETS: Final = (60, 300, 900, 3600, 14400, 43200, 86400, 259200, 604800)
APPROVAL_OUTCOMES: Final = ("approved", "rejected", "expired")


class EngineMetrics:
    """Implements ``EngineObserver``, ``RequestObserver`` and ``EscalationObserver``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "pao_requests_total",
            "Requests reaching a lifecycle status (submitted, completed, failed, aborted, "
            "escalated), by catalog item and the requester's team",
            ["status", "catalog_item", "user_team"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "pao_request_duration_seconds",
            "Duration of one executor call of a request's action, by catalog item and action type",
            ["catalog_item", "action_type"],
            registry=registry,
            buckets=REQUEST_DURATION_BUCKETS,
        )
        self.request_lifetime = Histogram(
            "pao_request_lifetime_seconds",
            "Time from submission to completed or failed, by catalog item and status",
            ["catalog_item", "status"],
            registry=registry,
            buckets=REQUEST_LIFETIME_BUCKETS,
        )
        self.action_attempts = Counter(
            "pao_action_attempts_total",
            "Executor calls, by action type and outcome (completed, pending, failed)",
            ["action_type", "outcome"],
            registry=registry,
        )
        self.action_failures = Counter(
            "pao_action_failures_total",
            "Failed executor calls, by action type and failure reason (pao_action_failure_rate "
            "is the recording rule over this and pao_action_attempts_total)",
            ["action_type", "failure_reason"],
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
        self.circuit_states = Gauge(
            "pao_circuit_state",
            "Circuit breaker state per external target, in this process: 0 closed, "
            "1 half-open, 2 open",
            ["target"],
            registry=registry,
        )
        self.escalation_failures = Counter(
            "pao_escalation_failures_total",
            "Failed attempts to open an escalation ticket, by reason (not_configured, "
            "unavailable, rejected)",
            ["reason"],
            registry=registry,
        )
        for reason in ESCALATION_FAILURE_REASONS:
            self.escalation_failures.labels(reason)  # exported from 0
        self.approval_wait = Histogram(
            "pao_approval_wait_seconds",
            "Time a request waited in awaiting_approval, observed when its gate ended, by "
            "catalog item and outcome (approved, rejected, expired)",
            ["catalog_item", "outcome"],
            registry=registry,
            buckets=APPROVAL_WAIT_BUCKETS,
        )
        self._sqs: SqsQueueStats | None = None
        self._sqs_errors_seen = 0
        self._cache: CacheMetrics | None = None

    def observe(self, services: ObservedServices) -> None:
        """Count ``services``' submissions and decisions and report its catalog cache here
        (idempotent: ``pao serve``'s API and worker share one ``Services``)."""
        services.requests.observer = self
        services.approval_gates.observer = self  # pao_approval_wait_seconds, rejected
        self.watch_cache(services.cache_stats)

    def watch_cache(self, stats: CacheStats) -> None:
        """Export ``stats`` as the catalog cache metrics from now on (the last one wins)."""
        if self._cache is None:
            self._cache = CacheMetrics(stats)
            self.registry.register(self._cache)
        self._cache.stats = stats

    def circuit_state(self, target: str, state: BreakerState) -> None:
        """A circuit changed state (``CircuitBreaker.listeners``). Set at once, not on commit:
        the breaker lives in the process, outside any transaction. A closed circuit's series
        is removed: targets are many (a REST endpoint each) and only the troubled ones matter,
        so the series stay as few as the circuits not closed (absent means closed)."""
        if state is BreakerState.CLOSED:
            with contextlib.suppress(KeyError):
                self.circuit_states.remove(target)
            return
        self.circuit_states.labels(target).set(state.gauge)

    def watch_sqs(self, stats: SqsQueueStats) -> None:
        """Report ``stats``' queue in ``pao_queue_messages`` from now on (SQS backend)."""
        self._sqs = stats
        self._sqs_errors_seen = stats.errors
        self.queue_messages_errors.labels(stats.queue_name)  # exported from 0

    def action_attempt(
        self,
        action_type: str,
        outcome: str,
        duration_seconds: float,
        *,
        catalog_item: str = UNKNOWN,
        failure_reason: str | None = None,
    ) -> None:
        def update() -> None:
            self.action_attempts.labels(action_type, outcome).inc()
            self.request_duration.labels(catalog_item, action_type).observe(
                max(0.0, duration_seconds)
            )
            if outcome == "failed":
                self.action_failures.labels(action_type, failure_reason or "permanent").inc()

        on_commit(update)

    def request_finished(
        self,
        catalog_item: str,
        status: str,
        duration_seconds: float,
        action_types: Sequence[str],
        *,
        user_team: str = UNKNOWN,
    ) -> None:
        def update() -> None:
            self.requests.labels(status, catalog_item, user_team).inc()
            self.request_lifetime.labels(catalog_item, status).observe(max(0.0, duration_seconds))

        on_commit(update)

    def request_status(self, catalog_item: str, status: str, user_team: str) -> None:
        on_commit(lambda: self.requests.labels(status, catalog_item, user_team).inc())

    def escalation_failed(self, reason: str) -> None:
        on_commit(lambda: self.escalation_failures.labels(reason).inc())

    def approval_ended(self, catalog_item: str, outcome: str, wait_seconds: float) -> None:
        """An approval gate ended (``ApprovalObserver``), counted once committed."""
        on_commit(
            lambda: self.approval_wait.labels(catalog_item, outcome).observe(max(0.0, wait_seconds))
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
