"""The caller a handler receives, in every auth mode: no identity fallback outside mode ``none``.

A route that needs the caller answers 401 when nobody was authenticated (here: an app without
the authentication middleware, the situation a misconfigured route would be in); a public route
gets the anonymous principal, which has no permission at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.di import Provide

from api.deps import ANONYMOUS, provide_principal, provide_services
from api.problems import EXCEPTION_HANDLERS
from orchestrator.access import AccessPolicy, can_administer, can_read_request, request_scope
from orchestrator.identity.principal import Principal
from orchestrator.services import Services, open_services
from orchestrator.settings import Settings
from tests.integration.api_fixtures import ROOT, app_client

pytestmark = pytest.mark.anyio

MODES = {
    "none": {},
    "token": {"PAO_AUTH_MODE": "token"},
    "aws-iam": {"PAO_AUTH_MODE": "aws-iam", "PAO_IAM_PRINCIPALS": "{}"},
}


@pytest.fixture(params=sorted(MODES))
async def mode_services(
    request: pytest.FixtureRequest, database_url: str
) -> AsyncIterator[Services]:
    env = {"CATALOG_LOCAL_PATH": str(ROOT / "examples" / "catalog"), **MODES[request.param]}
    opened = await open_services(Settings.from_env(env), database_url=database_url)
    try:
        yield opened
    finally:
        await opened.close()


@get("/api/v1/whoami")
async def guarded(principal: Principal) -> dict[str, Any]:
    return {"email": principal.email, "roles": list(principal.roles)}


@get("/api/v1/health/whoami")  # under a public path
async def public_path(principal: Principal) -> dict[str, Any]:
    return {"email": principal.email, "roles": list(principal.roles)}


@get("/opted-out", opt={"exclude_from_auth": True})
async def opted_out(principal: Principal) -> dict[str, Any]:
    return {"email": principal.email, "roles": list(principal.roles)}


def bare_app(services: Services) -> httpx.AsyncClient:
    """The real dependencies, without the authentication middleware: nobody is authenticated."""
    app: Any = Litestar(
        route_handlers=[guarded, public_path, opted_out],
        dependencies={
            "services": Provide(provide_services, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        state=State({"services": services}),
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_no_user_is_401_outside_mode_none_and_public_routes_are_anonymous(
    mode_services: Services,
) -> None:
    mode = mode_services.settings.auth.mode
    async with bare_app(mode_services) as client:
        answer = await client.get("/api/v1/whoami")
        if mode == "none":
            assert answer.status_code == 200
            assert answer.json()["email"] == mode_services.settings.auth.local_user
        else:
            assert answer.status_code == 401, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.headers["www-authenticate"].startswith("Bearer")
        for url in ("/api/v1/health/whoami", "/opted-out"):
            public = await client.get(url)
            assert public.status_code == 200
            assert public.json() == {"email": ANONYMOUS.email, "roles": []}


async def test_the_real_app_refuses_anonymous_callers_outside_mode_none(
    mode_services: Services,
) -> None:
    mode = mode_services.settings.auth.mode
    async with app_client(mode_services) as client:
        listing = await client.get("/api/v1/requests")
        submit = await client.post("/api/v1/requests", json={"catalog_item": "x", "fields": {}})
        health = await client.get("/api/v1/health")
    if mode == "none":
        assert listing.status_code == 200
    else:
        assert listing.status_code == submit.status_code == 401
    assert health.status_code == 200


def test_the_anonymous_principal_has_no_permission() -> None:
    policy = AccessPolicy(frozenset({"platform"}), frozenset({"oncall"}))
    assert not policy.roles(ANONYMOUS)
    assert not can_administer(policy, ANONYMOUS)
    assert not request_scope(policy, ANONYMOUS).see_all
    row = {"requester_email": "dev@example.com", "requester_teams": ["payments"]}
    assert not can_read_request(policy, ANONYMOUS, row, "payments")
