"""`pao worker`: the engine's background work (chain runner, status poller, escalations,
notifications, the faces' jobs) in its own process, for production; and `pao queues create`,
which creates the SQS backend's queues (also `pao worker --create-queues`, before it runs).

A command module above the engine: it opens the services (``orchestrator.services``, the
composition root, which imports the request and approval services that use the engine) and
builds the engine's ``WorkerPool`` from them."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, TextIO

from prometheus_client import CollectorRegistry, start_http_server

from orchestrator import tracing
from orchestrator.engine.metrics import EngineMetrics
from orchestrator.engine.process import WorkerPool, load_registry
from orchestrator.observability import configure_logging
from orchestrator.runtime import freeze_startup_heap
from orchestrator.services import Services, open_services
from orchestrator.settings import Settings, settings_for_command

log = logging.getLogger(__name__)


def add_worker_parser(commands: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        "worker",
        help="run the fulfillment worker and status poller (production: with DATABASE_URL)",
        description=(
            "Claim jobs from the queue and run them: request actions, polls of pending actions, "
            "cancellations, escalation tickets, notifications and the installed plugins' jobs "
            "(the GitHub bot). Run as many as you like, on as many machines: each job runs once. "
            "SIGTERM or Ctrl-C stops after the jobs in hand."
        ),
    )
    parser.add_argument(
        "--concurrency", type=int, help="jobs worked on at once (default: PAO_WORKER_CONCURRENCY)"
    )
    parser.add_argument(
        "--create-queues",
        action="store_true",
        help=(
            "SQS backend: create the queue of SQS_QUEUE_URL and its dead-letter queue (spec "
            "attributes) unless they exist, then run"
        ),
    )
    parser.set_defaults(handler=run_worker_command)
    return parser


def add_queues_parser(commands: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        "queues",
        help="manage the SQS backend's queues",
        description="The SQS queue backend's queues (PAO_QUEUE_BACKEND=sqs).",
    )
    actions = parser.add_subparsers(dest="queues_command", required=True, metavar="COMMAND")
    create = actions.add_parser(
        "create",
        help="create the queue and its dead-letter queue unless they exist",
        description=(
            "Create the queue named by SQS_QUEUE_URL and its dead-letter queue (named by "
            "SQS_DEAD_LETTER_QUEUE_URL, else <name>-dlq) with the spec's attributes: visibility "
            "timeout 300 s, retention 14 days, redrive to the dead-letter queue after 3 receives. "
            "Existing queues are left as they are; attributes that differ are reported. "
            "Exit status 0 when both queues exist afterwards."
        ),
    )
    create.set_defaults(handler=run_queues_create_command)
    return parser


def create_queues(settings: Settings, out: TextIO, *, client: Any | None = None) -> tuple[str, str]:
    """Create (or find) the configured queue and its dead-letter queue and say so on ``out``;
    their URLs (queue, dead-letter queue). Raises ``SqsError`` when SQS refuses or fails."""
    from orchestrator.engine.sqs.client import queue_name, sqs_client
    from orchestrator.engine.sqs.provisioning import provision_queues

    engine = settings.engine
    assert engine.sqs_queue_url is not None  # the settings insist on it for the SQS backend
    dlq_name = queue_name(engine.sqs_dead_letter_queue_url or "") or None
    queue, dlq = provision_queues(
        client if client is not None else sqs_client(engine),
        queue_name(engine.sqs_queue_url),
        dead_letter_name=dlq_name,
    )
    for report in (dlq, queue):
        print(report.describe(), file=out)
    if queue.url != engine.sqs_queue_url:
        print(f"note: SQS_QUEUE_URL is {engine.sqs_queue_url}; SQS calls it {queue.url}", file=out)
    if engine.sqs_dead_letter_queue_url is None:
        print(f"SQS_DEAD_LETTER_QUEUE_URL={dlq.url}", file=out)
    return engine.sqs_queue_url, engine.sqs_dead_letter_queue_url or dlq.url


def _sqs_only(command: str, settings: Settings, err: TextIO) -> bool:
    if settings.engine.queue_backend == "sqs":
        return True
    print(
        f"{command}: the queue backend is {settings.engine.queue_backend}, not sqs: there are "
        "no SQS queues to create (set PAO_QUEUE_BACKEND=sqs and SQS_QUEUE_URL)",
        file=err,
    )
    return False


def run_queues_create_command(
    args: argparse.Namespace,
    out: TextIO | None = None,
    err: TextIO | None = None,
    *,
    client: Any | None = None,
) -> int:
    """``client``: an SQS client instead of one from boto3's default credentials."""
    from orchestrator.engine.sqs.client import SqsError

    out = out or sys.stdout
    err = err or sys.stderr
    settings = settings_for_command("pao queues create", err)
    if settings is None:
        return 2
    if not _sqs_only("pao queues create", settings, err):
        return 2
    try:
        create_queues(settings, out, client=client)
    except SqsError as exc:
        print(f"pao queues create: {exc}", file=err)
        return 1
    return 0


