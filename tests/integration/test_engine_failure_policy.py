"""Retries, the circuit breaker, per-attempt timeouts, crash limits and correlation keys, through
the real engine on real PostgreSQL (PgQueue, ChainRunner, Worker). The rest-api scenarios use
the real executor against the loopback fake REST target; the rest a scripted executor.

Time is never waited for: breakers run on an injected clock, delays are read from the jobs'
``run_after - created_at`` (both from one transaction's ``now()``), due jobs are fast-forwarded.
The queue-facing scenarios also run on SQS (``test_engine_failure_policy_sqs.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from actions.rest_api import RestApiExecutor, RestApiSettings, SecretResolver
from orchestrator.engine.backoff import Backoff
from orchestrator.engine.breaker import BreakerState, CircuitBreaker, Permit
from orchestrator.engine.executor import (
    ActionResult,
    ActionRun,
    Completed,
    Failed,
    Pending,
    Registry,
)
from orchestrator.engine.jobs import ACTION_CRASH_LIMIT
from orchestrator.engine.metrics import EngineMetrics
from orchestrator.engine.pg_queue import RUN_ACTION
from orchestrator.engine.policy import RetryPolicy
from orchestrator.engine.worker import Worker
from orchestrator.identity.principal import Principal
from orchestrator.services import Services
from tests.fakes.rest_target import RestTarget, Scripted, serve_rest_target
from tests.integration.engine_harness import (
    Crash,
    action_rows,
    drain,
    events,
    item_document,
    jobs_of,
    make_due,
    make_worker,
    ready_jobs,
    request_row,
    store_item,
    submit,
)

pytestmark = pytest.mark.anyio

OPERATOR = Principal(email="oncall@example.com", teams=("platform",))
SERVICE = "svc"  # the scripted executor's breaker target


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def opened(clock: Clock, *, reset: float = 30.0) -> CircuitBreaker:
    """A breaker whose circuit for SERVICE has just opened (one failure is the threshold)."""
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=reset, clock=clock)
    permit = breaker.admit(SERVICE)
    assert isinstance(permit, Permit)
    with permit:
        permit.failed()
    assert breaker.state(SERVICE) is BreakerState.OPEN
    return breaker


class Script:
    """A scripted executor naming SERVICE as its target. ``block``: the next execute waits for
    ``release`` (set ``started`` first), to be cancelled or timed out mid-call."""

    def __init__(self, *results: ActionResult) -> None:
        self.results = list(results)
        self.runs: list[ActionRun] = []
        self.polls: list[ActionRun] = []
        self.block = 0
        self.crashes: dict[str, int] = {}  # action id -> crashes left after the call
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.on_target: list[Any] = []  # hooks run on each target() call

    def target(self, action: ActionRun) -> str | None:
        for hook in self.on_target:
            hook()
        return SERVICE

    async def execute(self, action: ActionRun) -> ActionResult:
        self.runs.append(action)
        if self.block:
            self.block -= 1
            self.started.set()
            await self.release.wait()
        result = self.results.pop(0) if self.results else Completed({"id": action.action_id})
        if self.crashes.get(action.action_id):
            self.crashes[action.action_id] -= 1
            raise Crash
        return result

    async def poll(self, action: ActionRun) -> ActionResult:
        self.polls.append(action)
        return Completed({"id": action.action_id})


def action(action_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": action_id,
        "type": "rest-api",
        "config": {"method": "POST", "url": "https://svc.test/{{fields.instanceName}}"},
        **extra,
    }


async def start(services: Services, *actions: dict[str, Any]) -> str:
    item_id = f"policy-{uuid.uuid4().hex[:8]}"
    await store_item(services, item_document(item_id, list(actions)))
    return await submit(services, item_id, {"instanceName": "orders"})


def worker(
    services: Services,
    executor: Any,
    breaker: CircuitBreaker | None = None,
    policy: RetryPolicy | None = None,
    *,
    lease_seconds: float = 300.0,
) -> Worker:
    kw: dict[str, Any] = {} if policy is None else {"retry_policy": policy}
    return make_worker(
        services,
        Registry({"rest-api": executor}),
        breaker=breaker,
        lease_seconds=lease_seconds,
        **kw,
    )


async def scheduled_in(services: Services, request_id: str) -> list[float]:
    """Seconds from each waiting job's enqueueing to its run time (one transaction's now())."""
    rows = await services.db.fetch_all(
        None,
        "SELECT EXTRACT(EPOCH FROM run_after - created_at)::float8 AS s FROM jobs "
        "WHERE request_id = %(id)s AND status = 'ready' AND kind = %(kind)s ORDER BY id",
        {"id": request_id, "kind": RUN_ACTION},
    )
    return [round(r["s"], 3) for r in rows]


async def expire_leases(services: Services, request_id: str) -> None:
    """The worker holding the request's jobs died: their leases run out now."""
    await services.db.execute(
        None,
        "UPDATE jobs SET locked_until = now() - interval '1 second' "
        "WHERE request_id = %(id)s AND status = 'running'",
        {"id": request_id},
    )


