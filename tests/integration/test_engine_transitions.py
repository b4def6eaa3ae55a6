"""The chain's step transition (``transitions.step``) on real PostgreSQL: it writes only while
the state it was planned on holds (the job's lease, the request's status, the actions' status
and attempts), and then writes all of it: actions, request, job, log rows."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from orchestrator.engine import transitions
from orchestrator.engine.jobs import RUN_ACTION
from orchestrator.engine.pg_queue import Job, PgQueue
from orchestrator.engine.records import ENGINE_ACTOR, ENGINE_SOURCE
from orchestrator.engine.transitions import Begin, Completion, Step, StepResult
from orchestrator.services import Services
from tests.integration import engine_harness as harness
from tests.integration.engine_harness import action_rows, events, jobs_of, request_row
from tests.samples import FIELDS, ITEM

pytestmark = pytest.mark.anyio

CRASH_LIMIT = 5


def _step(request: dict[str, Any], job: Job, **change: Any) -> Step:
    return Step(
        request_id=request["id"],
        request_status=request["status"],
        correlation_id=request["correlation_id"],
        actor=ENGINE_ACTOR,
        source=ENGINE_SOURCE,
        job=job,
        crash_limit=CRASH_LIMIT,
        **change,
    )


def _begin(row: dict[str, Any]) -> Begin:
    return Begin(
        id=int(row["id"]),
        action_id=str(row["action_id"]),
        status=str(row["status"]),
        attempts=int(row["attempts"]),
        attempt=int(row["attempts"]) + 1,
        rendered_config={"shown": "masked"},
        deadline_at=None,
    )


async def test_a_step_writes_only_while_its_state_holds(services: Services) -> None:
    request_id = await harness.submit(services, ITEM, FIELDS)
    job = await PgQueue(services.db).claim("worker-1", [RUN_ACTION])
    assert job is not None
    assert str(job.request_id) == request_id
    request = await request_row(services, request_id)
    rows = await action_rows(services, request_id)

    first = await transitions.step(
        services.db,
        None,
        _step(request, job, begin=_begin(rows["provision"]), job_effect="point"),
    )
    assert first == StepResult(True, "in_progress")  # queued -> in_progress with the start
    (held,) = await jobs_of(services, request_id)
    assert held["payload"]["action_id"] == "provision"
    assert held["max_receives"] == job.receives - 1 + CRASH_LIMIT

    request = await request_row(services, request_id)
    rows = await action_rows(services, request_id)
    assert rows["provision"]["status"] == "in_progress"
    go_on = _step(
        request,
        job,
        done=Completion(int(rows["provision"]["id"]), 1, {"db_endpoint": "db.internal"}),
        begin=_begin(rows["register"]),
        job_effect="point",
        logs=[
            {
                "action_id": "provision",
                "level": "info",
                "event": "action_completed",
                "message": "provision completed",
                "details": {},
            }
        ],
    )
    # a delivery that lost its lease (another worker holds the job now) writes nothing
    stale = dataclasses.replace(job, locked_by="worker-2")
    assert not (await transitions.step(services.db, None, dataclasses.replace(go_on, job=stale))).ok
    assert (await action_rows(services, request_id))["provision"]["status"] == "in_progress"
    assert ("provision", "action_completed") not in await events(services, request_id)

    assert (await transitions.step(services.db, None, go_on)).ok
    rows = await action_rows(services, request_id)
    assert rows["provision"]["status"] == "completed"
    assert rows["provision"]["outputs"] == {"db_endpoint": "db.internal"}
    assert rows["register"]["status"] == "in_progress"
    assert rows["register"]["attempts"] == 1
    (held,) = await jobs_of(services, request_id)
    assert held["payload"]["action_id"] == "register"
    assert ("provision", "action_completed") in await events(services, request_id)
    # the same step again: the state it was planned on is gone, nothing is written twice
    assert not (await transitions.step(services.db, None, go_on)).ok
    assert [e for e in await events(services, request_id) if e[1] == "action_completed"] == [
        ("provision", "action_completed")
    ]

    finish = _step(
        await request_row(services, request_id),
        job,
        done=Completion(int(rows["register"]["id"]), 1, {"inventory_id": "inv-1"}),
        finish=True,
        job_effect="done",
    )
    assert await transitions.step(services.db, None, finish) == StepResult(True, "completed")
    assert (await request_row(services, request_id))["completed_at"] is not None
    (done,) = await jobs_of(services, request_id)
    assert done["status"] == "done"
    secrets = await services.db.fetch_one(
        None,
        "SELECT count(*) AS n FROM request_secrets WHERE request_id = %(id)s",
        {"id": uuid.UUID(request_id)},
    )
    assert secrets is not None
    assert secrets["n"] == 0


async def test_a_step_changing_its_job_must_be_guarded_by_it(services: Services) -> None:
    request_id = await harness.submit(services, ITEM, FIELDS)
    request = await request_row(services, request_id)
    unguarded = Step(
        request_id=request["id"],
        request_status=request["status"],
        correlation_id=request["correlation_id"],
        actor=ENGINE_ACTOR,
        source=ENGINE_SOURCE,
        finish=True,
        job_effect="done",
    )
    with pytest.raises(ValueError, match="guarded"):
        await transitions.step(services.db, None, unguarded)
    assert (await request_row(services, request_id))["status"] == "queued"
