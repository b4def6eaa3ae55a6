"""Idempotency-Key: claim, request and stored response are one transaction.

Faults are injected in the database itself (triggers of this test's own database), so the code
under test runs unchanged: a statement failing after the request row is inserted, a commit
failing, and a handler cancelled while its commit is in progress. Afterwards the key is bound to
a request if and only if that request exists.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from orchestrator.services import Services
from tests.samples import FIELDS, ITEM

pytestmark = pytest.mark.anyio

URL = "/api/v1/requests"


def body(**overrides: Any) -> dict[str, Any]:
    return {"catalog_item": ITEM, "fields": dict(FIELDS), **overrides}


@pytest.fixture
async def admin(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection of the test's own, for faults and for looking at what was stored."""
    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    try:
        yield conn
    finally:
        await conn.close()


async def state(conn: psycopg.AsyncConnection[Any]) -> tuple[list[str], list[str | None]]:
    """(ids of requests, request ids the stored keys answer with)."""
    requests = await (await conn.execute("SELECT id::text FROM requests ORDER BY id")).fetchall()
    keys = await (
        await conn.execute("SELECT response_body->>'id' FROM idempotency_keys ORDER BY key")
    ).fetchall()
    return [r[0] for r in requests], [k[0] for k in keys]


async def assert_consistent(conn: psycopg.AsyncConnection[Any]) -> list[str]:
    requests, keys = await state(conn)
    assert sorted(k for k in keys if k) == requests, "key bound to a request iff it exists"
    assert None not in keys, "no key without its response"
    return requests


async def test_replay_returns_the_stored_response_and_other_bodies_are_422(
    client: httpx.AsyncClient, admin: psycopg.AsyncConnection[Any]
) -> None:
    headers = {"Idempotency-Key": "replay-1"}
    first = await client.post(URL, json=body(), headers=headers)
    assert first.status_code == 201, first.text
    # The same request with its fields in another order is the same request.
    reordered = body(fields=dict(reversed(list(FIELDS.items()))))
    again = await client.post(URL, json=reordered, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    other = await client.post(URL, json=body(title="another"), headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["type"] == "https://pao.dev/problems/idempotency-key-reused"
    assert len(await assert_consistent(admin)) == 1


async def test_a_failed_submission_leaves_the_key_free(
    client: httpx.AsyncClient, admin: psycopg.AsyncConnection[Any]
) -> None:
    headers = {"Idempotency-Key": "fix-and-resend"}
    bad = await client.post(URL, json=body(fields={**FIELDS, "size": "huge"}), headers=headers)
    assert bad.status_code == 422
    assert await state(admin) == ([], [])
    good = await client.post(URL, json=body(), headers=headers)
    assert good.status_code == 201


async def test_a_duplicate_while_the_first_is_in_flight_is_409(
    client: httpx.AsyncClient, admin: psycopg.AsyncConnection[Any]
) -> None:
    headers = {"Idempotency-Key": "in-flight"}
    blocker = await psycopg.AsyncConnection.connect(admin.info.dsn, password=None)
    try:
        # Hold inserts into requests: the first submission takes the key's lock, then waits.
        await blocker.execute("LOCK TABLE requests IN SHARE MODE")
        first = asyncio.create_task(client.post(URL, json=body(), headers=headers))
        for _ in range(200):
            row = await (
                await admin.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).fetchone()
            if row and row[0]:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the first submission never took the key's lock")
        same = await client.post(URL, json=body(), headers=headers)
        different = await client.post(URL, json=body(title="other"), headers=headers)
        for answer in (same, different):
            assert answer.status_code == 409, answer.text
            problem = answer.json()
            assert problem["type"] == "https://pao.dev/problems/idempotency-key-in-use"
            assert problem["status"] == 409
        other_key = asyncio.create_task(
            client.post(URL, json=body(), headers={"Idempotency-Key": "another-key"})
        )
        await blocker.commit()
        created = await first
        assert created.status_code == 201, created.text
        assert (await other_key).status_code == 201
    finally:
        await blocker.close()
    replay = await client.post(URL, json=body(), headers=headers)
    assert replay.status_code == 201
    assert replay.json() == created.json()
    assert len(await assert_consistent(admin)) == 2


FAIL = """
CREATE FUNCTION pao_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'injected fault'; END $$;
"""


@pytest.mark.parametrize(
    "trigger",
    [
        # a statement after the request row (and its actions, job, log) fails
        "CREATE TRIGGER pao_test_fault BEFORE INSERT ON idempotency_keys "
        "FOR EACH ROW EXECUTE FUNCTION pao_test_fail()",
        # the commit itself fails (a deferred check)
        "CREATE CONSTRAINT TRIGGER pao_test_fault AFTER INSERT ON requests "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pao_test_fail()",
    ],
    ids=["after-insert", "at-commit"],
)
async def test_a_fault_before_the_commit_leaves_no_request_and_a_free_key(
    client: httpx.AsyncClient, admin: psycopg.AsyncConnection[Any], trigger: str
) -> None:
    await admin.execute(FAIL)
    await admin.execute(trigger)
    headers = {"Idempotency-Key": "crash-window"}
    failed = await client.post(URL, json=body(), headers=headers)
    assert failed.status_code >= 500
    assert "injected" not in failed.text  # database messages stay in the logs
    assert await state(admin) == ([], [])
    table = "idempotency_keys" if "BEFORE" in trigger else "requests"
    await admin.execute(f"DROP TRIGGER pao_test_fault ON {table}")
    # The key is free at once: no "still being processed" for a day.
    retried = await client.post(URL, json=body(), headers=headers)
    assert retried.status_code == 201, retried.text
    assert await assert_consistent(admin) == [retried.json()["id"]]


async def test_a_handler_cancelled_mid_commit_leaves_a_consistent_state(
    client: httpx.AsyncClient, admin: psycopg.AsyncConnection[Any], services: Services
) -> None:
    await admin.execute(
        """
        CREATE FUNCTION pao_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(2); RETURN NULL; END $$;
        CREATE CONSTRAINT TRIGGER pao_test_slow AFTER INSERT ON idempotency_keys
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pao_test_slow();
        """
    )
    headers = {"Idempotency-Key": "cancelled"}
    task = asyncio.create_task(client.post(URL, json=body(), headers=headers))
    for _ in range(200):  # wait until the commit is running the slow deferred trigger
        row = await (
            await admin.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event = 'PgSleep' AND datname = current_database()"
            )
        ).fetchone()
        if row and row[0]:
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the commit never started")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    for _ in range(300):  # the server finishes (or rolls back) the transaction on its own
        row = await (
            await admin.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND (wait_event = 'PgSleep' OR state LIKE 'idle in transaction%%')"
            )
        ).fetchone()
        if row and not row[0]:
            break
        await asyncio.sleep(0.05)
    before = await assert_consistent(admin)
    assert len(before) <= 1
    await admin.execute("DROP TRIGGER pao_test_slow ON idempotency_keys")
    again = await client.post(URL, json=body(), headers=headers)
    assert again.status_code == 201, again.text
    after = await assert_consistent(admin)
    assert after == [again.json()["id"]]
    assert before in ([], after)
    assert (again.headers.get("idempotent-replayed") == "true") == bool(before)
