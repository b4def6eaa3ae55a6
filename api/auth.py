"""Authentication for the REST API, and the guards that apply the core's policy.

One middleware authenticates every route except the public ones (health, version, the OpenAPI
document, and the GitHub webhook, which proves itself by its signature):

- ``none``: every caller is the one local admin (``pao api`` refuses non-loopback binds);
- ``token``: ``Authorization: Bearer pao_...`` issued by ``pao tokens create``; unknown, expired
  or revoked tokens get 401 with ``WWW-Authenticate``;
- ``aws-iam``: the caller's AWS identity, from API Gateway's verified request context or from a
  signed ``sts:GetCallerIdentity`` PAO replays to STS (``orchestrator.identity.aws_iam``);
  refused, replayed, stale or unmapped identities get 401, an STS that cannot answer 503.

Acting for someone: a credential with role ``bot`` (the Actions-mode bot's token) may name the
GitHub user it acts for in ``X-PAO-On-Behalf-Of: <email>``, and where a request came from in
``X-PAO-Source: github-pr|github-issue``. The caller then is that user (no teams: the API knows
no directory of GitHub users), the bot credential its ``agent`` (the audit row's ``agent``
column). Any other credential sending either header gets 403 naming the role; in mode ``none``
the local admin holds every role, so the headers are honoured there too.

Authorisation is decided by ``orchestrator.access``; here it is mapped to HTTP: 401 without
valid credentials, 403 when authenticated but not allowed, 404 for a request of another team
(its existence is not revealed: the answer is the same as for an id that does not exist);
the approvers of a request's stages read it too (``orchestrator.approvals.readers``).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, NoReturn

import httpx
from litestar.connection import ASGIConnection
from litestar.datastructures import Headers
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    ServiceUnavailableException,
    TooManyRequestsException,
    ValidationException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import Receive, Scope, Send

from api.request_context import random_id
from orchestrator.access import (
    BOT,
    AccessPolicy,
    can_administer,
    can_decide,
    can_use_platform_tools,
)
from orchestrator.approvals.readers import readable_request
from orchestrator.errors import NotFound
from orchestrator.identity.aws_iam import (
    IamError,
    StsUnavailable,
    StsVerifier,
    gateway_arn,
    parse_principals,
    principal_for,
)
from orchestrator.identity.principal import Principal
from orchestrator.observability import bind
from orchestrator.requests.secrets import GITHUB_SOURCES
from orchestrator.requests.service import RequestDraft
from orchestrator.services import Services

PUBLIC_PATHS = [
    r"^/api/v1/health",
    r"^/api/v1/version$",
    r"^/api/v1/github/webhook$",
    r"^/api/v1/docs",
    r"^/api/v1/openapi",
    r"^/api/v1/oauth2-redirect\.html$",
    r"^/api/v1/?$",
    r"^/api/v1/(swagger|redoc|elements|rapidoc|scalar)",
]
_PUBLIC = re.compile("|".join(PUBLIC_PATHS))
EXCLUDE_OPT_KEY = "exclude_from_auth"  # a handler with this opt set is public too
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="pao"'}
IAM_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="pao", error="invalid_token"'}
ON_BEHALF_OF = "X-PAO-On-Behalf-Of"
SOURCE = "X-PAO-Source"
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$")
log = logging.getLogger(__name__)


def is_public(connection: ASGIConnection[Any, Any, Any, Any] | Scope) -> bool:
    """Whether the route is public (not authenticated): one of ``PUBLIC_PATHS`` or a handler
    opted out with ``opt={"exclude_from_auth": True}``."""
    scope = connection.scope if isinstance(connection, ASGIConnection) else connection
    handler = scope.get("route_handler")
    if handler is not None and handler.opt.get(EXCLUDE_OPT_KEY):
        return True
    return _PUBLIC.search(scope.get("path", "")) is not None


def local_admin(services: Services) -> Principal:
    return Principal(
        email=services.settings.auth.local_user,
        name="Local administrator",
        teams=("platform",),
        roles=("admin",),
    )


class AuthMiddleware(AbstractAuthenticationMiddleware):
    _admin: tuple[Services, Principal] | None = None

    def _local_admin(self, services: Services) -> Principal | None:
        """In mode ``none``, the local admin, built once per services object (a frozen value,
        safe to share); otherwise None."""
        if self._admin is None or self._admin[0] is not services:
            if services.settings.auth.mode != "none":
                return None
            self._admin = (services, local_admin(services))
        return self._admin[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Mode ``none`` on the hot path: the same outcome as ``authenticate_request`` (the user
        and the log context are set on every route that is not public) without building a
        connection object and an authentication result per call."""
        services: Services | None = scope["litestar_app"].state.get("services")
        principal = self._local_admin(services) if services is not None else None
        if principal is None:
            await super().__call__(scope, receive, send)
            return
        if not (
            scope["type"] not in self.scopes
            or scope.get("method") in self.exclude_http_methods
            or is_public(scope)
        ):
            correlation_id = scope.get("state", {}).get("correlation_id")
            bind(correlation_id=correlation_id, request_id=random_id(), user=principal.email)
            if any(name in _STATED for name, _ in scope.get("headers", ())):
                principal = acting_principal(Headers.from_scope(scope), principal, local=True)
            scope["user"] = principal
            scope["auth"] = "none"
        await self.app(scope, receive, send)

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        services: Services = connection.app.state.services
        mode = services.settings.auth.mode
        correlation_id = connection.scope.get("state", {}).get("correlation_id")
        if mode == "none":  # ``__call__`` handles this mode itself; kept for completeness
            principal = local_admin(services)
            bind(correlation_id=correlation_id, request_id=random_id(), user=principal.email)
            principal = acting_principal(connection.headers, principal, local=True)
            return AuthenticationResult(user=principal, auth="none")
        bind(correlation_id=correlation_id, request_id=random_id(), user="-")
        if mode == "aws-iam":
            principal = await self._iam(connection, services)
        else:
            principal = await self._token(connection, services)
        bind(user=principal.email)
        if connection.scope.get("method") in WRITE_METHODS:  # counted per credential
            _limiter(connection, services.settings.auth.write_rate_per_minute).check(
                principal.email
            )
        return AuthenticationResult(user=acting_principal(connection.headers, principal), auth=mode)

    async def _iam(
        self, connection: ASGIConnection[Any, Any, Any, Any], services: Services
    ) -> Principal:
        auth = services.settings.auth
        mapping = parse_principals(auth.iam_principals)
        if auth.iam_source == "gateway":
            arn = gateway_arn(connection.scope)
            if arn is None:
                raise NotAuthorizedException(
                    "no API Gateway IAM identity on this call", headers=IAM_CHALLENGE
                )
        else:
            header = connection.headers.get("authorization", "")
            scheme, _, credentials = header.partition(" ")
            if scheme.lower() != "bearer" or not credentials.strip():
                raise NotAuthorizedException(
                    "authentication required: send 'Authorization: Bearer pao-sts-v2.<...>'",
                    headers=IAM_CHALLENGE,
                )
            verifier = _sts_verifier(connection, services)
            try:
                async with httpx.AsyncClient(follow_redirects=False) as client:
                    arn = await verifier.caller_arn(credentials.strip(), client)
            except IamError as exc:
                raise NotAuthorizedException(str(exc), headers=IAM_CHALLENGE) from None
            except StsUnavailable as exc:
                log.warning("aws-iam: %s", exc)
                raise ServiceUnavailableException(
                    "cannot check AWS identities right now; retry later",
                    headers={"Retry-After": "5"},
                ) from None
        principal = principal_for(arn, mapping)
        if principal is None:
            raise NotAuthorizedException(
                "this AWS identity is not mapped to a PAO user", headers=IAM_CHALLENGE
            )
        return principal

    async def _token(
        self, connection: ASGIConnection[Any, Any, Any, Any], services: Services
    ) -> Principal:
        header = connection.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise NotAuthorizedException(
                "authentication required: send 'Authorization: Bearer <token>'", headers=CHALLENGE
            )
        principal = await services.tokens.authenticate(credentials.strip())
        if principal is None:
            raise NotAuthorizedException(
                "the token is unknown, expired or revoked",
                headers={"WWW-Authenticate": 'Bearer realm="pao", error="invalid_token"'},
            )
        return principal


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_STATED = frozenset({ON_BEHALF_OF.lower().encode(), SOURCE.lower().encode()})


