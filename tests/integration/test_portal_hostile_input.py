"""The portal under hostile input: every form post, query and path is valid or a located 4xx
page, never a 500, and a refused post stores nothing (issue 20's rule for the JSON API, applied
to the browser face: NUL, lone surrogates, non-UTF-8 bodies, huge fields, open redirects)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from orchestrator.services import Services
from tests.integration.api_fixtures import app_client as api_client
from tests.integration.api_fixtures import issue_token
from tests.integration.test_portal_pages import (
    app_client,
    csrf_of,
    signed_in,
    submit_dns,
)

pytestmark = pytest.mark.anyio

ITEM_FORM = "/portal/items/queue-sqs-standard/request"
QUEUE = {
    "f.queueName": "orders-events",
    "f.environment": "dev",
    "f.consumerRoleArn": "arn:aws:iam::123456789012:role/worker",
}
FORM_TYPE = "application/x-www-form-urlencoded"
NUL = "%00"
SURROGATE = "%ED%A0%80"  # the UTF-8-like encoding of U+D800: not UTF-8


async def stored_requests(services: Services) -> int:
    async with services.db.connection() as conn:
        row = await (await conn.execute("SELECT count(*) AS n FROM requests")).fetchone()
    assert row is not None
    return int(row["n"])


def encoded(fields: dict[str, str], token: str, *extra: str) -> bytes:
    """A urlencoded body: the fields (encoded by httpx), the CSRF token, then raw pairs."""
    pairs = httpx.QueryParams({**fields, "_csrf_token": token})
    return "&".join([str(pairs), *extra]).encode("latin-1")


def refused_page(answer: httpx.Response, status: int, *located: str) -> None:
    """A 4xx HTML page of the portal naming where the input was refused."""
    assert answer.status_code == status, answer.text[:2000]
    assert answer.headers["content-type"].startswith("text/html"), answer.headers
    for where in located:
        assert where in answer.text, answer.text[:2000]


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        (f"f.queueName=orders{NUL}events", "f.queueName"),
        (f"title=a{NUL}b", "title"),
        (f"justification={NUL}", "justification"),
        (f"f.queueName=orders{SURROGATE}", "f.queueName"),
        (f"title={SURROGATE}", "title"),
        (f"f.tags{NUL}=x", "f.tags\ufffd"),
        (f"x{SURROGATE}=1", "x\ufffd"),
        (f"submission_key=k{NUL}", "submission_key"),
    ],
    ids=[
        "nul-field",
        "nul-title",
        "nul-justification",
        "surrogate-field",
        "surrogate-title",
        "nul-in-name",
        "surrogate-in-name",
        "nul-submission-key",
    ],
)
@pytest.mark.parametrize("action", ["request", "preview"])
async def test_nul_and_surrogates_in_a_form_are_a_located_400(
    services: Services, action: str, extra: str, where: str
) -> None:
    async with app_client(services) as client:
        token = csrf_of(await client.get(ITEM_FORM))
        before = await stored_requests(services)
        answer = await client.post(
            f"/portal/items/queue-sqs-standard/{action}",
            content=encoded(QUEUE, token, extra),
            headers={"content-type": FORM_TYPE},
        )
        refused_page(answer, 400, where)
        assert await stored_requests(services) == before


async def test_a_body_that_is_not_utf8_is_400(services: Services) -> None:
    async with app_client(services) as client:
        token = csrf_of(await client.get(ITEM_FORM))
        before = await stored_requests(services)
        body = encoded(QUEUE, token) + b"&title=caf\xe9"
        answer = await client.post(ITEM_FORM, content=body, headers={"content-type": FORM_TYPE})
        refused_page(answer, 400, "title")
        assert await stored_requests(services) == before


async def test_a_huge_field_is_413_and_a_long_one_is_located(services: Services) -> None:
    async with app_client(services) as client:
        token = csrf_of(await client.get(ITEM_FORM))
        before = await stored_requests(services)
        huge = await client.post(
            ITEM_FORM, data={**QUEUE, "_csrf_token": token, "title": "x" * 2_000_000}
        )
        assert huge.status_code == 413
        # within the body limit: the core's own limit on the field answers, nothing stored
        long = await client.post(
            ITEM_FORM, data={**QUEUE, "_csrf_token": token, "f.queueName": "q" * 500_000}
        )
        refused_page(long, 422, 'id="err-queueName"')
        assert await stored_requests(services) == before


async def test_ten_thousand_fields_and_repeated_names(services: Services) -> None:
    async with app_client(services) as client:
        token = csrf_of(await client.get(ITEM_FORM))
        many = encoded(QUEUE, token, *(f"junk{i}=v" for i in range(10_000)))
        answer = await client.post(ITEM_FORM, content=many, headers={"content-type": FORM_TYPE})
        assert answer.status_code == 303, answer.text[:2000]  # unknown inputs are ignored
        repeated = encoded(QUEUE, token, "f.queueName=other-name", "f.queueName=third")
        again = await client.post(ITEM_FORM, content=repeated, headers={"content-type": FORM_TYPE})
        assert again.status_code in (303, 422), again.text[:2000]


async def test_a_multipart_post_is_415_and_stores_nothing(services: Services) -> None:
    async with app_client(services) as client:
        token = csrf_of(await client.get(ITEM_FORM))
        before = await stored_requests(services)
        multipart = await client.post(
            ITEM_FORM,
            data={**QUEUE, "_csrf_token": token, "title": "a\x00b"},
            files={"upload": ("a.txt", b"x\x00y", "text/plain")},
        )
        refused_page(multipart, 415, "x-www-form-urlencoded")
        as_json = await client.post(ITEM_FORM, json={**QUEUE}, headers={"X-CSRF-Token": token})
        refused_page(as_json, 415, "application/json")
        assert await stored_requests(services) == before
        missing = await client.post(
            "/portal/items/no-such-item/request", data={**QUEUE, "_csrf_token": token}
        )
        refused_page(missing, 404, "no-such-item")


@pytest.mark.parametrize("number", ["1e999", "NaN", "-0", "inf", "0x10", "1" * 5000])
async def test_odd_numbers_are_the_cores_messages(services: Services, number: str) -> None:
    async with app_client(services) as client:
        form = "/portal/items/database-postgresql-standard/request"
        token = csrf_of(await client.get(form))
        answer = await client.post(
            "/portal/items/database-postgresql-standard/preview",
            data={"_csrf_token": token, "f.instanceName": "orders-db", "f.storageGb": number},
        )
        assert answer.status_code in (200, 422), answer.text[:2000]


@pytest.mark.parametrize(
    "query",
    [
        {"q": "x" * 60_000},  # httpx itself refuses a longer query
        {"q": "a\x00b"},
        {"category": "\x00"},
    ],
    ids=["q-60k", "q-nul", "category-nul"],
)
async def test_catalog_queries_are_located_400s(services: Services, query: dict[str, str]) -> None:
    async with app_client(services) as client:
        answer = await client.get("/portal/", params=query)
        refused_page(answer, 400, *query)


@pytest.mark.parametrize("wildcard", ["%", "_", "%sql%", "\\"])
async def test_a_search_is_text_not_a_like_pattern(services: Services, wildcard: str) -> None:
    async with app_client(services) as client:
        answer = await client.get("/portal/", params={"q": wildcard})
        assert answer.status_code == 200, answer.text[:2000]
        assert "Amazon SQS Queue" not in answer.text
        api = await client.get("/api/v1/catalog", params={"search": wildcard})
        assert api.status_code == 200, api.text
        assert api.json()["items"] == []
        found = await client.get("/api/v1/catalog", params={"search": "sqs QUEUE"})
        assert "queue-sqs-standard" in {i["id"] for i in found.json()["items"]}


async def test_surrogate_in_the_query_string_is_400(services: Services) -> None:
    async with app_client(services) as client:
        answer = await client.get(f"/portal/?q={SURROGATE}")
        assert answer.status_code in (200, 400), answer.text[:2000]
        path = await client.get(f"/portal/items/x{SURROGATE}")
        assert path.status_code in (400, 404), path.text[:2000]
        nul_path = await client.get(f"/portal/items/x{NUL}y")
        assert nul_path.status_code in (400, 404), nul_path.text[:2000]


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "https://evil.example/",
        "/portal/\\\\evil.example",
        "/portal/%0d%0aSet-Cookie:x=1",
        "/portal/\r\nSet-Cookie: x=1",
        "/portal/\x00",
        "/portal//evil.example",
    ],
)
async def test_login_never_redirects_away(token_services: Services, target: str) -> None:
    token = await issue_token(token_services.db, "carol@example.com", "payments")
    async with app_client(token_services) as client:
        page = await client.get("/portal/login", params={"next": target})
        assert page.status_code in (200, 400), page.text[:2000]
        login = await client.get("/portal/login")
        answer = await client.post(
            "/portal/login", data={"_csrf_token": csrf_of(login), "token": token, "next": target}
        )
        assert answer.status_code in (303, 400), answer.text[:2000]
        if answer.status_code == 303:
            location = answer.headers["location"]
            assert location.startswith("/portal/")
            assert not location.startswith("/portal//")
            assert not set("\\\r\n") & set(location)


@pytest.mark.parametrize(
    ("verdict", "extra", "where"),
    [
        ("approve", f"comment=ok{NUL}", "comment"),
        ("reject", f"reason=no{NUL}pe", "reason"),
        ("reject", f"reason={SURROGATE}", "reason"),
    ],
    ids=["approve-nul", "reject-nul", "reject-surrogate"],
)
async def test_a_decision_with_unstorable_text_is_refused(
    token_services: Services, verdict: str, extra: str, where: str
) -> None:
    services = token_services
    ana = await issue_token(services.db, "ana@example.com", "payments")
    nora = await issue_token(services.db, "nora@example.com", "network")
    async with signed_in(services, ana) as requester:
        page = await submit_dns(requester)
    request_id = uuid.UUID(page.rsplit("/", 1)[1])
    async with signed_in(services, nora) as approver:
        token = csrf_of(await approver.get(page))
        answer = await approver.post(
            f"{page}/{verdict}",
            content=encoded({}, token, extra),
            headers={"content-type": FORM_TYPE},
        )
        refused_page(answer, 400, where)
        assert (await services.requests.get_row(request_id))["status"] == "awaiting_approval"
        long = await approver.post(
            f"{page}/reject", data={"_csrf_token": token, "reason": "r" * 900_000}
        )
        assert long.status_code in (303, 422), long.text[:2000]


# -- the approvals REST routes --------------------------------------------------------------

DNS_FIELDS = {
    "zone": "example.com",
    "recordName": "api.payments",
    "recordType": "A",
    "ipAddresses": "203.0.113.10",
}


async def gated_request(services: Services) -> tuple[str, dict[str, str]]:
    """A dns-record request of ana's awaiting nora's team, and nora's headers."""
    ana = await issue_token(services.db, "ana@example.com", "payments")
    nora = await issue_token(services.db, "nora@example.com", "network")
    async with api_client(services) as client:
        created = await client.post(
            "/api/v1/requests",
            json={"catalog_item": "dns-record", "fields": DNS_FIELDS},
            headers={"authorization": f"Bearer {ana}"},
        )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "awaiting_approval"
    return str(created.json()["id"]), {"authorization": f"Bearer {nora}"}


