"""The catalog cache on real Redis: reads are cached, syncs invalidate, an outage degrades only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis

from orchestrator.services import Services, open_services
from orchestrator.settings import Settings
from tests.integration.api_fixtures import app_client

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
ITEM = "database-postgresql-standard"


async def _client(
    database_url: str, redis_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    settings = Settings.from_env(
        {"CATALOG_LOCAL_PATH": str(ROOT / "examples" / "catalog"), "REDIS_URL": redis_url}
    )
    services = await open_services(settings, database_url=database_url)
    try:
        async with app_client(services) as client:
            yield client, services
    finally:
        await services.close()


@pytest.fixture
async def redis_client(
    database_url: str, redis_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    async for pair in _client(database_url, redis_url):
        yield pair


async def test_item_reads_go_through_redis_and_refresh_invalidates(
    redis_client: tuple[httpx.AsyncClient, Services], redis_url: str
) -> None:
    client, services = redis_client
    assert services.cache.backend == "redis"
    first = await client.get(f"/api/v1/catalog/items/{ITEM}")
    with redis.Redis.from_url(redis_url) as raw:
        assert raw.get(f"pao:catalog:item:{ITEM}") == first.content
        second = await client.get(f"/api/v1/catalog/items/{ITEM}")
        assert second.content == first.content
        assert services.cache_stats.hits >= 1
        await services.catalog.invalidate()
        assert raw.get(f"pao:catalog:item:{ITEM}") is None
    metrics = (await client.get("/metrics")).text
    ratio = next(
        line for line in metrics.splitlines() if line.startswith("pao_catalog_cache_hit_ratio")
    )
    assert float(ratio.split()[-1]) > 0


async def test_redis_outage_degrades_to_postgres(database_url: str) -> None:
    dead = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    async for client, services in _client(database_url, dead):
        response = await client.get(f"/api/v1/catalog/items/{ITEM}")
        assert response.status_code == 200
        assert response.json()["id"] == ITEM
        listing = await client.get("/api/v1/catalog")
        assert listing.status_code == 200
        ready = await client.get("/api/v1/health/ready")
        assert ready.status_code == 200
        cache = ready.json()["checks"]["cache"]
        assert cache["status"] == "degraded"
        assert "PostgreSQL" in cache["detail"]
        assert services.cache_stats.hits == 0
