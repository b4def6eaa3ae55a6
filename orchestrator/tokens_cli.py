"""`pao tokens create|list|revoke`: API tokens for PAO_AUTH_MODE=token (the identity package
stores them; this command module sits above it and the access rules, so identity stays low).

Run by an admin with database access (DATABASE_URL, or the embedded PostgreSQL). The token is
printed once on stdout; only its SHA-256 hash is stored. Every change is an audit row with the
operator's name (``--actor``, default: the local user name) and source ``cli``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import uuid
from collections.abc import Coroutine
from typing import Any, TextIO

from orchestrator.access import ADMIN, BOT, OPERATOR
from orchestrator.errors import NotFound
from orchestrator.identity.tokens import TokenStore
from orchestrator.settings import settings_for_command
from orchestrator.store.database import Database

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
ROLES = (ADMIN, OPERATOR, BOT)


def add_tokens_parser(commands: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        "tokens",
        help="create, list and revoke API tokens (PAO_AUTH_MODE=token)",
        description="Manage API tokens. The secret is shown once, at creation; only its hash is kept.",
    )
    parser.add_argument("--database-url", help="PostgreSQL URL (default: DATABASE_URL)")
    parser.add_argument("--actor", help="who is doing this, for the audit trail")
    sub = parser.add_subparsers(dest="tokens_command", metavar="COMMAND", required=True)
    create = sub.add_parser("create", help="issue a token for a user")
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
    listing = sub.add_parser("list", help="list tokens (never their secrets)")
    listing.add_argument("--user", help="only this user's tokens")
    revoke = sub.add_parser("revoke", help="revoke a token by id")
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
    if url is None:
        print(f"{prog}: set DATABASE_URL (or --database-url) to the service's database", file=err)
        return EXIT_USAGE
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
        issued = _run(
            url,
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
        rows = _run(url, lambda store: store.list(args.user))
        print(json.dumps(rows, indent=2), file=out)
        return EXIT_OK
    try:
        token_id = uuid.UUID(args.id)
    except ValueError:
        print(f"{prog}: {args.id!r} is not a token id", file=err)
        return EXIT_USAGE
    try:
        row = _run(url, lambda store: store.revoke(token_id, actor=actor))
    except NotFound as exc:
        print(f"{prog}: {exc}", file=err)
        return EXIT_FAILED
    print(f"revoked token {row['id']} of {row['user_email']}", file=out)
    return EXIT_OK


def _run(url: str, call: Any) -> Any:
    async def main() -> Any:
        db = await Database.open(url, min_size=1, max_size=1)
        try:
            coroutine: Coroutine[Any, Any, Any] = call(TokenStore(db))
            return await coroutine
        finally:
            await db.close()

    return asyncio.run(main())