# -- an open circuit delays, it does not fail --------------------------------------------------


async def test_open_circuit_delays_to_the_probe_time_without_spending_attempts(
    services: Services,
) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=120.0, clock=clock)
    script = Script(Failed("HTTP 502", retryable=True, details={"status_code": 502}))
    request_id = await start(services, action("call", retry={"maxAttempts": 3}))
    await drain(worker(services, script, breaker))

    assert len(script.runs) == 1  # the retry did not call the target
    row = (await action_rows(services, request_id))["call"]
    assert (row["status"], row["attempts"]) == ("retrying", 1)
    assert await scheduled_in(services, request_id) == [120.0]  # the probe time
    logs = await services.db.fetch_all(
        None,
        "SELECT message, details FROM request_logs WHERE request_id = %(id)s "
        "AND event = 'action_delayed'",
        {"id": request_id},
    )
    assert len(logs) == 1
    assert "circuit for svc is open" in logs[0]["message"]
    assert "no attempt spent" in logs[0]["message"]
    assert logs[0]["details"]["delay_seconds"] == 120.0

    clock.now += 121
    await make_due(services, request_id)
    await drain(worker(services, script, breaker))
    assert [r.attempt for r in script.runs] == [1, 2]
    assert breaker.state(SERVICE) is BreakerState.CLOSED
    assert (await request_row(services, request_id))["status"] == "completed"


async def test_circuit_state_is_exported_per_target(services: Services) -> None:
    metrics = EngineMetrics(CollectorRegistry())
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=30.0, clock=clock)
    script = Script(Failed("HTTP 502", retryable=True, details={"status_code": 502}))
    request_id = await start(services, action("call"))
    busy = make_worker(services, Registry({"rest-api": script}), breaker=breaker, observer=metrics)
    await drain(busy)

    def state() -> float | None:
        return metrics.registry.get_sample_value("pao_circuit_state", {"target": SERVICE})

    assert state() == 2  # open
    clock.now += 31
    await make_due(services, request_id)
    await drain(busy)
    assert state() is None  # the probe closed it: a closed circuit has no series
    assert (await request_row(services, request_id))["status"] == "completed"


async def test_circuit_opening_after_the_attempt_started_gives_the_attempt_back(
    services: Services,
) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=30.0, clock=clock)
    script = Script()
    calls = iter(range(100))

    def another_worker_fails_the_target() -> None:
        if next(calls) == 1:  # after the decision (call 0), before the call (call 1)
            permit = breaker.admit(SERVICE)
            assert isinstance(permit, Permit)
            with permit:
                permit.failed()

    script.on_target.append(another_worker_fails_the_target)
    request_id = await start(services, action("call"))
    await drain(worker(services, script, breaker))

    assert script.runs == []
    row = (await action_rows(services, request_id))["call"]
    assert (row["status"], row["attempts"]) == ("retrying", 0)
    assert await scheduled_in(services, request_id) == [30.0]
    assert ("call", "action_delayed") in await events(services, request_id)


async def test_operator_retry_probes_a_recovered_target_at_once(services: Services) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=600.0, clock=clock)
    script = Script(Failed("HTTP 503", retryable=True, details={"status_code": 503}))
    request_id = await start(services, action("call", retry={"maxAttempts": 1}))
    await drain(worker(services, script, breaker))
    assert (await request_row(services, request_id))["status"] == "failed"
    assert breaker.state(SERVICE) is BreakerState.OPEN

    await services.requests.retry(uuid.UUID(request_id), OPERATOR, "corr-retry")
    await drain(worker(services, script, breaker))  # the target recovered meanwhile
    assert len(script.runs) == 2
    assert (await request_row(services, request_id))["status"] == "completed"
    assert breaker.state(SERVICE) is BreakerState.CLOSED


