"""The API as the spec wrote it: its paths, one request shape (a request file's), the form
document, typed OpenAPI schemas, and a problem document for every error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from api.models import FORM_DOCUMENT_EXAMPLE
from tests.samples import FIELDS, ITEM

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"


async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    document: dict[str, Any] = (await client.get("/api/v1/openapi.json")).json()
    return document


def validator(document: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    """A validator of one component schema, its references resolved in the document."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/api/v1/no-such-thing", {}, 404, "not-found"),
        ("GET", "/nowhere", {"headers": {"Accept": "text/html"}}, 404, "not-found"),
        ("GET", "/api/v1/requests/not-a-uuid", {}, 404, "not-found"),
        (
            "POST",
            "/api/v1/requests",
            {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
            400,
            "bad-request",
        ),
        ("GET", "/api/v1/requests?limit=lots", {}, 400, "bad-request"),
        ("DELETE", "/api/v1/requests", {}, 405, "method-not-allowed"),
    ],
)
async def test_every_error_is_a_problem_document_with_a_correlation_id(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    response = await client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"https://pao.dev/problems/{code}"
    assert body["correlation_id"] == response.headers["x-correlation-id"]
    assert "ParamType" not in response.text
    if status == 405:
        assert set(response.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}
    validator(await openapi(client), "ProblemDetails").validate(body)


async def test_options_lists_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    """GET and POST share `/api/v1/requests`: OPTIONS names both (and so does a 405)."""
    for path, methods in [
        ("/api/v1/requests", {"GET", "POST", "OPTIONS"}),
        ("/api/v1/catalog", {"GET", "OPTIONS"}),
        ("/api/v1/requests/5b0c8f9e-6d0a-4f5e-9a43-2f1d8c7b6a10/secrets", {"PUT", "OPTIONS"}),
    ]:
        response = await client.options(path)
        assert response.status_code == 204
        assert set(response.headers["allow"].split(", ")) == methods, path


async def test_a_bad_parameter_is_named_as_the_client_sent_it(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/requests?limit=lots")).json()
    assert body["errors"][0]["source"] == "query"
    assert body["errors"][0]["parameter"] == "limit"
    unknown = await client.post(
        "/api/v1/validate/request", json={"catalogItem": ITEM, "fields": {}, "colour": "red"}
    )
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["pointer"] == "/colour"


async def test_the_spec_paths_and_their_aliases(client: httpx.AsyncClient) -> None:
    body = {"catalogItem": ITEM, "fields": FIELDS}
    spec = await client.post("/api/v1/validate/request", json=body)
    alias = await client.post("/api/v1/requests/validate", json=body)
    assert spec.status_code == alias.status_code == 200
    assert spec.json() == alias.json()
    assert spec.json()["valid"] is True
    metrics = await client.get("/api/v1/metrics")
    assert metrics.status_code == 200
    assert "pao_requests_total" in metrics.text
    assert (await client.get("/metrics")).text.startswith("# HELP")
    paths = (await openapi(client))["paths"]
    assert "/api/v1/validate/request" in paths
    assert "/api/v1/metrics" in paths
    assert paths["/api/v1/requests/validate"]["post"]["deprecated"] is True


async def test_a_request_file_is_a_request_body(client: httpx.AsyncClient) -> None:
    files = sorted((ROOT / "examples" / "requests").rglob("*.yaml"))
    assert files
    for path in files:
        document = yaml.safe_load(path.read_text())
        response = await client.post("/api/v1/validate/request", json=document)
        assert response.status_code == 200, (path, response.text)
        assert "deprecation" not in response.headers


async def test_the_old_spelling_is_accepted_with_a_deprecation(client: httpx.AsyncClient) -> None:
    old = await client.post("/api/v1/requests", json={"catalog_item": ITEM, "fields": FIELDS})
    assert old.status_code == 201, old.text
    assert old.headers["deprecation"] == "true"
    assert "catalogItem" in old.headers["warning"]
    both = await client.post(
        "/api/v1/validate/request",
        json={"catalogItem": ITEM, "catalog_item": ITEM, "fields": FIELDS},
    )
    assert both.status_code == 400
    neither = await client.post("/api/v1/validate/request", json={"fields": FIELDS})
    assert neither.status_code == 400
    assert neither.json()["errors"][0]["pointer"] == "/catalogItem"


async def test_the_form_document_is_the_specs(client: httpx.AsyncClient) -> None:
    document = await openapi(client)
    form = validator(document, "FormDocument")
    form.validate(FORM_DOCUMENT_EXAMPLE)  # the spec's example is a valid answer
    response = await client.get(f"/api/v1/catalog/items/{ITEM}/schema")
    assert response.status_code == 200
    body = response.json()
    form.validate(body)
    assert body["catalogItemId"] == ITEM
    assert body["validation"] == {"endpoint": "/api/v1/validate/request", "method": "POST"}
    fields = [field for group in body["form"]["groups"] for field in group["fields"]]
    assert all({"id", "component", "required"} <= field.keys() for field in fields)
    assert any("pattern" in field.get("validation", {}) for field in fields)
    assert any("options" in field for field in fields)
    # the JSON Schema beside it accepts the sample request's fields
    jsonschema.Draft202012Validator(body["jsonSchema"]).validate(FIELDS)
    operation = document["paths"]["/api/v1/catalog/items/{item_id}/schema"]["get"]
    example = operation["responses"]["200"]["content"]["application/json"]["examples"]
    assert next(iter(example.values()))["value"] == FORM_DOCUMENT_EXAMPLE


async def test_the_request_operations_are_typed(client: httpx.AsyncClient) -> None:
    document = await openapi(client)
    schemas = document["components"]["schemas"]
    assert schemas["NewRequest"]["additionalProperties"] is False
    assert schemas["NewRequest"]["properties"]["catalog_item"]["deprecated"] is True
    requests = document["paths"]["/api/v1/requests"]
    created = requests["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert created == {"$ref": "#/components/schemas/RequestView"}
    listed = requests["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed == {"$ref": "#/components/schemas/RequestPage"}
    submitted = await client.post("/api/v1/requests", json={"catalogItem": ITEM, "fields": FIELDS})
    validator(document, "RequestView").validate(submitted.json())
    page = (await client.get("/api/v1/requests")).json()
    validator(document, "RequestPage").validate(page)
