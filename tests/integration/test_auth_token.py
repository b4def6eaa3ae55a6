"""Auth mode `token`: tokens made by `pao tokens`, checked on every call, audited."""

from __future__ import annotations

import io
import json
import uuid

import psycopg
import pytest
from litestar.exceptions import TooManyRequestsException

from api.auth import WriteRateLimiter
from orchestrator.cli import build_parser
from orchestrator.identity.tokens import TokenStore, hash_token
from orchestrator.services import Services, open_services
from orchestrator.settings import Settings
from orchestrator.tokens_cli import run_tokens_command
from tests.integration.api_fixtures import TOKEN_ENV, app_client, issue_token
from tests.samples import FIELDS, ITEM


async def issue(services: Services, email: str, *teams: str, days: int = 1) -> str:
    return await issue_token(services.db, email, *teams, days=days)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.anyio
async def test_good_token_accepted_forged_expired_revoked_refused(
    token_services: Services,
) -> None:
    token = await issue(token_services, "alice@example.com", "payments")
    async with app_client(token_services) as client:
        ok = await client.get("/api/v1/catalog", headers=bearer(token))
        assert ok.status_code == 200
        missing = await client.get("/api/v1/catalog")
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        assert missing.headers["content-type"].startswith("application/problem+json")
        forged = await client.get("/api/v1/catalog", headers=bearer(token[:-2] + "xx"))
        assert forged.status_code == 401
        assert 'error="invalid_token"' in forged.headers["WWW-Authenticate"]
        basic = await client.get("/api/v1/catalog", headers={"Authorization": f"Basic {token}"})
        assert basic.status_code == 401
        # Public routes stay public.
        assert (await client.get("/api/v1/health")).status_code == 200
        assert (await client.get("/api/v1/version")).status_code == 200

        # Expired: the same check the database makes on every call.
        async with token_services.db.connection() as conn:
            await conn.execute(
                "UPDATE user_sessions SET expires_at = now() - interval '1 second' "
                "WHERE token_hash = %s",
                [hash_token(token)],
            )
        expired = await client.get("/api/v1/catalog", headers=bearer(token))
        assert expired.status_code == 401

        store = TokenStore(token_services.db)
        fresh = await store.create(
            email="alice@example.com",
            name=None,
            teams=("payments",),
            roles=(),
            days=1,
            description=None,
            actor="test",
        )
        assert "pao_" not in repr(fresh)
        ok = await client.get("/api/v1/catalog", headers=bearer(fresh.token))
        assert ok.status_code == 200
        await store.revoke(uuid.UUID(fresh.record["id"]), actor="admin@example.com")
        revoked = await client.get("/api/v1/catalog", headers=bearer(fresh.token))
        assert revoked.status_code == 401


@pytest.mark.anyio
async def test_tokens_are_stored_hashed_and_last_use_recorded(token_services: Services) -> None:
    token = await issue(token_services, "alice@example.com", "payments")
    async with app_client(token_services) as client:
        await client.get("/api/v1/catalog", headers=bearer(token))
        await client.get("/api/v1/catalog", headers=bearer(token))
    async with token_services.db.connection() as conn:
        cur = await conn.execute("SELECT to_jsonb(s) AS row FROM user_sessions s")
        rows = [r["row"] for r in await cur.fetchall()]
        cur = await conn.execute("SELECT to_jsonb(a) AS row FROM audit_logs a")
        audit = [r["row"] for r in await cur.fetchall()]
    assert len(rows) == 1
    assert rows[0]["token_hash"] == hash_token(token)
    assert rows[0]["last_used_at"] is not None
    assert token not in json.dumps(rows) + json.dumps(audit)
    assert hash_token(token) not in json.dumps(audit)
    created = [a for a in audit if a["operation"] == "token_created"]
    assert created
    assert created[0]["actor"] == "test"
    assert created[0]["source"] == "cli"


def test_pao_tokens_cli_create_list_revoke(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    parser = build_parser()

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = run_tokens_command(parser.parse_args(["tokens", *argv]), out, err)
        return code, out.getvalue(), err.getvalue()

    code, out, err = run(
        "--actor",
        "root@cli",
        "create",
        "--user",
        "bo@example.com",
        "--teams",
        "a, b",
        "--days",
        "3",
    )
    assert code == 0, err
    created = json.loads(out)
    assert created["token"].startswith("pao_")
    assert created["teams"] == ["a", "b"]
    assert "shown once" in err
    code, out, _ = run("list")
    listed = json.loads(out)
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0]
    assert "token_hash" not in listed[0]
    assert created["token"] not in out
    code, out, _ = run("revoke", created["id"])
    assert code == 0
    assert "bo@example.com" in out
    code, _, err = run("revoke", created["id"])
    assert code == 1
    assert "no live token" in err
    code, _, err = run("revoke", "not-a-uuid")
    assert code == 2
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT operation, actor FROM audit_logs WHERE table_name = 'user_sessions' ORDER BY id"
        ).fetchall()
    assert rows == [("token_created", "root@cli"), ("token_revoked", "root@cli")]


