"""The engine on the SQS queue backend, against moto's server over loopback.

The important scenarios of ``test_engine_runner`` and ``test_engine_decisions`` run here again
unchanged: this module's ``api_settings`` puts the ``services`` fixture on the SQS backend, and
the harness's ``make_worker`` builds an SqsQueue for such services. The tests below them cover
what only SQS has: the outbox and its relay, duplicate and lost-delete messages, the redrive to
the dead-letter queue and its drain, and the worker pool running relay and drain itself.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest

from orchestrator.engine.executor import ActionResult, ActionRun, Completed, Registry
from orchestrator.engine.jobs import RUN_ACTION
from orchestrator.engine.process import WorkerPool
from orchestrator.engine.sqs.dead_letters import DeadLetterDrain
from orchestrator.engine.sqs.queue import Delivery, SqsQueue
from orchestrator.engine.sqs.relay import OutboxRelay
from orchestrator.engine.sqs.stats import SqsQueueDepth
from orchestrator.engine.worker import Worker
from orchestrator.services import Services
from orchestrator.settings import Settings
from orchestrator.store.database import Database
from tests.integration import test_engine_decisions as decisions
from tests.integration import test_engine_runner as runner
from tests.integration.engine_harness import (
    drain,
    events,
    item_document,
    jobs_of,
    request_row,
    store_item,
    submit,
)
from tests.integration.sqs_harness import SqsQueues, dummy_client, sqs_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def api_settings(sqs_queues: SqsQueues) -> Settings:
    """Every test of this module runs on the SQS backend with fresh queues."""
    return sqs_settings(sqs_queues)


# -- the shared scenarios, on SQS ----------------------------------------------------------------

test_two_action_chain_completes_with_outputs_flowing = (
    runner.test_two_action_chain_completes_with_outputs_flowing
)
test_transient_failures_then_success = runner.test_transient_failures_then_success
test_permanent_failure_fails_request_with_error_context = (
    runner.test_permanent_failure_fails_request_with_error_context
)
test_retries_stop_at_max_attempts = runner.test_retries_stop_at_max_attempts
test_pending_action_is_polled_to_completion = runner.test_pending_action_is_polled_to_completion
test_open_circuit_delays_then_half_open_probe_succeeds = (
    runner.test_open_circuit_delays_then_half_open_probe_succeeds
)
test_operator_retry_reruns_failed_action_and_continues = (
    runner.test_operator_retry_reruns_failed_action_and_continues
)
test_redelivered_jobs_never_rerun_completed_actions = (
    runner.test_redelivered_jobs_never_rerun_completed_actions
)
test_failing_handler_is_retried_then_dead_lettered = (
    runner.test_failing_handler_is_retried_then_dead_lettered
)
test_run_forever_stops_on_event = runner.test_run_forever_stops_on_event

test_escalation_opens_one_ticket_with_the_failure_context = (
    decisions.test_escalation_opens_one_ticket_with_the_failure_context
)
test_escalation_without_manual_support_is_logged = (
    decisions.test_escalation_without_manual_support_is_logged
)
test_manual_only_item_is_fulfilled_by_a_ticket = (
    decisions.test_manual_only_item_is_fulfilled_by_a_ticket
)
test_abort_cancels_in_flight_runs_where_supported = (
    decisions.test_abort_cancels_in_flight_runs_where_supported
)
test_abort_of_a_run_that_cannot_be_cancelled_says_so = (
    decisions.test_abort_of_a_run_that_cannot_be_cancelled_says_so
)
test_pending_action_past_its_timeout_fails_and_is_cancelled = (
    decisions.test_pending_action_past_its_timeout_fails_and_is_cancelled
)
test_call_running_past_the_timeout_fails_the_action = (
    decisions.test_call_running_past_the_timeout_fails_the_action
)
test_operator_retry_uses_a_new_correlation_key = (
    decisions.test_operator_retry_uses_a_new_correlation_key
)
test_notifications_reach_executors_and_listeners = (
    decisions.test_notifications_reach_executors_and_listeners
)


# -- helpers -------------------------------------------------------------------------------------


def sqs_worker(services: Services, executor: Any, worker_id: str = "worker-1", **kw: Any) -> Worker:
    return runner.make_worker(services, executor, worker_id, **kw)


def plain_queue(services: Services, queues: SqsQueues, db: Database | None = None) -> SqsQueue:
    """An SqsQueue that does not pump: only what a relay sent can be received."""
    return SqsQueue(
        db or services.db,
        queues.client,
        queues.queue_url,
        dead_letter_queue_url=queues.dead_letter_queue_url,
        wait_seconds=0,
    )


def relay(services: Services, queues: SqsQueues, **kw: Any) -> OutboxRelay:
    """A new relay, as a freshly started worker process would start."""
    client = dummy_client(services.settings.engine)
    return OutboxRelay(services.db, client, queues.queue_url, **kw)


async def outbox(services: Services) -> list[dict[str, Any]]:
    return await services.db.fetch_all(None, "SELECT * FROM outbox ORDER BY id")


async def run_action_job(services: Services, request_id: str) -> dict[str, Any]:
    (row,) = [j for j in await jobs_of(services, request_id) if j["kind"] == RUN_ACTION]
    return row


# -- the outbox ----------------------------------------------------------------------------------


async def test_every_job_gets_an_outbox_row_in_its_transaction(
    services: Services, sqs_queues: SqsQueues
) -> None:
    request_id = await runner.submit(services)
    job = await run_action_job(services, request_id)
    (row,) = await outbox(services)
    assert row["job_id"] == job["id"]
    assert row["sent_at"] is None
    assert sqs_queues.messages() == {"visible": 0, "in_flight": 0, "delayed": 0}

    # A pool opened without the option (the PostgreSQL backend) writes no outbox rows.
    plain = await Database.open(services.database_url, min_size=1, max_size=1)
    try:
        async with plain.transaction() as conn:
            await plain_queue(services, sqs_queues, plain).enqueue(
                conn, RUN_ACTION, {"request_id": request_id}, request_id=request_id
            )
        assert len(await outbox(services)) == 1
    finally:
        await plain.close()


async def test_crash_between_commit_and_send_loses_nothing(
    services: Services, sqs_queues: SqsQueues
) -> None:
    executor = runner.ScriptedExecutor()
    request_id = await runner.submit(services)
    # The process that committed the request died before its relay ran: nothing was sent.
    queue = plain_queue(services, sqs_queues)
    assert await queue.claim("worker-1", [RUN_ACTION]) is None
    (row,) = await outbox(services)
    assert row["sent_at"] is None

    # A new process's relay finds the unsent row and sends it, once.
    assert await relay(services, sqs_queues).run_once() == 1
    assert await relay(services, sqs_queues).run_once() == 0
    (row,) = await outbox(services)
    assert row["sent_at"] is not None
    worker = Worker(queue, sqs_worker(services, executor).runner, "worker-1", idle_seconds=0.01)
    assert await worker.run_once()  # the chain runs in that one job
    assert executor.executed(request_id) == ["provision", "register"]
    assert set(executor.created.values()) == {1}
    assert not await worker.run_once()  # no completion notice: nobody listens to it
    assert await relay(services, sqs_queues).run_once() == 0
    assert (await request_row(services, request_id))["status"] == "completed"
    assert {j["status"] for j in await jobs_of(services, request_id)} == {"done"}


async def test_duplicate_message_runs_the_job_once(
    services: Services, sqs_queues: SqsQueues
) -> None:
    """The relay crashed after sending but before marking the row sent: it sends again."""
    executor = runner.ScriptedExecutor()
    request_id = await runner.submit(services)
    await relay(services, sqs_queues).run_once()
    await services.db.execute(None, "UPDATE outbox SET sent_at = NULL")  # the lost mark
    await relay(services, sqs_queues).run_once()
    assert sqs_queues.messages()["visible"] == 2

    queue = plain_queue(services, sqs_queues)
    first = await queue.claim("worker-a", [RUN_ACTION])
    assert first is not None
    # The copy finds the job held by a live delivery: it is deleted, nothing is leased.
    assert await queue.claim("worker-b", [RUN_ACTION]) is None
    assert sqs_queues.messages() == {"visible": 0, "in_flight": 1, "delayed": 0}
    worker = sqs_worker(services, executor, "worker-a")
    await worker.process(first)
    assert executor.executed(request_id) == ["provision", "register"]
    assert sqs_queues.messages()["in_flight"] == 0  # completed: its message deleted


async def test_lost_delete_redelivers_a_finished_job_which_is_dropped(
    services: Services, sqs_queues: SqsQueues
) -> None:
    request_id = await runner.submit(services)
    await relay(services, sqs_queues).run_once()
    queue = plain_queue(services, sqs_queues)
    job = await queue.claim("worker-1", [RUN_ACTION], lease_seconds=0)
    assert job is not None
    async with services.db.transaction() as conn:  # completed; the process dies before delete
        assert await queue.complete(job, conn)
    assert sqs_queues.messages()["visible"] == 1  # the message is back

    assert await queue.claim("worker-2", [RUN_ACTION]) is None
    assert sqs_queues.messages() == {"visible": 0, "in_flight": 0, "delayed": 0}
    assert (await run_action_job(services, request_id))["status"] == "done"


async def test_delays_use_sqs_up_to_15_minutes_and_the_outbox_beyond(
    services: Services, sqs_queues: SqsQueues
) -> None:
    queue = plain_queue(services, sqs_queues)
    async with services.db.transaction() as conn:
        await queue.enqueue(conn, "soon", {}, delay=60)
        await queue.enqueue(conn, "later", {}, delay=3600)
    assert await relay(services, sqs_queues).run_once() == 1
    assert sqs_queues.messages() == {"visible": 0, "in_flight": 0, "delayed": 1}
    unsent = [r for r in await outbox(services) if r["sent_at"] is None]
    assert [r["body"]["kind"] for r in unsent] == ["later"]

    depth = await queue.depth()
    assert isinstance(depth, SqsQueueDepth)
    assert depth.messages is not None
    assert (depth.ready, depth.unsent) == (2, 1)
    assert (depth.messages.delayed, depth.messages.visible, depth.messages.dead_letter) == (1, 0, 0)

    # Once the later job is within 15 minutes, the relay sends it with the remaining delay.
    await services.db.execute(
        None, "UPDATE jobs SET run_after = now() + interval '10 minutes' WHERE kind = 'later'"
    )
    assert await relay(services, sqs_queues).run_once() == 1
    assert sqs_queues.messages()["delayed"] == 2


# -- leases, heartbeats, workers -----------------------------------------------------------------


async def test_stalled_lease_is_reclaimed_and_stale_delivery_ignored(
    services: Services, sqs_queues: SqsQueues
) -> None:
    executor = runner.ScriptedExecutor()
    request_id = await runner.submit(services)
    stalled = sqs_worker(services, executor, "stalled", lease_seconds=0)
    rescuer = sqs_worker(services, executor, "rescuer")

    first = await stalled.queue.claim("stalled", stalled.kinds, lease_seconds=0)
    assert first is not None
    assert first.receives == 1
    again = await rescuer.queue.claim("rescuer", rescuer.kinds)
    assert again is not None
    assert (again.id, again.receives) == (first.id, 2)
    holder = Delivery.of(again.locked_by)
    assert holder is not None
    assert holder.worker_id == "rescuer"
    assert holder.message_id == Delivery.of(first.locked_by).message_id  # type: ignore[union-attr]
    await rescuer.process(again)  # runs the chain: register goes on in the same job
    await stalled.process(first)  # the stalled worker wakes up: its delivery is stale
    assert executor.executed() == ["provision", "register"]  # it ran nothing more
    await drain(rescuer)

    assert executor.executed() == ["provision", "register"]
    assert (await request_row(services, request_id))["status"] == "completed"


async def test_heartbeat_keeps_the_lease_in_the_table_and_in_sqs(
    services: Services, sqs_queues: SqsQueues
) -> None:
    await runner.submit(services)
    await relay(services, sqs_queues).run_once()
    queue = plain_queue(services, sqs_queues)
    job = await queue.claim("holder", [RUN_ACTION], lease_seconds=0)
    assert job is not None
    assert sqs_queues.messages()["visible"] == 1  # a zero lease: visible again at once
    assert await queue.heartbeat(job, lease_seconds=300)
    assert sqs_queues.messages() == {"visible": 0, "in_flight": 1, "delayed": 0}
    assert await queue.claim("other", [RUN_ACTION]) is None
    assert await queue.complete(job)
    assert sqs_queues.messages()["in_flight"] == 0
    assert not await queue.heartbeat(job)


async def test_two_workers_run_each_job_once(services: Services, sqs_queues: SqsQueues) -> None:
    executor = runner.ScriptedExecutor()
    request_ids = [await runner.submit(services, instanceName=f"db-{n:02d}") for n in range(6)]
    second_db = await Database.open(
        services.database_url, min_size=1, max_size=4, queue_outbox=True
    )
    try:
        workers = [
            sqs_worker(services, executor, "worker-a"),
            sqs_worker(services, executor, "worker-b", db=second_db),
        ]

        async def run(worker: Worker) -> None:
            idle = 0
            while idle < 3:
                idle = 0 if await worker.run_once() else idle + 1

        await asyncio.gather(*(run(w) for w in workers))
    finally:
        await second_db.close()

    per_action = Counter((c[1], c[2]) for c in executor.calls)
    assert set(per_action.values()) == {1}
    assert len(per_action) == 2 * len(request_ids)
    for request_id in request_ids:
        assert (await request_row(services, request_id))["status"] == "completed"
    assert set(executor.created.values()) == {1}
    assert sqs_queues.messages() == {"visible": 0, "in_flight": 0, "delayed": 0}


# -- the dead-letter queue -----------------------------------------------------------------------


async def test_dead_letter_after_three_receives(services: Services, sqs_queues: SqsQueues) -> None:
    request_id = await runner.submit(services)
    await relay(services, sqs_queues).run_once()
    queue = plain_queue(services, sqs_queues)
    receives = []
    for n in range(3):  # three workers each die holding the job
        job = await queue.claim(f"crashing-{n}", [RUN_ACTION], lease_seconds=0)
        assert job is not None
        receives.append(job.receives)
    assert receives == [1, 2, 3]
    # SQS's redrive policy (maxReceiveCount 3) moves the message instead of a fourth receive.
    assert await queue.claim("next", [RUN_ACTION]) is None
    assert sqs_queues.messages(sqs_queues.dead_letter_queue_url)["visible"] == 1
    assert (await run_action_job(services, request_id))["status"] == "running"

    dead_letters = DeadLetterDrain(services.db, sqs_queues.client, sqs_queues.dead_letter_queue_url)
    assert await dead_letters.run_once() == 1
    assert sqs_queues.messages(sqs_queues.dead_letter_queue_url)["visible"] == 0
    job_row = await run_action_job(services, request_id)
    assert job_row["status"] == "dead"
    assert "dead-letter queue after 3 receives" in job_row["last_error"]
    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    assert request["error_context"]["reason"] == "dead-lettered"
    assert (await events(services, request_id))[-1] == (None, "request_failed")
    assert await dead_letters.run_once() == 0


# -- the worker pool -----------------------------------------------------------------------------


class Counting:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def execute(self, action: ActionRun) -> ActionResult:
        self.calls.append((action.request_id, action.action_id))
        return Completed({"id": f"{action.action_id}-1"})

    async def poll(self, action: ActionRun) -> ActionResult:
        return Completed({})


async def test_worker_pool_relays_and_runs_chains_on_sqs(
    services: Services, sqs_queues: SqsQueues
) -> None:
    actions = [
        {
            "id": f"step{n}",
            "type": "rest-api",
            "config": {"method": "POST", "url": "https://x.test"},
        }
        for n in range(3)
    ]
    await store_item(services, item_document("sqs-pool-item", actions))
    executor = Counting()
    pool = WorkerPool(
        services,
        Registry({"rest-api": executor}),
        sqs_client=dummy_client(services.settings.engine),
    )
    assert isinstance(pool.queue, SqsQueue)
    ids = [await submit(services, "sqs-pool-item", {"instanceName": f"db-{n}"}) for n in range(4)]
    stop = asyncio.Event()
    running = asyncio.create_task(pool.run(stop))
    try:
        for _ in range(1000):  # until every job (the completion notices too) is done
            left = await services.db.fetch_one(
                None, "SELECT count(*) AS n FROM jobs WHERE status <> 'done'"
            )
            if left == {"n": 0}:
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=30)

    assert sorted(executor.calls) == sorted((i, f"step{n}") for i in ids for n in range(3))
    assert [(await request_row(services, i))["status"] for i in ids] == ["completed"] * len(ids)
    unsent = await services.db.fetch_one(
        None, "SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL"
    )
    assert unsent == {"n": 0}
    assert sqs_queues.messages() == {"visible": 0, "in_flight": 0, "delayed": 0}


async def test_messages_name_only_the_job(services: Services, sqs_queues: SqsQueues) -> None:
    request_id = await runner.submit(services)
    await relay(services, sqs_queues).run_once()
    (message,) = sqs_queues.client.receive_message(QueueUrl=sqs_queues.queue_url)["Messages"]
    job = await run_action_job(services, request_id)
    # No payload travels through SQS: the jobs table keeps it.
    assert json.loads(message["Body"]) == {"job_id": job["id"], "kind": RUN_ACTION}
