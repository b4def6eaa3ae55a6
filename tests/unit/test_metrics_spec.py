"""The spec's metrics are exported with exactly its names, labels and buckets, and the labels
stay bounded (a closed set of failure reasons, a team or ``unknown``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

from api.metrics import HTTP_BUCKETS, Metrics
from orchestrator.cache import CacheStats
from orchestrator.engine.executor import Completed, Failed, Pending
from orchestrator.engine.metrics import EngineMetrics
from orchestrator.engine.observer import (
    FAILURE_REASONS,
    after_commit,
    failure_reason,
    team_of,
)

SPEC_BUCKETS = ["0.1", "0.5", "1.0", "5.0", "10.0", "30.0", "60.0", "+Inf"]


def _families() -> dict[str, Metric]:
    metrics = EngineMetrics(CollectorRegistry())
    metrics.watch_cache(CacheStats())
    metrics.request_status("db", "submitted", "payments")
    metrics.request_finished("db", "failed", 3.0, ["rest-api"], user_team="payments")
    metrics.action_attempt(
        "rest-api", "failed", 0.2, catalog_item="db", failure_reason="server_error"
    )
    return {family.name: family for family in metrics.registry.collect()}


def _label_names(family: Metric, suffix: str = "") -> set[frozenset[str]]:
    return {
        frozenset(sample.labels) for sample in family.samples if sample.name == family.name + suffix
    }


def test_the_spec_metrics_have_its_names_types_and_labels() -> None:
    families = _families()
    requests = families["pao_requests"]
    assert requests.type == "counter"
    assert _label_names(requests, "_total") == {frozenset({"status", "catalog_item", "user_team"})}
    duration = families["pao_request_duration_seconds"]
    assert duration.type == "histogram"
    assert _label_names(duration, "_count") == {frozenset({"catalog_item", "action_type"})}
    ratio = families["pao_catalog_cache_hit_ratio"]
    assert ratio.type == "gauge"
    assert _label_names(ratio) == {frozenset({"cache_type"})}
    assert {s.labels["cache_type"] for s in ratio.samples} == {"l1", "l2"}
    failures = families["pao_action_failures"]
    assert failures.type == "counter"
    assert _label_names(failures, "_total") == {frozenset({"action_type", "failure_reason"})}
    # A rate is the recording rule's (deploy/prometheus), never a per-process gauge.
    assert "pao_action_failure_rate" not in families


def test_request_duration_has_exactly_the_spec_buckets() -> None:
    duration = _families()["pao_request_duration_seconds"]
    bounds = [s.labels["le"] for s in duration.samples if s.name.endswith("_bucket")]
    assert bounds == SPEC_BUCKETS


def test_http_latency_has_a_bucket_at_the_alert_threshold() -> None:
    assert 2.0 in HTTP_BUCKETS
    assert list(HTTP_BUCKETS) == sorted(HTTP_BUCKETS)


def test_the_api_registry_carries_the_spec_metrics_once() -> None:
    metrics = Metrics()
    metrics.engine.watch_cache(CacheStats())
    metrics.engine.watch_cache(CacheStats())  # pao serve: API and worker share the services
    names = [family.name for family in metrics.registry.collect()]
    for name in ("pao_requests", "pao_request_duration_seconds", "pao_catalog_cache_hit_ratio"):
        assert names.count(name) == 1


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (Failed("x", retryable=False, details={"timeout_seconds": 5}), "timeout"),
        (Failed("x", retryable=True, retry_after=3.0), "rate_limited"),
        (Failed("x", retryable=True, details={"status_code": 429}), "rate_limited"),
        (Failed("x", retryable=False, details={"ssrf": True}), "refused"),
        (Failed("x", retryable=True, details={"status_code": 503}), "server_error"),
        (Failed("x", retryable=False, details={"github_status": 404}), "client_error"),
        (Failed("ConnectError: refused", retryable=True), "transient"),
        (Failed("run concluded failure", retryable=False), "permanent"),
        (Completed({}), None),
        (Pending("ref"), None),
    ],
)
def test_failure_reasons_are_a_closed_set(result: object, reason: str | None) -> None:
    assert failure_reason(result) == reason
    assert reason is None or reason in FAILURE_REASONS


def test_user_team_is_the_first_team_or_unknown() -> None:
    assert team_of(("payments", "dba")) == "payments"
    assert team_of(()) == "unknown"
    assert team_of(None) == "unknown"


@asynccontextmanager
async def _transaction(fail_on_commit: bool) -> AsyncIterator[str]:
    """Stands in for a database transaction whose commit may fail."""
    yield "conn"
    if fail_on_commit:
        raise ConnectionError("lost at commit")


def test_updates_wait_for_the_commit_and_are_dropped_on_rollback() -> None:
    metrics = EngineMetrics(CollectorRegistry())
    labels = {"status": "completed", "catalog_item": "db", "user_team": "payments"}

    def counted() -> float | None:
        return metrics.registry.get_sample_value("pao_requests_total", labels)

    async def run() -> None:
        async with after_commit(_transaction(False)):
            metrics.request_status("db", "completed", "payments")
            assert counted() is None
        assert counted() == 1
        with pytest.raises(ConnectionError):
            async with after_commit(_transaction(True)):
                metrics.request_status("db", "completed", "payments")
        metrics.request_status("db", "completed", "payments")  # outside a transaction: at once

    asyncio.run(run())
    assert counted() == 2
