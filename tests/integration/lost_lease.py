"""A lost lease on a request's first action, for both queue backends: the scenario, with the
backend's way of handing a leased job to a second delivery passed in.

The first worker's lease runs out while it calls the first action; a second delivery of the
job resumes that action (its call is out too) when the first worker records it and enqueues
the next step. The first job named no action when it was created, so unless its start wrote
the action into its payload, it kept its dedupe key (``run:<request>``) and swallowed the next
step; the second delivery then found the action recorded and ended: the request was stranded.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

from orchestrator.engine.executor import ActionResult, ActionRun, Completed, Registry
from orchestrator.engine.pg_queue import Job
from orchestrator.services import Services
from tests.integration.engine_harness import (
    drain,
    item_document,
    make_worker,
    request_row,
    store_item,
    submit,
)


class HeldCalls:
    """Completes every action at once, except the first ``held`` calls of ``action_id``: call
    n waits until ``release[n]`` is set (``started[n]`` is set when it begins). Counts calls."""

    def __init__(self, action_id: str, held: int) -> None:
        self.action_id = action_id
        self.calls: Counter[tuple[str, str]] = Counter()
        self.started = [asyncio.Event() for _ in range(held)]
        self.release = [asyncio.Event() for _ in range(held)]
        self._held = 0

    async def execute(self, action: ActionRun) -> ActionResult:
        self.calls[(action.request_id, action.action_id)] += 1
        if action.action_id == self.action_id and self._held < len(self.release):
            n = self._held
            self._held += 1
            self.started[n].set()
            await self.release[n].wait()
        return Completed({"id": f"{action.action_id}-done"})

    async def poll(self, action: ActionRun) -> ActionResult:
        return Completed({})


async def first_action_lost_lease(
    services: Services, item_id: str, redeliver: Callable[[Job], Awaitable[None]]
) -> None:
    """Run the scenario; ``redeliver(job)`` ends the first delivery's lease (moved, not slept)
    and makes the job receivable again by the next claim."""
    actions = [
        {
            "id": f"step{n}",
            "type": "rest-api",
            "config": {"method": "POST", "url": "https://x.test"},
        }
        for n in range(3)
    ]
    await store_item(services, item_document(item_id, actions))
    gate = HeldCalls("step0", held=2)
    first = make_worker(services, Registry({"rest-api": gate}), "first")
    second = make_worker(services, Registry({"rest-api": gate}), "second")
    request_id = await submit(services, item_id, {"instanceName": "first-action"})
    job = await first.queue.claim("first", first.kinds, 300.0)
    assert job is not None
    running_first = asyncio.create_task(first.process(job))
    await asyncio.wait_for(gate.started[0].wait(), timeout=30)  # step0's call is out
    await redeliver(job)
    again = await second.queue.claim("second", second.kinds, 300.0)
    assert again is not None
    assert again.id == job.id
    running_second = asyncio.create_task(second.process(again))
    await asyncio.wait_for(gate.started[1].wait(), timeout=30)  # step0 resumed: out again
    gate.release[0].set()
    await asyncio.wait_for(running_first, timeout=30)  # records step0, enqueues step1
    gate.release[1].set()
    await asyncio.wait_for(running_second, timeout=30)  # finds step0 recorded: stops
    await drain(second)

    assert (await request_row(services, request_id))["status"] == "completed"
    # step0 was called by both deliveries (the same correlation key), the others once
    assert gate.calls == Counter(
        {(request_id, "step0"): 2, (request_id, "step1"): 1, (request_id, "step2"): 1}
    )


async def expire_lease(services: Services, job: Job) -> None:
    """The job's database lease ran out (moved, not slept)."""
    await services.db.execute(
        None,
        "UPDATE jobs SET locked_until = now() - interval '1 second' WHERE id = %(id)s",
        {"id": job.id},
    )
