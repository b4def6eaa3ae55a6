"""`pao serve` and `pao api`: run the service (with the embedded defaults when unconfigured)."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import sys
from typing import Any

from orchestrator.settings import Settings, settings_for_command


def register(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="run PAO in one process (API and background work) on the embedded defaults",
        description=(
            "Run the whole service. With no configuration it starts an embedded PostgreSQL "
            "under .pao/, uses an in-process cache and serves examples/catalog/."
        ),
    )
    api = commands.add_parser("api", help="run only the REST API (production: with DATABASE_URL)")
    for parser in (serve, api):
        parser.add_argument("--host", help="address to listen on (default: PAO_HOST or 127.0.0.1)")
        parser.add_argument("--port", type=int, help="port (default: PAO_PORT or 8080)")
        parser.set_defaults(handler=_run)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _run(args: argparse.Namespace) -> int:
    settings = settings_for_command(f"pao {args.command}", sys.stderr)
    if settings is None:
        return 2
    host = args.host or settings.api.host
    port = settings.api.port if args.port is None else args.port
    if settings.auth.mode == "aws-iam":
        from orchestrator.identity.aws_iam import parse_principals

        try:
            parse_principals(settings.auth.iam_principals)
        except ValueError as exc:
            print(f"pao {args.command}: {exc}", file=sys.stderr)
            return 2
    if settings.auth.mode == "none" and not _is_loopback(host):
        print(
            f"pao {args.command}: refusing to listen on {host} with PAO_AUTH_MODE=none; "
            "bind to 127.0.0.1 or configure authentication",
            file=sys.stderr,
        )
        return 2
    with contextlib.ExitStack() as stack:
        return _serve(args, settings, host, port, stack)


def _serve(
    args: argparse.Namespace, settings: Settings, host: str, port: int, stack: contextlib.ExitStack
) -> int:
    import uvicorn

    from api.app import create_app
    from rehearsal.wiring import simulated_systems

    env = dict(os.environ)
    rehearsal = None
    systems = simulated_systems(settings, env, command=args.command)
    if systems:  # `pao serve` on the embedded defaults: simulators stand in (rehearsal/)
        from rehearsal.wiring import start

        rehearsal = start(settings, env, systems, stack)
        settings, env = rehearsal.settings, rehearsal.env
    from orchestrator.observability import configure_logging

    secrets = settings.secret_values()
    if rehearsal is not None:
        secrets += rehearsal.simulators.secret_values()
    configure_logging(settings.log_level, settings.log_format, secrets=secrets)
    from orchestrator import tracing

    try:
        tracing.configure_tracing(settings)
    except tracing.TracingError as exc:
        print(f"pao {args.command}: {exc}", file=sys.stderr)
        return 2
    if settings.auth.mode == "none":
        logging.getLogger(__name__).warning(
            "authentication is off (PAO_AUTH_MODE=none): every caller is the local admin; "
            "loopback only"
        )
    print(
        f"PAO {args.command}: http://{host}:{port}/api/v1  (docs: http://{host}:{port}/api/v1/docs)"
    )
    if rehearsal is not None:
        print(rehearsal.banner(f"PAO {args.command}", f"http://{host}:{port}"))
    background = None
    if args.command == "serve" and settings.engine.serve_worker:
        background = _serve_worker(env)
        print("PAO serve: the worker runs in this process (PAO_SERVE_WORKER=false to disable)")
    from orchestrator.engine.process import load_registry

    # Executors describe what actions would send in previews (dry runs); serve also runs them.
    app: Any = create_app(settings, background=background, executors=load_registry(env))
    if rehearsal is not None:
        app = rehearsal.simulators.mount(app)  # a person moves tickets and runs: /rehearsal/control
    try:
        uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower())
    finally:
        tracing.shutdown_tracing()  # export the spans still buffered
    return 0


def _serve_worker(env: dict[str, str]) -> Any:
    """`pao serve`'s background: the worker pool, its metrics in the API's registry."""
    from orchestrator.worker_cli import run_pool

    async def background(services: Any, metrics: Any, stop: Any) -> None:
        await run_pool(services, metrics.engine, stop, env)

    return background
