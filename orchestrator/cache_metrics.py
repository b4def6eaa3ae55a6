"""The catalog cache's metrics, read from ``CacheStats`` when scraped.

``pao_catalog_cache_hit_ratio{cache_type}`` is the spec's gauge: this process's hits / lookups
since start, ``cache_type`` ``l1`` (items) or ``l2`` (listings and search results). A ratio
cannot be combined across processes, so the counts behind it are exported too, as
``pao_catalog_cache_lookups_total{cache_type,result}`` (``hit``/``miss``); the recording rule
``pao:catalog_cache_hit_ratio:rate5m`` in ``deploy/prometheus/`` gives the fleet's ratio.

A collector rather than a Gauge that someone must remember to set: the API's /metrics and the
worker's metrics server (``prometheus_client.start_http_server``) read the same live numbers.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from orchestrator.cache import CACHE_TYPES, CacheStats


class CacheMetrics(Collector):
    def __init__(self, stats: CacheStats) -> None:
        self.stats = stats

    def describe(self) -> Iterator[Metric]:
        """Names only, so registering checks for clashes without reading the stats."""
        yield GaugeMetricFamily("pao_catalog_cache_hit_ratio", "", labels=["cache_type"])
        yield CounterMetricFamily("pao_catalog_cache_lookups", "", labels=["cache_type", "result"])

    def collect(self) -> Iterator[Metric]:
        ratio = GaugeMetricFamily(
            "pao_catalog_cache_hit_ratio",
            "Catalog cache hits / lookups of this process since start, by cache type "
            "(l1: items, l2: listings)",
            labels=["cache_type"],
        )
        lookups = CounterMetricFamily(
            "pao_catalog_cache_lookups",
            "Catalog cache lookups of this process, by cache type and result (hit, miss)",
            labels=["cache_type", "result"],
        )
        for cache_type in CACHE_TYPES:
            hits, misses = self.stats.lookups[cache_type]
            ratio.add_metric([cache_type], self.stats.hit_ratio_of(cache_type))
            lookups.add_metric([cache_type, "hit"], hits)
            lookups.add_metric([cache_type, "miss"], misses)
        yield ratio
        yield lookups
