"""The fulfillment engine on real PostgreSQL: queue, chain runner and worker, driven through a
scripted test executor (the only fake: it stands in for the external systems)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import pytest

from orchestrator.engine.breaker import BreakerState, CircuitBreaker
from orchestrator.engine.executor import (
    ActionResult,
    ActionRun,
    Completed,
    Failed,
    Pending,
    Registry,
)
from orchestrator.engine.pg_queue import RUN_ACTION, Job, PgQueue
from orchestrator.engine.worker import Worker
from orchestrator.identity.principal import Principal
from orchestrator.services import Services
from orchestrator.store.database import Database
from tests.integration import engine_harness as harness
from tests.integration.engine_harness import action_rows, drain, events, jobs_of, request_row
from tests.samples import FIELDS, ITEM

pytestmark = pytest.mark.anyio

SECRET = "s3cr3t-Passw0rd-value"
INVENTORY = "https://inventory.test"
OUTPUTS: dict[str, dict[str, Any]] = {
    "provision": {
        "db_endpoint": "orders-db.abc.rds.amazonaws.com",
        "db_arn": "arn:aws:rds:eu-west-1:1:db:orders-db",
        "master_secret_arn": "arn:aws:secretsmanager:eu-west-1:1:secret:orders",
    },
    "register": {"inventory_id": "inv-42", "inventory_url": f"{INVENTORY}/r/inv-42"},
}


class ScriptedExecutor:
    """Records every call; answers from a per-action script, then completes with OUTPUTS.

    Side effects are counted per correlation key, as a real idempotent target would: a second
    ``execute`` with the same key finds the resource instead of creating another.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, int]] = []  # (method, request, action, attempt)
        self.runs: list[ActionRun] = []
        self.script: dict[str, list[ActionResult]] = {}
        self.poll_script: dict[str, list[ActionResult]] = {}
        self.created: Counter[str] = Counter()
        self.targets: dict[str, str] = {}  # action type -> breaker target

    def target(self, action: ActionRun) -> str | None:
        return self.targets.get(action.action_type)

    def on(self, action_id: str, *results: ActionResult) -> None:
        self.script.setdefault(action_id, []).extend(results)

    def on_poll(self, action_id: str, *results: ActionResult) -> None:
        self.poll_script.setdefault(action_id, []).extend(results)

    async def execute(self, action: ActionRun) -> ActionResult:
        await asyncio.sleep(0)  # let other workers interleave
        self.calls.append(("execute", action.request_id, action.action_id, action.attempt))
        self.runs.append(action)
        queued = self.script.get(action.action_id)
        if queued:
            return queued.pop(0)
        self.created[action.correlation_key] += 1
        return Completed(OUTPUTS[action.action_id], details={"status": 201})

    async def poll(self, action: ActionRun) -> ActionResult:
        self.calls.append(("poll", action.request_id, action.action_id, action.attempt))
        queued = self.poll_script.get(action.action_id)
        if queued:
            return queued.pop(0)
        return Completed(OUTPUTS[action.action_id])

    def executed(self, request_id: str | None = None) -> list[str]:
        return [c[2] for c in self.calls if c[0] == "execute" and request_id in (None, c[1])]


def make_worker(
    services: Services,
    executor: ScriptedExecutor,
    worker_id: str = "worker-1",
    *,
    db: Database | None = None,
    lease_seconds: float = 300.0,
    breaker: CircuitBreaker | None = None,
) -> Worker:
    return harness.make_worker(
        services,
        Registry({"terraform": executor, "rest-api": executor}),
        worker_id,
        db=db,
        lease_seconds=lease_seconds,
        breaker=breaker,
        template_environment={"INVENTORY_URL": INVENTORY},
    )


async def submit(services: Services, **fields: Any) -> str:
    return await harness.submit(services, ITEM, {**FIELDS, **fields})


# -- chains --------------------------------------------------------------------------------------


