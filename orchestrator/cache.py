"""Cache for catalog reads: Redis when configured, an in-process TTL cache otherwise.

The cache is an optimisation only: every failure degrades to a miss (and is counted), so the
API keeps serving from PostgreSQL when Redis is down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from redis import asyncio as redis_asyncio
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
# Redis channel carrying the prefix each invalidation deleted. Channels ignore database
# indexes, so the channel name carries the index: instances sharing a server but not a database
# do not disturb each other.
INVALIDATIONS = "pao:cache:invalidations:{db}"


class Cache(Protocol):
    backend: str

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None: ...
    async def delete_prefix(self, prefix: str) -> None: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


CACHE_TYPES = ("l1", "l2")  # the spec's L1 (catalog items) and L2 (listings, search results)


class CacheStats:
    """Catalog cache hits and misses of this process, by cache type (``CACHE_TYPES``).

    Plain integers, updated on the event loop's thread only; ``CacheMetrics`` turns them into
    ``pao_catalog_cache_lookups_total`` and ``pao_catalog_cache_hit_ratio`` when scraped.
    """

    def __init__(self) -> None:
        self.lookups: dict[str, list[int]] = {kind: [0, 0] for kind in CACHE_TYPES}  # [hit, miss]
        self.errors = 0

    def record(self, cache_type: str, hit: bool) -> None:
        self.lookups[cache_type][0 if hit else 1] += 1

    @property
    def hits(self) -> int:
        return sum(counts[0] for counts in self.lookups.values())

    @property
    def misses(self) -> int:
        return sum(counts[1] for counts in self.lookups.values())

    def hit_ratio_of(self, cache_type: str) -> float:
        """Hits / lookups of ``cache_type`` since start (0 before the first lookup)."""
        hits, misses = self.lookups[cache_type]
        return hits / (hits + misses) if hits + misses else 0.0


class MemoryCache:
    """In-process TTL cache for the embedded default (one process, nothing to share)."""

    backend = "memory"

    def __init__(self, max_entries: int = 10_000) -> None:
        self._data: dict[str, tuple[float, bytes]] = {}
        self._max = max_entries

    def get_now(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires < time.monotonic():
            self._data.pop(key, None)
            return None
        return value

    def put(self, key: str, value: bytes, ttl_seconds: float) -> None:
        if key not in self._data and len(self._data) >= self._max:
            self._data.pop(next(iter(self._data)))
        self._data[key] = (time.monotonic() + ttl_seconds, value)

    def drop_prefix(self, prefix: str) -> None:
        if not prefix:
            self._data.clear()
            return
        for key in [k for k in self._data if k.startswith(prefix)]:
            del self._data[key]

    async def get(self, key: str) -> bytes | None:
        return self.get_now(key)

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self.put(key, value, ttl_seconds)

    async def delete_prefix(self, prefix: str) -> None:
        self.drop_prefix(prefix)

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
        self.channel = INVALIDATIONS.format(
            db=self._client.connection_pool.connection_kwargs.get("db", 0)
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
        """Delete the keys, then tell every near cache (``NearCache``) to drop its copies."""
        try:
            keys = [key async for key in self._client.scan_iter(match=f"{prefix}*", count=500)]
            if keys:
                await self._client.delete(*keys)
            await self._client.publish(self.channel, prefix)
        except (RedisError, OSError) as exc:
            self._failed("invalidate", exc)

    async def follow_invalidations(
        self, listener: InvalidationListener, *, ping_seconds: float
    ) -> None:
        """Report the invalidations published by any instance to ``listener`` until cancelled,
        the listener no longer wants them, or the connection fails (raises). Pings when quiet,
        so a silent connection is noticed."""
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            while listener.wanted():
                message = await pubsub.get_message(timeout=ping_seconds)
                if message is None:
                    await pubsub.ping()
                    continue
                kind = message["type"]
                if kind == "subscribe":  # also after redis-py reconnected on its own
                    listener.subscribed()
                elif kind == "message":
                    listener.heard()
                    data = message["data"]
                    listener.invalidated(data.decode() if isinstance(data, bytes) else str(data))
                elif kind == "pong":
                    listener.heard()
        finally:
            await pubsub.aclose()

    async def ping(self) -> bool:
        try:
            ok = bool(await self._client.ping())
        except (RedisError, OSError):
            ok = False
        self.available = ok
        return ok

    async def close(self) -> None:
        await self._client.aclose()


class InvalidationListener(Protocol):
    """What a near cache hears from the shared cache's invalidation channel."""

    def subscribed(self) -> None:
        """The subscription (re)started: whatever was published before may have been missed."""

    def invalidated(self, prefix: str) -> None:
        """Some instance removed the keys under ``prefix`` from the shared cache."""

    def heard(self) -> None:
        """Any sign that the subscription is alive (a message or a ping's answer)."""

    def wanted(self) -> bool:
        """False once the listener is closed: the subscription then ends."""