# -- every probe outcome releases the probe ----------------------------------------------------


async def test_probe_that_times_out_releases_the_probe(services: Services) -> None:
    clock = Clock()
    breaker = opened(clock)
    clock.now += 31  # half-open: the next call is the probe
    script = Script()
    script.block = 1  # the probe hangs past the attempt's 1 s deadline
    request_id = await start(services, action("call", timeout="1s", retry={"maxAttempts": 2}))
    await drain(worker(services, script, breaker))

    # The probe timed out: a target failure, the circuit open again (not stuck half-open).
    assert len(script.runs) == 1
    assert breaker.state(SERVICE) is BreakerState.OPEN
    assert (await action_rows(services, request_id))["call"]["attempts"] == 1
    assert await scheduled_in(services, request_id) == [30.0]

    clock.now += 31
    await make_due(services, request_id)
    await drain(worker(services, script, breaker))
    assert len(script.runs) == 2  # the next probe went
    assert breaker.state(SERVICE) is BreakerState.CLOSED
    assert (await request_row(services, request_id))["status"] == "completed"


async def test_cancelled_probe_releases_the_probe(services: Services) -> None:
    clock = Clock()
    breaker = opened(clock)
    clock.now += 31
    script = Script()
    script.block = 1
    request_id = await start(services, action("call"))
    busy = worker(services, script, breaker)
    task = asyncio.create_task(busy.run_once())
    await script.started.wait()
    task.cancel()  # e.g. the worker shuts down mid-call
    with contextlib.suppress(asyncio.CancelledError):
        await task

    assert breaker.state(SERVICE) is BreakerState.HALF_OPEN
    assert breaker.delay(SERVICE) is None  # the probe slot is free: no "next probe in 0s"
    script.release.set()
    await expire_leases(services, request_id)
    await drain(worker(services, script, breaker))
    assert len(script.runs) == 2
    assert breaker.state(SERVICE) is BreakerState.CLOSED
    assert (await request_row(services, request_id))["status"] == "completed"


async def test_probe_past_its_deadline_releases_the_probe(services: Services) -> None:
    clock = Clock()
    script = Script(Pending("run-7", poll_after_seconds=60))
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=30.0, clock=clock)
    request_id = await start(services, action("call", timeout="1h"))
    await drain(worker(services, script, breaker))
    row = (await action_rows(services, request_id))["call"]
    assert row["external_ref"] == "run-7"

    permit = breaker.admit(SERVICE)  # meanwhile the target failed for someone else
    assert isinstance(permit, Permit)
    with permit:
        permit.failed()
    clock.now += 31  # half-open: the poll would be the probe
    await services.db.execute(  # an hour passes
        None,
        "UPDATE request_actions SET deadline_at = now() - interval '1 second' WHERE id = %(id)s",
        {"id": row["id"]},
    )
    await make_due(services, request_id)
    await drain(worker(services, script, breaker))

    assert script.polls == []  # past the deadline: not asked, the action fails
    assert (await request_row(services, request_id))["status"] == "failed"
    assert breaker.state(SERVICE) is BreakerState.HALF_OPEN
    assert breaker.delay(SERVICE) is None  # released without a verdict


# -- per-attempt timeouts and crash limits -------------------------------------------------------


async def test_crash_with_a_timeout_shorter_than_the_lease_completes_after_redelivery(
    services: Services,
) -> None:
    script = Script()
    script.crashes = {"call": 1}
    request_id = await start(services, action("call", timeout="30s"))
    crashing = worker(services, script)
    with pytest.raises(Crash):
        await crashing.run_once()
    first = (await action_rows(services, request_id))["call"]
    assert first["status"] == "in_progress"

    # The lease (300 s) outlives the attempt's 30 s: by the time the job is delivered again
    # the first deadline has long passed.
    await services.db.execute(
        None,
        "UPDATE request_actions SET deadline_at = now() - interval '1 minute' WHERE id = %(id)s",
        {"id": first["id"]},
    )
    await expire_leases(services, request_id)
    await drain(worker(services, script))

    assert (await request_row(services, request_id))["status"] == "completed"
    assert [r.attempt for r in script.runs] == [1, 1]  # the same attempt, run again
    assert len({r.correlation_key for r in script.runs}) == 1
    assert 0 < (script.runs[1].timeout_seconds or 0) <= 30  # a fresh deadline of its own


