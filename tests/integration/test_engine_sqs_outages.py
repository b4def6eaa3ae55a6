"""The SQS backend through SQS outages, against moto's server behind a loopback relay the test
cuts (``tests/faults/tcp_relay.py``): no action runs twice, no job is lost, no log flood.

Time is never asserted: leases, heartbeats and backoffs are short through constructor
parameters, and the tests wait for conditions (bounded by generous timeouts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from api.app import create_app
from orchestrator.engine.backoff import Backoff
from orchestrator.engine.executor import ActionResult, ActionRun, Completed, Registry
from orchestrator.engine.jobs import RUN_ACTION
from orchestrator.engine.pg_queue import Job
from orchestrator.engine.process import WorkerPool
from orchestrator.engine.reachability import Reachability
from orchestrator.engine.reconciler import OutboxReconciler
from orchestrator.engine.runner import ChainRunner
from orchestrator.engine.sqs.client import SqsPolicy, queue_name, sqs_client
from orchestrator.engine.sqs.dead_letters import DeadLetterDrain
from orchestrator.engine.sqs.queue import Delivery, SqsQueue
from orchestrator.engine.sqs.relay import OutboxRelay
from orchestrator.engine.sqs.stats import SqsQueueStats
from orchestrator.engine.worker import Worker
from orchestrator.services import Services
from orchestrator.settings import EngineSettings, Settings
from tests.faults.tcp_relay import TcpRelay
from tests.integration.engine_harness import (
    INSTANT,
    INSTANT_RETRIES,
    item_document,
    request_row,
    store_item,
    submit,
)
from tests.integration.lost_lease import expire_lease, first_action_lost_lease
from tests.integration.sqs_harness import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    SqsQueues,
    sqs_settings,
)

pytestmark = pytest.mark.anyio

FAST_OUTAGE_BACKOFF = Backoff(base_seconds=0.05, cap_seconds=0.3, jitter=0.0)
# One try per call, short timeouts: an outage is seen at once (production keeps 3 tries).
OUTAGE_POLICY = SqsPolicy(connect_timeout_seconds=1.0, read_timeout_seconds=5.0, max_attempts=1)


@pytest.fixture
def api_settings(sqs_queues: SqsQueues) -> Settings:
    return sqs_settings(sqs_queues)


@pytest.fixture
def sqs_relay(sqs_queues: SqsQueues) -> Iterator[TcpRelay]:
    """A cuttable relay in front of moto's server."""
    endpoint = urlsplit(sqs_queues.endpoint)
    assert endpoint.hostname is not None
    assert endpoint.port is not None
    relay = TcpRelay(endpoint.hostname, endpoint.port)
    try:
        yield relay
    finally:
        relay.close()


def relayed_client(relay: TcpRelay) -> Any:
    """An SQS client whose every call goes through ``relay``."""
    return sqs_client(
        EngineSettings(aws_region=REGION, sqs_endpoint_url=f"http://127.0.0.1:{relay.port}"),
        policy=OUTAGE_POLICY,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


async def until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 30.0) -> None:
    """Wait for ``condition`` (polling); fail naming ``what`` after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.05)
    _ = what


class Gate:
    """An executor whose calls wait until the test opens the gate; it counts every call."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.open = asyncio.Event()

    async def execute(self, action: ActionRun) -> ActionResult:
        self.calls[(action.request_id, action.action_id)] += 1
        await self.open.wait()
        return Completed({"id": f"{action.action_id}-done"})

    async def poll(self, action: ActionRun) -> ActionResult:
        return Completed({})


async def two_step_item(services: Services, item_id: str) -> None:
    actions = [
        {
            "id": f"step{n}",
            "type": "rest-api",
            "config": {"method": "POST", "url": "https://x.test"},
        }
        for n in range(2)
    ]
    await store_item(services, item_document(item_id, actions))


async def unfinished_jobs(services: Services) -> int:
    row = await services.db.fetch_one(
        None, "SELECT count(*) AS n FROM jobs WHERE status NOT IN ('done', 'dead')"
    )
    assert row is not None
    return int(row["n"])


@contextlib.asynccontextmanager
async def running(*tasks: Callable[[asyncio.Event], Awaitable[None]]) -> AsyncIterator[None]:
    stop = asyncio.Event()
    started = [asyncio.ensure_future(task(stop)) for task in tasks]
    try:
        yield
    finally:
        stop.set()
        # a bound for a hang, not a speed goal: a claim may wait out the pool's own 30 s
        # connection timeout after an outage on a loaded machine before its loop sees `stop`
        await asyncio.wait_for(asyncio.gather(*started), timeout=120)


