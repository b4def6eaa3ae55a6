"""The core of the fake GitHub: token / App authentication, rate-limit budgets and headers."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

from rehearsal.sim.http import HttpFake, Recorded, Reply


def etag_of(body: Any) -> str:
    """A strong ETag for a JSON body, the way GitHub quotes them."""
    return '"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest() + '"'


class FakeGitHub(HttpFake):
    """Accepts ``Authorization: token|Bearer <t>`` for any token in ``tokens`` (all tokens when
    ``tokens`` is empty), issues installation tokens at
    ``POST /app/installations/{id}/access_tokens`` for any well-formed JWT, and sends
    ``x-ratelimit-*`` headers on every reply. A 304 does not consume the budget, as on GitHub.
    ``rate_limit_remaining`` reaching 0 yields 403 with ``x-ratelimit-remaining: 0``.
    """

    def __init__(self) -> None:
        super().__init__("fake GitHub")
        self.tokens: set[str] = set()
        self.installation_tokens: set[str] = set()
        self.rate_limit = 5000
        self.rate_limit_remaining = 5000
        self.rate_limit_reset = int(time.time()) + 3600
        self.route(
            "POST", r"/app/installations/(?P<installation_id>\d+)/access_tokens", self._token
        )
        self.route("GET", r"/rate_limit", self._rate_limit)

    def etagged(self, request: Recorded, body: Any, status: int = 200) -> Reply:
        """``body`` with its ETag, or a bodiless 304 when ``If-None-Match`` matches it."""
        tag = etag_of(body)
        if request.headers.get("if-none-match") == tag:
            return Reply(304, None, {"etag": tag})
        return Reply(status, body, {"etag": tag})

    def before(self, request: Recorded) -> Reply | None:
        if request.path.startswith("/app/"):
            return None  # JWT-authenticated App endpoints: checked by their handlers
        if self.rate_limit_remaining <= 0:
            return Reply(
                403,
                {
                    "message": "API rate limit exceeded",
                    "documentation_url": "https://docs.github.com/rest/rate-limit",
                },
                {"x-ratelimit-remaining": "0"},
            )
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        known = self.tokens | self.installation_tokens
        if scheme.lower() not in ("token", "bearer") or (known and token not in known):
            return Reply(401, {"message": "Bad credentials"})
        return None

    def after(self, request: Recorded, reply: Reply) -> Reply:
        if reply.status != 304 and not request.path.startswith("/app/"):
            self.rate_limit_remaining = max(0, self.rate_limit_remaining - 1)
        reply.headers.setdefault("x-ratelimit-limit", str(self.rate_limit))
        reply.headers.setdefault("x-ratelimit-remaining", str(self.rate_limit_remaining))
        reply.headers.setdefault("x-ratelimit-reset", str(self.rate_limit_reset))
        reply.headers.setdefault(
            "x-ratelimit-used", str(self.rate_limit - self.rate_limit_remaining)
        )
        reply.headers.setdefault("x-ratelimit-resource", "core")
        return reply

    def _token(self, request: Recorded, installation_id: str) -> Reply:
        scheme, _, jwt = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or jwt.count(".") != 2:
            return Reply(401, {"message": "A JSON web token could not be decoded"})
        token = f"ghs_{secrets.token_hex(18)}"
        self.installation_tokens.add(token)
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        return Reply(201, {"token": token, "expires_at": expires, "permissions": {}})

    def _rate_limit(self, request: Recorded) -> Reply:
        core = {
            "limit": self.rate_limit,
            "remaining": self.rate_limit_remaining,
            "reset": self.rate_limit_reset,
            "used": self.rate_limit - self.rate_limit_remaining,
        }
        return Reply(200, {"resources": {"core": core}, "rate": core})
