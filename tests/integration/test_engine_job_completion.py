"""A job is completed once. When the chain's last step completes the run job itself (the plain
step, ``engine_step`` with ``job_effect="done"``), the worker's own ``complete`` after the
handler sends no statement on PgQueue; a job its handler did not complete is still completed
by the worker, with one statement."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.engine.executor import ActionResult, ActionRun, Completed, Registry
from orchestrator.engine.pg_queue import Job, PgQueue
from orchestrator.services import Services
from orchestrator.store.queries import QUERIES
from tests.integration import engine_harness as harness
from tests.integration.engine_harness import jobs_of, request_row
from tests.samples import FIELDS, ITEM

pytestmark = pytest.mark.anyio

OUTPUTS: dict[str, dict[str, Any]] = {
    "provision": {
        "db_endpoint": "orders-db.abc.rds.amazonaws.com",
        "db_arn": "arn:aws:rds:eu-west-1:1:db:orders-db",
        "master_secret_arn": "arn:aws:secretsmanager:eu-west-1:1:secret:orders",
    },
    "register": {"inventory_id": "inv-42", "inventory_url": "https://inventory.test/r/inv-42"},
}


class Completing:
    """Every action completes at once with its outputs."""

    def target(self, action: ActionRun) -> str | None:
        return None

    async def execute(self, action: ActionRun) -> ActionResult:
        return Completed(OUTPUTS[action.action_id], details={"status": 201})

    async def poll(self, action: ActionRun) -> ActionResult:
        return await self.execute(action)


def count_completions(services: Services, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The job ids of every ``queue_complete`` statement sent from now on."""
    sent: list[int] = []
    fetch_one = services.db.fetch_one

    async def counted(conn: Any, query: Any, params: Any = None) -> Any:
        # on a connection: without one, fetch_one opens its own and calls itself with it
        if conn is not None and query == QUERIES.queue_complete:
            sent.append(int(params["id"]))
        return await fetch_one(conn, query, params)

    monkeypatch.setattr(services.db, "fetch_one", counted)
    return sent


async def test_a_run_job_its_last_step_completed_is_not_completed_again(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    executor = Completing()
    worker = harness.make_worker(
        services,
        Registry({"terraform": executor, "rest-api": executor}),
        template_environment={"INVENTORY_URL": "https://inventory.test"},
    )
    assert isinstance(worker.queue, PgQueue)
    request_id = await harness.submit(services, ITEM, {**FIELDS, "credentialMode": "generated"})
    sent = count_completions(services, monkeypatch)

    assert await worker.run_once()  # one job runs the whole chain; its last step ends the job

    assert (await request_row(services, request_id))["status"] == "completed"
    (job,) = await jobs_of(services, request_id)
    assert job["status"] == "done"
    assert job["finished_at"] is not None
    assert sent == []  # engine_step completed it; the worker asked nothing more
    assert not await worker.run_once()  # and nothing is left to claim


async def test_a_job_its_handler_did_not_complete_is_completed_by_the_worker(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = harness.make_worker(services, Registry())
    handled: list[int] = []

    async def handler(job: Job) -> None:
        handled.append(job.id)

    worker.register("test-noop", handler)
    async with services.db.transaction() as conn:
        job_id = await worker.queue.enqueue(conn, "test-noop", {"n": 1})
    assert job_id is not None
    sent = count_completions(services, monkeypatch)

    assert await worker.run_once()

    assert handled == [job_id]
    assert sent == [job_id]  # one statement, from the worker
    row = await services.db.fetch_one(
        None, "SELECT status FROM jobs WHERE id = %(id)s", {"id": job_id}
    )
    assert row is not None
    assert row["status"] == "done"
