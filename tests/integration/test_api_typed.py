"""Every operation's answer is a named, typed schema, and what the app answers matches it.

The handlers convert the core's views with ``api.models.to_model``: a view that drifts from its
model raises (a 500 here). The answers are also checked against the published document, so the
schema a generated client is built from is the one the server keeps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jsonschema
import msgspec
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from api.models import CatalogItemDetail
from tests.samples import FIELDS, ITEM

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]

# Answers that are not JSON documents, and why they carry no object schema.
UNTYPED_MEDIA = {
    "text/event-stream": "Server-Sent Events: each event's `data` is documented in the operation",
    "text/plain": "Prometheus text exposition format",
}


async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    document: dict[str, Any] = (await client.get("/api/v1/openapi.json")).json()
    return document


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = document["components"]["schemas"][name]
    return schema


def untyped(document: dict[str, Any], schema: dict[str, Any], seen: frozenset[str]) -> bool:
    """Whether a response schema leaves a client nothing but a map of anything."""
    ref = schema.get("$ref")
    if ref is not None:
        if ref in seen:
            return False
        return untyped(document, resolve(document, schema), seen | {ref})
    for key in ("oneOf", "anyOf", "allOf"):
        if key in schema:
            return any(untyped(document, s, seen) for s in schema[key])
    if schema.get("type") == "array":
        return untyped(document, schema.get("items", {}), seen)
    return not schema.get("properties")


async def test_every_operation_answers_a_typed_schema(client: httpx.AsyncClient) -> None:
    document = await openapi(client)
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                for media, content in (response.get("content") or {}).items():
                    if media in UNTYPED_MEDIA:
                        continue
                    if untyped(document, content.get("schema", {}), frozenset()):
                        found.append(f"{method.upper()} {path} {status} {media}")
    assert found == [], "operations answering an untyped schema"


async def test_the_document_is_valid_openapi(client: httpx.AsyncClient) -> None:
    document = await openapi(client)
    assert document["openapi"].startswith("3.1")
    errors = [error.message for error in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


def answer_validator(
    document: dict[str, Any], method: str, path: str, status: int
) -> jsonschema.Draft202012Validator:
    response = document["paths"][path][method.lower()]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


async def test_the_answers_are_what_the_document_says(client: httpx.AsyncClient) -> None:
    document = await openapi(client)
    submitted = await client.post("/api/v1/requests", json={"catalogItem": ITEM, "fields": FIELDS})
    assert submitted.status_code == 201, submitted.text
    item_yaml = (ROOT / "examples" / "catalog" / "databases" / f"{ITEM}.yaml").read_text()
    calls: list[tuple[str, str, str, dict[str, Any]]] = [
        ("GET", "/api/v1/health", "/api/v1/health", {}),
        ("GET", "/api/v1/health/ready", "/api/v1/health/ready", {}),
        ("GET", "/api/v1/version", "/api/v1/version", {}),
        ("GET", "/api/v1/catalog", "/api/v1/catalog?include_total=true", {}),
        ("GET", "/api/v1/catalog/items/{item_id}", f"/api/v1/catalog/items/{ITEM}", {}),
        ("GET", "/api/v1/catalog/validation-errors", "/api/v1/catalog/validation-errors", {}),
        ("POST", "/api/v1/catalog/refresh", "/api/v1/catalog/refresh", {}),
        ("GET", "/api/v1/audit", f"/api/v1/audit?request_id={submitted.json()['id']}", {}),
        (
            "POST",
            "/api/v1/validate/catalog-item",
            "/api/v1/validate/catalog-item",
            {"json": {"content": item_yaml}},
        ),
        ("POST", "/api/v1/preview/form", "/api/v1/preview/form", {"json": {"content": item_yaml}}),
        (
            "POST",
            "/api/v1/preview/form",
            "/api/v1/preview/form",
            {"json": {"content": "kind: CatalogItem\n"}},
        ),
        (
            "POST",
            "/api/v1/test/variables",
            "/api/v1/test/variables",
            {"json": {"catalog_item": ITEM, "fields": FIELDS}},
        ),
        (
            "POST",
            "/api/v1/test/variables",
            "/api/v1/test/variables",
            {"json": {"content": "kind: CatalogItem\n"}},
        ),
    ]
    for method, template, url, kwargs in calls:
        response = await client.request(method, url, **kwargs)
        assert response.status_code == 200, (url, response.text)
        answer_validator(document, method, template, 200).validate(response.json())
    audit = (await client.get(f"/api/v1/audit?request_id={submitted.json()['id']}")).json()
    assert audit["items"], "the submitted request is in the audit trail"
    # the item detail goes out as cached bytes: they decode as its model, strictly
    detail = await client.get(f"/api/v1/catalog/items/{ITEM}")
    assert msgspec.json.decode(detail.content, type=CatalogItemDetail).id == ITEM


async def test_the_examples_are_valid_values(client: httpx.AsyncClient) -> None:
    """The examples of every named model's properties are values of the property's schema (no
    random strings where a status or a number belongs)."""
    document = await openapi(client)
    for name, schema in document["components"]["schemas"].items():
        for field, prop in (schema.get("properties") or {}).items():
            check = jsonschema.Draft202012Validator({**prop, "components": document["components"]})
            for example in prop.get("examples", []):
                assert check.is_valid(example), (name, field, example)
