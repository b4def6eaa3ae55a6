"""The migration runner on real PostgreSQL: fresh, repeated, refused, failing, concurrent."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from orchestrator.cli import main
from orchestrator.store.errors import StoreUnavailable
from orchestrator.store.migrator import (
    MIGRATION_LOCK_KEY,
    InvalidMigrationFile,
    MigrationFailed,
    MigrationRefused,
    default_directory,
    load_migrations,
    migrate,
    migration_status,
)

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.name for p in (ROOT / "migrations").glob("[0-9][0-9][0-9][0-9]_*.sql"))


def recorded(url: str) -> list[tuple[int, str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT version, name, checksum FROM schema_migrations ORDER BY 1")
        return [(int(v), str(n), str(c)) for v, n, c in rows.fetchall()]


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {str(name) for (name,) in rows.fetchall()}


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    """A copy of the shipped migrations that a test may edit."""
    directory = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", directory)
    return directory


def test_the_package_ships_the_repository_migrations() -> None:
    assert SHIPPED, "no migrations found"
    assert [m.name for m in load_migrations(default_directory())] == SHIPPED


async def test_fresh_database_gets_every_migration_in_order(empty_database_url: str) -> None:
    applied = await migrate(empty_database_url)

    assert [m.name for m in applied] == SHIPPED
    expected = [
        (int(name[:4]), name, hashlib.sha256((ROOT / "migrations" / name).read_bytes()).hexdigest())
        for name in SHIPPED
    ]
    assert recorded(empty_database_url) == expected
    assert {"requests", "request_actions", "audit_logs", "jobs", "schema_migrations"} <= tables(
        empty_database_url
    )


async def test_running_again_applies_nothing_and_changes_no_record(database_url: str) -> None:
    before = recorded(database_url)  # the template is migrated already

    assert await migrate(database_url) == []
    assert recorded(database_url) == before
    status = await migration_status(database_url)
    assert status.ok
    assert status.pending == []
    assert [row.name for row in status.applied] == SHIPPED


async def test_new_migrations_are_applied_after_the_existing_ones(
    database_url: str, migrations_dir: Path
) -> None:
    (migrations_dir / "0900_add_note.sql").write_text("CREATE TABLE notes (id int);\n")

    applied = await migrate(database_url, directory=migrations_dir)

    assert [m.name for m in applied] == ["0900_add_note.sql"]
    assert "notes" in tables(database_url)


async def test_changed_applied_file_is_refused_and_nothing_is_applied(
    database_url: str, migrations_dir: Path
) -> None:
    changed = migrations_dir / SHIPPED[0]
    changed.write_text(changed.read_text() + "\n-- an innocent-looking edit\n")
    (migrations_dir / "0900_add_note.sql").write_text("CREATE TABLE notes (id int);\n")

    with pytest.raises(MigrationRefused) as refused:
        await migrate(database_url, directory=migrations_dir)

    assert [(p.kind, p.file) for p in refused.value.problems] == [("changed", SHIPPED[0])]
    assert SHIPPED[0] in str(refused.value)
    assert "notes" not in tables(database_url)  # the pending one was not applied either


async def test_missing_applied_file_is_refused(database_url: str, migrations_dir: Path) -> None:
    (migrations_dir / SHIPPED[-1]).unlink()

    with pytest.raises(MigrationRefused, match=SHIPPED[-1]) as refused:
        await migrate(database_url, directory=migrations_dir)

    assert [(p.kind, p.file) for p in refused.value.problems] == [("missing", SHIPPED[-1])]
    status = await migration_status(database_url, directory=migrations_dir)
    assert not status.ok


async def test_renamed_and_out_of_order_files_are_refused(
    database_url: str, migrations_dir: Path
) -> None:
    first = migrations_dir / SHIPPED[0]
    first.rename(migrations_dir / "0001_renamed.sql")
    (migrations_dir / "0000_too_early.sql").write_text("SELECT 1;\n")

    with pytest.raises(MigrationRefused) as refused:
        await migrate(database_url, directory=migrations_dir)

    kinds = {(p.kind, p.file) for p in refused.value.problems}
    assert kinds == {("renamed", "0001_renamed.sql"), ("out-of-order", "0000_too_early.sql")}


def test_misnamed_and_duplicate_files_are_refused(migrations_dir: Path) -> None:
    (migrations_dir / "2_short.sql").write_text("SELECT 1;\n")
    with pytest.raises(InvalidMigrationFile, match=r"2_short\.sql"):
        load_migrations(migrations_dir)
    (migrations_dir / "2_short.sql").unlink()
    (migrations_dir / "0001_again.sql").write_text("SELECT 1;\n")
    with pytest.raises(InvalidMigrationFile, match="share the version number 0001"):
        load_migrations(migrations_dir)


async def test_failing_migration_is_rolled_back_alone_and_named(
    database_url: str, migrations_dir: Path
) -> None:
    (migrations_dir / "0900_good.sql").write_text("CREATE TABLE good (id int);\n")
    (migrations_dir / "0901_bad.sql").write_text(
        "CREATE TABLE half_done (id int);\n\nSELECT no_such_column FROM half_done;\n"
    )
    (migrations_dir / "0902_after.sql").write_text("CREATE TABLE after_bad (id int);\n")

    with pytest.raises(MigrationFailed, match=r"0901_bad\.sql failed at line 3: .*no_such_column"):
        await migrate(database_url, directory=migrations_dir)

    present = tables(database_url)
    assert "good" in present
    assert "half_done" not in present
    assert "after_bad" not in present
    assert [name for _, name, _ in recorded(database_url)][-1] == "0900_good.sql"


def wait_for_lock_waiters(url: str, count: int) -> None:
    """Block until ``count`` sessions wait for the migration lock (bounded, not timed)."""
    key_high, key_low = MIGRATION_LOCK_KEY >> 32, MIGRATION_LOCK_KEY & 0xFFFFFFFF
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(1000):
            row = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND classid::bigint = %s AND objid::bigint = %s AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())",
                (key_high, key_low),
            ).fetchone()
            if row is not None and row[0] >= count:
                return
            time.sleep(0.01)
    pytest.fail(f"{count} migrators never queued on the advisory lock")


async def test_two_concurrent_migrators_both_succeed_and_apply_each_file_once(
    empty_database_url: str,
) -> None:
    with psycopg.connect(empty_database_url, autocommit=True) as holder:
        # Hold the lock so that both runs are provably waiting at the same time.
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        runs = asyncio.gather(migrate(empty_database_url), migrate(empty_database_url))
        task = asyncio.ensure_future(runs)
        await asyncio.to_thread(wait_for_lock_waiters, empty_database_url, 2)
        holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        first, second = await task

    assert sorted([[m.name for m in first], [m.name for m in second]]) == [[], SHIPPED]
    assert [name for _, name, _ in recorded(empty_database_url)] == SHIPPED


def test_two_migrator_processes_at_once(empty_database_url: str) -> None:
    command = [sys.executable, "-m", "orchestrator.cli", "db", "migrate"]
    command += ["--database-url", empty_database_url]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    with psycopg.connect(empty_database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        processes = [
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        try:
            wait_for_lock_waiters(empty_database_url, 2)
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        outputs = [process.communicate(timeout=120)[0] for process in processes]

    assert [process.returncode for process in processes] == [0, 0]
    applied = sorted(output.count("applied 0") for output in outputs)
    assert applied == [0, len(SHIPPED)]
    assert [name for _, name, _ in recorded(empty_database_url)] == SHIPPED


def test_cli_status_lists_pending_then_applied(
    empty_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "status", "--database-url", empty_database_url]) == 0
    pending = capsys.readouterr().out
    assert [line.split()[1] for line in pending.splitlines()[:-1]] == ["pending"] * len(SHIPPED)

    assert main(["db", "migrate", "--database-url", empty_database_url]) == 0
    assert capsys.readouterr().out.count("applied 0") == len(SHIPPED)
    assert main(["db", "migrate", "--database-url", empty_database_url]) == 0
    assert "nothing to apply" in capsys.readouterr().out

    assert main(["db", "status", "--database-url", empty_database_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [(line.split()[1], line.split()[-1]) for line in lines[:-1]] == [
        ("applied", name) for name in SHIPPED
    ]
    assert lines[-1] == f"{len(SHIPPED)} applied, up to date"


def test_cli_refuses_a_tampered_history_with_exit_1(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1")
        conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) "
            "VALUES (9999, '9999_gone.sql', 'x')"
        )

    assert main(["db", "migrate", "--database-url", database_url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pao db migrate: refusing to migrate: ")
    assert f"{SHIPPED[0]} was changed after it was applied" in err
    assert "9999_gone.sql was applied" in err

    assert main(["db", "status", "--database-url", database_url]) == 1
    err = capsys.readouterr().err
    assert f"changed: {SHIPPED[0]}" in err
    assert "missing: 9999_gone.sql" in err


async def test_unreachable_server_is_store_unavailable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql://pao:secret@127.0.0.1:1/nowhere"
    with pytest.raises(StoreUnavailable):
        await migrate(url, connect_timeout=2)

    assert await asyncio.to_thread(main, ["db", "migrate", "--database-url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pao db migrate: ")
    assert "secret" not in err
    assert "pao:****@127.0.0.1:1/nowhere" in err