def acting_principal(
    headers: Mapping[str, str], credential: Principal, *, local: bool = False
) -> Principal:
    """The principal a call acts as: ``credential`` itself, or the user it names in
    ``X-PAO-On-Behalf-Of`` (with ``credential`` as the agent) and the source it states in
    ``X-PAO-Source``. Only a credential with role ``bot`` may send them (``local``: the local
    admin of mode ``none``, who holds every role); any other gets 403 naming the role.
    Empty headers count as sent: a client that means to state nothing sends nothing."""
    user = headers.get(ON_BEHALF_OF)
    source = headers.get(SOURCE)
    if user is None and source is None:
        return credential
    if not local and BOT not in credential.roles:
        sent = ON_BEHALF_OF if user is not None else SOURCE
        raise PermissionDeniedException(
            f"{sent} is accepted only from a credential with role '{BOT}' "
            f"(pao tokens create --roles {BOT})"
        )
    if source is not None and source not in GITHUB_SOURCES:
        _bad_header(SOURCE, f"must be one of {', '.join(sorted(GITHUB_SOURCES))}")
    if user is None:
        return replace(credential, source=source)
    user = user.strip()
    if len(user) > 254 or not _EMAIL.match(user):
        _bad_header(ON_BEHALF_OF, "must be the email address of the user acted for")
    bind(user=user, agent=credential.email)
    # The API has no directory of GitHub users: the user acted for has no teams and no roles
    # of their own; ``require_request`` also consults the agent (see there).
    return Principal(email=user, agent=credential, source=source)


