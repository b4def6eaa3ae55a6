"""The portal without a browser: pages readable without JavaScript, CSRF refusals, the CSP
header, located 4xx answers, and the same permissions as the API (token mode)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from api.app import create_app
from orchestrator.engine.transitions import fail_request
from orchestrator.identity.tokens import TokenStore
from orchestrator.services import Services, open_services
from tests.integration.api_fixtures import issue_token
from tests.integration.test_auth_aws_iam import ACCOUNT, iam_settings, rest_api_event

pytestmark = pytest.mark.anyio

CSRF_INPUT = re.compile(r'(?:name="_csrf_token" value|data-csrf)="([^"]+)"')


def app_client(services: Services) -> httpx.AsyncClient:
    """A browser-like client: HTTPS (the portal's cookies are Secure), cookies kept."""
    app: Any = create_app(services.settings, services=services)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver")


def csrf_of(page: httpx.Response) -> str:
    found = CSRF_INPUT.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


async def test_browsing_works_without_javascript(services: Services) -> None:
    async with app_client(services) as client:
        root = await client.get("/")
        assert root.status_code == 302
        assert root.headers["location"] == "/portal/"
        catalog = await client.get("/portal/")
        assert catalog.status_code == 200, catalog.text
        assert "Amazon SQS Queue" in catalog.text
        csp = catalog.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "'unsafe-inline'" not in csp
        assert "<script>" not in catalog.text  # no inline script: every script has a src
        filtered = await client.get("/portal/", params={"category": "messaging"})
        assert "Amazon SQS Queue" in filtered.text
        assert "PostgreSQL" not in filtered.text
        searched = await client.get("/portal/", params={"q": "kafka"})
        assert "Kafka" in searched.text
        assert "Amazon SQS Queue" not in searched.text
        item = await client.get("/portal/items/queue-sqs-standard")
        assert item.status_code == 200
        assert "cloud-platform" in item.text
        assert "2h" in item.text
        assert "1.6.1" in item.text
        form = await client.get("/portal/items/queue-sqs-standard/request")
        assert form.status_code == 200
        assert '<label for="in-queueName">' in form.text
        assert (
            'id="wrap-contentBasedDeduplication" data-field="contentBasedDeduplication" hidden'
            in form.text
        )
        static = await client.get("/portal/static/htmx.min.js")
        assert static.status_code == 200
        assert "htmx" in static.text
        missing = await client.get("/portal/items/no-such-item")
        assert missing.status_code == 404
        assert "no-such-item" in missing.text
        assert missing.headers["content-type"].startswith("text/html")


async def test_a_post_without_the_csrf_token_is_refused(services: Services) -> None:
    async with app_client(services) as client:
        form = await client.get("/portal/items/queue-sqs-standard/request")
        token = csrf_of(form)
        fields = {
            "f.queueName": "orders-events",
            "f.environment": "dev",
            "f.consumerRoleArn": "arn:aws:iam::123456789012:role/worker",
        }
        refused = await client.post("/portal/items/queue-sqs-standard/request", data=fields)
        assert refused.status_code == 403
        forged = await client.post(
            "/portal/items/queue-sqs-standard/request", data={**fields, "_csrf_token": "x" * 20}
        )
        assert forged.status_code == 403
        accepted = await client.post(
            "/portal/items/queue-sqs-standard/request", data={**fields, "_csrf_token": token}
        )
        assert accepted.status_code == 303, accepted.text
        assert accepted.headers["location"].startswith("/portal/requests/")
        # the JSON API is not subject to the portal's CSRF checks
        api = await client.post(
            "/api/v1/validate/request",
            json={"catalogItem": "queue-sqs-standard", "fields": {"queueName": "x"}},
        )
        assert api.status_code == 200


async def test_server_side_errors_are_located_and_secrets_not_echoed(services: Services) -> None:
    async with app_client(services) as client:
        form = await client.get("/portal/items/database-postgresql-standard/request")
        token = csrf_of(form)
        answer = await client.post(
            "/portal/items/database-postgresql-standard/request",
            data={
                "_csrf_token": token,
                "f.instanceName": "X!",
                "f.enableEncryption": "true",
                "f.encryptionKey": "s3cret-value-123",
            },
        )
        assert answer.status_code == 422
        assert 'id="in-instanceName"' in answer.text
        assert re.search(r'id="err-instanceName"[^>]*>[^<]*Instance Name', answer.text), answer.text
        assert "s3cret-value-123" not in answer.text


async def test_another_teams_user_cannot_see_the_request(token_services: Services) -> None:
    alice = await issue_token(token_services.db, "alice@example.com", "payments")
    mallory = await issue_token(token_services.db, "mallory@example.com", "growth")
    async with app_client(token_services) as client:
        anonymous = await client.get("/portal/")
        assert anonymous.status_code == 303
        assert anonymous.headers["location"].startswith("/portal/login")
        login = await client.get("/portal/login")
        bad = await client.post(
            "/portal/login", data={"_csrf_token": csrf_of(login), "token": "pao_nope"}
        )
        assert bad.status_code == 401
        good = await client.post(
            "/portal/login",
            data={"_csrf_token": csrf_of(login), "token": alice, "next": "/portal/requests"},
        )
        assert good.status_code == 303, good.text
        cookie = good.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "Secure" in cookie
        assert "samesite=strict" in cookie.lower()
        assert alice not in cookie
        assert good.headers["location"] == "/portal/requests"
        form = await client.get("/portal/items/queue-sqs-standard/request")
        assert "alice@example.com" in form.text
        submitted = await client.post(
            "/portal/items/queue-sqs-standard/request",
            data={
                "_csrf_token": csrf_of(form),
                "f.queueName": "orders-events",
                "f.environment": "dev",
                "f.consumerRoleArn": "arn:aws:iam::123456789012:role/worker",
            },
        )
        assert submitted.status_code == 303, submitted.text
        page = submitted.headers["location"]
        assert (await client.get(page)).status_code == 200
        assert alice not in (await client.get(page)).text
    async with app_client(token_services) as other:
        login = await other.get("/portal/login")
        await other.post("/portal/login", data={"_csrf_token": csrf_of(login), "token": mallory})
        hidden = await other.get(page)
        assert hidden.status_code == 404
        listed = await other.get("/portal/requests", params={"scope": "team"})
        assert listed.status_code == 200
        assert page not in listed.text
        events = await other.get(page + "/events")
        assert events.status_code == 404
        decision = await other.post(
            page + "/abort", data={"_csrf_token": csrf_of(listed), "reason": "mine now"}
        )
        assert decision.status_code == 404


async def test_bad_input_is_a_4xx_page(services: Services) -> None:
    async with app_client(services) as client:
        wrong_scope = await client.get("/portal/requests", params={"scope": "everyone"})
        assert wrong_scope.status_code == 400
        not_a_uuid = await client.get("/portal/requests/not-a-uuid")
        assert not_a_uuid.status_code == 404
        catalog = await client.get("/portal/")
        unknown_decision = await client.post(
            "/portal/requests/00000000-0000-0000-0000-000000000001/explode",
            data={"_csrf_token": csrf_of(catalog)},
        )
        assert unknown_decision.status_code == 404
        long_search = await client.get("/portal/", params={"q": "x" * 500})
        assert long_search.status_code == 400


async def test_behind_api_gateway_the_page_shows_the_gateway_identity(database_url: str) -> None:
    alice = f"arn:aws:iam::{ACCOUNT}:user/alice"
    principals = {alice: {"email": "alice@example.com", "teams": ["payments"]}}
    settings = iam_settings("http://127.0.0.1:9", principals, source="gateway")
    services = await open_services(settings, database_url=database_url)
    try:
        app: Any = create_app(settings, services=services)

        def through_gateway(event: dict[str, Any] | None) -> httpx.AsyncClient:
            """Calls the app as the Lambda adapter does: API Gateway's event in the scope."""

            async def adapter(scope: Any, receive: Any, send: Any) -> None:
                if event is not None and scope["type"] == "http":
                    scope = {**scope, "aws.event": event, "aws.context": None}
                await app(scope, receive, send)

            transport = httpx.ASGITransport(app=adapter)
            return httpx.AsyncClient(transport=transport, base_url="https://testserver")

        async with through_gateway(rest_api_event(alice)) as client:
            page = await client.get("/portal/requests")
            assert page.status_code == 200
            assert "alice@example.com" in page.text
        async with through_gateway(rest_api_event(f"arn:aws:iam::{ACCOUNT}:user/eve")) as client:
            refused = await client.get("/portal/")
            assert refused.status_code == 401
            assert "not mapped" in refused.text
    finally:
        await services.close()
    sts = iam_settings("http://127.0.0.1:9", principals)  # signed STS tokens: no browser way in
    services = await open_services(sts, database_url=database_url)
    try:
        async with app_client(services) as client:
            page = await client.get("/portal/")
            assert page.status_code == 401
            assert "PAO_IAM_SOURCE=gateway" in page.text
    finally:
        await services.close()


async def test_the_plan_preview_and_a_double_submit(services: Services) -> None:
    async with app_client(services) as client:
        form = await client.get("/portal/items/queue-sqs-standard/request")
        key = re.search(r'name="submission_key" value="([^"]+)"', form.text)
        assert key
        data = {
            "_csrf_token": csrf_of(form),
            "submission_key": key.group(1),
            "f.queueName": "orders-events",
            "f.environment": "prod",
            "f.consumerRoleArn": "arn:aws:iam::123456789012:role/worker",
        }
        preview = await client.post(
            "/portal/items/queue-sqs-standard/preview", data=data, headers={"HX-Request": "true"}
        )
        assert preview.status_code == 200
        assert "<html" not in preview.text  # a fragment for htmx to place
        assert "sqs-prod" in preview.text  # the rendered workspace of the terraform step
        first = await client.post("/portal/items/queue-sqs-standard/request", data=data)
        again = await client.post("/portal/items/queue-sqs-standard/request", data=data)
        assert first.status_code == again.status_code == 303
        assert first.headers["location"] == again.headers["location"]  # one request, not two


async def test_a_session_ends_on_logout_and_with_its_token(token_services: Services) -> None:
    token = await issue_token(token_services.db, "carol@example.com", "payments")
    async with app_client(token_services) as client:
        login = await client.get("/portal/login")
        away = await client.post(
            "/portal/login",
            data={"_csrf_token": csrf_of(login), "token": token, "next": "https://evil.example/"},
        )
        assert away.headers["location"] == "/portal/"  # never sent elsewhere
        catalog = await client.get("/portal/")
        assert catalog.status_code == 200
        out = await client.post("/portal/logout", data={"_csrf_token": csrf_of(catalog)})
        assert out.status_code == 303
        assert (await client.get("/portal/")).status_code == 303  # to the login page again

        login = await client.get("/portal/login")
        await client.post("/portal/login", data={"_csrf_token": csrf_of(login), "token": token})
        assert (await client.get("/portal/")).status_code == 200
        store = TokenStore(token_services.db)
        (listed,) = await store.list("carol@example.com")
        await store.revoke(uuid.UUID(listed["id"]), actor="test")
        ended = await client.get("/portal/requests")
        assert ended.status_code == 303
        assert ended.headers["location"].startswith("/portal/login?next=/portal/requests")


# -- approval gates (issue 21) in the portal ------------------------------------------------

DNS_PUBLIC = {
    "f.zone": "example.com",
    "f.recordName": "api.payments",
    "f.recordType": "A",
    "f.ipAddresses": "203.0.113.10",
}


@asynccontextmanager
async def signed_in(services: Services, token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client with a portal session for ``token``."""
    async with app_client(services) as client:
        login = await client.get("/portal/login")
        answer = await client.post(
            "/portal/login", data={"_csrf_token": csrf_of(login), "token": token}
        )
        assert answer.status_code == 303, answer.text
        yield client


async def submit_dns(client: httpx.AsyncClient) -> str:
    form = await client.get("/portal/items/dns-record/request")
    answer = await client.post(
        "/portal/items/dns-record/request", data={"_csrf_token": csrf_of(form), **DNS_PUBLIC}
    )
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


async def test_a_gated_request_is_approved_in_the_portal(token_services: Services) -> None:
    services = token_services
    ana = await issue_token(services.db, "ana@example.com", "payments")
    nora = await issue_token(services.db, "nora@example.com", "network")
    ben = await issue_token(services.db, "ben@example.com", "growth")
    async with signed_in(services, ana) as requester:
        form = await requester.get("/portal/items/dns-record/request")
        assert "network-review" in form.text
        assert "team network" in form.text
        preview = await requester.post(
            "/portal/items/dns-record/preview",
            data={"_csrf_token": csrf_of(form), **DNS_PUBLIC},
            headers={"HX-Request": "true"},
        )
        assert "Who must approve" in preview.text
        assert re.search(r"network-review</strong>:\s*1 approval from team network", preview.text)
        internal = await requester.post(
            "/portal/items/dns-record/preview",
            data={"_csrf_token": csrf_of(form), **DNS_PUBLIC, "f.zone": "example.internal"},
            headers={"HX-Request": "true"},
        )
        assert "No approval is needed for this request" in internal.text
        page = await submit_dns(requester)
        request_id = uuid.UUID(page.rsplit("/", 1)[1])
        shown = await requester.get(page)
        assert "awaiting_approval" in shown.text
        assert "Remaining: 1 more approval from team network" in shown.text
        assert 'id="own-request"' in shown.text
        assert 'id="decide-approve"' not in shown.text  # the requester may not decide
        own = await requester.post(page + "/approve", data={"_csrf_token": csrf_of(shown)})
        assert own.status_code == 403  # separation of duties, the core's message announced
        assert 'role="alert"' in own.text
        assert "requester" in own.text
    row = await services.requests.get_row(request_id)
    assert row["source"] == "portal"
    assert row["status"] == "awaiting_approval"
    async with services.db.connection() as conn:
        audit = await (
            await conn.execute(
                "SELECT DISTINCT source FROM audit_logs WHERE table_name = 'requests' "
                "AND row_id = %s",
                [str(request_id)],
            )
        ).fetchall()
    assert [a["source"] for a in audit] == ["portal"]

    async with signed_in(services, ben) as stranger:  # neither reader nor approver
        catalog = await stranger.get("/portal/")
        assert (await stranger.get(page)).status_code == 404
        refused = await stranger.post(page + "/approve", data={"_csrf_token": csrf_of(catalog)})
        assert refused.status_code == 404
        inbox = await stranger.get("/portal/approvals")
        assert page not in inbox.text
        assert 'id="inbox-empty"' in inbox.text

    async with signed_in(services, nora) as approver:
        inbox = await approver.get("/portal/approvals")
        assert f'href="{page}"' in inbox.text
        assert "ana@example.com" in inbox.text
        assert "network-review" in inbox.text
        shown = await approver.get(page)  # another team's request, readable by its approver
        assert shown.status_code == 200
        assert 'id="decide-approve"' in shown.text
        message = re.search(r'data-required-message="([^"]+)"', shown.text)
        assert message
        forged = await approver.post(page + "/approve", data={})  # no CSRF token
        assert forged.status_code == 403
        assert (await services.requests.get_row(request_id))["status"] == "awaiting_approval"
        no_reason = await approver.post(
            page + "/reject", data={"_csrf_token": csrf_of(shown), "reason": "  "}
        )
        assert no_reason.status_code == 422
        # the page's own check says what the server says
        assert re.search(r'id="err-reject"[^>]*>' + re.escape(message.group(1)), no_reason.text)
        approved = await approver.post(
            page + "/approve", data={"_csrf_token": csrf_of(shown), "comment": "looks fine"}
        )
        assert approved.status_code == 303
        assert approved.headers["location"] == page + "?done=approved"
        after = await approver.get(approved.headers["location"])
        assert "the request goes ahead" in after.text
        assert "Approved by" in after.text
        assert "nora@example.com" in after.text
        assert (await services.requests.get_row(request_id))["status"] == "queued"
        again = await approver.post(page + "/approve", data={"_csrf_token": csrf_of(shown)})
        assert again.headers["location"] == page + "?done=repeat"
        late = await approver.post(
            page + "/reject", data={"_csrf_token": csrf_of(shown), "reason": "changed my mind"}
        )
        assert late.status_code == 409  # not awaiting approval any more
        assert 'role="alert"' in late.text
        assert (await approver.get("/portal/approvals")).text.count(page) == 0


async def test_a_rejection_in_place_with_htmx(token_services: Services) -> None:
    services = token_services
    ana = await issue_token(services.db, "ana@example.com", "payments")
    nora = await issue_token(services.db, "nora@example.com", "network")
    async with signed_in(services, ana) as requester:
        page = await submit_dns(requester)
    async with signed_in(services, nora) as approver:
        shown = await approver.get(page)
        headers = {"HX-Request": "true", "X-CSRF-Token": csrf_of(shown)}
        refused = await approver.post(page + "/reject", data={"reason": ""}, headers=headers)
        assert refused.status_code == 200  # htmx swaps 2xx only: the refusal is in the panel
        assert 'role="alert"' in refused.text
        assert "<html" not in refused.text
        done = await approver.post(
            page + "/reject", data={"reason": "use the internal zone"}, headers=headers
        )
        assert done.status_code == 200
        assert "status-rejected" in done.text
        assert "use the internal zone" in done.text
        assert 'id="decide-approve"' not in done.text
    request_id = uuid.UUID(page.rsplit("/", 1)[1])
    assert (await services.requests.get_row(request_id))["status"] == "rejected"


async def test_why_it_stopped_is_a_sentence_not_a_dict(token_services: Services) -> None:
    services = token_services
    ana = await issue_token(services.db, "ana@example.com", "payments")
    async with signed_in(services, ana) as requester:
        form = await requester.get("/portal/items/dns-record/request")
        internal = {**DNS_PUBLIC, "f.zone": "example.internal"}  # no approval: queued at once
        answer = await requester.post(
            "/portal/items/dns-record/request", data={"_csrf_token": csrf_of(form), **internal}
        )
        assert answer.status_code == 303, answer.text
        page = str(answer.headers["location"])
        request_id = uuid.UUID(page.rsplit("/", 1)[1])
        context = {
            "failed_action": "create-record",
            "error": {
                "code": "undefined-variable",
                "message": "'request.user.name' is not defined",
            },
            "partial_resources": {},
            "cleanup": [],
        }
        async with services.db.transaction() as conn:
            assert await fail_request(conn, request_id, context, "stopped") is not None
        shown = await requester.get(page)
    summary = re.search(
        r'<div class="error-summary"><h2>Why it stopped</h2><p>(.*?)</p>', shown.text
    )
    assert summary, shown.text
    assert summary.group(1) == (
        "&#39;request.user.name&#39; is not defined "
        "(code undefined-variable, action &#39;create-record&#39;)"
    )
    assert "{" not in summary.group(1)