def watch_queue(metrics: EngineMetrics, pool: WorkerPool) -> None:
    """On the SQS backend, report SQS's message counts of the pool's queue in ``metrics``."""
    from orchestrator.engine.sqs.queue import SqsQueue

    if isinstance(pool.queue, SqsQueue):
        metrics.watch_sqs(pool.queue.stats)


async def run_pool(
    services: Services,
    metrics: EngineMetrics | None,
    stop: asyncio.Event,
    env: Mapping[str, str],
) -> None:
    """Build the worker pool for ``services`` (executors and plugins from entry points) and
    run it until ``stop``; what `pao worker` and `pao serve` both run."""
    registry = load_registry(env)
    pool = WorkerPool(services, registry, metrics=metrics)
    if metrics is not None:
        watch_queue(metrics, pool)
    pool.load_plugins(env)
    log.info("executors: %s", ", ".join(sorted(registry)) or "none")
    freeze_startup_heap()
    await pool.run(stop)


def run_worker_command(args: argparse.Namespace) -> int:
    settings = settings_for_command("pao worker", sys.stderr)
    if settings is None:
        return 2
    if args.concurrency is not None:
        if args.concurrency < 1:
            print("pao worker: --concurrency must be at least 1", file=sys.stderr)
            return 2
        settings = replace(settings, engine=replace(settings.engine, concurrency=args.concurrency))
    if args.create_queues:
        from orchestrator.engine.sqs.client import SqsError

        if not _sqs_only("pao worker --create-queues", settings, sys.stderr):
            return 2
        try:
            _, dlq_url = create_queues(settings, sys.stdout)
        except SqsError as exc:
            print(f"pao worker --create-queues: {exc}", file=sys.stderr)
            return 1
        # The dead-letter queue just made is drained even when its URL was not configured.
        engine = replace(settings.engine, sqs_dead_letter_queue_url=dlq_url)
        settings = replace(settings, engine=engine)
    configure_logging(settings.log_level, settings.log_format, secrets=settings.secret_values())
    try:
        tracing.configure_tracing(settings)
    except tracing.TracingError as exc:
        print(f"pao worker: {exc}", file=sys.stderr)
        return 2
    if settings.database.url is None:
        log.warning(
            "no DATABASE_URL: this worker uses its own embedded PostgreSQL, which no API shares; "
            "use `pao serve` for the embedded single-process setup"
        )
    try:
        asyncio.run(_main(settings, dict(os.environ)))
    finally:
        tracing.shutdown_tracing()  # export the spans still buffered
    return 0


async def _main(settings: Settings, env: Mapping[str, str]) -> None:
    metrics = EngineMetrics(CollectorRegistry())
    if settings.engine.metrics_port is not None:
        start_http_server(settings.engine.metrics_port, registry=metrics.registry)
        log.info("metrics on :%d/metrics", settings.engine.metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    services = await open_services(settings)
    metrics.observe(services)  # the bot's submissions from webhook jobs, the catalog cache
    try:
        await run_pool(services, metrics, stop, env)
    finally:
        await services.close()
