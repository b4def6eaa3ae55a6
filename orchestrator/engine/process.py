"""The engine's background work in one process: ``pao worker``, and ``pao serve`` in-process.

The core never imports ``actions/`` or ``bot/``: executors and extra job handlers arrive
through entry points, declared in pyproject.toml:

* ``pao.executors``: ``factory(env: Mapping[str, str]) -> Registry`` (``actions`` declares the
  four action types; ``env`` is the process environment, read once at start-up);
* ``pao.worker_plugins``: ``plugin(pool: WorkerPool, services: Services, env) -> None`` adds job
  handlers and notify listeners (the bot's webhook processing and status comments).

The pool is built from ``orchestrator.services.Services``, which it names only as the protocol
``WorkerServices`` (what it reads): the composition root imports the request and approval
services, which use the engine, so the engine does not import it.

The queue backend comes from ``EngineSettings.queue_backend``: ``postgres`` (PgQueue), or
``sqs`` (SqsQueue), for which the pool also runs the outbox relay, the reconciler and the
dead-letter drain (``sqs.relay.delivery_tasks``). The pool's workers and loops share one
``Reachability`` per dependency (``pool.database``, ``pool.sqs``): an outage is one log line
when it starts and one when it ends, and everyone backs off meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from importlib.metadata import entry_points
from typing import Any, Protocol

from orchestrator import tracing
from orchestrator.catalog.local_source import LocalCatalogWatcher
from orchestrator.catalog.service import CatalogService
from orchestrator.catalog.sync import CatalogProcessor, GitHubCatalogSync
from orchestrator.engine.escalation import EscalationHandler
from orchestrator.engine.executor import Registry
from orchestrator.engine.manual import ManualDefaults
from orchestrator.engine.metrics import EngineMetrics
from orchestrator.engine.notifier import Listener, Notifier
from orchestrator.engine.observer import EngineObserver
from orchestrator.engine.pg_queue import Job, PgQueue
from orchestrator.engine.queue import Queue
from orchestrator.engine.reachability import Reachability
from orchestrator.engine.runner import ChainRunner
from orchestrator.engine.traced import traced_registry
from orchestrator.engine.worker import Worker, default_worker_id
from orchestrator.settings import Settings
from orchestrator.store.database import Database

log = logging.getLogger(__name__)

EXECUTOR_ENTRY_POINTS = "pao.executors"
WORKER_PLUGIN_ENTRY_POINTS = "pao.worker_plugins"
METRICS_REFRESH_SECONDS = 15.0


class ExpirySweeper(Protocol):
    async def run_expiry(self, stop: asyncio.Event) -> None: ...


class WorkerServices(Protocol):
    """What the pool reads of ``orchestrator.services.Services`` (which satisfies it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def catalog(self) -> CatalogService: ...

    @property
    def catalog_sync(self) -> GitHubCatalogSync | None: ...

    @property
    def approval_gates(self) -> ExpirySweeper: ...


def load_registry(env: Mapping[str, str]) -> Registry:
    """Every executor the installed packages declare."""
    registry = Registry()
    for entry in entry_points(group=EXECUTOR_ENTRY_POINTS):
        factory: Callable[[Mapping[str, str]], Registry] = entry.load()
        found = factory(env)
        for action_type in found:
            registry.register(action_type, found.get(action_type))
    return registry


class WorkerPool:
    """``concurrency`` workers sharing one queue, runner, notifier and escalation handler."""

    def __init__(
        self,
        services: WorkerServices,
        registry: Registry,
        *,
        observer: EngineObserver | None = None,
        metrics: EngineMetrics | None = None,
        worker_id: str | None = None,
        sqs_client: Any | None = None,
    ) -> None:
        """``sqs_client``: the boto3 client of the SQS backend, instead of one built from the
        settings with boto3's default credentials."""
        settings = services.settings.engine
        if tracing.enabled():
            registry = traced_registry(registry)  # a span per executor call
        self.services = services
        self.metrics = metrics
        self._periodic: list[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = []
        self.database = Reachability("PostgreSQL")
        self.sqs: Reachability | None = None
        self.queue = self._queue(sqs_client)
        defaults = ManualDefaults(
            jira_instance=settings.manual_jira_instance,
            jira_project=settings.manual_jira_project,
        )
        self.runner = ChainRunner(
            services.db,
            services.catalog,
            self.queue,
            registry,
            template_environment=services.settings.template_environment,
            manual_defaults=defaults,
            observer=observer or metrics,
            default_timeout_seconds=settings.default_action_timeout_seconds,
            retry_after_max_seconds=settings.retry_after_max_seconds,
        )
        self.notifier = Notifier(services.db, registry)
        escalation = EscalationHandler(
            services.db, services.catalog, registry, defaults, observer=metrics
        )
        base = worker_id or default_worker_id()
        self.workers = [
            Worker(
                self.queue,
                self.runner,
                f"{base}:{n}",
                lease_seconds=settings.lease_seconds,
                notifier=self.notifier,
                escalation=escalation,
            )
            for n in range(settings.concurrency)
        ]
        if services.catalog_sync is not None:
            processor = CatalogProcessor(
                services.catalog_sync, services.settings.catalog.sync_interval_seconds
            )
            self.add_periodic(processor.run_forever)  # `catalog-processor`
        elif (
            services.settings.catalog.local_path is not None
            and services.settings.catalog.watch_seconds
        ):
            watcher = LocalCatalogWatcher(
                services.catalog,
                services.settings.catalog.local_path,
                services.settings.catalog.watch_seconds,
            )
            self.add_periodic(watcher.run_forever)
        self.add_periodic(services.approval_gates.run_expiry)  # approval stages expiring

    def _queue(self, client: Any | None) -> Queue:
        """The configured backend; for SQS, its relay and dead-letter drain run periodically."""
        settings = self.services.settings.engine
        if settings.queue_backend != "sqs":
            return PgQueue(self.services.db, database=self.database)
        from orchestrator.engine.sqs.client import queue_name, sqs_client
        from orchestrator.engine.sqs.queue import SqsQueue
        from orchestrator.engine.sqs.relay import delivery_tasks

        if settings.sqs_queue_url is None:
            raise ValueError("the SQS queue backend needs SQS_QUEUE_URL")
        client = client if client is not None else sqs_client(settings)
        db = self.services.db
        self.sqs = Reachability(f"SQS queue {queue_name(settings.sqs_queue_url)}")
        queue = SqsQueue(
            db,
            client,
            settings.sqs_queue_url,
            dead_letter_queue_url=settings.sqs_dead_letter_queue_url,
            stats_max_age_seconds=settings.sqs_metrics_seconds,
            reachability=self.sqs,
            database=self.database,
        )
        for task in delivery_tasks(
            db, client, settings, reachability=self.sqs, database=self.database
        ):
            self.add_periodic(task)
        return queue

    def register(self, kind: str, handler: Callable[[Job], Awaitable[None]]) -> None:
        for worker in self.workers:
            worker.register(kind, handler)

    def listen(self, listener: Listener) -> None:
        self.notifier.listen(listener)

    def add_periodic(self, task: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
        """Run ``task(stop)`` alongside the workers (e.g. the catalog processor)."""
        self._periodic.append(task)

    def load_plugins(self, env: Mapping[str, str]) -> None:
        for entry in entry_points(group=WORKER_PLUGIN_ENTRY_POINTS):
            plugin: Callable[[WorkerPool, WorkerServices, Mapping[str, str]], Any] = entry.load()
            plugin(self, self.services, env)
            log.info("worker plugin %s loaded", entry.name)

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; in-flight jobs finish (or their leases expire)."""
        log.info(
            "worker pool: %d workers, job kinds %s",
            len(self.workers),
            ", ".join(self.workers[0].kinds),
        )
        tasks = [asyncio.create_task(w.run_forever(stop)) for w in self.workers]
        tasks += [asyncio.create_task(task(stop)) for task in self._periodic]
        if self.metrics is not None:
            tasks.append(asyncio.create_task(self._refresh_metrics(stop)))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _refresh_metrics(self, stop: asyncio.Event) -> None:
        assert self.metrics is not None
        while not stop.is_set():
            try:
                await self.metrics.refresh_queue(self.queue)
            except Exception:
                log.warning("reading the queue depth failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=METRICS_REFRESH_SECONDS)
