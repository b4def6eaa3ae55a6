"""``pao db migrate`` and ``pao db status``: the parser and the work, given a resolved URL.

``orchestrator/cli.py`` reads the settings (``--database-url``, ``DATABASE_URL``,
``PAO_DATA_DIR``) and calls ``run_db_command``; nothing here reads the environment. The driver
is imported only when a ``db`` command runs, so building the parser stays cheap for the other
commands.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from orchestrator.redaction import redact_url as redact

if TYPE_CHECKING:
    from orchestrator.store.migrator import MigrationStatus

EXIT_OK = 0
EXIT_FAILED = 1


def add_db_parser(commands: Any) -> argparse.ArgumentParser:
    """Add ``db`` with its ``migrate`` and ``status`` sub-commands; return the ``db`` parser."""
    db = commands.add_parser("db", help="database schema: apply migrations, show their state")
    db_commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    for name, help_text, description in (
        (
            "migrate",
            "apply pending migrations",
            "Apply the pending migrations in order, each in its own transaction. Refuses (exit 1) "
            "when an applied migration file changed or disappeared. Safe to run from several "
            "processes at once.",
        ),
        (
            "status",
            "list applied and pending migrations",
            "List applied and pending migrations and any disagreement between the database and "
            "the files. Exit status: 0 consistent (pending allowed), 1 problems or no database.",
        ),
    ):
        sub = db_commands.add_parser(name, help=help_text, description=description)
        sub.add_argument(
            "--database-url",
            metavar="URL",
            help="PostgreSQL URL (default: DATABASE_URL; unset: the embedded PostgreSQL)",
        )
    return db  # type: ignore[no-any-return]


@contextmanager
def _target(url: str | None, data_dir: Path, err: TextIO) -> Iterator[str]:
    from orchestrator.store.embedded import EmbeddedPostgres

    if url is not None:
        yield url
        return
    print(f"no DATABASE_URL: using the embedded PostgreSQL under {data_dir}", file=err)
    with EmbeddedPostgres(data_dir) as server:
        yield server.url


def run_db_command(
    command: str,
    *,
    url: str | None,
    data_dir: Path,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run ``pao db <command>`` on ``url`` (the embedded server under ``data_dir`` when None);
    ``out``/``err`` default to the current ``sys.stdout``/``sys.stderr``."""
    out = out or sys.stdout
    err = err or sys.stderr
    from orchestrator.store.embedded import EmbeddedStartError
    from orchestrator.store.errors import StoreError
    from orchestrator.store.migrator import migration_status

    prog = f"pao db {command}"
    try:
        with _target(url, data_dir, err) as target:
            if command == "migrate":
                return _migrate(target, out)
            return _status(asyncio.run(migration_status(target)), out, err, prog)
    except (StoreError, EmbeddedStartError) as exc:
        shown = f" ({redact(url)})" if url is not None else ""
        print(f"{prog}: {exc}{shown}", file=err)
        return EXIT_FAILED


def _migrate(url: str, out: TextIO) -> int:
    from orchestrator.store.migrator import migrate

    applied = asyncio.run(migrate(url))
    for migration in applied:
        print(f"applied {migration.name}", file=out)
    if applied:
        print(f"{len(applied)} migration(s) applied; the database is up to date", file=out)
    else:
        print("nothing to apply; the database is up to date", file=out)
    return EXIT_OK


def _status(status: MigrationStatus, out: TextIO, err: TextIO, prog: str) -> int:
    rows = [
        (f"{row.version:04d}", "applied", f"{row.applied_at:%Y-%m-%d %H:%M:%S %Z}", row.name)
        for row in status.applied
    ]
    rows += [(f"{m.version:04d}", "pending", "", m.name) for m in status.pending]
    for version, state, when, name in sorted(rows):
        print(f"{version}  {state:<8} {when:<24} {name}".rstrip(), file=out)
    if status.problems:
        for problem in status.problems:
            print(f"{prog}: {problem.kind}: {problem.message}", file=err)
        return EXIT_FAILED
    pending = len(status.pending)
    summary = f"{pending} pending: run `pao db migrate`" if pending else "up to date"
    print(f"{len(status.applied)} applied, {summary}", file=out)
    return EXIT_OK