async def test_two_action_chain_completes_with_outputs_flowing(services: Services) -> None:
    executor = ScriptedExecutor()
    request_id = await submit(services, credentialMode="provided", adminPassword=SECRET)
    # one job runs both actions (the second goes on in the same job); an API request of
    # actions with nothing to notify gets no completion notice
    assert await drain(make_worker(services, executor)) == 1
    assert {j["kind"] for j in await harness.jobs_of(services, request_id)} == {"run-action"}

    assert executor.executed() == ["provision", "register"]
    provision, register = executor.runs
    assert provision.config["variables"]["master_password"] == SECRET  # real value to execute
    assert provision.config["workspace"] == "rds-prod-orders-db"
    assert register.config["url"] == f"{INVENTORY}/api/v2/resources"
    assert register.config["body"]["endpoint"] == OUTPUTS["provision"]["db_endpoint"]
    assert register.config["body"]["arn"] == OUTPUTS["provision"]["db_arn"]
    assert register.outputs == {"provision": OUTPUTS["provision"]}
    assert provision.correlation_key != register.correlation_key

    request = await request_row(services, request_id)
    assert request["status"] == "completed"
    assert request["completed_at"] is not None
    actions = await action_rows(services, request_id)
    assert {a: r["status"] for a, r in actions.items()} == {
        "provision": "completed",
        "register": "completed",
    }
    assert actions["provision"]["outputs"] == OUTPUTS["provision"]
    assert actions["register"]["outputs"] == OUTPUTS["register"]
    assert actions["provision"]["rendered_config"]["variables"]["master_password"] == "****"
    assert await events(services, request_id) == [
        (None, "submitted"),
        ("provision", "action_started"),
        ("provision", "action_completed"),
        ("register", "action_started"),
        ("register", "action_completed"),
        (None, "request_completed"),
    ]
    # The password reached the executor and nothing else: not the logs, actions or audit.
    for table in ("request_logs", "request_actions", "audit_logs", "requests", "jobs"):
        row = await services.db.fetch_one(
            None,
            f"SELECT count(*) AS n FROM {table} t WHERE to_jsonb(t)::text LIKE %(s)s",
            {"s": f"%{SECRET}%"},
        )
        assert row is not None
        assert row["n"] == 0, table
    assert {j["status"] for j in await jobs_of(services, request_id)} == {"done"}


async def test_transient_failures_then_success(services: Services) -> None:
    executor = ScriptedExecutor()
    executor.on(
        "register",
        Failed("HTTP 503", retryable=True),
        Failed("HTTP 429", retryable=True, retry_after=0.0),
    )
    request_id = await submit(services)
    await drain(make_worker(services, executor))

    assert executor.executed() == ["provision", "register", "register", "register"]
    assert [c[3] for c in executor.calls if c[2] == "register"] == [1, 2, 3]
    assert (await request_row(services, request_id))["status"] == "completed"
    actions = await action_rows(services, request_id)
    assert actions["register"]["attempts"] == 3
    assert actions["register"]["status"] == "completed"
    logged = [e for a, e in await events(services, request_id) if a == "register"]
    assert logged == [
        "action_started",
        "attempt_failed",
        "action_started",
        "attempt_failed",
        "action_started",
        "action_completed",
    ]


async def test_permanent_failure_fails_request_with_error_context(services: Services) -> None:
    executor = ScriptedExecutor()
    executor.on("register", Failed("HTTP 400: name already taken", retryable=False))
    request_id = await submit(services)
    await drain(make_worker(services, executor))

    assert executor.executed() == ["provision", "register"]
    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    context = request["error_context"]
    assert context["failed_action"] == "register"
    assert context["error"]["message"] == "HTTP 400: name already taken"
    assert context["error"]["retryable"] is False
    assert context["partial_resources"]["provision"]["outputs"] == OUTPUTS["provision"]
    assert [c["action_id"] for c in context["cleanup"]] == ["provision"]
    assert "rds-prod-orders-db" in context["cleanup"][0]["instructions"]
    assert "{{" not in context["cleanup"][0]["instructions"]
    actions = await action_rows(services, request_id)
    assert actions["register"]["status"] == "failed"
    assert actions["provision"]["status"] == "completed"
    assert (await events(services, request_id))[-2:] == [
        ("register", "attempt_failed"),
        ("register", "request_failed"),
    ]
    assert {j["status"] for j in await jobs_of(services, request_id)} == {"done"}


async def test_retries_stop_at_max_attempts(services: Services) -> None:
    executor = ScriptedExecutor()
    executor.on("provision", *[Failed("TFC unavailable", retryable=True)] * 5)
    request_id = await submit(services)
    await drain(make_worker(services, executor))

    assert executor.executed() == ["provision", "provision"]  # maxAttempts: 2 in the item
    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    assert request["error_context"]["failed_action"] == "provision"
    assert request["error_context"]["partial_resources"] == {}
    assert request["error_context"]["cleanup"] == []


