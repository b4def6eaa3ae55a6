"""Who is looking at a portal page: the same identities as the REST API, through a browser.

A browser cannot send ``Authorization: Bearer`` on a link or a form, so the portal maps each
auth mode onto what a browser can carry:

- ``none``: the one local admin, as in the API (``pao serve`` binds loopback);
- ``token``: a login page takes an API token once, checks it with the core's token store
  (``services.tokens``) and opens a server-side session; the browser holds only a random
  session id in a ``Secure; HttpOnly; SameSite=Strict`` cookie, the server only the token's
  SHA-256 hash, so every page re-checks the token (a revoked or expired token ends the session);
- ``aws-iam`` with ``PAO_IAM_SOURCE=gateway``: API Gateway's verified IAM identity of each
  call, mapped as the API maps it. With ``sts`` (a signed token per call) a browser has no
  way in: the pages say so.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore

from api.auth import local_admin
from orchestrator.identity.aws_iam import gateway_arn, parse_principals, principal_for
from orchestrator.identity.principal import Principal
from orchestrator.identity.tokens import hash_token
from orchestrator.services import Services

SESSION_COOKIE = "pao_session"
SESSION_SECONDS = 8 * 3600  # a working day; the token's own expiry ends it sooner
COOKIE_PATH = "/portal"


class LoginRequired(Exception):
    """No portal identity on this call: token mode sends the browser to the login page."""


class NoBrowserIdentity(Exception):
    """This deployment's auth mode has no browser identity (aws-iam with STS tokens), or the
    gateway's identity is not mapped to a PAO user."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The person on the page and how they came in (``session``: they may log out)."""

    principal: Principal
    session: bool = False


class Sessions:
    """Session id -> token hash, in a Litestar store: Redis when PAO has one (every instance
    sees every session), else this process's memory (``pao serve``: one process)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @classmethod
    def for_services(cls, redis_url: str | None) -> Sessions:
        if redis_url:
            from litestar.stores.redis import RedisStore

            return cls(RedisStore.with_client(url=redis_url, namespace="pao-portal-sessions"))
        return cls(MemoryStore())

    async def open(self, token: str) -> str:
        session_id = secrets.token_urlsafe(32)
        await self.store.set(session_id, hash_token(token), expires_in=SESSION_SECONDS)
        return session_id

    async def token_hash(self, session_id: str) -> str | None:
        value = await self.store.get(session_id)
        return value.decode() if value is not None else None

    async def close(self, session_id: str) -> None:
        await self.store.delete(session_id)


async def login(services: Services, sessions: Sessions, token: str) -> str | None:
    """A new session id for a live ``token``, or None when the token is not accepted."""
    if await services.tokens.authenticate(token) is None:
        return None
    return await sessions.open(token)


async def viewer_of(
    connection: ASGIConnection[Any, Any, Any, Any], services: Services, sessions: Sessions
) -> Viewer:
    """The portal identity of this call; raises ``LoginRequired`` or ``NoBrowserIdentity``."""
    auth = services.settings.auth
    if auth.mode == "none":
        return Viewer(local_admin(services))
    if auth.mode == "aws-iam":
        if auth.iam_source != "gateway":
            raise NoBrowserIdentity(
                "this PAO authenticates AWS callers with signed STS tokens, which a browser "
                "cannot send: deploy behind API Gateway (PAO_IAM_SOURCE=gateway) or use "
                "token mode for the portal"
            )
        arn = gateway_arn(connection.scope)
        principal = principal_for(arn, parse_principals(auth.iam_principals)) if arn else None
        if principal is None:
            raise NoBrowserIdentity("your AWS identity is not mapped to a PAO user")
        return Viewer(principal)
    session_id = connection.cookies.get(SESSION_COOKIE)
    if not session_id:
        raise LoginRequired
    token_hash = await sessions.token_hash(session_id)
    principal = await services.tokens.authenticate_hash(token_hash) if token_hash else None
    if principal is None:
        raise LoginRequired
    return Viewer(principal, session=True)
