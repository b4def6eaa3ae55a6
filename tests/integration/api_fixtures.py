"""Fixtures for API tests: the core's services on a fresh database, and a client of the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from orchestrator.services import Services, open_services
from orchestrator.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


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


def app_client(services: Services) -> httpx.AsyncClient:
    """A client calling the app in this event loop (the services' pool and Redis live here)."""
    app: Any = create_app(services.settings, services=services)  # an ASGI app; typing differs
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(services) as test_client:
        yield test_client