async def test_pending_action_is_polled_to_completion(services: Services) -> None:
    executor = ScriptedExecutor()
    executor.on(
        "provision", Pending("run-123", url="https://tfc/runs/run-123", poll_after_seconds=0)
    )
    executor.on_poll("provision", Pending("run-123", poll_after_seconds=0))
    request_id = await submit(services)
    worker = make_worker(services, executor)

    await worker.run_once()
    actions = await action_rows(services, request_id)
    assert actions["provision"]["status"] == "in_progress"
    assert actions["provision"]["external_ref"] == "run-123"
    assert actions["provision"]["next_poll_at"] is not None
    assert (await request_row(services, request_id))["status"] == "in_progress"

    await drain(worker)
    assert [(c[0], c[2]) for c in executor.calls] == [
        ("execute", "provision"),
        ("poll", "provision"),
        ("poll", "provision"),
        ("execute", "register"),
    ]
    assert (await request_row(services, request_id))["status"] == "completed"
    kinds = [j["kind"] for j in await jobs_of(services, request_id)]
    assert kinds.count("poll-action") == 2


async def test_open_circuit_delays_then_half_open_probe_succeeds(services: Services) -> None:
    now = [1000.0]
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=30.0, clock=lambda: now[0])
    executor = ScriptedExecutor()
    executor.targets = {"rest-api": "inventory"}
    executor.on("register", Failed("HTTP 502", retryable=True, details={"status_code": 502}))
    request_id = await submit(services)
    worker = make_worker(services, executor, breaker=breaker)
    await drain(worker)

    # One real call failed and opened the circuit; the retry was delayed to the probe time
    # without a call and without spending an attempt.
    assert executor.executed() == ["provision", "register"]
    assert breaker.state("inventory") is BreakerState.OPEN
    actions = await action_rows(services, request_id)
    assert actions["register"]["status"] == "retrying"
    assert actions["register"]["attempts"] == 1
    assert ("register", "action_delayed") in await events(services, request_id)
    waiting = [j for j in await jobs_of(services, request_id) if j["status"] == "ready"]
    assert len(waiting) == 1

    now[0] += 31.0  # the cool-down passes: the next call is the half-open probe
    await services.db.execute(
        None, "UPDATE jobs SET run_after = now() WHERE id = %(id)s", {"id": waiting[0]["id"]}
    )
    await drain(worker)
    assert executor.executed() == ["provision", "register", "register"]
    assert breaker.state("inventory") is BreakerState.CLOSED
    assert (await action_rows(services, request_id))["register"]["attempts"] == 2
    assert (await request_row(services, request_id))["status"] == "completed"


