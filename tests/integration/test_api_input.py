"""Every input the API accepts is valid or a located 4xx problem, never a 500.

NUL characters (which PostgreSQL refuses in text and jsonb), lone surrogates, depth bombs and
over-long values, in bodies, object keys, query and path parameters and headers; then a
property test posting arbitrary JSON to the submission and validation endpoints.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orchestrator.services import Services, open_services
from orchestrator.settings import Settings
from tests.integration.api_fixtures import ROOT, app_client
from tests.samples import FIELDS, ITEM

pytestmark = pytest.mark.anyio

PROBLEM = "application/problem+json"


def body(**overrides: Any) -> dict[str, Any]:
    return {"catalog_item": ITEM, "fields": {**FIELDS, **overrides.pop("fields", {})}, **overrides}


def raw(document: Any) -> bytes:
    """JSON text as a client may send it: ``ensure_ascii`` writes NUL as ``\\u0000`` and a lone
    surrogate as ``\\ud800``, both valid JSON escapes."""
    return json.dumps(document, ensure_ascii=True).encode()


async def post(
    client: httpx.AsyncClient, url: str, content: bytes, **headers: str
) -> httpx.Response:
    return await client.post(
        url, content=content, headers={"content-type": "application/json", **headers}
    )


def located(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["status"] == status
    errors: list[dict[str, Any]] = problem["errors"]
    return errors


@pytest.mark.parametrize("url", ["/api/v1/requests", "/api/v1/requests/validate"])
@pytest.mark.parametrize(
    ("document", "where"),
    [
        (body(title="a\x00b"), "/title"),
        (body(justification="\x00"), "/justification"),
        (body(fields={"instanceName": "orders\x00db"}), "/fields/instanceName"),
        (body(fields={"tags\x00": "x"}), "/fields/tags\ufffd"),
        (body(fields={"nested": {"list": ["ok", {"deep": "\x00"}]}}), "/fields/nested/list/1/deep"),
        (body(catalog_item="data\x00base"), "/catalog_item"),
    ],
    ids=["title", "justification", "field-value", "field-key", "nested", "catalog-item"],
)
async def test_nul_anywhere_in_the_body_is_a_located_422(
    client: httpx.AsyncClient, url: str, document: dict[str, Any], where: str
) -> None:
    errors = located(await post(client, url, raw(document)), 422)
    assert [e["pointer"] for e in errors] == [where]
    assert errors[0]["source"] == "body"
    assert "NUL" in errors[0]["message"]


async def test_nul_in_a_decision_reason_is_422(client: httpx.AsyncClient) -> None:
    created = (await client.post("/api/v1/requests", json=body())).json()
    response = await post(
        client, f"/api/v1/requests/{created['id']}/abort", raw({"reason": "no\x00pe"})
    )
    assert [e["pointer"] for e in located(response, 422)] == ["/reason"]


@pytest.mark.parametrize(
    "text",
    [b'"\\ud800"', b'"x\\udc00y"', b'"\\ud800\\u0041"', b'{"\\ud800": 1}'],
    ids=["lone-high", "lone-low", "high-then-letter", "key"],
)
async def test_lone_surrogates_are_refused(client: httpx.AsyncClient, text: bytes) -> None:
    content = (
        b'{"catalog_item": "' + ITEM.encode() + b'", "fields": {"instanceName": ' + text + b"}}"
    )
    response = await post(client, "/api/v1/requests", content)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize("depth", [65, 1000, 100_000])
@pytest.mark.parametrize("opening", [b"[", b'{"a":'])
async def test_depth_bombs_are_400_before_decoding(
    client: httpx.AsyncClient, depth: int, opening: bytes
) -> None:
    closing = b"]" if opening == b"[" else b"}"
    bomb = opening * depth + b"1" + closing * depth
    for url in ("/api/v1/requests", "/api/v1/requests/validate"):
        response = await post(client, url, bomb)
        errors = located(response, 400)
        assert "nested deeper than 64" in response.json()["detail"]
        assert errors[0]["source"] == "body"
    inside = b'{"catalog_item": "x", "fields": {"a": ' + bomb + b"}}"
    located(await post(client, "/api/v1/requests", inside), 400)


async def test_nesting_up_to_the_limit_reaches_the_handler(client: httpx.AsyncClient) -> None:
    value: Any = "leaf"
    for _ in range(62):  # 64 levels with the body and its "fields" object
        value = [value]
    response = await client.post("/api/v1/requests/validate", json=body(fields={"x": value}))
    assert response.status_code == 200, response.text
    assert response.json()["valid"] is False  # "x" is no field of the item: a validation error


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/v1/requests?catalog_item=a%00b", "catalog_item"),
        ("/api/v1/requests?user=%00", "user"),
        ("/api/v1/requests?cursor=abc%00", "cursor"),
        ("/api/v1/catalog?search=db%00", "search"),
        ("/api/v1/catalog?category=%00", "category"),
        ("/api/v1/audit?actor=%00", "actor"),
    ],
)
async def test_nul_in_query_parameters_is_a_400_naming_the_parameter(
    client: httpx.AsyncClient, url: str, parameter: str
) -> None:
    errors = located(await client.get(url), 400)
    assert errors == [{"source": "query", "parameter": parameter, "message": errors[0]["message"]}]
    assert "NUL" in errors[0]["message"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/catalog/items/db%00x",
        "/api/v1/catalog/items/%00/schema",
        "/api/v1/requests/%00",
        "/api/v1/requests/%00/status",
    ],
)
async def test_nul_in_path_ids_is_4xx(client: httpx.AsyncClient, url: str) -> None:
    response = await client.get(url)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith(PROBLEM)


async def test_nul_in_a_path_parameter_names_it(client: httpx.AsyncClient) -> None:
    errors = located(await client.get("/api/v1/catalog/items/db%00x"), 400)
    assert errors[0]["source"] == "path"
    assert errors[0]["parameter"] == "item_id"


async def test_nul_in_headers_used_as_data_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/requests", json=body(), headers=[("Idempotency-Key", "k\x00ey")]
    )
    errors = located(response, 400)
    assert errors[0] == {
        "source": "header",
        "parameter": "idempotency-key",
        "message": "contains NUL",
    }
    listing = (await client.get("/api/v1/requests")).json()
    assert listing["items"] == []


@pytest.fixture
async def small_limits(database_url: str) -> AsyncIterator[Services]:
    env = {
        "CATALOG_LOCAL_PATH": str(ROOT / "examples" / "catalog"),
        "PAO_MAX_STRING_CHARS": "2000",
        "PAO_MAX_JSON_DEPTH": "8",
        "PAO_MAX_BODY_BYTES": "4096",
    }
    opened = await open_services(Settings.from_env(env), database_url=database_url)
    try:
        yield opened
    finally:
        await opened.close()


async def test_limits_are_settings_and_over_long_values_are_located(
    small_limits: Services,
) -> None:
    async with app_client(small_limits) as client:
        long_value = await client.post(
            "/api/v1/requests/validate", json=body(fields={"notes": "x" * 2001})
        )
        errors = located(long_value, 422)
        assert errors[0]["pointer"] == "/fields/notes"
        assert "longer than 2000" in errors[0]["message"]
        long_query = await client.get("/api/v1/requests", params={"user": "u" * 2001})
        assert located(long_query, 400)[0]["parameter"] == "user"
        nested: Any = 1
        for _ in range(8):
            nested = [nested]
        deep = await client.post("/api/v1/requests/validate", json=body(fields={"x": nested}))
        assert located(deep, 400)[0]["source"] == "body"
        too_big = await client.post(
            "/api/v1/requests/validate",
            json=body(fields={"notes": "x" * 1900, "n2": "y" * 1900, "n3": "z" * 1900}),
        )
        assert too_big.status_code == 413
        assert too_big.headers["content-type"].startswith(PROBLEM)


# -- property: arbitrary JSON never answers 5xx -------------------------------------------------

PLAIN = st.text(st.characters(codec="utf-8"), max_size=20)
# Half the strings carry something PostgreSQL or UTF-8 refuses: NUL or a lone surrogate.
REFUSED = st.sampled_from(["\x00", "\ud800", "\udfff", "\ud83d", "\ude00"])
TEXT = st.one_of(PLAIN, st.builds(lambda a, r, b: a + r + b, PLAIN, REFUSED, PLAIN))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)
    ),
    max_leaves=20,
)
FIELD_VALUES = st.one_of(
    st.just(FIELDS),  # valid fields: the submission reaches the database
    st.builds(lambda extra: {**FIELDS, **extra}, st.dictionaries(TEXT, JSON_VALUES, max_size=3)),
    JSON_VALUES,
)
# Mostly the right shape, so most examples get past the body's type checks to the core.
SHAPED = st.fixed_dictionaries(
    {"catalog_item": st.just(ITEM), "fields": FIELD_VALUES, "title": TEXT},
    optional={"justification": TEXT, "catalog_version": TEXT},
)
LOOSE = st.fixed_dictionaries(
    {"catalog_item": st.one_of(st.just(ITEM), TEXT), "fields": JSON_VALUES},
    optional={"title": JSON_VALUES, "justification": JSON_VALUES, "catalog_version": TEXT},
)
DOCUMENTS = st.one_of(SHAPED, LOOSE, JSON_VALUES).map(raw)
DEEP = b"[" * 100_000 + b"]" * 100_000


@given(document=DOCUMENTS, validate=st.booleans())
@example(document=raw(body(title="\x00")), validate=False)  # found by hypothesis
@example(document=DEEP, validate=False)
@example(document=DEEP, validate=True)
@example(document=b'{"a":' * 5000 + b"1" + b"}" * 5000, validate=False)
@example(document=raw(body(fields={"\x00": "\x00"})), validate=False)
@example(document=raw(body(title="\ud800")), validate=False)
@example(document=b'{"catalog_item": "\\ud800"}', validate=True)
@example(document=raw(body(fields={"instanceName": "\udfff\x00"})), validate=True)
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
async def test_arbitrary_json_is_never_a_server_error(
    client: httpx.AsyncClient, document: bytes, validate: bool
) -> None:
    url = "/api/v1/requests/validate" if validate else "/api/v1/requests"
    response = await post(client, url, document)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith(PROBLEM)
