"""The HTTP metrics kept as plain numbers are exposed exactly as prometheus-client's own
Counter and Histogram expose the same observations."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from api.metrics import HTTP_BUCKETS, Metrics

CALLS = [
    ("GET", "/api/v1/catalog/items/{item_id:str}", 200, 0.0004),
    ("GET", "/api/v1/catalog/items/{item_id:str}", 200, 0.005),  # on a bucket bound: le="0.005"
    ("GET", "/api/v1/catalog/items/{item_id:str}", 404, 0.3),
    ("POST", "/api/v1/requests", 201, 12.0),  # beyond the last finite bound: +Inf only
    ("GET", "unmatched", 404, 0.02),
]


def _reference() -> str:
    registry = CollectorRegistry()
    requests = Counter(
        "pao_http_requests_total",
        "HTTP requests served, by method, route and status",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "pao_http_request_duration_seconds",
        "HTTP request latency, by method and route",
        ["method", "route"],
        registry=registry,
        buckets=HTTP_BUCKETS,
    )
    for method, route, status, seconds in CALLS:
        latency.labels(method, route).observe(seconds)
        requests.labels(method, route, str(status)).inc()
    return generate_latest(registry).decode()


def _http_lines(text: str) -> list[str]:
    created = re.compile(r"^(pao_http_\S+_created\{.*\}) \S+$")
    return [created.sub(r"\1 <time>", line) for line in text.splitlines() if "pao_http_" in line]


def test_http_metrics_match_prometheus_clients_own_exposition() -> None:
    metrics = Metrics()
    for call in CALLS:
        metrics.observe_http(*call)
    ours = _http_lines(metrics.render().decode())
    assert ours == _http_lines(_reference())
    assert (
        'pao_http_requests_total{method="GET",route="/api/v1/catalog/items/{item_id:str}",'
        'status="200"} 2.0'
    ) in ours
    assert (
        'pao_http_request_duration_seconds_bucket{le="0.005",method="GET",'
        'route="/api/v1/catalog/items/{item_id:str}"} 2.0'
    ) in ours


def test_created_series_follow_prometheus_clients_public_switch() -> None:
    """``disable_created_metrics()`` drops the ``_created`` lines from ours as from the
    library's own metrics (read through public API, no private module attribute)."""
    from prometheus_client import disable_created_metrics, enable_created_metrics

    metrics = Metrics()
    for call in CALLS:
        metrics.observe_http(*call)
    assert any("_created{" in line for line in _http_lines(metrics.render().decode()))
    disable_created_metrics()  # type: ignore[no-untyped-call]
    try:
        ours = _http_lines(metrics.render().decode())
        assert not any("_created{" in line for line in ours)
        assert ours == _http_lines(_reference())
    finally:
        enable_created_metrics()  # type: ignore[no-untyped-call]
