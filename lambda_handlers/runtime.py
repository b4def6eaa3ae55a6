"""One Lambda container's PAO: settings, services and connections, made once and reused.

A container runs one function (``api``, ``request_processor`` or ``catalog_processor``) and
serves many invocations. At cold start ``container()`` builds the settings (the environment,
with ``PAO_SECRETS_ARN``'s Secrets Manager secret over it), opens the services (pool, cache,
migrations) on the container's own event loop and keeps them. Between invocations Lambda freezes
the process, and the database server (or a NAT on the way) may drop its idle connections: each
invocation starts by checking the pool's idle connections (``Database.check``), which replaces
the broken ones, so no request gets a dead connection.

There is no background task on Lambda (nothing runs while frozen), so each invocation ends by
relaying the outbox it wrote (the jobs its transactions enqueued go to SQS then), and the
scheduled catalog processor also runs the reconciler and the dead-letter drain once per cycle:
what ``pao worker`` runs periodically, run here at the end of the work that needs it.

The embedded defaults never start here: the Lambda face needs ``DATABASE_URL`` and the SQS
queue backend, and refuses to start without them.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
from collections.abc import Coroutine, Mapping
from typing import Any, Protocol, TypeVar

from lambda_handlers.metrics import EmfObserver
from orchestrator.engine.process import WorkerPool, load_registry
from orchestrator.engine.reachability import Reachability
from orchestrator.engine.reconciler import OutboxReconciler
from orchestrator.engine.sqs.client import queue_name
from orchestrator.engine.sqs.client import sqs_client as make_sqs_client
from orchestrator.engine.sqs.dead_letters import DeadLetterDrain
from orchestrator.engine.sqs.queue import SqsQueue
from orchestrator.engine.sqs.relay import OutboxRelay
from orchestrator.services import Services, open_services
from orchestrator.settings import Settings, SettingsError

log = logging.getLogger(__name__)

T = TypeVar("T")

SECRETS_VARIABLE = "PAO_SECRETS_ARN"


class LambdaContext(Protocol):
    """The part of Lambda's context object PAO uses."""

    def get_remaining_time_in_millis(self) -> int: ...


def secret_environment(env: Mapping[str, str], client: Any | None = None) -> dict[str, str]:
    """``env`` with the variables of the Secrets Manager secret ``PAO_SECRETS_ARN`` names (a
    JSON object of strings) over it; ``env`` itself when the variable is unset. ``client``: a
    boto3 Secrets Manager client instead of one from the default credentials and region."""
    arn = (env.get(SECRETS_VARIABLE) or "").strip()
    if not arn:
        return dict(env)
    if client is None:
        import boto3  # type: ignore[import-untyped]

        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        client = boto3.session.Session(region_name=region).client("secretsmanager")
    raw = client.get_secret_value(SecretId=arn).get("SecretString")
    try:
        values = json.loads(raw or "")
    except ValueError:
        raise SettingsError(f"{SECRETS_VARIABLE}: the secret is not a JSON object") from None
    if not isinstance(values, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in values.items()
    ):
        raise SettingsError(f"{SECRETS_VARIABLE}: the secret must map variable names to strings")
    return {**env, **values}


class LambdaRuntime:
    """PAO's services in one Lambda container, on one event loop kept for its whole life."""

    def __init__(
        self,
        settings: Settings,
        env: Mapping[str, str],
        *,
        sqs_client: Any | None = None,
        worker_id: str | None = None,
    ) -> None:
        """``env``: the environment the executors and plugins read (their own settings);
        ``sqs_client``: a boto3 SQS client instead of one from the default credentials."""
        if settings.database.url is None:
            raise SettingsError(
                "the Lambda functions need DATABASE_URL: the embedded PostgreSQL never starts "
                "on Lambda"
            )
        if settings.engine.queue_backend != "sqs" or settings.engine.sqs_queue_url is None:
            raise SettingsError("the Lambda functions need PAO_QUEUE_BACKEND=sqs and SQS_QUEUE_URL")
        self.settings = settings
        self.env = dict(env)
        self.queue_url: str = settings.engine.sqs_queue_url
        self.sqs = sqs_client if sqs_client is not None else make_sqs_client(settings.engine)
        self.worker_id = worker_id
        self.loop = asyncio.new_event_loop()
        self.services: Services = self.run(open_services(settings))
        self.registry = load_registry(self.env)
        self.sqs_reachability = Reachability(f"SQS queue {queue_name(self.queue_url)}")
        self.database = Reachability("PostgreSQL")
        self.relay = OutboxRelay(
            self.services.db,
            self.sqs,
            self.queue_url,
            retention_seconds=settings.engine.outbox_retention_hours * 3600.0,
            reachability=self.sqs_reachability,
            database=self.database,
        )
        self._pool: WorkerPool | None = None

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` to its end on the container's loop (the pool's connections live there)."""
        asyncio.set_event_loop(self.loop)
        return self.loop.run_until_complete(work)

    def pool(self) -> WorkerPool:
        """The worker pool of ``pao worker`` (runner, notifier, escalations, the plugins' job
        handlers), built on first use; its periodic tasks never run here."""
        if self._pool is None:
            self._pool = WorkerPool(
                self.services,
                self.registry,
                observer=EmfObserver(),  # request outcomes as CloudWatch metrics
                sqs_client=self.sqs,
                worker_id=self.worker_id,
            )
            self._pool.load_plugins(self.env)
        return self._pool

    def queue(self) -> SqsQueue:
        queue = self.pool().queue
        assert isinstance(queue, SqsQueue)  # the constructor insists on the SQS backend
        return queue

    async def thaw(self) -> None:
        """At the start of an invocation: replace the pool's connections that died while the
        container was frozen."""
        await self.services.check_connections()

    async def flush(self) -> int:
        """Send the outbox's due rows (the jobs this invocation enqueued); failures are logged
        and left to the next invocation, or to the reconciler."""
        try:
            return await self.relay.run_once()
        except Exception as exc:
            log.warning("outbox relay to %s failed: %s", queue_name(self.queue_url), exc)
            return 0

    async def housekeeping(self) -> None:
        """What ``pao worker`` runs periodically beside the jobs, once: relay and prune the
        outbox, re-send jobs whose message was lost, drain the dead-letter queue."""
        engine = self.settings.engine
        steps: list[tuple[str, Coroutine[Any, Any, Any]]] = [
            ("outbox relay", self.relay.relay_and_prune()),
            (
                "outbox reconciler",
                OutboxReconciler(
                    self.services.db,
                    interval_seconds=float(engine.sqs_reconcile_seconds),
                    resend_after_seconds=float(engine.sqs_resend_after_seconds),
                    database=self.database,
                ).run_once(),
            ),
        ]
        if engine.sqs_dead_letter_queue_url is not None:
            drain = DeadLetterDrain(
                self.services.db,
                self.sqs,
                engine.sqs_dead_letter_queue_url,
                database=self.database,
            )
            steps.append(("dead-letter drain", drain.run_once()))
        for what, step in steps:
            try:
                await step
            except Exception as exc:
                log.warning("%s failed: %s", what, exc)
        await self.flush()  # what the reconciler wrote

    def close(self) -> None:
        self.run(self.services.close())
        self.loop.close()


@functools.cache
def container() -> LambdaRuntime:
    """This container's runtime, built at its first invocation from the process environment
    (the entry point: nothing deeper reads it)."""
    from orchestrator.observability import configure_logging

    env = secret_environment(os.environ)
    settings = Settings.from_env(env)
    configure_logging(settings.log_level, settings.log_format, secrets=settings.secret_values())
    return LambdaRuntime(settings, env)