async def deliver(services: Services, script: Script, request_id: str) -> None:
    """One delivery of the request's job whose worker dies mid-call (its lease then runs out).
    On SQS the message may first travel through the dead-letter queue and the outbox, which
    takes the pumped queue a few claims."""
    sqs = services.settings.engine.queue_backend == "sqs"
    dying = worker(services, script, lease_seconds=0 if sqs else 300)
    with pytest.raises(Crash):
        await until_claimed(dying)
    await expire_leases(services, request_id)


async def until_claimed(dying: Worker) -> None:
    for _ in range(4):
        if await dying.run_once():
            return


async def crash_on(services: Services, script: Script, request_id: str, times: int) -> None:
    """Deliver the request's job ``times`` times, each delivery's worker dying mid-call."""
    for _ in range(times):
        await deliver(services, script, request_id)


async def settle(services: Services, script: Script) -> None:
    """Drain, going on past the claims that only move SQS messages along."""
    for _ in range(4):
        await drain(worker(services, script))


async def test_crash_limit_counts_per_action(services: Services) -> None:
    limit = ACTION_CRASH_LIMIT
    script = Script()
    script.crashes = {"first": limit - 1, "second": limit - 1}
    request_id = await start(services, action("first"), action("second"))
    await crash_on(services, script, request_id, limit - 1)  # first: all crashes but one
    await deliver(services, script, request_id)  # first completes, then second crashes
    await crash_on(services, script, request_id, limit - 2)  # second's other crashes
    await settle(services, script)  # second completes: 2 * limit receives of the job in all

    request = await request_row(services, request_id)
    assert request["status"] == "completed", request["error_context"]
    assert [r.action_id for r in script.runs] == ["first"] * limit + ["second"] * limit


async def test_crashing_on_one_action_up_to_the_limit_fails_it_clearly(
    services: Services,
) -> None:
    script = Script()
    script.crashes = {"second": ACTION_CRASH_LIMIT}
    request_id = await start(services, action("first"), action("second"))
    await crash_on(services, script, request_id, ACTION_CRASH_LIMIT)
    await settle(services, script)  # the sweep (or SQS's dead-letter queue) finds the job dead

    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    assert request["error_context"]["failed_action"] == "second"
    crashed = f"worker crashed {ACTION_CRASH_LIMIT} times while running second"
    assert crashed in request["error_context"]["error"]
    actions = await action_rows(services, request_id)
    assert actions["first"]["status"] == "completed"
    assert actions["second"]["status"] == "failed"
    assert crashed in actions["second"]["error"]["message"]
    assert actions["second"]["outcome_unknown"] is True  # an operator's retry keeps its key


# -- declared backoff and Retry-After --------------------------------------------------------------


async def test_declared_backoff_delays_are_scheduled(services: Services) -> None:
    script = Script(*[Failed("HTTP 503", retryable=True, details={"status_code": 503})] * 3)
    policy = RetryPolicy(Backoff(), retry_after_max_seconds=900, rng=random.Random(3))
    request_id = await start(
        services,
        action("call", retry={"maxAttempts": 4, "initialDelay": "30s", "maxDelay": "45s"}),
    )
    delays: list[float] = []
    for _ in range(3):
        await drain(worker(services, script, policy=policy))
        delays += await scheduled_in(services, request_id)
        await make_due(services, request_id)
    assert 30.0 <= delays[0] <= 37.5  # initialDelay, jittered upwards by at most 25 %
    assert delays[1:] == [45.0, 45.0]  # 60 s and 120 s capped by maxDelay
    await drain(worker(services, script, policy=policy))
    assert (await request_row(services, request_id))["status"] == "completed"


