"""The catalog endpoints against real PostgreSQL, with the example catalog synced."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_list_catalog_returns_the_example_items(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/catalog", params={"include_total": "true"})
    assert response.status_code == 200
    body = response.json()
    ids = [item["id"] for item in body["items"]]
    assert "database-postgresql-standard" in ids
    assert ids == sorted(ids)
    assert body["pagination"]["total_count"] == len(ids)
    assert body["pagination"]["has_more"] is False
    assert body["pagination"]["next_cursor"] is None


async def test_catalog_pages_cover_every_item_once(client: httpx.AsyncClient) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get("/api/v1/catalog", params=params)).json()
        seen += [item["id"] for item in body["items"]]
        assert len(body["items"]) <= 3
        cursor = body["pagination"]["next_cursor"]
        if not cursor:
            break
    full = (await client.get("/api/v1/catalog", params={"limit": 200})).json()
    assert seen == [item["id"] for item in full["items"]]
    assert len(set(seen)) == len(seen)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"category": "databases"}, {"database-postgresql-standard"}),
        ({"owner": "dba"}, {"database-postgresql-standard"}),
        ({"search": "PostgreSQL"}, {"database-postgresql-standard"}),
    ],
)
async def test_catalog_filters(
    client: httpx.AsyncClient, params: dict[str, str], expected: set[str]
) -> None:
    body = (await client.get("/api/v1/catalog", params=params)).json()
    assert expected <= {item["id"] for item in body["items"]}
    for item in body["items"]:
        if "category" in params:
            assert item["category"] == params["category"]
        if "owner" in params:
            assert item["owner_team"] == params["owner"]


async def test_item_detail_and_schema(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/catalog/items/database-postgresql-standard")
    assert response.status_code == 200
    body = response.json()
    assert body["definition"]["metadata"]["id"] == "database-postgresql-standard"
    again = await client.get("/api/v1/catalog/items/database-postgresql-standard")
    assert again.content == response.content  # served from the cache, byte for byte
    schema = (await client.get("/api/v1/catalog/items/database-postgresql-standard/schema")).json()
    assert schema["catalogItemId"] == "database-postgresql-standard"  # the form document
    assert schema["jsonSchema"]["type"] == "object"
    assert "properties" in schema["jsonSchema"]


async def test_unknown_item_is_a_problem_document(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/catalog/items/no-such-item", headers={"X-Correlation-ID": "abc-123"}
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["x-correlation-id"] == "abc-123"
    body = response.json()
    assert body["type"] == "https://pao.dev/problems/not-found"
    assert body["status"] == 404
    assert body["correlation_id"] == "abc-123"


async def test_bad_cursor_is_a_located_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/catalog", params={"cursor": "not-a-cursor"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/cursor"


async def test_limit_above_maximum_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/catalog", params={"limit": 201})
    assert response.status_code == 400
    assert response.json()["type"] == "https://pao.dev/problems/bad-request"


async def test_refresh_reports_unchanged_items(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/catalog/refresh")
    assert response.status_code == 200
    body = response.json()
    assert body["stored"] == []
    assert "database-postgresql-standard" in body["unchanged"]


async def test_health_version_metrics_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/health")).json() == {"status": "ok"}
    ready = await client.get("/api/v1/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"]["status"] == "ok"
    assert (await client.get("/api/v1/version")).json()["version"]
    await client.get("/api/v1/catalog/items/database-postgresql-standard")
    metrics = (await client.get("/metrics")).text
    assert "pao_catalog_cache_hit_ratio" in metrics
    assert "pao_requests_total" in metrics
    spec = (await client.get("/api/v1/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert "/api/v1/requests" in spec["paths"]
    docs = await client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_generated_correlation_id_is_returned(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health")
    assert len(response.headers["x-correlation-id"]) == 36


async def test_platform_tools_validate_and_preview(
    client: httpx.AsyncClient, repo_root: Any
) -> None:
    text = (repo_root / "examples/catalog/databases/database-postgresql-standard.yaml").read_text()
    ok = (await client.post("/api/v1/validate/catalog-item", json={"content": text})).json()
    assert ok["valid"] is True
    broken = text.replace("type: terraform", "type: terraformz", 1)
    bad = (
        await client.post(
            "/api/v1/validate/catalog-item", json={"content": broken, "path": "db.yaml"}
        )
    ).json()
    assert bad["valid"] is False
    assert bad["issues"][0]["file"] == "db.yaml"
    assert bad["issues"][0]["line"] > 1
    preview = (await client.post("/api/v1/preview/form", json={"content": text})).json()
    assert preview["valid"] is True
    assert preview["form"]["groups"]


async def test_test_variables_renders_with_masked_secrets(client: httpx.AsyncClient) -> None:
    fields = {
        "instanceName": "orders-db",
        "environment": "prod",
        "size": "medium",
        "credentialMode": "provided",
        "adminPassword": "a-very-secret-password-123",
    }
    response = await client.post(
        "/api/v1/test/variables",
        json={"catalog_item": "database-postgresql-standard", "fields": fields},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "a-very-secret-password-123" not in response.text
    assert "orders-db" in response.text
    assert body["rendered"]
    assert "****" in response.text
    unknown = await client.post(
        "/api/v1/test/variables", json={"catalog_item": "nope-item", "fields": {}}
    )
    assert unknown.status_code == 404
    neither = await client.post("/api/v1/test/variables", json={"fields": {}})
    assert neither.status_code == 422
    inline = await client.post(
        "/api/v1/test/variables",
        json={"content": "apiVersion: pao/v1\nkind: CatalogItem\n", "fields": {}},
    )
    assert inline.json()["valid"] is False