class NearCache:
    """A short-lived in-process copy in front of Redis (a "near cache"), kept coherent by the
    invalidations every instance publishes on Redis.

    A round trip through redis-py costs several times what the API spends on a cached catalog
    read, so hot keys are also kept locally for ``local_ttl_seconds``. The copy stays correct
    across processes: ``RedisCache.delete_prefix`` deletes the shared keys and then publishes the
    prefix; each near cache follows that channel and drops its copies when told. Local copies are
    served only while the subscription is known to be alive (a message or the answer to a ping
    within ``3 * ping_seconds``) and are dropped whenever it (re)starts, since invalidations sent
    meanwhile are lost. A generation number, bumped on each invalidation, stops a remote read that
    was in flight during an invalidation from storing what it read.
    """

    def __init__(
        self, remote: RedisCache, *, local_ttl_seconds: float, ping_seconds: float = 1.0
    ) -> None:
        self.remote = remote
        self.backend = remote.backend
        self.local = MemoryCache(max_entries=2_000)
        self.local_ttl = local_ttl_seconds
        self.ping_seconds = ping_seconds
        self.generation = 0
        self._live_until = 0.0  # monotonic time until which the subscription counts as alive
        self._follower: asyncio.Task[None] | None = None
        self._failing = False
        self._closed = False

    # InvalidationListener: called by RedisCache.follow_invalidations, on this event loop
    def subscribed(self) -> None:
        self._drop_all()
        self._failing = False
        self.heard()

    def invalidated(self, prefix: str) -> None:
        self.generation += 1
        self.local.drop_prefix(prefix)

    def heard(self) -> None:
        self._live_until = time.monotonic() + 3 * self.ping_seconds

    def wanted(self) -> bool:
        return not self._closed

    def _drop_all(self) -> None:
        self.generation += 1
        self.local.drop_prefix("")

    @property
    def following(self) -> bool:
        """Whether local copies may be served now."""
        return time.monotonic() < self._live_until

    async def get(self, key: str) -> bytes | None:
        if self._follower is None and not self._closed:
            self._follower = asyncio.create_task(self._follow(), name="near-cache-invalidations")
        if time.monotonic() < self._live_until:
            value = self.local.get_now(key)
            if value is not None:
                return value
        generation = self.generation
        value = await self.remote.get(key)
        if value is not None and generation == self.generation and self.following:
            self.local.put(key, value, self.local_ttl)
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        # remote only: the value was read from PostgreSQL before an invalidation may have been
        # heard; the next get copies it locally once it is known to be current
        await self.remote.set(key, value, ttl_seconds)

    async def delete_prefix(self, prefix: str) -> None:
        self.invalidated(prefix)
        await self.remote.delete_prefix(prefix)

    async def ping(self) -> bool:
        return await self.remote.ping()

    async def close(self) -> None:
        self._closed = True
        follower, self._follower = self._follower, None
        if follower is not None:
            follower.cancel()
            # A cancellation that lands inside redis-py's read can be swallowed there; the loop
            # also ends on ``wanted()`` within a ping interval, and closing never waits longer.
            done, _ = await asyncio.wait({follower}, timeout=3 * self.ping_seconds + 1)
            if not done:
                log.warning("near cache: the invalidation follower did not stop; left behind")
            elif not follower.cancelled() and follower.exception() is not None:
                log.debug("near cache follower ended with %r", follower.exception())
        self._live_until = 0.0
        await self.local.close()
        await self.remote.close()

    async def _follow(self) -> None:
        """Follow the invalidation channel for the life of this cache, resubscribing after
        failures (local copies are not served meanwhile)."""
        while not self._closed:
            try:
                await self.remote.follow_invalidations(self, ping_seconds=self.ping_seconds)
            except Exception as exc:  # any failure: stop trusting the local copies
                self._live_until = 0.0
                self._drop_all()
                if not self._failing:
                    log.warning(
                        "redis invalidation channel lost, near cache off until it is back: %s",
                        type(exc).__name__,
                    )
                self._failing = True
            await asyncio.sleep(self.ping_seconds)


def create_cache(redis_url: str | None, *, near_ttl_seconds: float = 0) -> Cache:
    if not redis_url:
        return MemoryCache()
    remote = RedisCache(redis_url)
    if near_ttl_seconds > 0:
        return NearCache(remote, local_ttl_seconds=near_ttl_seconds)
    return remote