async def test_outage_during_long_actions_runs_each_action_once(
    services: Services, sqs_queues: SqsQueues, sqs_relay: TcpRelay, caplog: Any
) -> None:
    """The issue's scenario: SQS is cut off from the workers running long actions for longer
    than the visibility timeout. Their heartbeats keep the database lease (PostgreSQL still
    answers); another worker, which still reaches SQS, receives the messages that came back
    and puts them back, as their database lease is live, instead of running them again. When
    SQS is back every request completes, each action called once."""
    await two_step_item(services, "sqs-outage-item")
    holders_sqs = Reachability(f"SQS queue {queue_name(sqs_queues.queue_url)}")
    gate = Gate()
    lease = 2.0  # SQS's visibility timeout of a receive, and the database lease

    def worker(name: str, client: Any, sqs: Reachability) -> Worker:
        queue = SqsQueue(
            services.db,
            client,
            sqs_queues.queue_url,
            dead_letter_queue_url=sqs_queues.dead_letter_queue_url,
            wait_seconds=0,
            reachability=sqs,
        )
        runner = ChainRunner(
            services.db,
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
            lease_seconds=lease,
            heartbeat_seconds=0.3,
            idle_seconds=0.05,
            outage_backoff=FAST_OUTAGE_BACKOFF,
        )

    cut_off = relayed_client(sqs_relay)  # the long actions' workers reach SQS through it
    holders = [worker(f"holder-{n}", cut_off, holders_sqs) for n in range(3)]
    receiver = worker("receiver", sqs_queues.client, Reachability("SQS (receiver)"))
    relay = OutboxRelay(services.db, sqs_queues.client, sqs_queues.queue_url, interval_seconds=0.05)
    drain = DeadLetterDrain(
        services.db, sqs_queues.client, sqs_queues.dead_letter_queue_url, interval_seconds=0.2
    )
    ids = [await submit(services, "sqs-outage-item", {"instanceName": f"db-{n}"}) for n in range(3)]
    caplog.set_level(logging.INFO, logger="orchestrator")

    async def in_flight() -> bool:
        return len(gate.calls) == len(ids)

    async def sqs_down() -> bool:
        return not holders_sqs.reachable

    async def put_back() -> bool:
        return any("came back while worker" in r.getMessage() for r in caplog.records)

    async def finished() -> bool:
        return await unfinished_jobs(services) == 0

    async with running(relay.run, drain.run, *(w.run_forever for w in holders)):
        await until(in_flight, "every request's first action running")
        sqs_relay.cut()
        await until(sqs_down, "a heartbeat seeing SQS unreachable")
        async with running(receiver.run_forever):
            # The messages' visibility runs out (no heartbeat reaches SQS); the receiver gets
            # them while their database lease is live.
            await until(put_back, "a message that came back put back")
            await asyncio.sleep(lease)  # and again, and again: still never run
            sqs_relay.restore()
            gate.open.set()
            await until(finished, "every job finished")

    assert gate.calls == Counter({(i, f"step{n}"): 1 for i in ids for n in range(2)})
    assert [(await request_row(services, i))["status"] for i in ids] == ["completed"] * 3
    assert holders_sqs.reachable


async def test_purged_queue_jobs_are_sent_again_and_complete(
    services: Services, sqs_queues: SqsQueues
) -> None:
    """The queue loses its messages (purged): the jobs rows still wait. The reconciler sends
    again those due too long without a message on the way, not a job a worker holds, and not
    one already sent again lately; the requests then complete."""
    await two_step_item(services, "sqs-purge-item")
    client = sqs_queues.client
    held_id = await submit(services, "sqs-purge-item", {"instanceName": "held"})
    relay = OutboxRelay(services.db, client, sqs_queues.queue_url, send_ahead_seconds=0)
    await relay.run_once()
    queue = SqsQueue(services.db, client, sqs_queues.queue_url, wait_seconds=0)
    held = await queue.claim("holder", [RUN_ACTION], lease_seconds=300)
    assert held is not None
    lost_ids = [
        await submit(services, "sqs-purge-item", {"instanceName": f"lost-{n}"}) for n in range(2)
    ]
    assert await relay.run_once() == 2
    client.purge_queue(QueueUrl=sqs_queues.queue_url)
    assert await queue.claim("w", [RUN_ACTION]) is None  # the messages are gone

    reconciler = OutboxReconciler(services.db, resend_after_seconds=60)
    assert await reconciler.run_once() == 0  # not due for long enough yet
    # Time passes (moved, not slept): the jobs were due, and sent, an hour ago.
    await services.db.execute(
        None, "UPDATE jobs SET run_after = now() - interval '1 hour' WHERE status = 'ready'"
    )
    await services.db.execute(None, "UPDATE outbox SET sent_at = now() - interval '1 hour'")
    assert await reconciler.run_once() == 2  # the held job is in flight: not sent again
    assert await reconciler.run_once() == 0  # a message is on its way (unsent row)
    assert await relay.run_once() == 2
    assert await reconciler.run_once() == 0  # sent just now

    gate = Gate()
    gate.open.set()
    runner = ChainRunner(
        services.db, services.catalog, queue, Registry({"rest-api": gate}), backoff=INSTANT
    )
    worker = Worker(queue, runner, "w", idle_seconds=0.01, error_backoff=INSTANT)
    for _ in range(20):
        await relay.run_once()
        if not await worker.run_once():
            break
    for request_id in lost_ids:
        assert (await request_row(services, request_id))["status"] == "completed"
    assert gate.calls == Counter({(i, f"step{n}"): 1 for i in lost_ids for n in range(2)})
    assert (await request_row(services, held_id))["status"] != "completed"