async def test_defaults_apply_without_a_declared_backoff(services: Services) -> None:
    script = Script(Failed("HTTP 503", retryable=True, details={"status_code": 503}))
    policy = RetryPolicy(Backoff(jitter=0.0))
    request_id = await start(services, action("call"))
    await drain(worker(services, script, policy=policy))
    assert await scheduled_in(services, request_id) == [2.0]


# -- the rest-api executor against a loopback target --------------------------------------------

SETTINGS = RestApiSettings(allowed_hosts=frozenset({"127.0.0.1"}), default_timeout_seconds=5.0)


@pytest.fixture
def rest_target() -> Iterator[RestTarget]:
    with serve_rest_target() as fake:
        yield fake


def post(action_id: str, path: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": action_id,
        "type": "rest-api",
        "config": {
            "method": "POST",
            "url": "{{environment.TARGET_URL}}" + path,
            "body": {"name": "{{fields.instanceName}}"},
            "expectedStatus": [200, 201],
        },
        **extra,
    }


def rest_worker(
    services: Services,
    target: RestTarget,
    breaker: CircuitBreaker | None = None,
    policy: RetryPolicy | None = None,
    settings: RestApiSettings = SETTINGS,
) -> Worker:
    kw: dict[str, Any] = {} if policy is None else {"retry_policy": policy}
    return make_worker(
        services,
        Registry({"rest-api": RestApiExecutor(SecretResolver({}), settings)}),
        breaker=breaker,
        template_environment={"TARGET_URL": target.base_url},
        **kw,
    )


async def test_rate_limiting_does_not_trip_the_breaker(
    services: Services, rest_target: RestTarget
) -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=30.0, clock=Clock())
    busy = Scripted(429, {"error": "slow down"}, {"Retry-After": "0"})
    rest_target.script("/api/resources", busy, busy, busy)
    request_id = await start(services, post("create", "/api/resources", retry={"maxAttempts": 5}))
    await drain(rest_worker(services, rest_target, breaker))

    assert (await request_row(services, request_id))["status"] == "completed"
    posts = rest_target.seen("/api/resources", "POST")
    assert len(posts) == 4
    assert len({p.headers["idempotency-key"] for p in posts}) == 1  # 429: not acted on
    endpoint = f"{rest_target.base_url.replace('http://', 'http://')}/api/resources"
    assert breaker.state(endpoint) is BreakerState.CLOSED
    assert not [e for e in await events(services, request_id) if e[1] == "action_delayed"]


async def test_a_failing_endpoint_does_not_fail_a_healthy_one_on_the_same_host(
    services: Services, rest_target: RestTarget
) -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=30.0, clock=Clock())
    rest_target.script("/broken/resources", *[Scripted(500, {"error": "boom"})] * 3)
    broken = await start(services, post("create", "/broken/resources", retry={"maxAttempts": 3}))
    await drain(rest_worker(services, rest_target, breaker))
    assert len(rest_target.seen("/broken/resources")) == 1  # then its circuit opened
    assert ("create", "action_delayed") in await events(services, broken)

    healthy = await start(services, post("create", "/healthy/resources"))
    await drain(rest_worker(services, rest_target, breaker))
    assert (await request_row(services, healthy))["status"] == "completed"
    assert ("create", "action_delayed") not in await events(services, healthy)
    host = rest_target.base_url.removeprefix("http://")
    assert breaker.state(f"http://{host}/broken/resources") is BreakerState.OPEN
    assert breaker.state(f"http://{host}/healthy/resources") is BreakerState.CLOSED


async def test_retry_after_beyond_the_cap_fails_clearly(
    services: Services, rest_target: RestTarget
) -> None:
    rest_target.script(
        "/api/resources", Scripted(429, {"error": "come back tomorrow"}, {"Retry-After": "86400"})
    )
    request_id = await start(services, post("create", "/api/resources", retry={"maxAttempts": 3}))
    policy = RetryPolicy(Backoff(), retry_after_max_seconds=900)
    await drain(rest_worker(services, rest_target, policy=policy))

    assert len(rest_target.seen("/api/resources")) == 1
    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    message = request["error_context"]["error"]["message"]
    assert "86400s (Retry-After)" in message
    assert "PAO_RETRY_AFTER_MAX_SECONDS=900s" in message
    assert await ready_jobs(services, request_id) == []  # nothing parked for a day


