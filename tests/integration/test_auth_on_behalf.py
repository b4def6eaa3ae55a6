"""A bot credential acting for a GitHub user: ``X-PAO-On-Behalf-Of`` and ``X-PAO-Source``.

Only a credential with role ``bot`` may state them; the user becomes the caller, the bot
credential its agent, and the audit trail records both.
"""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest

from api.app import create_app
from orchestrator.cli import build_parser
from orchestrator.services import Services
from orchestrator.tokens_cli import run_tokens_command
from tests.integration import bot_harness as h
from tests.integration.api_fixtures import app_client, issue_token
from tests.integration.engine_harness import request_row, store_item
from tests.integration.test_bot_secrets import secret_item

pytestmark = pytest.mark.anyio
BOT_EMAIL = "pao-bot@example.com"
AUTHOR = "octocat@users.noreply.github.com"
ON_BEHALF = "X-PAO-On-Behalf-Of"
SOURCE = "X-PAO-Source"
BODY = {"catalogItem": h.ITEM_ID, "fields": {"instanceName": "orders-db"}}


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


async def audit_of(services: Services, request_id: str, operation: str) -> list[dict[str, Any]]:
    return await services.db.fetch_all(
        None,
        "SELECT actor, agent, source FROM audit_logs WHERE table_name = 'requests'"
        " AND row_id = %(id)s AND operation = %(op)s ORDER BY id",
        {"id": request_id, "op": operation},
    )


async def test_the_bot_submits_and_decides_as_the_user_it_names(token_services: Services) -> None:
    services = token_services
    await store_item(services, h.database_item())
    bot = await issue_token(services.db, BOT_EMAIL, roles=("bot",))
    admin = await issue_token(services.db, "root@example.com", "platform-admins")
    async with app_client(services) as client:
        made = await client.post(
            "/api/v1/requests", json=BODY, headers=bearer(bot, **{ON_BEHALF: AUTHOR})
        )
        assert made.status_code == 201, made.text
        request_id = made.json()["id"]
        row = await request_row(services, request_id)
        assert row["requester_email"] == AUTHOR
        assert row["requester_teams"] == []  # the API knows no GitHub user's teams
        assert await audit_of(services, request_id, "INSERT") == [
            {"actor": AUTHOR, "agent": BOT_EMAIL, "source": "api"}
        ]
        # a bot token with role bot alone may do for the user what the user may: abort their own
        someone = await client.post(
            f"/api/v1/requests/{request_id}/abort",
            json={"reason": "not mine"},
            headers=bearer(bot, **{ON_BEHALF: "mallory@example.com"}),
        )
        assert someone.status_code == 404
        aborted = await client.post(
            f"/api/v1/requests/{request_id}/abort",
            json={"reason": "not needed"},
            headers=bearer(bot, **{ON_BEHALF: AUTHOR}),
        )
        assert aborted.status_code == 200, aborted.text
        assert aborted.json()["status"] == "aborted"
        updates = await audit_of(services, request_id, "UPDATE")
        assert updates
        assert {(u["actor"], u["agent"]) for u in updates} == {(AUTHOR, BOT_EMAIL)}
        trail = await client.get(
            "/api/v1/audit", params={"request_id": request_id}, headers=bearer(admin)
        )
        assert trail.status_code == 200
        assert {(e["actor"], e["agent"]) for e in trail.json()["items"]} == {(AUTHOR, BOT_EMAIL)}
        # without the header the bot token is itself, and rows say nobody acted for anyone
        own = await client.post("/api/v1/requests", json=BODY, headers=bearer(bot))
        assert own.status_code == 201
        assert (await request_row(services, own.json()["id"]))["requester_email"] == BOT_EMAIL
        assert await audit_of(services, own.json()["id"], "INSERT") == [
            {"actor": BOT_EMAIL, "agent": None, "source": "api"}
        ]


async def test_an_operator_bot_decides_for_whoever_its_rule_allowed(
    token_services: Services,
) -> None:
    services = token_services
    await store_item(services, h.database_item())
    author = await issue_token(services.db, AUTHOR)
    bot = await issue_token(services.db, BOT_EMAIL, roles=("bot", "operator"))
    async with app_client(services) as client:
        made = await client.post("/api/v1/requests", json=BODY, headers=bearer(author))
        request_id = made.json()["id"]
        aborted = await client.post(
            f"/api/v1/requests/{request_id}/abort",
            json={"reason": "on call says so"},
            headers=bearer(bot, **{ON_BEHALF: "oncall-person@example.com"}),
        )
        assert aborted.status_code == 200, aborted.text
    decided = (await audit_of(services, request_id, "UPDATE"))[-1]
    assert (decided["actor"], decided["agent"]) == ("oncall-person@example.com", BOT_EMAIL)


