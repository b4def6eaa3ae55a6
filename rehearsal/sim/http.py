"""The base every stateful fake of an external HTTP system builds on: an ASGI app with a route
table, a record of every request, and scripted replies (429 with Retry-After, 500, delays)
returned before normal handling.

A fake subclasses ``HttpFake`` (or composes it), registers handlers with ``route`` and keeps its
own state; handlers are plain functions ``(request, **path_params) -> Reply`` run under the
fake's lock, so tests may read state while the server thread serves.

    fake = HttpFake("fake JIRA")
    fake.route("GET", r"/rest/api/2/issue/(?P<key>[A-Z]+-\\d+)", get_issue)
    with fake.serve() as base_url: ...
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from rehearsal.sim.loopback import serve_asgi

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request the fake received (header names lower-case)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


async def receive_request(scope: Scope, receive: Receive, send: Send) -> Recorded | None:
    """The HTTP request of an ASGI call, its body read whole; None for a lifespan call, which is
    answered here (a server that sends lifespan events gets its startup/shutdown replies)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return None
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    return Recorded(
        method=scope["method"],
        path=scope["path"],
        query=parse_qs(scope["query_string"].decode()),
        headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
        body=body,
    )


@dataclass(slots=True)
class Reply:
    """A response: ``body`` is JSON-encoded unless it is bytes (sent as ``content_type``)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/json"


Handler = Callable[..., Reply]


@dataclass(slots=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


class HttpFake:
    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.base_url = ""
        self.requests: list[Recorded] = []
        self.lock = threading.RLock()
        self._routes: list[_Route] = []
        self._scripts: dict[tuple[str, str], list[Reply]] = {}

    # -- set-up --------------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Handle ``method`` on paths fully matching ``pattern`` (named groups become kwargs)."""
        self._routes.append(_Route(method.upper(), re.compile(pattern), handler))

    def script(self, method: str, path: str, *replies: Reply) -> None:
        """Answer the next requests to ``method path`` with ``replies``, in order."""
        with self.lock:
            self._scripts.setdefault((method.upper(), path), []).extend(replies)

    def seen(self, path: str | None = None, method: str | None = None) -> list[Recorded]:
        with self.lock:
            return [
                r
                for r in self.requests
                if (path is None or r.path == path) and (method is None or r.method == method)
            ]

    @contextmanager
    def serve(self) -> Iterator[str]:
        with serve_asgi(self, self.name) as base_url:
            self.base_url = base_url
            yield base_url

    # -- hooks for subclasses ------------------------------------------------------------------

    def before(self, request: Recorded) -> Reply | None:
        """Runs first for every request (e.g. authentication); a reply stops handling."""
        return None

    def after(self, request: Recorded, reply: Reply) -> Reply:
        """Runs on every reply (e.g. rate-limit headers)."""
        return reply

    # -- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = await receive_request(scope, receive, send)
        if request is None:
            return
        reply = self.handle(request)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        await self._send(send, reply)

    def handle(self, request: Recorded) -> Reply:
        with self.lock:
            self.requests.append(request)
            queued = self._scripts.get((request.method, request.path))
            if queued:
                return self.after(request, queued.pop(0))
            reply = self.before(request)
            if reply is None:
                reply = self._dispatch(request)
            return self.after(request, reply)

    def _dispatch(self, request: Recorded) -> Reply:
        allowed = False
        for route in self._routes:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            if route.method != request.method:
                allowed = True
                continue
            return route.handler(request, **match.groupdict())
        if allowed:
            return Reply(405, {"message": "Method Not Allowed"})
        return Reply(404, {"message": "Not Found"})

    @staticmethod
    async def _send(send: Send, reply: Reply) -> None:
        if isinstance(reply.body, bytes):
            body = reply.body
        elif reply.body is None:
            body = b""
        else:
            body = json.dumps(reply.body).encode()
        headers = [
            (b"content-type", reply.content_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        headers += [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
