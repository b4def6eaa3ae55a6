"""The chain's plain start (``ChainRunner._start_plainly``): a job reads its request without a
lock and starts the first action with one guarded statement. When the state changes between
that read and the write, nothing is written and the locked start decides again."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from orchestrator.engine.records import ENGINE_ACTOR, ENGINE_SOURCE
from orchestrator.identity.principal import Principal
from orchestrator.services import Services
from tests.integration.engine_harness import action_rows, drain, events, jobs_of, request_row
from tests.integration.test_engine_runner import ScriptedExecutor, make_worker, submit

pytestmark = pytest.mark.anyio

OPERATOR = Principal(email="oncall@example.com", teams=("platform",))


async def test_a_request_aborted_after_the_unlocked_read_starts_nothing(
    services: Services,
) -> None:
    executor = ScriptedExecutor()
    request_id = await submit(services)
    worker = make_worker(services, executor)
    start = worker.runner.recorder.start
    starts: list[Any] = []

    async def abort_then_start(*args: Any, **kwargs: Any) -> Any:
        if not starts:  # the abort lands between the plain start's read and its write
            await services.requests.abort(uuid.UUID(request_id), OPERATOR, "changed", "corr")
        starts.append(args)
        return await start(*args, **kwargs)

    worker.runner.recorder.start = abort_then_start  # type: ignore[method-assign]

    await drain(worker)  # the run-action job (and what the abort enqueued)

    assert len(starts) == 1  # the plain start planned the first action; the locked one
    assert executor.calls == []  # found the request aborted: nothing was called
    assert (await request_row(services, request_id))["status"] == "aborted"
    assert {r["status"] for r in (await action_rows(services, request_id)).values()} == {
        "cancelled"
    }
    assert not [e for e in await events(services, request_id) if e[1] == "action_started"]
    assert {j["status"] for j in await jobs_of(services, request_id)} == {"done"}


async def test_the_plain_start_runs_the_chain_as_the_locked_one_did(services: Services) -> None:
    executor = ScriptedExecutor()
    request_id = await submit(services)
    assert await drain(make_worker(services, executor)) == 1

    assert executor.executed() == ["provision", "register"]
    request = await request_row(services, request_id)
    assert request["status"] == "completed"
    assert await events(services, request_id) == [
        (None, "submitted"),
        ("provision", "action_started"),
        ("provision", "action_completed"),
        ("register", "action_started"),
        ("register", "action_completed"),
        (None, "request_completed"),
    ]
    audited = await services.db.fetch_all(
        None,
        "SELECT actor, source, correlation_id FROM audit_logs"
        " WHERE table_name = 'request_actions' AND operation = 'UPDATE'"
        " AND new_data ->> 'request_id' = %(id)s",
        {"id": request_id},
    )
    assert audited  # the plain start's write is audited as the engine's steps are
    assert {(a["actor"], a["source"], a["correlation_id"]) for a in audited} == {
        (ENGINE_ACTOR, ENGINE_SOURCE, request["correlation_id"])
    }