@pytest.mark.parametrize("header", [ON_BEHALF, SOURCE])
async def test_any_other_credential_stating_them_gets_403_naming_the_role(
    token_services: Services, header: str
) -> None:
    services = token_services
    await store_item(services, h.database_item())
    value = AUTHOR if header == ON_BEHALF else "github-issue"
    operator = await issue_token(services.db, "ops@example.com", "oncall")
    admin = await issue_token(services.db, "root@example.com", "platform-admins")
    async with app_client(services) as client:
        for token in (operator, admin):
            answer = await client.post(
                "/api/v1/requests", json=BODY, headers=bearer(token, **{header: value})
            )
            assert answer.status_code == 403
            assert answer.headers["content-type"].startswith("application/problem+json")
            problem = answer.json()
            assert problem["type"] == "https://pao.dev/problems/forbidden"
            assert header in problem["detail"]
            assert "role 'bot'" in problem["detail"]
            assert problem["correlation_id"]
            read = await client.get("/api/v1/requests", headers=bearer(token, **{header: value}))
            assert read.status_code == 403  # reads too: never silently ignored
    assert await services.db.fetch_all(None, "SELECT id FROM requests") == []


async def test_malformed_statements_are_located_400s(token_services: Services) -> None:
    services = token_services
    await store_item(services, h.database_item())
    bot = await issue_token(services.db, BOT_EMAIL, roles=("bot",))
    async with app_client(services) as client:
        for header, value in ((ON_BEHALF, "not an email"), (SOURCE, "api")):
            answer = await client.post(
                "/api/v1/requests", json=BODY, headers=bearer(bot, **{header: value})
            )
            assert answer.status_code == 400, answer.text
            problem = answer.json()
            assert problem["type"] == "https://pao.dev/problems/bad-request"
            assert problem["errors"][0]["parameter"] == header


async def test_a_stated_github_source_applies_the_secret_policy(token_services: Services) -> None:
    """The Actions-mode bot submits an issue form whose answers need a secret: it waits in
    ``awaiting_secret`` as in App mode, instead of being refused as a plain API request."""
    services = token_services
    await store_item(services, secret_item())
    bot = await issue_token(services.db, BOT_EMAIL, roles=("bot",))
    body = {
        "catalogItem": h.ITEM_ID,
        "fields": {"instanceName": "orders-db", "credentials": "provided"},
    }
    stated = bearer(bot, **{ON_BEHALF: AUTHOR, SOURCE: "github-issue"})
    async with app_client(services) as client:
        plain = await client.post("/api/v1/validate/request", json=body, headers=bearer(bot))
        assert plain.json()["valid"] is False  # the API's own rule: the password is required
        checked = await client.post("/api/v1/validate/request", json=body, headers=stated)
        assert (checked.json()["valid"], checked.json()["errors"]) == (True, [])
        made = await client.post("/api/v1/requests", json=body, headers=stated)
        assert made.status_code == 201, made.text
        assert made.json()["status"] == "awaiting_secret"
    row = await request_row(services, made.json()["id"])
    assert (row["source"], row["requester_email"]) == ("github-issue", AUTHOR)
    assert await audit_of(services, str(row["id"]), "INSERT") == [
        {"actor": AUTHOR, "agent": BOT_EMAIL, "source": "bot"}
    ]


async def test_mode_none_honours_them_as_the_local_admin_holds_every_role(
    services: Services,
) -> None:
    await store_item(services, h.database_item())
    app: Any = create_app(services.settings, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        made = await client.post("/api/v1/requests", json=BODY, headers={ON_BEHALF: AUTHOR})
        assert made.status_code == 201, made.text
        bad = await client.post("/api/v1/requests", json=BODY, headers={ON_BEHALF: "x"})
        assert bad.status_code == 400
    row = await request_row(services, made.json()["id"])
    assert row["requester_email"] == AUTHOR
    assert await audit_of(services, str(row["id"]), "INSERT") == [
        {"actor": AUTHOR, "agent": services.settings.auth.local_user, "source": "api"}
    ]


def test_pao_tokens_create_knows_the_bot_role(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    parser = build_parser()

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = run_tokens_command(parser.parse_args(["tokens", *argv]), out, err)
        return code, out.getvalue(), err.getvalue()

    code, out, err = run("create", "--user", BOT_EMAIL, "--roles", "bot,operator")
    assert code == 0, err
    assert json.loads(out)["roles"] == ["bot", "operator"]
    code, _, err = run("create", "--user", BOT_EMAIL, "--roles", "bots")
    assert code == 2
    assert "unknown role(s) bots" in err
