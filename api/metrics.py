"""Prometheus metrics with the spec's names, in a registry owned by the app (not global)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests_total = Counter(
            "pao_requests_total",
            "Service requests submitted, by catalog item and outcome",
            ["catalog_item", "status"],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "pao_request_duration_seconds",
            "Time from submission to a final state, by catalog item and action type",
            ["catalog_item", "action_type"],
            registry=self.registry,
            buckets=(1, 5, 30, 60, 300, 900, 3600, 14400, 86400, 259200),
        )
        self.action_failure_rate = Gauge(
            "pao_action_failure_rate",
            "Share of action attempts that failed, by action type",
            ["action_type"],
            registry=self.registry,
        )
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
