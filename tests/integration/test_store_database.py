"""The connector on real PostgreSQL: transactions and the audit trail, triggers, error mapping."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from orchestrator.store.database import Connection, Database, Jsonb
from orchestrator.store.errors import (
    Conflict,
    ConstraintViolated,
    ReferenceMissing,
    StoreError,
    StoreUnavailable,
)

pytestmark = pytest.mark.anyio

INSERT_ITEM = """
INSERT INTO catalog_items (id, name, description, category, owner_team, version, definition,
                           content_hash, source_path, updated_at)
VALUES (%(id)s, 'Item', 'An item', 'databases', 'dba', '1.0.0', %(definition)s, 'hash',
        'items/x.yaml', COALESCE(%(updated_at)s::timestamptz, now()))
"""


def item(item_id: str = "postgres-small", **extra: Any) -> dict[str, Any]:
    return {"id": item_id, "definition": {"kind": "CatalogItem"}, "updated_at": None, **extra}


async def audit_rows(db: Database) -> list[dict[str, Any]]:
    return await db.fetch_all(
        None,
        "SELECT table_name, row_id, operation, actor, correlation_id, source, old_data, new_data"
        " FROM audit_logs ORDER BY id",
    )


@pytest.fixture
async def single(database_url: str) -> AsyncIterator[Database]:
    """A pool of one connection: consecutive blocks provably reuse the same session."""
    database = await Database.open(database_url, min_size=1, max_size=1)
    try:
        yield database
    finally:
        await database.close()


async def test_audit_trigger_records_who_from_the_transaction_settings(single: Database) -> None:
    async with single.transaction(
        actor="dev@example.com", correlation_id="corr-1", source="api"
    ) as conn:
        await conn.execute(INSERT_ITEM, item(updated_at="2001-01-01T00:00:00Z"))
    async with single.transaction() as conn:  # same session, no context this time
        await conn.execute("UPDATE catalog_items SET name = 'Renamed'")

    inserted, updated = await audit_rows(single)
    assert (inserted["table_name"], inserted["row_id"], inserted["operation"]) == (
        "catalog_items",
        "postgres-small",
        "INSERT",
    )
    assert (inserted["actor"], inserted["correlation_id"], inserted["source"]) == (
        "dev@example.com",
        "corr-1",
        "api",
    )
    assert inserted["old_data"] is None
    assert inserted["new_data"]["definition"] == {"kind": "CatalogItem"}
    # The settings were local to the first transaction: nothing leaked into the second.
    assert (updated["operation"], updated["actor"], updated["correlation_id"]) == (
        "UPDATE",
        None,
        None,
    )
    assert (updated["old_data"]["name"], updated["new_data"]["name"]) == ("Item", "Renamed")


async def test_transaction_settings_are_visible_inside_and_gone_after(single: Database) -> None:
    async with single.transaction(actor="a@example.com", source="bot") as conn:
        inside = await single.fetch_one(
            conn,
            "SELECT current_setting('pao.actor', true) AS actor,"
            " current_setting('pao.source', true) AS source,"
            " current_setting('pao.correlation_id', true) AS correlation_id",
        )
    after = await single.fetch_one(None, "SELECT current_setting('pao.actor', true) AS actor")

    assert inside == {"actor": "a@example.com", "source": "bot", "correlation_id": ""}
    assert after is not None
    assert after["actor"] in ("", None)


async def test_a_failing_block_rolls_back_everything_and_raises_unchanged(db: Database) -> None:
    async def change_then_fail() -> None:
        async with db.transaction(actor="dev@example.com") as conn:
            await conn.execute(INSERT_ITEM, item())
            raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError, match="changed my mind"):
        await change_then_fail()

    assert await db.fetch_all(None, "SELECT id FROM catalog_items") == []
    assert await audit_rows(db) == []


async def test_updated_at_trigger_touches_changed_rows(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(INSERT_ITEM, item(updated_at="2001-01-01T00:00:00Z"))
    touched = await db.execute(None, "UPDATE catalog_items SET version = '1.0.1'")
    row = await db.fetch_one(
        None,
        "SELECT extract(year FROM updated_at) AS year FROM catalog_items",
    )

    assert touched == 1
    assert row is not None
    assert row["year"] > 2001


async def test_update_changing_nothing_but_the_timestamp_writes_no_audit_row(
    db: Database,
) -> None:
    await db.execute(None, INSERT_ITEM, item())
    await db.execute(None, "UPDATE catalog_items SET name = name")

    assert [row["operation"] for row in await audit_rows(db)] == ["INSERT"]


async def test_dicts_and_jsonb_go_in_as_jsonb_and_rows_come_out_as_dicts(db: Database) -> None:
    await db.execute(None, INSERT_ITEM, item(definition={"nested": {"list": [1, "two"]}}))
    await db.execute(
        None,
        "UPDATE catalog_items SET tags = %(tags)s, definition = definition || %(more)s",
        {"tags": ["postgres", "rds"], "more": Jsonb({"extra": True})},
    )

    row = await db.fetch_one(None, "SELECT tags, definition FROM catalog_items")
    assert row == {
        "tags": ["postgres", "rds"],
        "definition": {"nested": {"list": [1, "two"]}, "extra": True},
    }
    assert await db.fetch_one(None, "SELECT 1 AS one WHERE false") is None


async def test_unique_violation_is_conflict_with_the_constraint_name(db: Database) -> None:
    await db.execute(None, INSERT_ITEM, item())

    with pytest.raises(Conflict) as raised:
        async with db.transaction() as conn:
            await conn.execute(INSERT_ITEM, item())

    assert raised.value.constraint == "catalog_items_pkey"
    assert raised.value.sqlstate == "23505"
    assert raised.value.table == "catalog_items"
    assert "postgres-small" not in str(raised.value)  # row values stay in .detail
    assert raised.value.detail is not None
    assert "postgres-small" in raised.value.detail


async def test_foreign_key_violation_is_reference_missing(db: Database) -> None:
    with pytest.raises(ReferenceMissing) as raised:
        await db.execute(
            None,
            "INSERT INTO request_actions (request_id, position, action_id, action_type)"
            " VALUES (%(id)s, 0, 'provision', 'terraform')",
            {"id": uuid.uuid4()},
        )

    assert raised.value.constraint == "request_actions_request_id_fkey"


async def test_check_and_not_null_violations_are_constraint_violated(db: Database) -> None:
    with pytest.raises(ConstraintViolated) as check:
        await db.execute(None, INSERT_ITEM, item("Not_Kebab"))
    with pytest.raises(ConstraintViolated) as not_null:
        async with db.connection() as conn:
            await conn.execute(INSERT_ITEM, item(definition=None))

    assert check.value.constraint == "catalog_items_id_check"
    assert (not_null.value.sqlstate, not_null.value.column) == ("23502", "definition")


async def test_other_sql_errors_are_plain_store_errors(db: Database) -> None:
    with pytest.raises(StoreError) as raised:
        await db.fetch_all(None, "SELECT * FROM no_such_table")

    assert type(raised.value) is StoreError
    assert raised.value.sqlstate == "42P01"


async def test_lost_connection_is_store_unavailable(single: Database) -> None:
    async with single.connection() as conn:
        pid = (await single.fetch_one(conn, "SELECT pg_backend_pid() AS pid") or {})["pid"]
    async with single.connection() as killer_conn:
        # The pool has one connection, so the victim is this very session: ask another.
        await _terminate_from_another_session(killer_conn, pid)

    with pytest.raises(StoreUnavailable):
        async with single.connection() as conn:
            await conn.execute("SELECT 1")


async def _terminate_from_another_session(conn: Connection, pid: int) -> None:
    import psycopg

    info = conn.info
    other = await psycopg.AsyncConnection.connect(
        host=info.host, port=info.port, user=info.user, dbname=info.dbname, autocommit=True
    )
    async with other:
        await other.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def test_unreachable_server_fails_open_and_ping(database_url: str) -> None:
    with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1.*port 1 failed"):
        await Database.open("postgresql://pao@127.0.0.1:1/nowhere", timeout=0.5)

    database = await Database.open(database_url)
    assert await database.ping() is True
    await database.close()
    assert await database.ping() is False