async def test_operator_retry_reruns_failed_action_and_continues(services: Services) -> None:
    executor = ScriptedExecutor()
    executor.on("register", Failed("HTTP 400: quota exceeded", retryable=False))
    request_id = await submit(services)
    worker = make_worker(services, executor)
    await drain(worker)
    assert (await request_row(services, request_id))["status"] == "failed"

    # The retried action fails transiently once more: the request stays failed meanwhile.
    executor.on("register", Failed("HTTP 503", retryable=True))
    operator = Principal(email="ops@example.com")
    results = await asyncio.gather(
        services.requests.retry(uuid.UUID(request_id), operator, "corr-retry"),
        services.requests.retry(uuid.UUID(request_id), operator, "corr-retry"),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["InvalidState", "dict"]
    assert await worker.run_once()
    assert (await request_row(services, request_id))["status"] == "failed"
    assert (await action_rows(services, request_id))["register"]["status"] == "retrying"
    await drain(worker)

    assert executor.executed() == ["provision", "register", "register", "register"]
    request = await request_row(services, request_id)
    assert request["status"] == "completed"
    actions = await action_rows(services, request_id)
    assert actions["register"]["attempts"] == 2  # a fresh budget for the operator's retry
    assert [e for _, e in await events(services, request_id)][-3:] == [
        "action_started",
        "action_completed",
        "request_completed",
    ]


# -- at-least-once delivery ----------------------------------------------------------------------


async def test_redelivered_jobs_never_rerun_completed_actions(services: Services) -> None:
    executor = ScriptedExecutor()
    request_id = await submit(services)
    worker = make_worker(services, executor)
    assert await worker.run_once()  # provision done; register's job queued
    queue = worker.queue
    async with services.db.transaction() as conn:  # the same message delivered again
        await queue.enqueue(
            conn,
            RUN_ACTION,
            {"request_id": request_id, "action_id": "provision"},
            request_id=request_id,
        )
    await drain(worker)
    async with services.db.transaction() as conn:  # and once more after the chain finished
        await queue.enqueue(conn, RUN_ACTION, {"request_id": request_id}, request_id=request_id)
        await queue.enqueue(
            conn,
            RUN_ACTION,
            {"request_id": request_id, "action_id": "register"},
            request_id=request_id,
        )
    await drain(worker)

    assert executor.executed() == ["provision", "register"]
    assert (await request_row(services, request_id))["status"] == "completed"
    assert [e for _, e in await events(services, request_id)].count("action_started") == 2


async def test_two_workers_run_each_job_once(services: Services) -> None:
    executor = ScriptedExecutor()
    request_ids = [await submit(services, instanceName=f"db-{n:02d}") for n in range(8)]
    second_db = await Database.open(services.database_url, min_size=1, max_size=4)
    try:
        workers = [
            make_worker(services, executor, "worker-a"),
            make_worker(services, executor, "worker-b", db=second_db),
        ]

        async def run(worker: Worker) -> None:
            idle = 0
            while idle < 3:  # stop after the queue stayed empty for a few claims
                idle = 0 if await worker.run_once() else idle + 1

        await asyncio.gather(*(run(w) for w in workers))
    finally:
        await second_db.close()

    per_action = Counter((c[1], c[2]) for c in executor.calls)
    assert set(per_action.values()) == {1}
    assert len(per_action) == 2 * len(request_ids)
    for request_id in request_ids:
        assert (await request_row(services, request_id))["status"] == "completed"
    actors = await services.db.fetch_all(
        None,
        "SELECT DISTINCT actor, source FROM audit_logs "
        "WHERE table_name = 'request_actions' AND operation = 'UPDATE'",
    )
    assert actors == [{"actor": "pao-engine", "source": "worker"}]  # the audit trail says who
    assert set(executor.created.values()) == {1}


async def test_stalled_lease_is_reclaimed_and_stale_delivery_ignored(services: Services) -> None:
    executor = ScriptedExecutor()
    request_id = await submit(services)
    stalled = make_worker(services, executor, "stalled", lease_seconds=0)
    rescuer = make_worker(services, executor, "rescuer")

    first = await stalled.queue.claim("stalled", stalled.kinds, lease_seconds=0)
    assert first is not None
    assert first.receives == 1
    again = await rescuer.queue.claim("rescuer", rescuer.kinds)
    assert again is not None
    assert (again.id, again.receives, again.locked_by) == (first.id, 2, "rescuer")
    await rescuer.process(again)  # runs the chain: register goes on in the same job
    assert executor.executed() == ["provision", "register"]
    await stalled.process(first)  # the stalled worker wakes up: its delivery is stale
    assert executor.executed() == ["provision", "register"]  # it ran nothing
    await drain(rescuer)

    assert executor.executed() == ["provision", "register"]
    assert (await request_row(services, request_id))["status"] == "completed"


async def test_heartbeat_keeps_the_lease(services: Services) -> None:
    await submit(services)
    queue = PgQueue(services.db)
    job = await queue.claim("holder", [RUN_ACTION], lease_seconds=0)
    assert job is not None
    assert await queue.heartbeat(job, lease_seconds=300)
    assert await queue.claim("other", [RUN_ACTION]) is None
    assert await queue.complete(job)
    assert not await queue.heartbeat(job)


async def test_dead_letter_after_three_receives(services: Services) -> None:
    request_id = await submit(services)
    queue = PgQueue(services.db)
    receives = []
    for n in range(3):
        job = await queue.claim(f"crashing-{n}", [RUN_ACTION], lease_seconds=0)
        assert job is not None
        receives.append(job.receives)
    assert receives == [1, 2, 3]
    assert await queue.claim("next", [RUN_ACTION]) is None

    (job_row,) = [j for j in await jobs_of(services, request_id) if j["kind"] == RUN_ACTION]
    assert job_row["status"] == "dead"
    assert "3 receives" in job_row["last_error"]
    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    assert request["error_context"]["reason"] == "dead-lettered"
    assert (await events(services, request_id))[-1] == (None, "request_failed")


async def test_failing_handler_is_retried_then_dead_lettered(services: Services) -> None:
    request_id = await submit(services)
    worker = make_worker(services, ScriptedExecutor())
    seen: list[int] = []

    async def broken(job: Job) -> None:
        seen.append(job.receives)
        raise RuntimeError("handler bug")

    worker.register(RUN_ACTION, broken)
    await drain(worker)

    assert seen == [1, 2, 3]
    (job_row,) = [j for j in await jobs_of(services, request_id) if j["kind"] == RUN_ACTION]
    assert job_row["status"] == "dead"
    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    assert "handler bug" in request["error_context"]["error"]


async def test_run_forever_stops_on_event(services: Services) -> None:
    executor = ScriptedExecutor()
    request_id = await submit(services)
    worker = make_worker(services, executor)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop))
    for _ in range(500):
        if (await request_row(services, request_id))["status"] == "completed":
            break
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert executor.executed() == ["provision", "register"]
