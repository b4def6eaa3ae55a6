"""The spec's metrics through the real API and engine on PostgreSQL, with the API and the worker
keeping separate registries as separate processes do: each counts what it did itself, once,
after commit, so their sum is exact."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.engine.executor import ActionResult, ActionRun, Completed, Failed, Registry
from orchestrator.engine.metrics import EngineMetrics
from orchestrator.engine.observer import after_commit
from orchestrator.services import Services
from tests.integration.api_fixtures import app_client
from tests.integration.engine_harness import drain, item_document, make_worker

pytestmark = pytest.mark.anyio

OK_ITEM = "metrics-ok"
BAD_ITEM = "metrics-bad"
TEAM = "platform"  # the local admin's team (PAO_AUTH_MODE=none)


class Target:
    """A REST target that accepts ``ok.test`` and answers 422 (a client error) elsewhere."""

    async def execute(self, action: ActionRun) -> ActionResult:
        if action.config["url"] == "https://ok.test":
            return Completed(outputs={"ok": True})
        return Failed("HTTP 422: name taken", retryable=False, details={"status_code": 422})

    async def poll(self, action: ActionRun) -> ActionResult:
        return await self.execute(action)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition by (name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))


def requests(text: str, status: str, item_id: str) -> float | None:
    """``pao_requests_total`` of ``item_id`` at ``status``, requested by the local admin."""
    return value(text, "pao_requests_total", status=status, catalog_item=item_id, user_team=TEAM)


def names(text: str, prefix: str) -> set[str]:
    return {name for name, _ in samples(text) if name.startswith(prefix)}


@pytest.fixture
async def api(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    texts = [  # one sync: a sync deactivates the items it does not contain
        (
            f"{item_id}.yaml",
            json.dumps(
                item_document(
                    item_id,
                    [{"id": "step", "type": "rest-api", "config": {"method": "POST", "url": url}}],
                )
            ),
        )
        for item_id, url in ((OK_ITEM, "https://ok.test"), (BAD_ITEM, "https://bad.test"))
    ]
    report = services.catalog.validator.validate_texts(texts)
    assert not report.issues, [str(issue) for issue in report.issues]
    await services.catalog.store_report(report, git_sha=None)
    async with app_client(services) as client:
        yield client


async def submit(client: httpx.AsyncClient, item_id: str) -> str:
    response = await client.post(
        "/api/v1/requests",
        json={"catalog_item": item_id, "fields": {"instanceName": "orders-db"}},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_completed_and_failed_requests_count_in_the_process_that_finished_them(
    services: Services, api: httpx.AsyncClient
) -> None:
    worker_metrics = EngineMetrics(CollectorRegistry())  # the worker process's own registry
    registry = Registry({"rest-api": Target()})
    worker = make_worker(services, registry, observer=worker_metrics)
    await submit(api, OK_ITEM)
    failed_id = await submit(api, BAD_ITEM)
    await drain(worker)
    await drain(worker)  # nothing more: a second pass counts nothing again

    worker_text = generate_latest(worker_metrics.registry).decode()
    assert requests(worker_text, "completed", OK_ITEM) == 1.0
    assert requests(worker_text, "failed", BAD_ITEM) == 1.0
    assert requests(worker_text, "submitted", OK_ITEM) is None  # the API's to count
    failures = {"action_type": "rest-api", "failure_reason": "client_error"}
    assert value(worker_text, "pao_action_failures_total", **failures) == 1.0
    for outcome in ("completed", "failed"):
        attempts = {"action_type": "rest-api", "outcome": outcome}
        assert value(worker_text, "pao_action_attempts_total", **attempts) == 1.0
    for item_id in (OK_ITEM, BAD_ITEM):
        calls = {"catalog_item": item_id, "action_type": "rest-api"}
        assert value(worker_text, "pao_request_duration_seconds_count", **calls) == 1.0

    abort = await api.post(f"/api/v1/requests/{failed_id}/abort", json={"reason": "not needed"})
    assert abort.status_code == 200, abort.text
    api_text = (await api.get("/metrics")).text
    assert requests(api_text, "submitted", OK_ITEM) == 1.0
    assert requests(api_text, "submitted", BAD_ITEM) == 1.0
    assert requests(api_text, "aborted", BAD_ITEM) == 1.0
    # Nothing the worker finished is counted by the API too: the sum of both is exact.
    assert requests(api_text, "completed", OK_ITEM) is None
    assert requests(api_text, "failed", BAD_ITEM) is None
    assert "pao_action_failure_rate" not in names(api_text, "pao_action")  # a recording rule


async def test_catalog_cache_hit_ratio_by_cache_type(
    services: Services, api: httpx.AsyncClient
) -> None:
    await services.catalog.invalidate()
    for _ in range(2):  # a miss, then a hit
        assert (await api.get("/api/v1/catalog")).status_code == 200
    for _ in range(4):
        assert (await api.get(f"/api/v1/catalog/items/{OK_ITEM}")).status_code == 200
    text = (await api.get("/metrics")).text
    hits = value(text, "pao_catalog_cache_lookups_total", cache_type="l2", result="hit")
    misses = value(text, "pao_catalog_cache_lookups_total", cache_type="l2", result="miss")
    assert hits is not None
    assert misses is not None
    assert hits >= 1
    assert value(text, "pao_catalog_cache_hit_ratio", cache_type="l2") == hits / (hits + misses)
    l1_ratio = value(text, "pao_catalog_cache_hit_ratio", cache_type="l1")
    assert l1_ratio is not None
    assert l1_ratio > 0


async def test_a_rolled_back_transaction_counts_nothing(services: Services) -> None:
    metrics = EngineMetrics(CollectorRegistry())

    class Boom(Exception):
        pass

    async def rolled_back() -> None:
        async with after_commit(services.db.transaction()) as conn:
            await conn.execute("SELECT 1")
            metrics.request_status(OK_ITEM, "submitted", TEAM)
            raise Boom

    with pytest.raises(Boom):
        await rolled_back()
    async with after_commit(services.db.transaction()) as conn:
        await conn.execute("SELECT 1")
        metrics.request_status(OK_ITEM, "aborted", TEAM)
        assert requests(generate_latest(metrics.registry).decode(), "aborted", OK_ITEM) is None
    text = generate_latest(metrics.registry).decode()
    assert requests(text, "submitted", OK_ITEM) is None
    assert requests(text, "aborted", OK_ITEM) == 1.0