async def test_timeout_then_operator_retry_sends_the_same_idempotency_key(
    services: Services, rest_target: RestTarget
) -> None:
    rest_target.script("/api/resources", Scripted(201, {"id": "late"}, delay=2.0))
    request_id = await start(
        services, post("create", "/api/resources", timeout="1s", retry={"maxAttempts": 1})
    )
    fast = RestApiSettings(allowed_hosts=frozenset({"127.0.0.1"}), default_timeout_seconds=0.5)
    await drain(rest_worker(services, rest_target, settings=fast))
    row = (await action_rows(services, request_id))["create"]
    assert (row["status"], row["outcome_unknown"]) == ("failed", True)

    await services.requests.retry(uuid.UUID(request_id), OPERATOR, "corr-retry")
    await drain(rest_worker(services, rest_target, settings=fast))
    assert (await request_row(services, request_id))["status"] == "completed"
    keys = [p.headers["idempotency-key"] for p in rest_target.seen("/api/resources", "POST")]
    assert len(keys) == 2
    assert keys[0] == keys[1]  # the target saw one key: the work it may have done is found


async def test_known_failure_then_operator_retry_sends_a_new_idempotency_key(
    services: Services, rest_target: RestTarget
) -> None:
    rest_target.script("/api/resources", Scripted(400, {"error": "owner unknown"}))
    request_id = await start(services, post("create", "/api/resources"))
    await drain(rest_worker(services, rest_target))
    row = (await action_rows(services, request_id))["create"]
    assert (row["status"], row["outcome_unknown"]) == ("failed", False)

    await services.requests.retry(uuid.UUID(request_id), OPERATOR, "corr-retry")
    await drain(rest_worker(services, rest_target))
    assert (await request_row(services, request_id))["status"] == "completed"
    keys = [p.headers["idempotency-key"] for p in rest_target.seen("/api/resources", "POST")]
    assert len(keys) == 2
    assert keys[0] != keys[1]


async def test_automatic_retries_keep_the_key_once_an_outcome_was_unknown(
    services: Services, rest_target: RestTarget
) -> None:
    """A timeout may have done the work under its key; a 502 to the next attempt does not
    undo it, so every later attempt keeps that key (the fault run's duplicates: a new key
    after the 502 made the target create the resource a second time)."""
    rest_target.script(
        "/api/resources",
        Scripted(201, {"id": "late"}, delay=1.0),  # times out: outcome unknown
        Scripted(502, {"error": "bad gateway"}),  # a known failure, after an unknown one
    )
    request_id = await start(services, post("create", "/api/resources", retry={"maxAttempts": 3}))
    fast = RestApiSettings(allowed_hosts=frozenset({"127.0.0.1"}), default_timeout_seconds=0.3)
    await drain(rest_worker(services, rest_target, settings=fast))

    assert (await request_row(services, request_id))["status"] == "completed"
    keys = [p.headers["idempotency-key"] for p in rest_target.seen("/api/resources", "POST")]
    assert len(keys) == 3
    assert keys[0] == keys[1] == keys[2]
    assert len(await jobs_of(services, request_id)) >= 1


async def test_known_failures_renew_the_key_until_an_outcome_is_unknown(
    services: Services, rest_target: RestTarget
) -> None:
    rest_target.script(
        "/api/resources",
        Scripted(502, {"error": "bad gateway"}),  # known: the next attempt gets a new key
        Scripted(201, {"id": "late"}, delay=1.0),  # times out under the second key
        Scripted(500, {"error": "oops"}),  # known, but the second key may have done the work
    )
    request_id = await start(services, post("create", "/api/resources", retry={"maxAttempts": 4}))
    fast = RestApiSettings(allowed_hosts=frozenset({"127.0.0.1"}), default_timeout_seconds=0.3)
    await drain(rest_worker(services, rest_target, settings=fast))

    assert (await request_row(services, request_id))["status"] == "completed"
    keys = [p.headers["idempotency-key"] for p in rest_target.seen("/api/resources", "POST")]
    assert len(keys) == 4
    assert keys[0] != keys[1]
    assert keys[1] == keys[2] == keys[3]
    row = (await action_rows(services, request_id))["create"]
    assert row["outcome_unknown"] is True  # sticky for the key
