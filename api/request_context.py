"""Per-request context in one cheap ASGI layer: the correlation id and the HTTP metrics.

Accepts the configured correlation header (or makes an id), exposes it to handlers and problem
documents through ``scope["state"]``, returns it on every response, and records status and
latency per route template.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import Metrics

_SAFE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, header: str, metrics: Metrics) -> None:
        self.app = app
        self.header = header.lower().encode("latin-1")
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if str(scope["type"]) != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        supplied = next(
            (value.decode("latin-1") for name, value in scope["headers"] if name == self.header), ""
        )
        correlation_id = supplied if _SAFE.match(supplied) else str(uuid.uuid4())
        state: dict[str, Any] = scope.setdefault("state", {})
        state["correlation_id"] = correlation_id
        header = (self.header, correlation_id.encode("latin-1"))
        status = 500

        async def send_with_header(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        finally:
            route = str(scope.get("path_template") or "unmatched")
            method = str(scope.get("method", ""))
            self.metrics.http_latency.labels(method, route).observe(time.perf_counter() - started)
            self.metrics.http_requests.labels(method, route, str(status)).inc()
