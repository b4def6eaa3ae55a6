"""`pao tokens create|list|revoke`: API tokens for PAO_AUTH_MODE=token (the identity package
stores them; this command module sits above it and the access rules, so identity stays low).

Run by an admin with database access: DATABASE_URL (or ``--database-url``), else the embedded
PostgreSQL ``pao serve`` uses (attached to while it runs, started otherwise). The token is
printed once on stdout; only its SHA-256 hash is stored. Every change is an audit row with the
operator's name (``--actor``, default: the local user name) and source ``cli``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import getpass
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

from orchestrator.access import ADMIN, BOT, OPERATOR
from orchestrator.errors import NotFound
from orchestrator.identity.tokens import TokenStore
from orchestrator.settings import Settings, settings_for_command
from orchestrator.store.database import Database
from orchestrator.store.embedded import EmbeddedStartError, embedded_data_dir

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
ROLES = (ADMIN, OPERATOR, BOT)


def _common_options(*, top: bool) -> argparse.ArgumentParser:
    """``--database-url`` and ``--actor``, accepted before and after the subcommand. After it
    they default to SUPPRESS, so an option given before the subcommand is not reset."""
    common = argparse.ArgumentParser(add_help=False)
    default = None if top else argparse.SUPPRESS
    common.add_argument(
        "--database-url",
        default=default,
        metavar="URL",
        help="PostgreSQL URL (default: DATABASE_URL; unset: the embedded PostgreSQL of "
        "`pao serve`, under PAO_DATA_DIR)",
    )
    common.add_argument("--actor", default=default, help="who is doing this, for the audit trail")
    return common


def add_tokens_parser(commands: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        "tokens",
        help="create, list and revoke API tokens (PAO_AUTH_MODE=token)",
        description="Manage API tokens. The secret is shown once, at creation; only its hash is "
        "kept. Without DATABASE_URL or --database-url the tokens go to the embedded PostgreSQL "
        "that `pao serve` uses (attached to while `pao serve` runs).",
        parents=[_common_options(top=True)],
    )
    after = _common_options(top=False)
    sub = parser.add_subparsers(dest="tokens_command", metavar="COMMAND", required=True)
    create = sub.add_parser("create", help="issue a token for a user", parents=[after])
    create.add_argument("--user", required=True, help="the user's email")
    create.add_argument("--name", help="the user's display name")
    create.add_argument("--teams", default="", help="comma-separated teams")
    create.add_argument(
        "--roles",
        default="",
        help="comma-separated roles: admin, operator, bot (may act for the users it names in "
        "X-PAO-On-Behalf-Of: the Actions-mode bot's token)",
    )
    create.add_argument("--days", type=int, help="lifetime in days (default: PAO_TOKEN_TTL_DAYS)")
    create.add_argument("--description", help="what the token is for")
    listing = sub.add_parser("list", help="list tokens (never their secrets)", parents=[after])
    listing.add_argument("--user", help="only this user's tokens")
    revoke = sub.add_parser("revoke", help="revoke a token by id", parents=[after])
    revoke.add_argument("id", help="the token id shown by create and list")
    parser.set_defaults(handler=run_tokens_command)
    return parser


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def run_tokens_command(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    prog = f"pao tokens {args.tokens_command}"
    settings = settings_for_command(prog, err)
    if settings is None:
        return EXIT_USAGE
    url = args.database_url or settings.database.url
    data_dir = None if url is not None else embedded_data_dir(settings.database.data_dir)
    if data_dir is not None:
        print(f"no DATABASE_URL: using the embedded PostgreSQL under {data_dir}", file=err)
    try:
        return _dispatch(args, settings, functools.partial(_run, url, data_dir), out, err)
    except EmbeddedStartError as exc:
        print(f"{prog}: {exc}", file=err)
        return EXIT_FAILED


def _dispatch(
    args: argparse.Namespace,
    settings: Settings,
    run: Callable[[Callable[[TokenStore], Awaitable[Any]]], Any],
    out: TextIO,
    err: TextIO,
) -> int:
    prog = f"pao tokens {args.tokens_command}"
    actor = args.actor or f"{getpass.getuser()}@cli"
    if args.tokens_command == "create":
        days = args.days if args.days is not None else settings.auth.token_ttl_days
        if days < 1:
            print(f"{prog}: --days must be at least 1", file=err)
            return EXIT_USAGE
        unknown = sorted(set(_csv(args.roles)) - set(ROLES))
        if unknown:
            print(
                f"{prog}: unknown role(s) {', '.join(unknown)}; roles: {', '.join(ROLES)}", file=err
            )
            return EXIT_USAGE
        issued = run(
            lambda store: store.create(
                email=args.user,
                name=args.name,
                teams=_csv(args.teams),
                roles=_csv(args.roles),
                days=days,
                description=args.description,
                actor=actor,
            ),
        )
        print(json.dumps({**issued.record, "token": issued.token}, indent=2), file=out)
        print("the token is shown once: store it now", file=err)
        return EXIT_OK
    if args.tokens_command == "list":
        rows = run(lambda store: store.list(args.user))
        print(json.dumps(rows, indent=2), file=out)
        return EXIT_OK
    try:
        token_id = uuid.UUID(args.id)
    except ValueError:
        print(f"{prog}: {args.id!r} is not a token id", file=err)
        return EXIT_USAGE
    try:
        row = run(lambda store: store.revoke(token_id, actor=actor))
    except NotFound as exc:
        print(f"{prog}: {exc}", file=err)
        return EXIT_FAILED
    print(f"revoked token {row['id']} of {row['user_email']}", file=out)
    return EXIT_OK


def _run(
    url: str | None, data_dir: Path | None, call: Callable[[TokenStore], Awaitable[Any]]
) -> Any:
    """``call`` on the token store of ``url``, or of the embedded server under ``data_dir``
    (started when no ``pao serve`` runs it, and migrated as ``pao serve`` would)."""
    with contextlib.ExitStack() as stack:
        if url is None:
            assert data_dir is not None
            from orchestrator.store.embedded import EmbeddedPostgres  # starts pgserver: lazily
            from orchestrator.store.migrator import migrate

            url = stack.enter_context(EmbeddedPostgres(data_dir)).url
            asyncio.run(migrate(url))
        target = url

        async def main() -> Any:
            db = await Database.open(target, min_size=1, max_size=1)
            try:
                return await call(TokenStore(db))
            finally:
                await db.close()

        return asyncio.run(main())
