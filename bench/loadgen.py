"""A small closed-loop HTTP/1.1 load generator over raw keep-alive sockets.

Python HTTP clients cost more per request than the server under test; raw sockets keep the
generator cheap, so the ratio between two servers measures the servers.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    def summary(self) -> str:
        return (
            f"{self.rps:8.0f} req/s  p50 {statistics.median(self.latencies_ms):6.2f} ms  "
            f"p99 {self.percentile(0.99):6.2f} ms  statuses {dict(sorted(self.statuses.items()))}"
        )


def build_request(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: keep-alive"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def run_load(
    port: int,
    make_request: object,
    *,
    connections: int,
    seconds: float,
) -> LoadResult:
    """Each connection sends the next request as soon as the previous answer is read."""
    assert callable(make_request)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()

    async def worker(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        counter = 0
        try:
            while time.perf_counter() < deadline:
                payload: bytes = make_request(index, counter)
                counter += 1
                begin = time.perf_counter()
                writer.write(payload)
                status = await _read_response(reader)
                latencies.append((time.perf_counter() - begin) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(worker(i) for i in range(connections)))
    return LoadResult(len(latencies), time.perf_counter() - started, latencies, statuses)
