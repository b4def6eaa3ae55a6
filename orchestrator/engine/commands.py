"""`pao worker`: the engine's background work (chain runner, status poller, escalations,
notifications, the faces' jobs) in its own process, for production."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from orchestrator.engine.metrics import EngineMetrics
from orchestrator.engine.process import WorkerPool, load_registry
from orchestrator.services import Services, open_services
from orchestrator.settings import Settings, SettingsError

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
    parser.set_defaults(handler=run_worker_command)
    return parser


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
    pool.load_plugins(env)
    log.info("executors: %s", ", ".join(sorted(registry)) or "none")
    await pool.run(stop)


def run_worker_command(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"pao worker: {exc}", file=sys.stderr)
        return 2
    if args.concurrency is not None:
        if args.concurrency < 1:
            print("pao worker: --concurrency must be at least 1", file=sys.stderr)
            return 2
        from dataclasses import replace

        settings = replace(settings, engine=replace(settings.engine, concurrency=args.concurrency))
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.database.url is None:
        log.warning(
            "no DATABASE_URL: this worker uses its own embedded PostgreSQL, which no API shares; "
            "use `pao serve` for the embedded single-process setup"
        )
    asyncio.run(_main(settings, dict(os.environ)))
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
    try:
        await run_pool(services, metrics, stop, env)
    finally:
        await services.close()