@pytest.mark.parametrize(
    ("verdict", "content", "status", "where"),
    [
        ("approve", b'{"comment": "ok\\u0000"}', 422, "/comment"),
        ("reject", b'{"reason": "no\\u0000pe"}', 422, "/reason"),
        ("reject", b'{"reason": "\\ud800"}', 400, None),  # msgspec: "truncated"
        ("reject", b'{"reason": "' + b"r" * 1_000_000 + b'"}', 400, "/reason"),
        ("reject", b'{"reason": "' + b"r" * 1_100_000 + b'"}', 413, None),
        ("reject", b'{"reason": "' + b"r" * 5000 + b'"}', 400, None),
        ("reject", b'{"reason": "   "}', 422, None),
        ("reject", b"[]", 400, None),
        ("reject", b'"x"', 400, None),
        ("approve", b"[]", 400, None),
        ("approve", b'{"comment": 5}', 400, None),
        ("approve", b'{"unknown": 1}', 400, None),
    ],
    ids=[
        "approve-nul",
        "reject-nul",
        "reject-surrogate",
        "reject-1mb",
        "reject-over-body-limit",
        "reject-5000",
        "reject-blank",
        "reject-array",
        "reject-string",
        "approve-array",
        "approve-number",
        "approve-unknown",
    ],
)
async def test_a_refused_decision_is_a_located_4xx_and_decides_nothing(
    token_services: Services, verdict: str, content: bytes, status: int, where: str | None
) -> None:
    request_id, nora = await gated_request(token_services)
    async with api_client(token_services) as client:
        answer = await client.post(
            f"/api/v1/requests/{request_id}/{verdict}",
            content=content,
            headers={**nora, "content-type": "application/json"},
        )
        assert answer.status_code == status, answer.text[:2000]
        assert answer.headers["content-type"].startswith("application/problem+json")
        if where is not None:
            assert [e["pointer"] for e in answer.json()["errors"]] == [where]
        row = await token_services.requests.get_row(uuid.UUID(request_id))
        assert row["status"] == "awaiting_approval"


@pytest.mark.parametrize("content", [b"null", b""], ids=["null", "empty"])
async def test_an_approval_without_a_body_is_accepted(
    token_services: Services, content: bytes
) -> None:
    request_id, nora = await gated_request(token_services)
    async with api_client(token_services) as client:
        answer = await client.post(
            f"/api/v1/requests/{request_id}/approve",
            content=content,
            headers={**nora, "content-type": "application/json"},
        )
        assert answer.status_code == 200, answer.text[:2000]
        assert answer.json()["outcome"] == "approved"


@pytest.mark.parametrize(
    ("limit", "status"),
    [("-1", 400), ("0", 400), ("100000", 400), ("abc", 400), ("1e3", 400), ("1", 200)],
)
async def test_the_inbox_limit(token_services: Services, limit: str, status: int) -> None:
    request_id, nora = await gated_request(token_services)
    async with api_client(token_services) as client:
        answer = await client.get("/api/v1/approvals", params={"limit": limit}, headers=nora)
        assert answer.status_code == status, answer.text[:2000]
        if status == 200:
            assert [e["request_id"] for e in answer.json()["items"]] == [request_id]
        else:
            assert "limit" in answer.text
