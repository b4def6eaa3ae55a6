"""Cache for catalog reads: Redis when configured, an in-process TTL cache otherwise.

The cache is an optimisation only: every failure degrades to a miss (and is counted), so the
API keeps serving from PostgreSQL when Redis is down.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from redis import asyncio as redis_asyncio
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class Cache(Protocol):
    backend: str

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None: ...
    async def delete_prefix(self, prefix: str) -> None: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


class CacheStats:
    """Hits and misses, exported as pao_catalog_cache_hit_ratio."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.errors = 0

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class MemoryCache:
    """In-process TTL cache for the embedded default (one process, nothing to share)."""

    backend = "memory"

    def __init__(self, max_entries: int = 10_000) -> None:
        self._data: dict[str, tuple[float, bytes]] = {}
        self._max = max_entries

    async def get(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires < time.monotonic():
            self._data.pop(key, None)
            return None
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        if len(self._data) >= self._max:
            self._data.pop(next(iter(self._data)))
        self._data[key] = (time.monotonic() + ttl_seconds, value)

    async def delete_prefix(self, prefix: str) -> None:
        for key in [k for k in self._data if k.startswith(prefix)]:
            del self._data[key]

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._data.clear()


class RedisCache:
    """Redis-backed cache; errors are logged once per burst and turned into misses."""

    backend = "redis"

    def __init__(self, url: str, *, timeout_seconds: float = 0.5) -> None:
        self._client: redis_asyncio.Redis = redis_asyncio.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            health_check_interval=30,
        )
        self.available = True

    def _failed(self, operation: str, exc: Exception) -> None:
        if self.available:
            log.warning("redis %s failed, serving without cache: %s", operation, type(exc).__name__)
        self.available = False

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._client.get(key)
        except (RedisError, OSError) as exc:
            self._failed("get", exc)
            return None
        self.available = True
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        try:
            await self._client.set(key, value, px=max(1, int(ttl_seconds * 1000)))
        except (RedisError, OSError) as exc:
            self._failed("set", exc)

    async def delete_prefix(self, prefix: str) -> None:
        try:
            keys = [key async for key in self._client.scan_iter(match=f"{prefix}*", count=500)]
            if keys:
                await self._client.delete(*keys)
        except (RedisError, OSError) as exc:
            self._failed("invalidate", exc)

    async def ping(self) -> bool:
        try:
            ok = bool(await self._client.ping())
        except (RedisError, OSError):
            ok = False
        self.available = ok
        return ok

    async def close(self) -> None:
        await self._client.aclose()


class NearCache:
    """A short-lived in-process copy in front of a shared cache (a "near cache").

    A round trip through redis-py costs several times what the API spends on a cached catalog
    read, so hot keys are also kept locally for ``local_ttl_seconds``. This instance's own
    invalidations apply at once; another instance's are seen within that bound.
    """

    def __init__(self, remote: Cache, *, local_ttl_seconds: float) -> None:
        self.remote = remote
        self.backend = remote.backend
        self.local = MemoryCache(max_entries=2_000)
        self.local_ttl = local_ttl_seconds

    async def get(self, key: str) -> bytes | None:
        value = await self.local.get(key)
        if value is None:
            value = await self.remote.get(key)
            if value is not None:
                await self.local.set(key, value, self.local_ttl)
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        await self.local.set(key, value, min(ttl_seconds, self.local_ttl))
        await self.remote.set(key, value, ttl_seconds)

    async def delete_prefix(self, prefix: str) -> None:
        await self.local.delete_prefix(prefix)
        await self.remote.delete_prefix(prefix)

    async def ping(self) -> bool:
        return await self.remote.ping()

    async def close(self) -> None:
        await self.local.close()
        await self.remote.close()


def create_cache(redis_url: str | None, *, near_ttl_seconds: float = 0) -> Cache:
    if not redis_url:
        return MemoryCache()
    remote: Cache = RedisCache(redis_url)
    if near_ttl_seconds > 0:
        return NearCache(remote, local_ttl_seconds=near_ttl_seconds)
    return remote
