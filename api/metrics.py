"""Prometheus metrics with the spec's names, in a registry owned by the app (not global)."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from orchestrator.engine.metrics import EngineMetrics

HTTP_REQUESTS = "pao_http_requests"
HTTP_LATENCY = "pao_http_request_duration_seconds"
# prometheus-client's defaults plus 2 s, the spec's p95 alert threshold: a quantile is
# interpolated between bucket bounds, so the threshold itself must be one to be exact there.
HTTP_BUCKETS: tuple[float, ...] = tuple(sorted({*Histogram.DEFAULT_BUCKETS, 2.0}))


def created_series_enabled() -> bool:
    """Whether prometheus-client exposes ``_created`` series now (``disable_created_metrics()``
    or ``PROMETHEUS_DISABLE_CREATED_SERIES`` turn them off). The library has setters but no
    getter, so ask a throw-away, unregistered Counter what it would expose: public API only,
    and the answer follows the library whichever way it was switched. Runs once per scrape."""
    probe = Counter("pao_created_probe", "probe", registry=None)
    return any(
        sample.name.endswith("_created") for metric in probe.collect() for sample in metric.samples
    )


class HttpMetrics:
    """``pao_http_requests_total`` (method, route, status) and
    ``pao_http_request_duration_seconds`` (method, route), exposed exactly as a prometheus-client
    Counter and Histogram would expose them.

    Every API call is counted, and prometheus-client's labelled children lock and validate on
    each update, which costs as much as a whole cached catalog read. Updates happen on the event
    loop's thread only, so plain numbers suffice; they are turned into samples when scraped.
    """

    def __init__(self, buckets: tuple[float, ...] = HTTP_BUCKETS) -> None:
        self.bounds = buckets  # ascending, ending with +Inf
        self._labels = [floatToGoString(bound) for bound in buckets]  # type: ignore[no-untyped-call]
        # (method, route, status) -> [count, created]
        self._counts: dict[tuple[str, str, int], list[float]] = {}
        # (method, route) -> [per-bucket counts..., sum, created]
        self._latency: dict[tuple[str, str], list[float]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        count = self._counts.get((method, route, status))
        if count is None:
            count = self._counts[(method, route, status)] = [0.0, time.time()]
        count[0] += 1
        latency = self._latency.get((method, route))
        if latency is None:
            latency = [0.0] * len(self.bounds) + [0.0, time.time()]
            self._latency[(method, route)] = latency
        latency[bisect_left(self.bounds, seconds)] += 1  # the first bucket with seconds <= le
        latency[-2] += seconds

    def describe(self) -> Iterator[Metric]:
        yield Metric(HTTP_REQUESTS, "HTTP requests served, by method, route and status", "counter")
        yield Metric(HTTP_LATENCY, "HTTP request latency, by method and route", "histogram")

    def collect(self) -> Iterator[Metric]:
        created = created_series_enabled()
        requests, latency = self.describe()
        for (method, route, status), (count, since) in list(self._counts.items()):
            labels = {"method": method, "route": route, "status": str(status)}
            requests.add_sample(f"{HTTP_REQUESTS}_total", labels, count)
            if created:
                requests.add_sample(f"{HTTP_REQUESTS}_created", labels, since)
        for (method, route), values in list(self._latency.items()):
            labels = {"method": method, "route": route}
            total = 0.0
            for le, in_bucket in zip(self._labels, values, strict=False):
                total += in_bucket
                latency.add_sample(f"{HTTP_LATENCY}_bucket", {**labels, "le": le}, total)
            latency.add_sample(f"{HTTP_LATENCY}_count", labels, total)
            latency.add_sample(f"{HTTP_LATENCY}_sum", labels, values[-2])
            if created:
                latency.add_sample(f"{HTTP_LATENCY}_created", labels, values[-1])
        yield requests
        yield latency


class Metrics:
    """The API process's registry: the engine's and lifecycle metrics (``EngineMetrics``: the
    spec's ``pao_requests_total``, ``pao_request_duration_seconds``, the catalog cache's and the
    queue's) plus the HTTP metrics behind the ``pao_api_response_time_p95`` recording rule."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.engine = EngineMetrics(self.registry)
        self.http = HttpMetrics()
        self.registry.register(self.http)

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP call and its latency under its route template."""
        self.http.observe(method, route, status, seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
