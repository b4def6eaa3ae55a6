"""The PostgreSQL backend through database outages, with PostgreSQL behind a loopback relay the
test cuts (``tests/faults/tcp_relay.py``): a heartbeat that fails is tried again until the lease
is really lost (no action runs twice after a short outage), and the workers back off and log
one line when the database becomes unreachable and one when it answers again.

Time is never asserted: leases, heartbeats and backoffs are short through constructor
parameters, and the tests wait for conditions (bounded by generous timeouts).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from orchestrator.engine.executor import ActionResult, ActionRun, Completed, Registry
from orchestrator.engine.pg_queue import Job, PgQueue
from orchestrator.engine.reachability import Reachability
from orchestrator.engine.runner import ChainRunner
from orchestrator.engine.worker import Worker
from orchestrator.services import Services
from orchestrator.store.database import Database
from tests.faults.tcp_relay import TcpRelay
from tests.integration.engine_harness import (
    INSTANT,
    INSTANT_RETRIES,
    drain,
    item_document,
    make_worker,
    request_row,
    store_item,
    submit,
)
from tests.integration.lost_lease import expire_lease, first_action_lost_lease
from tests.integration.test_engine_sqs_outages import (
    FAST_OUTAGE_BACKOFF,
    Gate,
    running,
    two_step_item,
    unfinished_jobs,
    until,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def pg_relay(database_url: str) -> Iterator[TcpRelay]:
    """A cuttable relay in front of this test's PostgreSQL (over TCP only)."""
    params = conninfo_to_dict(database_url)
    host = str(params.get("host") or "")
    if not host or host.startswith("/"):
        pytest.skip("PostgreSQL is reached over a Unix socket here: no TCP to cut")
    relay = TcpRelay(host, int(params.get("port") or 5432))
    try:
        yield relay
    finally:
        relay.close()


@pytest.fixture
async def relayed_db(database_url: str, pg_relay: TcpRelay) -> AsyncIterator[Database]:
    """The test's database through the relay; waiting for a connection gives up after 1 s."""
    url = make_conninfo(database_url, host="127.0.0.1", port=str(pg_relay.port))
    database = await Database.open(url, min_size=1, max_size=6, name="pao-cut", timeout=1.0)
    try:
        yield database
    finally:
        await database.close()


def worker(
    services: Services, db: Database, name: str, gate: Gate, database: Reachability
) -> Worker:
    queue = PgQueue(db, database=database)
    runner = ChainRunner(
        db,
        services.catalog,
        queue,
        Registry({"rest-api": gate}),
        backoff=INSTANT,
        retry_policy=INSTANT_RETRIES,
    )
    return Worker(
        queue,
        runner,
        name,
        lease_seconds=3.0,
        heartbeat_seconds=0.3,
        idle_seconds=0.05,
        outage_backoff=FAST_OUTAGE_BACKOFF,
    )


async def test_short_database_outage_keeps_leases_and_runs_each_action_once(
    services: Services, relayed_db: Database, pg_relay: TcpRelay
) -> None:
    """Heartbeats fail while the database is cut off, and are tried again until it answers,
    well within the lease: no other worker takes the jobs, each action is called once."""
    await two_step_item(services, "pg-outage-item")
    gate = Gate()
    database = Reachability("PostgreSQL")
    workers = [worker(services, relayed_db, f"w{n}", gate, database) for n in range(3)]
    ids = [await submit(services, "pg-outage-item", {"instanceName": f"db-{n}"}) for n in range(2)]

    async def in_flight() -> bool:
        return len(gate.calls) == len(ids)

    async def down() -> bool:
        return not database.reachable

    async def up() -> bool:
        return database.reachable

    async def finished() -> bool:
        return await unfinished_jobs(services) == 0

    async with running(*(w.run_forever for w in workers)):
        await until(in_flight, "every request's first action running")
        pg_relay.cut()
        await until(down, "a heartbeat or a claim failing")
        await asyncio.sleep(0.5)  # shorter than the lease (3 s)
        pg_relay.restore()
        await until(up, "the database answering again")
        await asyncio.sleep(3.0)  # a lease: without the retried beats the jobs are taken
        gate.open.set()
        await until(finished, "every job finished")

    assert gate.calls == Counter({(i, f"step{n}"): 1 for i in ids for n in range(2)})
    assert [(await request_row(services, i))["status"] for i in ids] == ["completed"] * 2


