"""Prometheus metrics with the spec's names, in a registry owned by the app (not global)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from orchestrator.engine.metrics import EngineMetrics


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests_total = Counter(
            "pao_requests_total",
            "Service requests submitted, by catalog item and outcome",
            ["catalog_item", "status"],
            registry=self.registry,
        )
        # pao_request_duration_seconds, pao_action_failure_rate, queue depth and oldest job age
        self.engine = EngineMetrics(self.registry)
        self.cache_hit_ratio = Gauge(
            "pao_catalog_cache_hit_ratio",
            "Catalog cache hits / lookups since start",
            registry=self.registry,
        )
        self.http_requests = Counter(
            "pao_http_requests_total",
            "HTTP requests served, by method, route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "pao_http_request_duration_seconds",
            "HTTP request latency, by method and route",
            ["method", "route"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
