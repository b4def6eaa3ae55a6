"""Dry runs in POST /api/v1/test/variables: each action's executor says what it would send."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from actions.registry import ActionDeps, default_registry
from api.app import create_app
from orchestrator.services import Services

pytestmark = pytest.mark.anyio

FIELDS = {
    "instanceName": "orders-db",
    "environment": "prod",
    "size": "medium",
    "credentialMode": "provided",
    "adminPassword": "a-very-secret-password-123",
}


def client_with_executors(services: Services) -> httpx.AsyncClient:
    app: Any = create_app(
        services.settings, services=services, executors=default_registry(ActionDeps())
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_variables_include_the_dry_run_plan(services: Services) -> None:
    async with client_with_executors(services) as client:
        response = await client.post(
            "/api/v1/test/variables",
            json={"catalog_item": "database-postgresql-standard", "fields": FIELDS},
        )
    assert response.status_code == 200, response.text
    assert "a-very-secret-password-123" not in response.text
    plan = response.json()["plan"]
    item, _ = await services.catalog.current("database-postgresql-standard")
    assert set(plan) == {a.id for a in item.fulfillment.actions}
    terraform = next(a.id for a in item.fulfillment.actions if a.type == "terraform")
    for action in item.fulfillment.actions:
        described = plan[action.id]
        assert described["type"] == action.type
        if action.id == terraform:  # nothing configured: what execute would refuse, said now
            assert "TFC_TOKEN_REF" in described["error"], described
        else:
            assert "error" not in described, described
    assert [r["action"] for r in response.json()["refusals"]] == [terraform]
    assert "orders-db" in str(plan[terraform])  # the rendered workspace/variables


async def test_without_executors_there_is_no_plan(services: Services) -> None:
    from tests.integration.api_fixtures import app_client

    async with app_client(services) as client:
        response = await client.post(
            "/api/v1/test/variables",
            json={"catalog_item": "database-postgresql-standard", "fields": FIELDS},
        )
    assert response.status_code == 200
    assert "plan" not in response.json()
