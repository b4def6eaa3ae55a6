"""A stateful fake REST target served over loopback HTTP (uvicorn on 127.0.0.1, random port).

Endpoints:

- ``POST {prefix}/resources``: creates a resource ``{"id", "name", "links": {"self"}}`` (201).
  Resources are keyed by ``Idempotency-Key``: a repeated key returns the stored resource (200)
  instead of creating another, as Stripe-style APIs do.
- ``GET {prefix}/resources/{id}``: the resource, or 404.
- ``POST /oauth/token``: OAuth 2.0 client credentials (client_secret_basic or form fields);
  counts requests in ``token_requests``; issued tokens are accepted as bearer tokens.
- ``GET /status/{id}``: the next state of ``statuses[id]`` (the last one repeats), as
  ``{"id", "state", "result": {...}}``.
- ``GET /big``: a body of ``big_size`` bytes.
- anything else: 404.

Every request is recorded (method, path, query, headers, body). ``script(path, *responses)``
queues responses returned before normal handling (e.g. 429 with Retry-After, 500). When
``require_auth`` is set to an ``Authorization`` value (or ``"oauth"`` for issued tokens, or
``("header", name, value)`` / ``("query", name, value)``), other requests get 401.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rehearsal.sim.http import Receive, Recorded, Scope, Send, receive_request
from rehearsal.sim.loopback import serve_asgi


@dataclass(slots=True)
class Scripted:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(slots=True)
class RestTarget:
    base_url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> resource
    by_key: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> id
    scripts: dict[str, list[Scripted]] = field(default_factory=dict)
    statuses: dict[str, list[str]] = field(default_factory=dict)
    clients: dict[str, str] = field(default_factory=dict)  # client id -> secret
    tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    token_expires_in: int = 3600
    require_auth: Any = None
    big_size: int = 2 * 1024 * 1024
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, path: str, *responses: Scripted) -> None:
        with self.lock:
            self.scripts.setdefault(path, []).extend(responses)

    def seen(self, path: str | None = None, method: str | None = None) -> list[Recorded]:
        with self.lock:
            return [
                r
                for r in self.requests
                if (path is None or r.path == path) and (method is None or r.method == method)
            ]

    # -- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        recorded = await receive_request(scope, receive, send)
        if recorded is None:
            return
        with self.lock:
            self.requests.append(recorded)
            queued = self.scripts.get(recorded.path)
            scripted = queued.pop(0) if queued else None
        if scripted is not None:
            if scripted.delay:
                await asyncio.sleep(scripted.delay)
            await _respond(send, scripted.status, scripted.body, scripted.headers)
            return
        status, payload, extra = self._handle(recorded)
        if isinstance(payload, bytes):
            await _respond_raw(send, status, payload, "application/octet-stream")
        else:
            await _respond(send, status, payload, extra)

    def _handle(self, r: Recorded) -> tuple[int, Any, dict[str, str]]:
        if r.path == "/oauth/token" and r.method == "POST":
            return self._token(r)
        if not self._authorized(r):
            return 401, {"error": "unauthorized"}, {"WWW-Authenticate": "Bearer"}
        if r.path == "/big":
            return 200, b"x" * self.big_size, {}
        if r.path.startswith("/status/") and r.method == "GET":
            key = r.path.removeprefix("/status/")
            with self.lock:
                states = self.statuses.get(key)
                if not states:
                    return 404, {"error": "no such operation"}, {}
                state = states.pop(0) if len(states) > 1 else states[0]
            return (
                200,
                {"id": key, "state": state, "result": {"url": f"{self.base_url}/done/{key}"}},
                {},
            )
        if r.path.endswith("/resources") and r.method == "POST":
            return self._create(r)
        if "/resources/" in r.path and r.method == "GET":
            rid = r.path.rsplit("/", 1)[1]
            with self.lock:
                resource = self.resources.get(rid)
            return (200, resource, {}) if resource else (404, {"error": "not found"}, {})
        return 404, {"error": "not found"}, {}

    def _create(self, r: Recorded) -> tuple[int, Any, dict[str, str]]:
        key = r.headers.get("idempotency-key")
        if r.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            data: Any = {k: v[0] for k, v in r.form().items()}
        else:
            data = r.json() or {}
        with self.lock:
            if key and key in self.by_key:
                return 200, self.resources[self.by_key[key]], {}
            rid = f"res-{len(self.resources) + 1}"
            prefix = r.path.removesuffix("/resources")
            resource = {
                "id": rid,
                "name": data.get("name"),
                "data": data,
                "links": {"self": f"{self.base_url}{prefix}/resources/{rid}"},
            }
            self.resources[rid] = resource
            if key:
                self.by_key[key] = rid
        return 201, resource, {"Location": resource["links"]["self"]}

    def _token(self, r: Recorded) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            self.token_requests += 1
        form = {k: v[0] for k, v in r.form().items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = r.headers.get("authorization", "")
        if auth.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}, {}
        if client_id is None or self.clients.get(client_id) != client_secret:
            return 401, {"error": "invalid_client"}, {}
        token = f"tok-{secrets.token_hex(8)}"
        with self.lock:
            self.tokens.add(token)
        return (
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": self.token_expires_in},
            {"Cache-Control": "no-store"},
        )

    def _authorized(self, r: Recorded) -> bool:
        need = self.require_auth
        if need is None:
            return True
        if need == "oauth":
            auth = r.headers.get("authorization", "")
            return auth.startswith("Bearer ") and auth[7:] in self.tokens
        if isinstance(need, tuple):
            where, name, value = need
            if where == "query":
                return bool(r.query.get(name) == [value])
            return bool(r.headers.get(name.lower()) == value)
        return bool(r.headers.get("authorization") == need)


async def _respond(send: Send, status: int, payload: Any, headers: dict[str, str]) -> None:
    body = b"" if payload is None else json.dumps(payload).encode()
    await _respond_raw(send, status, body, "application/json", headers)


async def _respond_raw(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> None:
    raw = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def serve_rest_target() -> Iterator[RestTarget]:
    """Run a fresh ``RestTarget`` on 127.0.0.1 (random port) in a thread for the block."""
    target = RestTarget()
    with serve_asgi(target, "fake REST target") as base_url:
        target.base_url = base_url
        yield target
