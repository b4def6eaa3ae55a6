"""`pao rehearse ITEM.yaml` and `pao rehearsal list|resolve|reject|fail` (the ``pao.commands``
entry point of the rehearsal package)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rehearsal.systems import MOUNT, VERBS


def register(commands: Any) -> None:
    rehearse = commands.add_parser(
        "rehearse",
        help="run a catalog item's chain against simulated JIRA, Terraform, GitHub and REST",
        description=(
            "Run ITEM's whole fulfillment chain against the built-in simulators in a throw-away "
            "embedded PostgreSQL and print, per action, the rendered request (secrets masked), "
            "the simulated response, the outputs and the cleanup it would leave. Exit status: "
            "0 completed, 1 failed or invalid item, 2 usage error."
        ),
    )
    rehearse.add_argument("item", metavar="ITEM.yaml", help="a catalog item file")
    rehearse.add_argument(
        "--fields",
        nargs="+",
        action="extend",
        metavar="NAME=VALUE",
        help="field values (YAML scalars); required fields left out get sample values",
    )
    rehearse.add_argument(
        "--fail", metavar="ACTION", help="make the simulated system refuse this action"
    )
    rehearse.add_argument(
        "--database-url",
        metavar="URL",
        help="an empty scratch database to use instead of a throw-away embedded one",
    )
    rehearse.set_defaults(handler=_rehearse)

    rehearsal = commands.add_parser(
        "rehearsal",
        help="see and move the simulated tickets and runs of a running `pao serve`",
        description=(
            "Talk to the simulators of a `pao serve` that rehearses (PAO_API_URL, default the "
            "local one): list what they hold, or resolve, reject or fail a simulated JIRA "
            "ticket, Terraform run or workflow run to watch PAO's polling and failure handling. "
            "Set PAO_REHEARSAL_AUTO=false on the server to make them wait for you."
        ),
    )
    rehearsal.add_argument("--api-url", help="PAO's base URL (default: PAO_API_URL or local)")
    sub = rehearsal.add_subparsers(dest="rehearsal_command", metavar="COMMAND", required=True)
    sub.add_parser("list", help="simulated tickets, runs and REST calls").set_defaults(
        handler=_control
    )
    for verb in VERBS:
        move = sub.add_parser(verb, help=f"{verb} a simulated ticket or run")
        move.add_argument("system", choices=("jira", "terraform", "github"))
        move.add_argument("ref", help="ticket key, Terraform run id or workflow run id")
        move.set_defaults(handler=_control, verb=verb)


def _rehearse(args: argparse.Namespace) -> int:
    from rehearsal.run import main

    return main(args)


def _control(args: argparse.Namespace) -> int:
    import httpx

    from orchestrator.settings import settings_for_command

    settings = settings_for_command("pao rehearsal", sys.stderr)
    if settings is None:
        return 2
    base = (args.api_url or settings.client.api_url or "").rstrip("/")
    if not base:
        host = settings.api.host if settings.api.host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
        base = f"http://{host}:{settings.api.port}"
    url = f"{base}{MOUNT}/control"
    try:
        if args.rehearsal_command == "list":
            response = httpx.get(url, timeout=10)
        else:
            response = httpx.post(f"{url}/{args.system}/{args.ref}/{args.verb}", timeout=10)
    except httpx.HTTPError as exc:
        print(f"pao rehearsal: cannot reach {url} ({exc})", file=sys.stderr)
        return 2
    if response.status_code == 404 and "rehearsal" not in response.text:
        print(f"pao rehearsal: {base} does not rehearse (PAO_REHEARSAL)", file=sys.stderr)
        return 1
    body = response.json()
    if response.status_code >= 400:
        print(f"pao rehearsal: {body.get('error')}", file=sys.stderr)
        return 1
    if args.rehearsal_command == "list":
        print(json.dumps(body, indent=2))
    else:
        print(body.get("result"))
    return 0