@pytest.mark.anyio
async def test_audit_rows_carry_user_correlation_and_source(token_services: Services) -> None:
    alice = await issue(token_services, "alice@example.com", "payments")
    admin = await issue(token_services, "ada@example.com", "platform-admins")
    async with app_client(token_services) as client:
        created = await client.post(
            "/api/v1/requests",
            json={"catalog_item": ITEM, "fields": FIELDS},
            headers={**bearer(alice), "X-Correlation-ID": "corr-submit-1"},
        )
        assert created.status_code == 201, created.text
        request_id = created.json()["id"]
        aborted = await client.post(
            f"/api/v1/requests/{request_id}/abort",
            json={"reason": "not needed"},
            headers={**bearer(alice), "X-Correlation-ID": "corr-abort-1"},
        )
        assert aborted.status_code == 200, aborted.text
        denied = await client.get("/api/v1/audit", headers=bearer(alice))
        assert denied.status_code == 403
        trail = await client.get(
            "/api/v1/audit",
            params={"table": "requests", "row_id": request_id, "limit": 2},
            headers=bearer(admin),
        )
        assert trail.status_code == 200, trail.text
        page = trail.json()
        rows = page["items"]
        while page["pagination"]["next_cursor"]:
            page = (
                await client.get(
                    "/api/v1/audit",
                    params={
                        "table": "requests",
                        "row_id": request_id,
                        "cursor": page["pagination"]["next_cursor"],
                    },
                    headers=bearer(admin),
                )
            ).json()
            rows += page["items"]
    assert rows
    assert all(r["actor"] == "alice@example.com" for r in rows)
    assert all(r["source"] == "api" for r in rows)
    by_correlation = {r["correlation_id"] for r in rows}
    assert by_correlation == {"corr-submit-1", "corr-abort-1"}
    statuses = [r["new_data"]["status"] for r in rows if r["operation"] == "UPDATE"]
    assert "aborted" in statuses
    assert rows == sorted(rows, key=lambda r: -r["id"])


def test_write_rate_limiter_windows() -> None:
    now = [120.0]
    limiter = WriteRateLimiter(2, clock=lambda: now[0])
    limiter.check("a")
    limiter.check("a")
    limiter.check("b")  # per principal
    with pytest.raises(TooManyRequestsException) as refused:
        limiter.check("a")
    assert refused.value.headers == {"Retry-After": "60"}
    now[0] = 170.5
    with pytest.raises(TooManyRequestsException) as refused:
        limiter.check("a")
    assert refused.value.headers == {"Retry-After": "10"}
    now[0] = 180.0  # the next minute
    limiter.check("a")
    unlimited = WriteRateLimiter(0)
    for _ in range(100):
        unlimited.check("a")  # 0: no limit


@pytest.mark.anyio
async def test_write_calls_over_the_limit_get_429_with_retry_after(database_url: str) -> None:
    env = {**TOKEN_ENV, "PAO_WRITE_RATE_PER_MINUTE": "2"}
    services = await open_services(Settings.from_env(env), database_url=database_url)
    try:
        alice = await issue(services, "alice@example.com", "payments")
        bob = await issue(services, "bob@example.com", "search")
        body = {"catalog_item": ITEM, "fields": FIELDS}
        async with app_client(services) as client:
            statuses = []
            # At most two windows can be crossed: a 429 must come within 2 * limit + 1 calls.
            for _ in range(5):
                response = await client.post(
                    "/api/v1/requests/validate", json=body, headers=bearer(alice)
                )
                statuses.append(response.status_code)
                if response.status_code == 429:
                    break
            assert statuses[-1] == 429, statuses
            assert int(response.headers["Retry-After"]) >= 1
            assert response.headers["content-type"].startswith("application/problem+json")
            # Reads are not limited; other callers are not affected.
            assert (await client.get("/api/v1/catalog", headers=bearer(alice))).status_code == 200
            other = await client.post("/api/v1/requests/validate", json=body, headers=bearer(bob))
            assert other.status_code == 200
    finally:
        await services.close()
