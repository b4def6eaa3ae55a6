"""The README's permission table, walked over every endpoint for every kind of caller.

Two requesting teams (payments and search) submit requests for the same item (owned by dba);
each cell of the table is one call with that caller's token, and its answer must match.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.services import Services, open_services
from orchestrator.settings import Settings
from tests.integration.api_fixtures import app_client, issue_token
from tests.samples import FIELDS, ITEM

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
ITEM_FILE = ROOT / "examples" / "catalog" / "databases" / "database-postgresql-standard.yaml"
PERSONAS = {  # column -> (email, team)
    "requester": ("alice@example.com", "payments"),
    "other team": ("bob@example.com", "search"),
    "owner": ("dana@example.com", "dba"),
    "operator": ("oscar@example.com", "oncall"),
    "admin": ("ada@example.com", "platform-admins"),
}
COLUMNS = ["anonymous", *PERSONAS]
# What an allowed call answers, where it is not 200 (retry: allowed, but nothing has failed).
SUCCESS = {
    "POST /api/v1/requests": 201,
    "POST /api/v1/requests/{id}/escalate": 202,
    "POST /api/v1/requests/{id}/retry": 409,
}
PUBLIC_ROUTES = {
    "/api/v1",
    "/api/v1/{path:str}",
    "/api/v1/openapi.json",
    "/api/v1/oauth2-redirect.html",
}  # the OpenAPI document and its UI


def readme_table() -> dict[str, dict[str, str]]:
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- permission-table -->")[1].split("<!-- /permission-table -->")[0]
    table: dict[str, dict[str, str]] = {}
    for line in block.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        endpoint = re.sub(r"\s*\(.*\)$", "", cells[0]).strip("`")
        table[endpoint] = dict(zip(COLUMNS, cells[1:], strict=True))
    return table


@dataclass
class World:
    client: httpx.AsyncClient
    services: Services
    tokens: dict[str, str]
    requests: dict[str, str]  # "payments" / "search" -> a request id of that team

    def headers(self, column: str) -> dict[str, str]:
        token = self.tokens.get(column)
        return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    settings = Settings.from_env(
        {
            "CATALOG_LOCAL_PATH": str(ROOT / "examples" / "catalog"),
            "PAO_AUTH_MODE": "token",
            "PAO_ADMIN_TEAMS": "platform-admins",
            "PAO_OPERATOR_TEAMS": "oncall",
        }
    )
    services: Services = await open_services(settings, database_url=database_url)
    try:
        tokens = {
            column: await issue_token(services.db, email, team)
            for column, (email, team) in PERSONAS.items()
        }
        async with app_client(services) as client:
            world = World(client, services, tokens, {})
            world.requests["payments"] = await submit(world, "requester")
            world.requests["search"] = await submit(world, "other team")
            yield world
    finally:
        await services.close()


async def submit(world: World, column: str) -> str:
    response = await world.client.post(
        "/api/v1/requests",
        json={"catalog_item": ITEM, "fields": FIELDS},
        headers=world.headers(column),
    )
    assert response.status_code == 201, response.text
    request_id: str = response.json()["id"]
    return request_id


async def call(world: World, endpoint: str, column: str) -> httpx.Response:
    """One cell: state-changing decisions act on a fresh request of the payments team."""
    method, path = endpoint.split(" ", 1)
    request_id = world.requests["payments"]
    if path.endswith(("/abort", "/escalate", "/escalation", "/secrets", "/events")):
        request_id = await submit(world, "requester")
    if path.endswith("/events"):  # a stream closes when its request ends: one that has ended
        async with world.services.db.transaction() as conn:
            await conn.execute("UPDATE requests SET status = 'aborted' WHERE id = %s", [request_id])
    if path.endswith("/secrets"):  # as a request from GitHub waits for its secret
        async with world.services.db.transaction() as conn:
            await conn.execute(
                "UPDATE requests SET status = 'awaiting_secret' WHERE id = %s", [request_id]
            )
    if path.endswith(("/escalate", "/escalation")):
        # As the engine leaves them: failed, or escalated with its ticket opened.
        escalated = path.endswith("/escalation")
        async with world.services.db.transaction() as conn:
            await conn.execute(
                "UPDATE requests SET status = %s, escalation_ticket = %s,"
                " escalated_at = CASE WHEN %s THEN now() END WHERE id = %s",
                [
                    "escalated" if escalated else "failed",
                    "DBA-1" if escalated else None,
                    escalated,
                    request_id,
                ],
            )
    url = path.replace("{id}", ITEM if "/catalog/items/" in path else request_id)
    body: dict[str, Any] | None = None
    if path in ("/api/v1/validate/catalog-item", "/api/v1/preview/form"):
        body = {"content": ITEM_FILE.read_text(), "path": ITEM_FILE.name}
    elif path == "/api/v1/test/variables":
        body = {"catalog_item": ITEM, "fields": FIELDS}
    elif path in ("/api/v1/validate/request", "/api/v1/requests/validate", "/api/v1/requests"):
        body = {"catalogItem": ITEM, "fields": FIELDS}
    elif path.endswith(("/abort", "/escalate", "/reject")):
        body = {"reason": "permission walk"}
    elif path.endswith("/secrets"):
        body = {"fields": {}}  # the walked request waits for nothing: released as it is
    return await world.client.request(method, url, json=body, headers=world.headers(column))


async def test_the_permission_table_over_every_endpoint(world: World) -> None:
    table = readme_table()
    app: Any = world.client._transport.app  # type: ignore[attr-defined]
    routes = {
        f"{method} {route.path}"
        for route in app.routes
        for method in route.methods - {"OPTIONS", "HEAD"}
        # the portal's pages (/portal, and / leading there) sign in with a session instead
        if route.path != "/"
        and not route.path.startswith("/portal")
        and route.path not in PUBLIC_ROUTES
        and not route.path.startswith("/api/v1/docs")
    }
    documented = {re.sub(r"\{id\}", "{x}", endpoint) for endpoint in table}
    served = {re.sub(r"\{[a-z_]+:[a-z]+\}", "{x}", route) for route in routes}
    assert served == documented, "every endpoint is in the README table and nothing else is"
    mismatches = []
    for endpoint, row in table.items():
        if "github/webhook" in endpoint:
            continue  # authenticated by its signature (tests/integration/test_bot_webhook.py)
        for column in COLUMNS:
            expected = row[column]
            want = SUCCESS.get(endpoint, 200) if expected == "✓" else int(expected)
            response = await call(world, endpoint, column)
            if response.status_code != want:
                mismatches.append(f"{endpoint} as {column}: {response.status_code} != {want}")
            if response.status_code == 401:
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert not mismatches, "\n".join(mismatches)


async def test_no_cross_team_reads_in_lists(world: World) -> None:
    def ids(response: httpx.Response) -> set[str]:
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    async def listed(column: str) -> set[str]:
        response = await world.client.get(
            "/api/v1/requests", params={"include_total": "true"}, headers=world.headers(column)
        )
        assert response.json()["pagination"]["total_count"] == len(ids(response))
        return ids(response)

    payments, search = world.requests["payments"], world.requests["search"]
    assert await listed("requester") == {payments}
    assert await listed("other team") == {search}
    for column in ("owner", "operator", "admin"):
        assert await listed(column) == {payments, search}
    # The `user` filter cannot widen what a caller sees.
    sneaky = await world.client.get(
        "/api/v1/requests",
        params={"user": "alice@example.com"},
        headers=world.headers("other team"),
    )
    assert ids(sneaky) == set()
    # Another team's request is indistinguishable from one that does not exist.
    hidden = await world.client.get(
        f"/api/v1/requests/{payments}", headers=world.headers("other team")
    )
    absent = await world.client.get(
        "/api/v1/requests/00000000-0000-4000-8000-000000000000", headers=world.headers("other team")
    )
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json()["type"] == absent.json()["type"]
    assert "alice" not in hidden.text