def _bad_header(name: str, message: str) -> NoReturn:
    raise ValidationException(
        f"header {name} {message}",
        extra=[{"source": "header", "key": name, "message": message}],
    )


def stated_draft(draft: RequestDraft, principal: Principal) -> RequestDraft:
    """``draft`` with the source a bot credential stated (``X-PAO-Source``), so GitHub's rules
    (secret fields wait in ``awaiting_secret``) apply as when the App submits it."""
    return replace(draft, source=principal.source) if principal.source else draft


class WriteRateLimiter:
    """Per-principal fixed one-minute windows, in this process (each API instance counts its
    own calls: the limit is a guard against runaway clients, not a quota)."""

    def __init__(self, per_minute: int, clock: Any = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._windows: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        if self.per_minute <= 0:
            return
        now = self.clock()
        window = int(now // 60)
        with self._lock:
            if len(self._windows) > 10_000:  # forget old windows; bounded memory
                self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
            start, count = self._windows.get(key, (window, 0))
            if start != window:
                count = 0
            if count >= self.per_minute:
                retry_after = max(1, math.ceil((window + 1) * 60 - now))
                raise TooManyRequestsException(
                    f"more than {self.per_minute} write calls this minute; retry later",
                    headers={"Retry-After": str(retry_after)},
                )
            self._windows[key] = (window, count + 1)


def _sts_verifier(
    connection: ASGIConnection[Any, Any, Any, Any], services: Services
) -> StsVerifier:
    """One verifier per app, remembering used signatures in the database (shared by every
    instance, so a token replayed to another instance is refused too)."""
    state = connection.app.state
    verifier = state.get("sts_verifier")
    if not isinstance(verifier, StsVerifier):
        auth = services.settings.auth
        verifier = StsVerifier(
            auth.sts_endpoint_url, auth.iam_server_id, ledger=services.signature_ledger
        )
        state["sts_verifier"] = verifier
    return verifier


def _limiter(connection: ASGIConnection[Any, Any, Any, Any], per_minute: int) -> WriteRateLimiter:
    state = connection.app.state
    limiter = state.get("write_rate_limiter")
    if not isinstance(limiter, WriteRateLimiter):
        limiter = WriteRateLimiter(per_minute)
        state["write_rate_limiter"] = limiter
    return limiter


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        raise NotAuthorizedException("authentication required", headers=CHALLENGE)
    return user


def policy_of(services: Services) -> AccessPolicy:
    return AccessPolicy.from_settings(services.settings.auth)


async def admin_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: PAO admins only (catalog refresh, audit trail, metrics)."""
    services: Services = connection.app.state.services
    if not can_administer(policy_of(services), principal_of(connection)):
        raise PermissionDeniedException("this is for PAO admins (PAO_ADMIN_TEAMS or role admin)")


async def catalog_owners(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard: platform tools are for teams owning a catalog item, operators and admins."""
    services: Services = connection.app.state.services
    principal = principal_of(connection)
    policy = policy_of(services)
    owned: list[str] = []
    if not policy.sees_everything(principal) and principal.teams:
        owned = await services.access_facts.owned_teams(principal.teams)
    if not can_use_platform_tools(policy, principal, owned):
        raise PermissionDeniedException("platform tools are for teams that own catalog items")


async def require_request(
    services: Services, principal: Principal, request_id: uuid.UUID, decision: str | None = None
) -> None:
    """Raise NotFound (also for a request the caller may not read) or 403 unless ``principal``
    may read the request, or take ``decision`` on it. Readers are the core's one rule
    (``approvals.readers.readable_request``): the requester's side, the item's owners, operators,
    admins, and the approvers of any of its stages (who read what they decide, but may not
    retry, abort or escalate it unless they are readers too)."""
    policy = policy_of(services)
    # Acting for a user, a bot credential may do what the user may, or what it may itself: a
    # bot token with role operator decides for whoever the bot's GitHub rule allowed (as the
    # App does), one with role bot alone only for the requester.
    acting = [principal] + ([principal.agent] if principal.agent is not None else [])
    row = await readable_request(
        services.access_facts, services.approval_gates, policy, acting, request_id
    )
    if row is None:
        raise NotFound(f"request {request_id} does not exist", request_id=str(request_id))
    owner = row["owner_team"]
    if decision is not None and not any(
        can_decide(policy, p, row, owner, decision) for p in acting
    ):
        raise PermissionDeniedException(f"you may not {decision} this request")
