"""`pao maintenance`: the spec's retention jobs, one transaction, safe to run at any time.

Completed and aborted requests older than PAO_RETENTION_REQUEST_DAYS (90), audit rows older than
PAO_RETENTION_AUDIT_DAYS (365) and expired or revoked tokens are deleted. ``--dry-run`` does the
same work and rolls it back, so the counts it prints are exact.

Outbox rows the SQS relay sent more than PAO_RETENTION_OUTBOX_HOURS (24) ago are deleted after
that transaction, in batches (the relay prunes them too; on the PostgreSQL backend there are
none); a dry run counts them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

from orchestrator.engine.outbox import prunable_outbox, prune_outbox
from orchestrator.settings import AuthSettings, settings_for_command
from orchestrator.store.database import Database
from orchestrator.store.queries import QUERIES


class _DryRun(Exception):
    """Raised to roll the transaction back after counting."""


def add_maintenance_parser(commands: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        "maintenance",
        help="apply the retention rules (old requests, audit rows, expired tokens)",
        description=(
            "Delete completed/aborted requests and audit rows past retention, expired or "
            "revoked tokens, and sent SQS outbox rows past retention. Prints the counts as JSON."
        ),
    )
    parser.add_argument("--database-url", help="PostgreSQL URL (default: DATABASE_URL)")
    parser.add_argument("--dry-run", action="store_true", help="count only, delete nothing")
    parser.set_defaults(handler=run_maintenance_command)
    return parser


async def purge(db: Database, retention: AuthSettings, *, dry_run: bool) -> dict[str, int]:
    counts: dict[str, int] = {}
    steps = (
        ("audit_rows", QUERIES.maintenance_purge_audit, retention.retention_audit_days),
        ("requests", QUERIES.maintenance_purge_requests, retention.retention_request_days),
        ("tokens", QUERIES.maintenance_purge_sessions, 0),
        ("aws_signatures", QUERIES.maintenance_purge_signatures, 0),
    )
    try:
        async with db.transaction(actor="pao-maintenance", source="maintenance") as conn:
            for name, query, days in steps:
                cur = await conn.execute(query, {"days": days})
                row = await cur.fetchone()
                counts[name] = int(row["n"]) if row else 0
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return counts


async def purge_outbox(db: Database, retention_hours: int, *, dry_run: bool) -> int:
    """Sent outbox rows past retention: deleted in batches, or only counted."""
    seconds = retention_hours * 3600.0
    return await (prunable_outbox(db, seconds) if dry_run else prune_outbox(db, seconds))


def run_maintenance_command(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    settings = settings_for_command("pao maintenance", err)
    if settings is None:
        return 2
    url = args.database_url or settings.database.url
    if url is None:
        print("pao maintenance: set DATABASE_URL (or --database-url)", file=err)
        return 2

    async def main() -> dict[str, int]:
        db = await Database.open(url, min_size=1, max_size=1)
        try:
            counts = await purge(db, settings.auth, dry_run=args.dry_run)
            counts["outbox_rows"] = await purge_outbox(
                db, settings.engine.outbox_retention_hours, dry_run=args.dry_run
            )
            return counts
        finally:
            await db.close()

    counts = asyncio.run(main())
    print(json.dumps({"dry_run": bool(args.dry_run), "deleted": counts}), file=out)
    return 0
