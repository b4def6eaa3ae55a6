"""Shared set-up for tests that drive requests through the real engine (PgQueue, ChainRunner,
Worker on real PostgreSQL): catalog items built in code, a worker with instant backoff, and
readers for the rows a test asserts on."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.engine.backoff import Backoff
from orchestrator.engine.breaker import CircuitBreaker
from orchestrator.engine.executor import (
    ActionExecutor,
    ActionResult,
    ActionRun,
    Registry,
    target_of,
)
from orchestrator.engine.observer import EngineObserver
from orchestrator.engine.pg_queue import PgQueue
from orchestrator.engine.policy import RetryPolicy
from orchestrator.engine.queue import Queue
from orchestrator.engine.runner import ChainRunner
from orchestrator.engine.worker import Worker
from orchestrator.identity.principal import Principal
from orchestrator.requests.service import RequestDraft
from orchestrator.services import Services
from orchestrator.store.database import Database
from rehearsal.samples import item_document as item_document

REQUESTER = Principal(email="dev@example.com", teams=("payments",))
INSTANT = Backoff(base_seconds=0.0, cap_seconds=0.0)  # retries due at once
# Retries due at once even where an action declares retry.initialDelay (time is not simulated
# here; tests of the declared delays pass their own policy).
INSTANT_RETRIES = RetryPolicy(INSTANT, declared=False)


async def store_item(services: Services, document: Mapping[str, Any]) -> None:
    """Validate and store ``document`` as the item's current version (fails on any issue)."""
    item_id = document["metadata"]["id"]
    report = services.catalog.validator.validate_texts([(f"{item_id}.yaml", json.dumps(document))])
    assert not report.issues, [str(i) for i in report.issues]
    result = await services.catalog.store_report(report, git_sha=None)
    assert item_id in result.stored


def make_worker(
    services: Services,
    registry: Registry,
    worker_id: str = "worker-1",
    *,
    db: Database | None = None,
    lease_seconds: float = 300.0,
    breaker: CircuitBreaker | None = None,
    template_environment: Mapping[str, str] | None = None,
    queue: Queue | None = None,
    observer: EngineObserver | None = None,
    retry_policy: RetryPolicy = INSTANT_RETRIES,
) -> Worker:
    """A worker on ``queue``; by default the backend of ``services``' settings (PgQueue, or an
    SqsQueue pumping its outbox before each receive: ``tests/integration/sqs_harness.py``)."""
    database = db or services.db
    if queue is None and services.settings.engine.queue_backend == "sqs":
        from tests.integration.sqs_harness import sqs_test_queue

        queue = sqs_test_queue(database, services.settings.engine)
    queue = queue or PgQueue(database)
    runner = ChainRunner(
        database,
        services.catalog,
        queue,
        registry,
        breaker=breaker,
        backoff=INSTANT,
        template_environment=template_environment,
        observer=observer,
        retry_policy=retry_policy,
    )
    return Worker(
        queue,
        runner,
        worker_id,
        lease_seconds=lease_seconds,
        idle_seconds=0.01,
        error_backoff=INSTANT,
    )


async def drain(worker: Worker, limit: int = 100) -> int:
    """Process due jobs until none is left; the number processed."""
    for done in range(limit):
        if not await worker.run_once():
            return done
    raise AssertionError(f"queue not drained after {limit} jobs")


async def submit(
    services: Services,
    item_id: str,
    fields: Mapping[str, Any],
    principal: Principal = REQUESTER,
) -> str:
    view = await services.requests.submit(
        RequestDraft(catalog_item=item_id, fields=dict(fields)),
        principal,
        correlation_id=f"corr-{uuid.uuid4().hex[:8]}",
    )
    return str(view["id"])


async def request_row(services: Services, request_id: str) -> dict[str, Any]:
    row = await services.db.fetch_one(
        None, "SELECT * FROM requests WHERE id = %(id)s", {"id": request_id}
    )
    assert row is not None
    return row


async def action_rows(services: Services, request_id: str) -> dict[str, dict[str, Any]]:
    rows = await services.db.fetch_all(
        None,
        "SELECT * FROM request_actions WHERE request_id = %(id)s ORDER BY position",
        {"id": request_id},
    )
    return {r["action_id"]: r for r in rows}


async def events(services: Services, request_id: str) -> list[tuple[str | None, str]]:
    rows = await services.db.fetch_all(
        None,
        "SELECT action_id, event FROM request_logs WHERE request_id = %(id)s ORDER BY id",
        {"id": request_id},
    )
    return [(r["action_id"], r["event"]) for r in rows]


async def jobs_of(services: Services, request_id: str) -> list[dict[str, Any]]:
    return await services.db.fetch_all(
        None, "SELECT * FROM jobs WHERE request_id = %(id)s ORDER BY id", {"id": request_id}
    )


async def ready_jobs(services: Services, request_id: str) -> list[dict[str, Any]]:
    return [j for j in await jobs_of(services, request_id) if j["status"] == "ready"]


async def make_due(services: Services, request_id: str) -> None:
    """Fast-forward: every waiting job of the request is due now (no real sleeping)."""
    await services.db.execute(
        None,
        "UPDATE jobs SET run_after = now() WHERE request_id = %(id)s AND status = 'ready'",
        {"id": request_id},
    )


STORED_TABLES = ("request_logs", "request_actions", "audit_logs", "requests", "jobs")


async def assert_no_secret_stored(services: Services, secrets: Iterable[str]) -> None:
    """No secret value appears anywhere in the rows a request leaves behind."""
    for table in STORED_TABLES:
        for secret in secrets:
            row = await services.db.fetch_one(
                None,
                f"SELECT count(*) AS n FROM {table} t WHERE to_jsonb(t)::text LIKE %(s)s",
                {"s": f"%{secret}%"},
            )
            assert row is not None
            assert row["n"] == 0, (table, secret)


class Crash(BaseException):
    """A worker dying between the call and recording its result (not caught by the runner)."""


class CrashAfterExecute:
    """Wraps a real executor: makes the real call, then "crashes" the first time, so the
    result is never recorded and the job is delivered again (redelivery tests)."""

    def __init__(self, inner: ActionExecutor) -> None:
        self.inner = inner
        self.crashes = 1

    def target(self, action: ActionRun) -> str | None:
        return target_of(self.inner, action)

    async def execute(self, action: ActionRun) -> ActionResult:
        result = await self.inner.execute(action)
        if self.crashes:
            self.crashes -= 1
            raise Crash
        return result

    async def poll(self, action: ActionRun) -> ActionResult:
        return await self.inner.poll(action)
