from __future__ import annotations

import pytest

from orchestrator.cache import MemoryCache, NearCache

pytestmark = pytest.mark.anyio


class CountingCache(MemoryCache):
    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    async def get(self, key: str) -> bytes | None:
        self.gets += 1
        return await super().get(key)


async def test_near_cache_serves_hot_keys_locally_and_invalidates_both() -> None:
    remote = CountingCache()
    near = NearCache(remote, local_ttl_seconds=60)
    await remote.set("pao:catalog:item:a", b"A", 3600)
    assert await near.get("pao:catalog:item:a") == b"A"
    assert await near.get("pao:catalog:item:a") == b"A"
    assert remote.gets == 1  # the second read never left the process
    await near.delete_prefix("pao:catalog:")
    assert await near.get("pao:catalog:item:a") is None
    assert await remote.get("pao:catalog:item:a") is None


async def test_near_copies_expire_so_other_instances_changes_show() -> None:
    remote = CountingCache()
    near = NearCache(remote, local_ttl_seconds=0.0001)
    await near.set("k", b"old", 3600)
    await remote.set("k", b"new", 3600)  # another instance rewrote it
    import asyncio

    await asyncio.sleep(0.01)
    assert await near.get("k") == b"new"


async def test_memory_cache_ttl_and_bound() -> None:
    cache = MemoryCache(max_entries=2)
    await cache.set("a", b"1", 3600)
    await cache.set("b", b"2", 3600)
    await cache.set("c", b"3", 3600)
    assert await cache.get("a") is None  # oldest evicted at the bound
    assert await cache.get("c") == b"3"
    await cache.set("d", b"4", 0.0001)
    import asyncio

    await asyncio.sleep(0.01)
    assert await cache.get("d") is None
