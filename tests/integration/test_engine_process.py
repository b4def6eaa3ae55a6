"""The worker pool as `pao worker` and `pao serve` run it: executors from entry points,
several workers sharing one queue, metrics, and a clean stop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from orchestrator.engine.executor import ActionResult, ActionRun, Completed, Registry
from orchestrator.engine.metrics import EngineMetrics
from orchestrator.engine.process import WorkerPool, load_registry
from orchestrator.requests.service import RequestDraft
from orchestrator.services import Services
from tests.integration.engine_harness import (
    REQUESTER,
    item_document,
    request_row,
    store_item,
    submit,
)

pytestmark = pytest.mark.anyio


class Counting:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def execute(self, action: ActionRun) -> ActionResult:
        self.calls.append((action.request_id, action.action_id))
        await asyncio.sleep(0)
        return Completed({"id": f"{action.action_id}-1"})

    async def poll(self, action: ActionRun) -> ActionResult:
        return Completed({})


def test_executors_come_from_the_installed_entry_points() -> None:
    registry = load_registry({"TFC_TOKEN": "x"})
    assert "rest-api" in registry


async def wait_for(predicate: Any, attempts: int = 500) -> None:
    for _ in range(attempts):
        if await predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def test_pool_runs_chains_to_completion_and_reports_metrics(services: Services) -> None:
    actions = [
        {
            "id": f"step{n}",
            "type": "rest-api",
            "config": {"method": "POST", "url": "https://x.test"},
        }
        for n in range(4)
    ]
    await store_item(services, item_document("pool-item", actions))
    executor = Counting()
    metrics = EngineMetrics(CollectorRegistry())
    pool = WorkerPool(services, Registry({"rest-api": executor}), metrics=metrics)
    assert len(pool.workers) == services.settings.engine.concurrency
    heard: list[str] = []

    async def listener(job: Any) -> None:
        heard.append(job.payload["request_id"])

    pool.listen(listener)
    ids = [await submit(services, "pool-item", {"instanceName": f"db-{n}"}) for n in range(4)]
    # Requests from a face (the bot's pull requests) are the ones its listeners hear about.
    from_bot = [
        str(
            (
                await services.requests.submit(
                    RequestDraft("pool-item", {"instanceName": f"pr-{n}"}, source="github-pr"),
                    REQUESTER,
                    correlation_id=f"github-{n}",
                )
            )["id"]
        )
        for n in range(2)
    ]
    ids += from_bot
    stop = asyncio.Event()
    running = asyncio.create_task(pool.run(stop))

    async def all_done() -> bool:
        rows = [await request_row(services, i) for i in ids]
        depth = await pool.queue.depth()
        return (
            all(r["status"] == "completed" for r in rows)
            and depth.ready + depth.running == 0  # every notice delivered
            and set(heard) == set(from_bot)
        )

    await wait_for(all_done)
    stop.set()
    await asyncio.wait_for(running, timeout=30)

    # Four workers, one queue: every action ran exactly once.
    assert sorted(executor.calls) == sorted((i, f"step{n}") for i in ids for n in range(4))
    assert set(heard) == set(from_bot)  # each step and the completion, nothing of the others
    await metrics.refresh_queue(pool.queue)
    text = generate_latest(metrics.registry).decode()
    assert 'pao_action_attempts_total{action_type="rest-api",outcome="completed"} 24.0' in text
    assert 'pao_action_failures_total{action_type="rest-api"' not in text  # none failed
    assert (
        'pao_requests_total{catalog_item="pool-item",status="completed",user_team="payments"} 6.0'
        in text
    )
    assert 'pao_queue_depth{state="ready"} 0.0' in text
    assert "pao_request_duration_seconds_bucket" in text


async def test_api_metrics_include_the_queue(services: Services) -> None:
    from tests.integration.api_fixtures import app_client

    async with app_client(services) as client:
        text = (await client.get("/metrics")).text
    assert "pao_queue_depth" in text
    assert "pao_queue_oldest_job_age_seconds" in text
    assert "pao_action_failures_total" in text
    assert "pao_catalog_cache_hit_ratio" in text
