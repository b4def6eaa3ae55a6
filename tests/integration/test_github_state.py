"""The GitHub face's state in the core (orchestrator/github/): webhook deliveries stored with
their job, claimed once, taken again after a failure; work on one key serialised across
connections."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.github.deliveries import Delivery, WebhookDeliveries
from orchestrator.github.links import RequestLinks
from orchestrator.store.database import Database

pytestmark = pytest.mark.anyio

KIND = "github-webhook"


async def test_a_delivery_is_stored_once_with_its_job(db: Database) -> None:
    deliveries = WebhookDeliveries(db)
    first = Delivery("d-1", "issues", '{"action": "opened", "n": 1}')
    twice = [first, Delivery("d-2", "push", "{}"), first]
    assert await deliveries.store(twice, job_kind=KIND, max_receives=5) == {"d-1", "d-2"}
    assert await deliveries.store([first], job_kind=KIND, max_receives=5) == set()
    jobs = await db.fetch_all(None, "SELECT payload, max_receives FROM jobs ORDER BY id")
    assert [(j["payload"]["delivery_id"], j["max_receives"]) for j in jobs] == [
        ("d-1", 5),
        ("d-2", 5),
    ]


async def test_a_delivery_is_claimed_until_it_is_processed_and_taken_again_after_a_failure(
    db: Database,
) -> None:
    deliveries = WebhookDeliveries(db)
    await deliveries.store(
        [Delivery("d-1", "issues", '{"action": "opened"}')], job_kind=KIND, max_receives=5
    )
    claimed = await deliveries.claim("d-1")
    assert claimed is not None
    assert (claimed.event, claimed.payload) == ("issues", {"action": "opened"})
    await deliveries.finish("d-1", "failed", "boom")
    row = await db.fetch_one(None, "SELECT status, error FROM webhook_deliveries")
    assert row == {"status": "failed", "error": "boom"}
    await db.execute(None, "DELETE FROM jobs")  # the failed job is gone; GitHub redelivers
    redelivered = Delivery("d-1", "issues", '{"action": "edited"}')
    assert await deliveries.store([redelivered], job_kind=KIND, max_receives=5) == {"d-1"}
    again = await deliveries.claim("d-1")
    assert again is not None
    assert again.payload == {"action": "edited"}
    await deliveries.finish("d-1", "processed")
    assert await deliveries.claim("d-1") is None  # a job run twice processes it once
    assert await deliveries.store([redelivered], job_kind=KIND, max_receives=5) == set()


async def test_work_on_one_key_is_serialised_and_other_keys_are_not(db: Database) -> None:
    links = RequestLinks(db)
    order: list[str] = []
    holding = asyncio.Event()

    async def first() -> None:
        async with links.locked("status:1"):
            order.append("first in")
            holding.set()
            async with links.locked("status:2"):  # another key: not blocked
                order.append("other key")
            await asyncio.sleep(0.2)  # room for the second to (wrongly) get in
            order.append("first out")

    async def second() -> None:
        await holding.wait()
        async with links.locked("status:1"):
            order.append("second in")

    await asyncio.gather(first(), second())
    assert order == ["first in", "other key", "first out", "second in"]
