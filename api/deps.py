"""Dependencies the controllers receive: the core's services, the caller and the correlation id."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State

from orchestrator.requests.service import Principal
from orchestrator.services import Services


def provide_services(state: State) -> Services:
    services: Services = state.services
    return services


def provide_principal(request: Request[Any, Any, Any], state: State) -> Principal:
    """The caller, authenticated by ``api.auth.AuthMiddleware`` (auth mode `none`, loopback
    only, makes everyone the one local admin)."""
    from api.auth import local_admin

    user = request.scope.get("user")
    if isinstance(user, Principal):
        return user
    services: Services = state.services
    return local_admin(services)


def provide_correlation_id(request: Request[Any, Any, Any]) -> str:
    value = request.scope.get("state", {}).get("correlation_id")
    return str(value) if value else ""
