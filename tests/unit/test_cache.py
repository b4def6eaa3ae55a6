from __future__ import annotations

import pytest

from orchestrator.cache import MemoryCache

pytestmark = pytest.mark.anyio


# The near cache needs Redis's invalidation channel: tests/integration/test_near_cache.py.


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
