"""Request lifecycle endpoints against real PostgreSQL: submit, read, list, decide."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from orchestrator.services import Services
from tests.samples import FIELDS, ITEM

pytestmark = pytest.mark.anyio

SECRET = "s3cr3t-Passw0rd-value"


def body(**overrides: Any) -> dict[str, Any]:
    return {"catalog_item": ITEM, "fields": {**FIELDS, **overrides.pop("fields", {})}, **overrides}


async def submit(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/requests", json=body(**overrides))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_submit_creates_request_actions_audit_and_job(
    client: httpx.AsyncClient, services: Services
) -> None:
    response = await client.post(
        "/api/v1/requests", json=body(title="orders"), headers={"X-Correlation-ID": "corr-1"}
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/api/v1/requests/{created['id']}"
    assert created["status"] == "queued"
    assert created["catalog_item_version"]
    async with services.db.connection() as conn:
        actions = await (
            await conn.execute(
                "SELECT action_id, status FROM request_actions WHERE request_id = %s ORDER BY position",
                [created["id"]],
            )
        ).fetchall()
        jobs = await (
            await conn.execute(
                "SELECT kind, status FROM jobs WHERE request_id = %s", [created["id"]]
            )
        ).fetchall()
        audit = await (
            await conn.execute(
                "SELECT operation, actor, correlation_id, source FROM audit_logs "
                "WHERE table_name = 'requests' AND row_id = %s ORDER BY id",
                [created["id"]],
            )
        ).fetchall()
    assert [a["action_id"] for a in actions] == ["provision", "register"]
    assert {a["status"] for a in actions} == {"pending"}
    assert jobs == [{"kind": "run-action", "status": "ready"}]
    assert [a["operation"] for a in audit] == ["INSERT", "UPDATE"]
    assert {(a["actor"], a["correlation_id"], a["source"]) for a in audit} == {
        ("admin@localhost", "corr-1", "api")
    }


async def test_invalid_fields_are_a_located_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/requests", json=body(fields={"instanceName": "Bad Name!", "size": "huge"})
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "https://pao.dev/problems/validation-failed"
    pointers = {e["pointer"] for e in problem["errors"]}
    assert {"/fields/instanceName", "/fields/size"} <= pointers


async def test_password_fields_never_come_back(
    client: httpx.AsyncClient, services: Services
) -> None:
    item = (await client.get(f"/api/v1/catalog/items/{ITEM}")).json()["definition"]
    secret_fields = [
        f["id"]
        for g in item["presentation"]["form"]["groups"]
        for f in g["fields"]
        if f["type"] == "password"
    ]
    assert secret_fields
    created = await submit(client, fields={"credentialMode": "provided", secret_fields[0]: SECRET})
    detail = await client.get(f"/api/v1/requests/{created['id']}")
    listing = await client.get("/api/v1/requests")
    logs = await client.get(f"/api/v1/requests/{created['id']}/logs")
    for response in (detail, listing, logs):
        assert SECRET not in response.text
    assert detail.json()["fields"][secret_fields[0]] == "****"
    async with services.db.connection() as conn:
        audit = await (await conn.execute("SELECT new_data::text AS d FROM audit_logs")).fetchall()
    assert all(SECRET not in row["d"] for row in audit if row["d"])


async def test_unknown_item_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/requests", json=body(catalog_item="no-such-item"))
    assert response.status_code == 404


async def test_unknown_body_key_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/requests", json={**body(), "colour": "blue"})
    assert response.status_code == 400


async def test_validate_endpoint_stores_nothing(client: httpx.AsyncClient) -> None:
    ok = (await client.post("/api/v1/requests/validate", json=body())).json()
    assert ok["valid"] is True
    bad = (
        await client.post("/api/v1/requests/validate", json=body(fields={"size": "huge"}))
    ).json()
    assert bad["valid"] is False
    assert bad["errors"][0]["field"] == "size"
    assert (await client.get("/api/v1/requests")).json()["items"] == []


async def test_idempotency_key_replays_and_refuses_other_bodies(
    client: httpx.AsyncClient,
) -> None:
    headers = {"Idempotency-Key": "key-1"}
    first = await client.post("/api/v1/requests", json=body(), headers=headers)
    second = await client.post("/api/v1/requests", json=body(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["location"] == first.headers["location"]
    other = await client.post("/api/v1/requests", json=body(title="different"), headers=headers)
    assert other.status_code == 422
    listing = (await client.get("/api/v1/requests", params={"include_total": "true"})).json()
    assert listing["pagination"]["total_count"] == 1


async def test_detail_status_and_logs(client: httpx.AsyncClient) -> None:
    created = await submit(client)
    detail = (await client.get(f"/api/v1/requests/{created['id']}")).json()
    assert [a["id"] for a in detail["actions"]] == ["provision", "register"]
    status = (await client.get(f"/api/v1/requests/{created['id']}/status")).json()
    assert status["status"] == "queued"
    assert status["progress"] == {"completed_actions": 0, "total_actions": 2}
    logs = (await client.get(f"/api/v1/requests/{created['id']}/logs")).json()
    assert [e["event"] for e in logs["items"]] == ["submitted"]
    missing = await client.get(f"/api/v1/requests/{uuid.uuid4()}")
    assert missing.status_code == 404


async def test_list_filters(client: httpx.AsyncClient) -> None:
    created = await submit(client)
    assert (await client.get("/api/v1/requests", params={"status": "queued"})).json()["items"]
    assert not (await client.get("/api/v1/requests", params={"status": "failed"})).json()["items"]
    by_item = (await client.get("/api/v1/requests", params={"catalog_item": ITEM})).json()
    assert [r["id"] for r in by_item["items"]] == [created["id"]]
    by_user = (await client.get("/api/v1/requests", params={"user": "someone@else"})).json()
    assert by_user["items"] == []
    bad = await client.get("/api/v1/requests", params={"status": "nonsense"})
    assert bad.status_code == 400


async def test_pagination_with_concurrent_inserts_skips_and_repeats_nothing(
    client: httpx.AsyncClient,
) -> None:
    initial = [(await submit(client))["id"] for _ in range(7)]
    seen: list[str] = []
    cursor = None
    inserted_during: list[str] = []
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/requests", params=params)).json()
        seen += [r["id"] for r in page["items"]]
        # New requests arrive while the client pages: they sort before the cursor.
        inserted_during += [r["id"] for r in await asyncio.gather(submit(client), submit(client))]
        cursor = page["pagination"]["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen))
    assert set(initial) <= set(seen)
    assert not set(inserted_during) & set(seen)


async def test_abort_and_state_checks(client: httpx.AsyncClient, services: Services) -> None:
    created = await submit(client)
    request_id = created["id"]
    retry = await client.post(f"/api/v1/requests/{request_id}/retry")
    assert retry.status_code == 409
    assert retry.json()["current_status"] == "queued"
    aborted = await client.post(
        f"/api/v1/requests/{request_id}/abort", json={"reason": "not needed"}
    )
    assert aborted.status_code == 200
    assert aborted.json()["status"] == "aborted"
    again = await client.post(f"/api/v1/requests/{request_id}/abort", json={"reason": "twice"})
    assert again.status_code == 409
    detail = (await client.get(f"/api/v1/requests/{request_id}")).json()
    assert {a["status"] for a in detail["actions"]} == {"cancelled"}
    assert detail["abort_reason"] == "not needed"
    escalation = await client.get(f"/api/v1/requests/{request_id}/escalation")
    assert escalation.status_code == 404


async def test_two_concurrent_aborts_produce_one(client: httpx.AsyncClient) -> None:
    created = await submit(client)
    url = f"/api/v1/requests/{created['id']}/abort"
    results = await asyncio.gather(
        client.post(url, json={"reason": "a"}), client.post(url, json={"reason": "b"})
    )
    assert sorted(r.status_code for r in results) == [200, 409]


async def test_retry_without_a_failed_action_is_409_and_escalate_moves_to_escalated(
    client: httpx.AsyncClient, services: Services
) -> None:
    created = await submit(client)
    async with services.db.transaction() as conn:
        await conn.execute("UPDATE requests SET status = 'failed' WHERE id = %s", [created["id"]])
    response = await client.post(f"/api/v1/requests/{created['id']}/retry")
    assert response.status_code == 409
    assert "no failed action" in response.json()["detail"]

    response = await client.post(
        f"/api/v1/requests/{created['id']}/escalate", json={"reason": "needs a DBA"}
    )
    assert response.status_code in (200, 202)
    assert response.json()["status"] == "escalated"
    # The ticket is opened by the worker; until then the escalation says it is pending.
    response = await client.get(f"/api/v1/requests/{created['id']}/escalation")
    assert response.status_code == 200
    assert response.json()["state"] == "pending"
    assert response.json()["ticket"] is None
    again = await client.post(f"/api/v1/requests/{created['id']}/escalate", json={"reason": "x"})
    assert again.status_code == 409
    assert "ticket is pending" in again.json()["detail"]


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/requests",
        content=b'{"catalog_item": "x", "fields": {"a": "' + b"x" * 2_000_000 + b'"}}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