async def test_database_outage_writes_a_bounded_number_of_log_lines(
    services: Services, relayed_db: Database, pg_relay: TcpRelay, caplog: Any
) -> None:
    """Idle workers while the database is cut off: one line when it becomes unreachable, one
    when it answers again, no traceback of ours; the claims back off; work submitted after
    the outage runs."""
    await two_step_item(services, "pg-quiet-item")
    gate = Gate()
    gate.open.set()
    database = Reachability("PostgreSQL")
    workers = [worker(services, relayed_db, f"w{n}", gate, database) for n in range(4)]
    caplog.set_level(logging.DEBUG, logger="orchestrator")

    async def refused_enough() -> bool:
        return pg_relay.refused >= 8 and not database.reachable

    async def finished() -> bool:
        return await unfinished_jobs(services) == 0 and database.reachable

    async with running(*(w.run_forever for w in workers)):
        pg_relay.cut()
        await until(refused_enough, "the workers' claims to fail")
        ours = [r for r in caplog.records if r.name.startswith("orchestrator")]
        during = [r for r in ours if r.levelno >= logging.WARNING]
        failed_claims = sum("still unreachable" in r.getMessage() for r in ours)
        pg_relay.restore()
        request_id = await submit(services, "pg-quiet-item", {"instanceName": "after"})
        await until(finished, "the work submitted after the outage")

    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("orchestrator") and r.levelno >= logging.WARNING
    ]
    assert [m.split(":")[0] for m in (r.getMessage() for r in during)] == [
        "PostgreSQL unreachable (receiving jobs)"
    ]
    assert failed_claims >= 3  # the claims did fail, quietly
    assert len(lines) == 2, lines
    assert lines[1].startswith("PostgreSQL reachable again")
    assert not [r for r in caplog.records if r.name.startswith("orchestrator") and r.exc_info]
    assert (await request_row(services, request_id))["status"] == "completed"


class GateOn:
    """Completes every action at once, except the first call of ``action_id``, which waits
    for the gate; it counts every call."""

    def __init__(self, action_id: str) -> None:
        self.action_id = action_id
        self.calls: Counter[tuple[str, str]] = Counter()
        self.open = asyncio.Event()
        self.waiting = asyncio.Event()

    async def execute(self, action: ActionRun) -> ActionResult:
        self.calls[(action.request_id, action.action_id)] += 1
        if action.action_id == self.action_id and not self.open.is_set():
            self.waiting.set()
            await self.open.wait()
        return Completed({"id": f"{action.action_id}-done"})

    async def poll(self, action: ActionRun) -> ActionResult:
        return Completed({})


async def test_lost_lease_hands_on_the_chain_instead_of_stranding_it(services: Services) -> None:
    """A worker whose lease ran out (another delivery holds its job now) records the action it
    ran: the next step it enqueues is not swallowed by the job it held (same dedupe key), and
    the other delivery stops at the recorded step. The request completes, each action once."""
    actions = [
        {
            "id": f"step{n}",
            "type": "rest-api",
            "config": {"method": "POST", "url": "https://x.test"},
        }
        for n in range(3)
    ]
    await store_item(services, item_document("pg-handover-item", actions))
    gate = GateOn("step1")
    first = make_worker(services, Registry({"rest-api": gate}), "first")
    second = make_worker(services, Registry({"rest-api": gate}), "second")
    request_id = await submit(services, "pg-handover-item", {"instanceName": "handover"})
    job = await first.queue.claim("first", first.kinds, 300.0)
    assert job is not None
    running_first = asyncio.create_task(first.process(job))
    await asyncio.wait_for(gate.waiting.wait(), timeout=30)  # step0 done, step1 in the call
    # The first worker's lease runs out (moved, not slept) and the job is received again.
    await services.db.execute(
        None,
        "UPDATE jobs SET locked_until = now() - interval '1 second' WHERE id = %(id)s",
        {"id": job.id},
    )
    again = await second.queue.claim("second", second.kinds, 300.0)
    assert again is not None
    assert again.id == job.id
    gate.open.set()
    await asyncio.wait_for(running_first, timeout=30)  # records step1, enqueues step2
    await second.process(again)  # finds step1 recorded: stops
    await drain(second)

    assert (await request_row(services, request_id))["status"] == "completed"
    assert gate.calls == Counter({(request_id, f"step{n}"): 1 for n in range(3)})


async def test_lost_lease_on_the_first_action_hands_on_the_chain(services: Services) -> None:
    """As above, on a request's first action (its job named no action when it was created),
    with the second delivery resuming that action while the first worker records it."""

    async def redeliver(job: Job) -> None:
        await expire_lease(services, job)

    await first_action_lost_lease(services, "pg-first-handover-item", redeliver)