def outage_lines(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.levelno >= logging.WARNING]


async def test_outage_writes_a_bounded_number_of_log_lines(
    services: Services, sqs_queues: SqsQueues, sqs_relay: TcpRelay, caplog: Any
) -> None:
    """The worker pool (workers, relay, reconciler, dead-letter drain) with SQS cut: one line
    when SQS becomes unreachable and one when it answers again per queue, no traceback, and
    work submitted during the outage completes after it."""
    await two_step_item(services, "sqs-quiet-item")
    gate = Gate()
    gate.open.set()
    pool = WorkerPool(services, Registry({"rest-api": gate}), sqs_client=relayed_client(sqs_relay))
    assert pool.sqs is not None
    sqs = pool.sqs
    caplog.set_level(logging.DEBUG)
    async with running(pool.run):
        sqs_relay.cut()

        async def refused_enough() -> bool:  # every loop has failed, and backed off, a while
            return sqs_relay.refused >= 12 and not sqs.reachable

        await until(refused_enough, "the pool's calls to fail")
        # Submissions are accepted during the outage: the jobs wait in the outbox.
        ids = [
            await submit(services, "sqs-quiet-item", {"instanceName": f"q-{n}"}) for n in range(2)
        ]
        during = outage_lines(caplog.records)
        sqs_relay.restore()

        async def finished() -> bool:
            lines = outage_lines(caplog.records)
            down = sum(" unreachable" in r.getMessage() for r in lines)
            back = sum("reachable again" in r.getMessage() for r in lines)
            return await unfinished_jobs(services) == 0 and back == down

        await until(finished, "the work submitted during the outage")
    after = outage_lines(caplog.records)
    main = f"SQS queue {queue_name(sqs_queues.queue_url)} unreachable"
    assert [r for r in during if r.getMessage().startswith(main)], [r.getMessage() for r in during]
    assert all(" unreachable" in r.getMessage() for r in during), [r.getMessage() for r in during]
    assert not [r for r in after if r.exc_info], [r.getMessage() for r in after if r.exc_info]
    unreachable = [r for r in after if " unreachable" in r.getMessage()]
    back = [r for r in after if "reachable again" in r.getMessage()]
    assert 1 <= len(unreachable) <= 2, [r.getMessage() for r in unreachable]  # queue, DLQ
    assert len(back) == len(unreachable)
    assert len(after) <= 2 * len(unreachable) + 2, [r.getMessage() for r in after]
    assert sqs_relay.refused >= 12  # the calls did fail: the quiet log is not a quiet pool
    assert [(await request_row(services, i))["status"] for i in ids] == ["completed"] * 2


async def test_readiness_is_degraded_while_sqs_is_unreachable(
    services: Services, sqs_queues: SqsQueues, sqs_relay: TcpRelay
) -> None:
    """200 with status ``degraded`` and the queue's check degraded while SQS does not answer
    (requests are still accepted); ready again once it answers."""
    app: Any = create_app(services.settings, services=services)
    stats = SqsQueueStats(
        lambda: relayed_client(sqs_relay),
        sqs_queues.queue_url,
        sqs_queues.dead_letter_queue_url,
        max_age_seconds=0,
    )
    app.state.sqs_stats = stats  # readiness's view of SQS, through the cuttable relay
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

        async def ready() -> dict[str, Any]:
            await client.get("/api/v1/health/ready")  # starts a read of SQS, never waits for it
            await stats.settle()
            response = await client.get("/api/v1/health/ready")
            assert response.status_code == 200
            body: dict[str, Any] = response.json()
            return body

        assert (await ready())["checks"]["queue"] == {"status": "ok", "backend": "sqs"}
        sqs_relay.cut()
        body = await ready()
        assert body["status"] == "degraded"
        assert body["checks"]["queue"]["status"] == "degraded"
        assert "outbox" in body["checks"]["queue"]["detail"]
        assert body["checks"]["database"]["status"] == "ok"
        sqs_relay.restore()
        body = await ready()
        assert body["checks"]["queue"]["status"] == "ok"
        assert body["status"] in ("ready", "degraded")  # the cache may be down in this setup
        assert body["status"] == "ready" or body["checks"]["cache"]["status"] == "degraded"


async def test_lost_lease_on_the_first_action_hands_on_the_chain(
    services: Services, sqs_queues: SqsQueues
) -> None:
    """A request's first action resumed by a second delivery (its lease ran out and SQS made
    the message visible again) while the first worker records it: the chain goes on
    (``tests/integration/test_engine_outages_pg.py`` has the same on PostgreSQL)."""

    async def redeliver(job: Job) -> None:
        await expire_lease(services, job)
        delivery = Delivery.of(job.locked_by)
        assert delivery is not None
        sqs_queues.client.change_message_visibility(
            QueueUrl=sqs_queues.queue_url,
            ReceiptHandle=delivery.receipt_handle,
            VisibilityTimeout=0,
        )

    await first_action_lost_lease(services, "sqs-first-handover-item", redeliver)
