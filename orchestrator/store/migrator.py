"""Apply the numbered SQL migrations (``migrations/NNNN_name.sql``) that a database lacks.

Each file runs in its own transaction together with its row in ``schema_migrations`` (version,
file name, sha256 of the file, when), so a failing file leaves no trace and the ones before it
stay applied. Applied files are history: when one has changed or disappeared the runner refuses
to touch the database, because the schema it would build on is no longer the one the files
describe. A session-level advisory lock, held for the whole run, makes concurrent runs (several
replicas starting at once) queue up: the first applies, the others find nothing left to do.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from importlib.resources.abc import Traversable

import psycopg
from psycopg.rows import DictRow, dict_row

from orchestrator.editor_lines import position as text_position
from orchestrator.store.errors import StoreError, translate
from orchestrator.store.queries import QUERIES, as_literal

MIGRATION_LOCK_KEY = int.from_bytes(b"pao-migr", "big")
"""Advisory lock key of the migrator (per database); fixed forever so every version agrees."""

SCHEMA_SNAPSHOT = "schema.sql"
"""The snapshot of the schema the migrations build, kept beside them and skipped here."""

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<label>[a-z0-9_]+)\.sql$")


class MigrationError(StoreError):
    """Migrations could not be applied; the message names the file concerned."""


class InvalidMigrationFile(MigrationError):
    """A file in the migrations directory is misnamed or reuses a version number."""


class MigrationFailed(MigrationError):
    """A migration's SQL failed; it was rolled back, earlier migrations stay applied."""

    def __init__(self, migration: Migration, exc: psycopg.Error) -> None:
        where = ""
        position = exc.diag.statement_position
        if position and position.isdigit():
            line = text_position(migration.sql, int(position) - 1)[0]
            where = f" at line {line}"
        translated = translate(exc)
        super().__init__(
            f"{migration.name} failed{where}: {translated.message} (SQLSTATE {exc.sqlstate}); "
            "it was rolled back and nothing after it was applied",
            sqlstate=exc.sqlstate,
            constraint=translated.constraint,
            table=translated.table,
            column=translated.column,
            detail=translated.detail,
        )
        self.migration = migration


@dataclass(frozen=True, slots=True)
class MigrationProblem:
    """Why the applied history and the files disagree. ``kind``: changed, renamed, missing or
    out-of-order."""

    kind: str
    file: str
    message: str


