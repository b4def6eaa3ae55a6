"""The near cache (in-process copies in front of Redis) stays correct across processes.

Two service instances share PostgreSQL and Redis, as two API processes do. Their local copies
live for an hour here, so only the invalidation channel can explain a fresh answer.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import redis

from orchestrator.cache import NearCache
from orchestrator.services import Services, open_services
from orchestrator.settings import Settings
from tests.integration.api_fixtures import app_client

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
ITEM = "database-postgresql-standard"
KEY = f"pao:catalog:item:{ITEM}"
URL = f"/api/v1/catalog/items/{ITEM}"


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    target = tmp_path / "catalog"
    shutil.copytree(ROOT / "examples" / "catalog", target)
    return target


@pytest.fixture
async def instances(
    database_url: str, redis_url: str, catalog_dir: Path
) -> AsyncIterator[tuple[Services, Services]]:
    settings = Settings.from_env(
        {
            "CATALOG_LOCAL_PATH": str(catalog_dir),
            "REDIS_URL": redis_url,
            "CACHE_NEAR_TTL_SECONDS": "3600",
        }
    )
    first = await open_services(settings, database_url=database_url)
    second = await open_services(settings, database_url=database_url)
    try:
        yield first, second
    finally:
        await second.close()
        await first.close()


def near(services: Services) -> NearCache:
    assert isinstance(services.cache, NearCache)
    return services.cache


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` (delivery over Redis is asynchronous); fail with ``what`` if it never holds."""
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.025)
    pytest.fail(f"never happened: {what}")


async def warm_locally(client: httpx.AsyncClient, services: Services) -> bytes:
    """Read the item until this instance holds it in process, and return the document."""

    async def held() -> bool:
        response = await client.get(URL)
        assert response.status_code == 200
        return near(services).local.get_now(KEY) is not None

    await eventually(held, "the item copied into the near cache")
    return (await client.get(URL)).content


async def test_a_sync_in_one_instance_is_seen_by_the_others_near_cache(
    instances: tuple[Services, Services], catalog_dir: Path, redis_url: str
) -> None:
    syncer, reader = instances
    async with app_client(reader) as client:
        before = await warm_locally(client, reader)
        with redis.Redis.from_url(redis_url) as raw:
            raw.delete(KEY)
            again = await client.get(URL)
            assert again.content == before
            assert raw.get(KEY) is None  # answered from the process: Redis was not asked

        path = catalog_dir / "databases" / f"{ITEM}.yaml"
        text = path.read_text()
        assert "name: PostgreSQL Database (RDS)" in text
        path.write_text(text.replace("name: PostgreSQL Database (RDS)", "name: Renamed PG", 1))
        result = await syncer.catalog.sync_directory(catalog_dir)
        assert ITEM in result.stored

        async def renamed() -> bool:
            response = await client.get(URL)
            return bool(response.json()["name"] == "Renamed PG")

        await eventually(renamed, "the other instance's sync reaching this near cache")


async def test_copies_are_dropped_when_the_subscription_restarts(
    instances: tuple[Services, Services], redis_url: str
) -> None:
    """Invalidations published while the channel is down are lost, so a resubscription drops
    every local copy."""
    _, reader = instances
    async with app_client(reader) as client:
        before = await warm_locally(client, reader)
        changed = before.replace(b'"id":"', b'"changed":true,"id":"', 1)
        with redis.Redis.from_url(redis_url) as raw:
            raw.set(KEY, changed)  # a change whose invalidation this instance never heard
            assert (await client.get(URL)).content == before
            index = raw.connection_pool.connection_kwargs.get("db", 0)
            killed = 0
            for entry in raw.client_list():
                if "P" in str(entry.get("flags", "")) and int(entry.get("db", -1)) == index:
                    raw.client_kill_filter(_id=entry["id"])
                    killed += 1
            assert killed >= 1

            async def fresh() -> bool:
                return (await client.get(URL)).content == changed

            await eventually(fresh, "local copies dropped after the resubscription")
