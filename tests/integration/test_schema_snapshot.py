"""``migrations/schema.sql`` is exactly what the migrations build on an empty database, so the
snapshot a reader trusts cannot drift from the history that production runs."""

from __future__ import annotations

import asyncio
import difflib

import psycopg

from orchestrator.store.migrator import load_migrations, migrate
from orchestrator.store.schema_snapshot import SNAPSHOT_NAME, read_schema, snapshot_path


def test_the_migrations_build_exactly_the_snapshot(empty_database_url: str) -> None:
    applied = asyncio.run(migrate(empty_database_url))
    assert SNAPSHOT_NAME not in {migration.name for migration in applied}
    built = read_schema(empty_database_url)
    recorded = snapshot_path().read_text()
    diff = "".join(
        difflib.unified_diff(
            recorded.splitlines(keepends=True),
            built.splitlines(keepends=True),
            "migrations/schema.sql",
            "after the migrations",
        )
    )
    assert built == recorded, (
        "migrations/schema.sql differs from what the migrations build; regenerate it with "
        "`python3 -m orchestrator.store.schema_snapshot --write` and review the change:\n" + diff
    )


def test_the_snapshot_is_not_a_migration() -> None:
    assert snapshot_path().is_file()
    assert SNAPSHOT_NAME not in {migration.name for migration in load_migrations()}


def test_a_schema_change_shows_in_the_snapshot(empty_database_url: str) -> None:
    """The snapshot reads what matters: a column's default changed after the migrations is seen
    (so an unnoticed difference cannot pass as equal)."""
    asyncio.run(migrate(empty_database_url))
    before = read_schema(empty_database_url)
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE requests ALTER COLUMN title SET DEFAULT 'untitled'")
        conn.execute("CREATE INDEX snapshot_probe ON requests (title)")
    after = read_schema(empty_database_url)
    assert before != after
    assert "DEFAULT 'untitled'::text" in after
    assert "CREATE INDEX snapshot_probe ON public.requests USING btree (title);" in after
