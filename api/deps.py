"""Dependencies the controllers receive: the core's services, the caller and the correlation id."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException

from api.auth import CHALLENGE, is_public, local_admin
from orchestrator.identity.principal import Principal
from orchestrator.services import Services

ANONYMOUS = Principal(email="anonymous@invalid", name="Anonymous")
"""The caller of a public route: no teams, no roles, so no permission; ``.invalid`` (RFC 2606)
is never anyone's address, so it owns no request."""


def provide_services(state: State) -> Services:
    services: Services = state.services
    return services


def provide_principal(request: Request[Any, Any, Any], state: State) -> Principal:
    """The caller, as ``api.auth.AuthMiddleware`` authenticated it.

    There is no fallback identity: on a public route (not authenticated) the caller is
    ``ANONYMOUS``; on any other route without an authenticated user the answer is 401, except
    in auth mode ``none`` (loopback only), where every caller is the one local admin.
    """
    user = request.scope.get("user")
    if isinstance(user, Principal):
        return user
    if is_public(request):
        return ANONYMOUS
    services: Services = state.services
    if services.settings.auth.mode == "none":
        return local_admin(services)
    raise NotAuthorizedException("authentication required", headers=CHALLENGE)


def provide_correlation_id(request: Request[Any, Any, Any]) -> str:
    value = request.scope.get("state", {}).get("correlation_id")
    return str(value) if value else ""
