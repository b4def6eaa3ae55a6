"""Fixtures for API tests: the core's services on a fresh database, and a client of the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from orchestrator.identity.tokens import TokenStore
from orchestrator.services import Services, open_services
from orchestrator.settings import Settings
from orchestrator.store.database import Database

ROOT = Path(__file__).resolve().parents[2]
TOKEN_ENV = {  # auth mode token: admins and operators as the permission table names them
    "CATALOG_LOCAL_PATH": str(ROOT / "examples" / "catalog"),
    "PAO_AUTH_MODE": "token",
    "PAO_ADMIN_TEAMS": "platform-admins",
    "PAO_OPERATOR_TEAMS": "oncall",
}


@pytest.fixture
def api_settings() -> Settings:
    return Settings.from_env(
        {"CATALOG_LOCAL_PATH": str(ROOT / "examples" / "catalog"), "PAO_MAX_BODY_BYTES": "1048576"}
    )


@pytest.fixture
async def services(database_url: str, api_settings: Settings) -> AsyncIterator[Services]:
    opened = await open_services(api_settings, database_url=database_url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def token_services(database_url: str) -> AsyncIterator[Services]:
    """The services in auth mode ``token`` (``TOKEN_ENV``)."""
    opened = await open_services(Settings.from_env(TOKEN_ENV), database_url=database_url)
    try:
        yield opened
    finally:
        await opened.close()


async def issue_token(
    db: Database,
    email: str,
    *teams: str,
    days: int = 1,
    description: str | None = None,
    roles: tuple[str, ...] = (),
) -> str:
    """A new API token for ``email`` in ``teams`` (with ``roles``), as ``pao tokens create``
    makes one."""
    issued = await TokenStore(db).create(
        email=email,
        name=None,
        teams=teams,
        roles=roles,
        days=days,
        description=description,
        actor="test",
    )
    return issued.token


def app_client(services: Services) -> httpx.AsyncClient:
    """A client calling the app in this event loop (the services' pool and Redis live here)."""
    app: Any = create_app(services.settings, services=services)  # an ASGI app; typing differs
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(services) as test_client:
        yield test_client