class MigrationRefused(MigrationError):
    """The database's applied migrations no longer match the files; nothing was applied."""

    def __init__(self, problems: Iterable[MigrationProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            "refusing to migrate: " + "; ".join(problem.message for problem in self.problems)
        )


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str  # the file name, e.g. 0001_core_schema.sql
    checksum: str  # sha256 of the file's bytes, hex
    sql: str


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str
    applied_at: datetime


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    applied: list[AppliedMigration]
    pending: list[Migration]
    problems: list[MigrationProblem]

    @property
    def ok(self) -> bool:
        return not self.problems


def default_directory() -> Traversable:
    """The migrations shipped with the package (``orchestrator/store/migrations``)."""
    return files("orchestrator.store") / "migrations"


def load_migrations(directory: Traversable | None = None) -> list[Migration]:
    """Every ``NNNN_name.sql`` file of ``directory``, in version order."""
    root = directory if directory is not None else default_directory()
    found: dict[int, Migration] = {}
    for entry in root.iterdir():
        if not entry.name.endswith(".sql") or not entry.is_file():
            continue
        if entry.name == SCHEMA_SNAPSHOT:
            continue  # the current-schema snapshot, never applied (schema_snapshot.py)
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise InvalidMigrationFile(
                f"{entry.name}: migration files are named NNNN_name.sql "
                "(four digits, then lowercase letters, digits and _)"
            )
        version = int(match["version"])
        if version in found:
            raise InvalidMigrationFile(
                f"{entry.name} and {found[version].name} share the version number {version:04d}"
            )
        data = entry.read_bytes()
        found[version] = Migration(
            version, entry.name, hashlib.sha256(data).hexdigest(), data.decode("utf-8")
        )
    return [found[version] for version in sorted(found)]


def compare(
    migrations: list[Migration], applied: list[AppliedMigration]
) -> tuple[list[Migration], list[MigrationProblem]]:
    """Split the files into pending ones and problems with the applied history."""
    by_version = {migration.version: migration for migration in migrations}
    applied_versions = {row.version for row in applied}
    problems: list[MigrationProblem] = []
    for row in applied:
        migration = by_version.get(row.version)
        if migration is None:
            problems.append(
                MigrationProblem(
                    "missing",
                    row.name,
                    f"{row.name} was applied on {row.applied_at:%Y-%m-%d %H:%M:%S %Z} but the "
                    "file is gone; restore it (applied migrations are never deleted)",
                )
            )
        elif migration.name != row.name:
            problems.append(
                MigrationProblem(
                    "renamed",
                    migration.name,
                    f"{migration.name} has version {row.version:04d}, which was applied as "
                    f"{row.name}; restore the original file and add a new migration instead",
                )
            )
        elif migration.checksum != row.checksum:
            problems.append(
                MigrationProblem(
                    "changed",
                    migration.name,
                    f"{migration.name} was changed after it was applied (checksum "
                    f"{migration.checksum[:12]}… recorded {row.checksum[:12]}…); revert the "
                    "edit and put the change in a new migration",
                )
            )
    newest = max(applied_versions, default=0)
    pending = [m for m in migrations if m.version not in applied_versions]
    for migration in pending:
        if migration.version < newest:
            problems.append(
                MigrationProblem(
                    "out-of-order",
                    migration.name,
                    f"{migration.name} is not applied but is numbered below the newest applied "
                    f"migration ({newest:04d}); renumber it after {newest:04d}",
                )
            )
    return pending, problems


@asynccontextmanager
async def _connect(
    url: str, connect_timeout: int
) -> AsyncIterator[psycopg.AsyncConnection[DictRow]]:
    """A dedicated autocommit connection (not the pool: the advisory lock is per session)."""
    try:
        conn = await psycopg.AsyncConnection.connect(
            url, autocommit=True, row_factory=dict_row, connect_timeout=connect_timeout
        )
    except psycopg.Error as exc:
        raise translate(exc) from exc
    try:
        async with conn:
            yield conn
    except psycopg.Error as exc:
        raise translate(exc) from exc


async def _applied(conn: psycopg.AsyncConnection[DictRow]) -> list[AppliedMigration]:
    cur = await conn.execute(QUERIES.migrations_applied)
    return [AppliedMigration(**row) for row in await cur.fetchall()]


async def migrate(
    url: str, *, directory: Traversable | None = None, connect_timeout: int = 10
) -> list[Migration]:
    """Apply the pending migrations in version order; return the ones this call applied.

    Raises ``MigrationRefused`` (nothing applied) when applied files changed or disappeared,
    ``MigrationFailed`` when a file's SQL fails, ``StoreUnavailable`` when the server is
    unreachable.
    """
    migrations = load_migrations(directory)
    applied_now: list[Migration] = []
    async with _connect(url, connect_timeout) as conn:
        await conn.execute(QUERIES.migrations_lock, {"key": MIGRATION_LOCK_KEY})
        try:
            await conn.execute(QUERIES.migrations_create_table)
            pending, problems = compare(migrations, await _applied(conn))
            if problems:
                raise MigrationRefused(problems)
            for migration in pending:
                started = time.perf_counter()
                try:
                    async with conn.transaction():
                        await conn.execute(QUERIES.migrations_set_context)
                        # The file is shipped with the code, and runs without parameters.
                        await conn.execute(as_literal(migration.sql))
                        await conn.execute(
                            QUERIES.migrations_record,
                            {
                                "version": migration.version,
                                "name": migration.name,
                                "checksum": migration.checksum,
                                "duration_ms": round((time.perf_counter() - started) * 1000),
                            },
                        )
                except psycopg.Error as exc:
                    if conn.broken:
                        raise  # the connection failed, not the file: StoreUnavailable
                    raise MigrationFailed(migration, exc) from exc
                applied_now.append(migration)
        finally:
            with suppress(psycopg.Error):  # closing the session releases it anyway
                await conn.execute(QUERIES.migrations_unlock, {"key": MIGRATION_LOCK_KEY})
    return applied_now


async def migration_status(
    url: str, *, directory: Traversable | None = None, connect_timeout: int = 10
) -> MigrationStatus:
    """What is applied, what is pending, and what disagrees; changes nothing."""
    migrations = load_migrations(directory)
    async with _connect(url, connect_timeout) as conn:
        cur = await conn.execute(QUERIES.migrations_table_exists)
        row = await cur.fetchone()
        applied = await _applied(conn) if row is not None and row["present"] else []
    pending, problems = compare(migrations, applied)
    return MigrationStatus(applied, pending, problems)
