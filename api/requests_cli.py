"""`pao requests …`: requests over PAO's REST API, from a terminal or a CI job.

    pao requests submit FILE.yaml [--watch]   the same ServiceRequest YAML as pull requests
    pao requests preview FILE.yaml            validate and show what would run, submit nothing
    pao requests list [--status S] [--item ID] [--limit N]
    pao requests show ID | logs ID
    pao requests watch ID                     each action's state, live, until the request ends
    pao requests retry ID [--action A] | abort ID [--reason R] | escalate ID [--reason R]
    pao requests approve ID [--comment C] | reject ID --reason R
    pao requests approvals                    requests awaiting your approval

The API is ``PAO_API_URL`` or ``--api-url``: PAO's base URL, e.g. ``http://127.0.0.1:8080`` (the
URL ``pao serve`` prints, ending in ``/api/v1``, is accepted too); default: the local ``pao serve``,
``http://PAO_HOST:PAO_PORT``. ``PAO_API_TOKEN`` is the bearer token when set (auth mode ``token``).
An ID may be shortened to a unique prefix of at least 4 characters, as with git. Exit status: 0 done (for
``watch``: the request completed), 1 the request failed, was aborted or escalated, or the API
refused the call (its problem document is printed), 2 usage error or the API unreachable.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

import httpx
import yaml

from orchestrator.requests.failure_text import failure_text
from orchestrator.settings import Settings, settings_for_command

TERMINAL = frozenset({"completed", "failed", "aborted", "escalated", "rejected"})
SYMBOLS = {
    "pending": "·",
    "in_progress": "▶",
    "retrying": "↻",
    "completed": "✔",
    "failed": "✘",
    "cancelled": "⊘",
    "skipped": "-",
}
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class ApiError(Exception):
    """The API answered with an error; ``code`` is the command's exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def register(commands: Any) -> None:
    """The ``pao.commands`` entry point: adds ``pao requests``."""
    parser = commands.add_parser(
        "requests",
        help="submit, follow and decide on requests through the REST API",
        description=(__doc__ or "").split("\n\n", 1)[0],
        epilog=API_URL_HELP,
        parents=[_api_url_option(top=True)],
    )
    sub = parser.add_subparsers(dest="requests_command", metavar="COMMAND", required=True)
    # --api-url is accepted after the subcommand too (`pao requests list --api-url URL`).
    add = functools.partial(sub.add_parser, parents=[_api_url_option(top=False)])

    submit = add("submit", help="submit a request file (kind: ServiceRequest)")
    submit.add_argument("file", type=Path, metavar="FILE.yaml")
    submit.add_argument("--watch", action="store_true", help="then watch it until it ends")
    submit.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    submit.set_defaults(handler=_handler(_submit))

    preview = add("preview", help="validate a request file; submit nothing")
    preview.add_argument("file", type=Path, metavar="FILE.yaml")
    preview.add_argument("--json", action="store_true")
    preview.set_defaults(handler=_handler(_preview))

    listing = add("list", help="requests you may see, newest first")
    listing.add_argument("--status")
    listing.add_argument("--item", help="catalog item id")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_handler(_list))

    for name, function, text in (
        ("show", _show, "a request with its actions"),
        ("logs", _logs, "a request's step events, in order"),
    ):
        command = add(name, help=text)
        command.add_argument("id", metavar="ID")
        command.add_argument("--json", action="store_true")
        command.set_defaults(handler=_handler(function))

    watch = add(
        "watch",
        help="follow a request's actions live; exit 0 completed, 1 failed/aborted/escalated",
    )
    watch.add_argument("id", metavar="ID")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between reads")
    watch.add_argument(
        "--plain", action="store_true", help="one line per change, even on a terminal"
    )
    watch.set_defaults(handler=_handler(_watch))

    retry = add("retry", help="run the failed action again")
    retry.add_argument("id", metavar="ID")
    retry.set_defaults(handler=_handler(_decide("retry")))
    for verb in ("abort", "escalate"):
        decide = add(verb, help=f"{verb} a failed request")
        decide.add_argument("id", metavar="ID")
        decide.add_argument("--reason", default=None)
        decide.set_defaults(handler=_handler(_decide(verb)))

    approve = add(
        "approve",
        help="approve the request's current approval stage",
        description="Approve the current stage of a request's approval gate as the caller: the "
        "user of PAO_API_TOKEN (auth mode token), or the local admin in auth mode none. Only the "
        "stage's approvers may (the teams, users or CODEOWNERS `pao requests show ID` lists), "
        "and never the requester (separation of duties): in auth mode none the local admin is "
        "every request's requester, so try gates with tokens (README, Approval gates). " + ID_HELP,
    )
    approve.add_argument("id", metavar="ID")
    approve.add_argument("--comment", default=None, help="kept with your approval")
    approve.set_defaults(handler=_handler(_approve))
    reject = add(
        "reject",
        help="reject a request awaiting approval",
        description="Reject a request awaiting approval, with a reason shown to the requester: "
        "the request ends (status rejected). The same approvers as `approve` may (never the "
        "requester); the caller is the user of PAO_API_TOKEN. " + ID_HELP,
    )
    reject.add_argument("id", metavar="ID")
    reject.add_argument("--reason", required=True, help="why (shown to the requester)")
    reject.set_defaults(handler=_handler(_reject))
    inbox = add(
        "approvals",
        help="requests awaiting your approval",
        description="The requests whose current approval stage you may approve: you (the user "
        "of PAO_API_TOKEN) are one of its approvers and not the requester. Decide with "
        "`pao requests approve ID` or `reject ID --reason R`.",
    )
    inbox.add_argument("--limit", type=int, default=50)
    inbox.add_argument("--json", action="store_true")
    inbox.set_defaults(handler=_handler(_approvals))


# -- plumbing ------------------------------------------------------------------------------------


Command = Callable[[argparse.Namespace, httpx.Client, TextIO], int]
API_PREFIX = "/api/v1"
API_URL_HELP = (
    "PAO_API_URL / --api-url: PAO's base URL, e.g. http://127.0.0.1:8080; the URL `pao serve` "
    "prints (ending in /api/v1) works too. Default: the local `pao serve` at "
    "http://PAO_HOST:PAO_PORT. PAO_API_TOKEN: the bearer token (auth mode token)."
)
ID_HELP = "ID may be a unique prefix of the request id (at least 4 characters)."
MIN_PREFIX = 4
FULL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ID_PREFIX = re.compile(r"[0-9a-f][0-9a-f-]{0,35}")
MAX_SCANNED_PAGES = 50  # of 200 requests: prefixes resolve among the newest 10,000


def _api_url_option(*, top: bool) -> argparse.ArgumentParser:
    """``--api-url``, before or after the subcommand; after it the default is SUPPRESS so a value
    given before the subcommand is kept."""
    option = argparse.ArgumentParser(add_help=False)
    option.add_argument(
        "--api-url",
        default=None if top else argparse.SUPPRESS,
        metavar="URL",
        help="PAO's base URL, e.g. http://127.0.0.1:8080 (a trailing /api/v1 is accepted; "
        "default: PAO_API_URL, else the local `pao serve` on PAO_HOST:PAO_PORT)",
    )
    return option


def normalize_api_url(url: str) -> str:
    """PAO's base URL from what a person pastes: the server root or the API root ``…/api/v1``
    (what ``pao serve`` prints), with or without a trailing slash."""
    base = url.strip().rstrip("/")
    if base.endswith(API_PREFIX):
        base = base[: -len(API_PREFIX)]
    return base.rstrip("/")


def api_base(settings: Settings, override: str | None = None) -> str:
    url = override or settings.client.api_url
    if url:
        return normalize_api_url(url)
    host = settings.api.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (reading, not binding)
        host = "127.0.0.1"
    return f"http://{host}:{settings.api.port}"


def _handler(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        settings = settings_for_command("pao requests", sys.stderr)
        if settings is None:
            return EXIT_USAGE
        base = api_base(settings, args.api_url)
        headers = {"Accept": "application/json", "User-Agent": "pao-cli"}
        if settings.client.api_token:
            headers["Authorization"] = f"Bearer {settings.client.api_token}"
        try:
            with httpx.Client(base_url=base, headers=headers, timeout=30.0) as client:
                if getattr(args, "id", None) is not None:
                    args.id = resolve_id(
                        client, args.id, inbox=args.requests_command in ("approve", "reject")
                    )
                return command(args, client, sys.stdout)
        except ApiError as exc:
            print(f"pao requests {args.requests_command}: {exc}", file=sys.stderr)
            return exc.code
        except httpx.HTTPError as exc:
            print(
                f"pao requests {args.requests_command}: cannot reach PAO at {base} ({exc}); "
                "start it with `pao serve` or set PAO_API_URL",
                file=sys.stderr,
            )
            return EXIT_USAGE

    return run


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    response = client.request(method, f"{API_PREFIX}{path}", **kwargs)
    if response.status_code >= 400:
        try:
            problem = response.json()
        except ValueError:
            problem = {"detail": response.text[:500]}
        if not isinstance(problem, dict):
            problem = {"detail": str(problem)[:500]}
        detail = problem.get("detail") or problem.get("title") or response.reason_phrase
        errors = problem.get("errors") or []
        lines = [f"HTTP {response.status_code}: {detail}"]
        if response.status_code == 404 and str(detail).strip().lower() in ("not found", ""):
            lines[0] += f" ({method} {response.request.url}): " + wrong_base_hint(client)
        lines += [
            f"  {e.get('pointer', '')}: {e.get('message', e)}"
            for e in errors
            if isinstance(e, dict)
        ]
        raise ApiError("\n".join(lines), EXIT_USAGE if response.status_code == 401 else EXIT_FAILED)
    return response.json() if response.content else None


def wrong_base_hint(client: httpx.Client) -> str:
    """What to check when the API answers a bare 404: no route there, so most likely the base
    URL is not PAO's (a path prefix, another service on the port)."""
    return (
        f"PAO has no such path under {str(client.base_url).rstrip('/')}; PAO_API_URL / --api-url must be PAO's "
        "base URL, e.g. http://127.0.0.1:8080 (the server root, or the URL `pao serve` prints "
        "ending in /api/v1)"
    )


def resolve_id(client: httpx.Client, given: str, *, inbox: bool = False) -> str:
    """The full request id for ``given``: a full id as is, else the one id, among the requests
    the caller may see (and, with ``inbox``, those awaiting their approval), that starts with
    it, as git resolves a short commit. Ambiguous or unknown prefixes are refused."""
    prefix = given.strip().lower()
    if FULL_ID.fullmatch(prefix):
        return prefix
    if not ID_PREFIX.fullmatch(prefix):
        raise ApiError(f"{given!r} is not a request id (nor the start of one)", EXIT_USAGE)
    if len(prefix.replace("-", "")) < MIN_PREFIX:
        raise ApiError(
            f"{given!r} is too short: give at least {MIN_PREFIX} characters of the request id",
            EXIT_USAGE,
        )
    candidates = sorted(_ids_starting_with(client, prefix, inbox=inbox))
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise ApiError(
            f"{given!r} is ambiguous: it starts {len(candidates)} request ids; give more "
            "characters:\n" + "\n".join(f"  {c}" for c in candidates),
            EXIT_USAGE,
        )
    raise ApiError(
        f"no request you may see has an id starting with {given!r} "
        "(`pao requests list` shows ids; give the full id of one you cannot list)"
    )


def _ids_starting_with(client: httpx.Client, prefix: str, *, inbox: bool) -> set[str]:
    found: set[str] = set()
    if inbox:  # approvers may approve requests they cannot otherwise list
        page = _call(client, "GET", "/approvals", params={"limit": 200})
        found |= {
            str(e["request_id"])
            for e in page.get("items") or []
            if str(e["request_id"]).startswith(prefix)
        }
    cursor: str | None = None
    for _page in range(MAX_SCANNED_PAGES):
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        page = _call(client, "GET", "/requests", params=params)
        found |= {str(r["id"]) for r in page.get("items") or [] if str(r["id"]).startswith(prefix)}
        cursor = (page.get("pagination") or {}).get("next_cursor")
        if not cursor:
            break
    return found


def _request_body(path: Path) -> dict[str, Any]:
    """The API body of a ServiceRequest file (the GitOps format)."""
    try:
        document = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise ApiError(f"cannot read {path}: {exc}", EXIT_USAGE) from None
    if not isinstance(document, dict) or document.get("kind") != "ServiceRequest":
        raise ApiError(f"{path} is not a request file (kind: ServiceRequest)", EXIT_USAGE)
    body: dict[str, Any] = {
        "catalog_item": document.get("catalogItem"),
        "fields": document.get("fields") or {},
    }
    for key, name in (
        ("title", "title"),
        ("justification", "justification"),
        ("catalogVersion", "catalog_version"),
    ):
        if document.get(key) is not None:
            body[name] = str(document[key])
    return body


def _dump(value: Any, out: TextIO) -> None:
    print(json.dumps(value, indent=2, sort_keys=True), file=out)


# -- commands ------------------------------------------------------------------------------------


def _submit(args: argparse.Namespace, client: httpx.Client, out: TextIO) -> int:
    created = _call(client, "POST", "/requests", json=_request_body(args.file))
    if args.json:
        _dump(created, out)
    else:
        print(
            f"submitted {created['id']} ({created['catalog_item']}): {created['status']}", file=out
        )
    if args.watch:
        return follow(client, created["id"], out, interval=1.0, live=out.isatty())
    return EXIT_OK


def _preview(args: argparse.Namespace, client: httpx.Client, out: TextIO) -> int:
    answer = _call(client, "POST", "/requests/validate", json=_request_body(args.file))
    if args.json:
        _dump(answer, out)
        return EXIT_OK if answer.get("valid") else EXIT_FAILED
    for warning in answer.get("warnings") or []:
        print(f"warning: {warning}", file=out)
    if not answer.get("valid"):
        for error in answer.get("errors") or []:
            print(f"error: {error.get('pointer', '')}: {error.get('message')}", file=out)
        return EXIT_FAILED
    print(f"valid: {args.file} (catalog version {answer.get('catalog_item_version')})", file=out)
    for line in gate_lines(answer.get("approval")):
        print(line, file=out)
    body = _request_body(args.file)
    dry_run = client.post(
        "/api/v1/test/variables",
        json={"catalog_item": body["catalog_item"], "fields": body["fields"]},
    )
    if dry_run.status_code != 200:  # the dry run is for the item's owners and operators
        return EXIT_OK
    result = dry_run.json()
    for action_id, described in (result.get("plan") or {}).items():
        print(f"  {action_id} ({described.get('type')}):", file=out)
        for line in json.dumps(described, indent=2, sort_keys=True).splitlines()[1:-1]:
            print(f"    {line}", file=out)
    for refusal in result.get("refusals") or []:
        print(f"refused: {refusal['action']}: {refusal['message']}", file=out)
    return EXIT_FAILED if result.get("refusals") else EXIT_OK


def _list(args: argparse.Namespace, client: httpx.Client, out: TextIO) -> int:
    params: dict[str, Any] = {"limit": args.limit}
    if args.status:
        params["status"] = args.status
    if args.item:
        params["catalog_item"] = args.item
    page = _call(client, "GET", "/requests", params=params)
    if args.json:
        _dump(page, out)
        return EXIT_OK
    if not page.get("items"):
        print(empty_list_line(args.status, args.item), file=out)
    for row in page.get("items") or []:
        print(
            f"{row['id']}  {row['status']:<11} {row['catalog_item']:<32} "
            f"{row['requester'].get('email', '')}  {row['created_at'][:19]}",
            file=out,
        )
    return EXIT_OK


def empty_list_line(status: str | None, item: str | None) -> str:
    """What ``list`` says when nothing matched, with the filters it applied."""
    filters = [f"{name} {value}" for name, value in (("status", status), ("item", item)) if value]
    if not filters:
        return "no requests you may see"
    return f"no requests you may see with {' and '.join(filters)}"


def _show(args: argparse.Namespace, client: httpx.Client, out: TextIO) -> int:
    request = _call(client, "GET", f"/requests/{args.id}")
    if args.json:
        _dump(request, out)
        return EXIT_OK
    print(f"{request['id']}  {request['catalog_item']} {request['catalog_item_version']}", file=out)
    print(f"status: {request['status']}  requester: {request['requester'].get('email')}", file=out)
    for line in gate_lines(request.get("approval")):
        print(line, file=out)
    for line in action_lines(request):
        print(line, file=out)
    context = request.get("error_context")
    if context:
        print(f"why it stopped: {failure_text(context) or request['status']}", file=out)
        print("error context:", file=out)
        _dump(context, out)
    return EXIT_OK


def _logs(args: argparse.Namespace, client: httpx.Client, out: TextIO) -> int:
    cursor: str | None = None
    events: list[Mapping[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        page = _call(client, "GET", f"/requests/{args.id}/logs", params=params)
        events += page.get("items") or []
        cursor = (page.get("pagination") or {}).get("next_cursor")
        if not cursor:
            break
    if args.json:
        _dump(events, out)
        return EXIT_OK
    for event in events:
        action = f" [{event['action_id']}]" if event.get("action_id") else ""
        print(
            f"{event['created_at'][11:23]} {event['level']:<5} {event['event']}{action}: "
            f"{event['message']}",
            file=out,
        )
    return EXIT_OK


def _decide(verb: str) -> Command:
    def decide(args: argparse.Namespace, client: httpx.Client, out: TextIO) -> int:
        body = {"reason": args.reason} if getattr(args, "reason", None) else None
        answer = _call(client, "POST", f"/requests/{args.id}/{verb}", json=body)
        status = answer.get("status") if isinstance(answer, dict) else None
        print(f"{verb}: {args.id} is {status or 'updated'}", file=out)
        return EXIT_OK

    return decide


def stage_approvers(stage: Mapping[str, Any]) -> list[str]:
    """Who may approve a stage of the API's gate view: teams, users, CODEOWNERS."""
    approvers = stage.get("approvers") or {}
    who = [f"team {t}" for t in approvers.get("teams") or []] + list(approvers.get("users") or [])
    if approvers.get("codeowners") is not None:
        who.append("CODEOWNERS " + (", ".join(approvers["codeowners"]) or "(none known)"))
    return who


def gate_lines(gate: Mapping[str, Any] | None) -> list[str]:
    """An approval gate in a few lines: the outcome, then each stage and who approved."""
    if not gate:
        return []
    if not gate.get("required"):
        return ["approval: not needed"]
    lines = [
        f"approval: {gate.get('outcome')}" + (f" ({gate['reason']})" if gate.get("reason") else "")
    ]
    for stage in gate.get("stages") or []:
        who = stage_approvers(stage)
        done = ", ".join(a.get("name") or a["approver"] for a in stage.get("approved_by") or [])
        lines.append(
            f"  {stage['name']:<20} {stage['state']:<9} {len(stage.get('approved_by') or [])}/"
            f"{stage['count']} by {', '.join(who) or 'nobody'}"
            + (f"; approved by {done}" if done else "")
            + (
                f"; {stage['reason']}"
                if stage.get("reason") and stage["state"] == "skipped"
                else ""
            )
        )
    return lines


def _gate_decision(
    verb: str, args: argparse.Namespace, answer: Mapping[str, Any], out: TextIO
) -> int:
    request = answer.get("request") or {}
    again = "" if answer.get("recorded", True) else " (already recorded)"
    print(f"{verb}{again}: {args.id} is {request.get('status')}", file=out)
    for line in gate_lines(answer.get("approval")):
        print(line, file=out)
    return EXIT_OK


def _approve(args: argparse.Namespace, client: httpx.Client, out: TextIO) -> int:
    body = {"comment": args.comment} if args.comment else None
    answer = _call(client, "POST", f"/requests/{args.id}/approve", json=body)
    return _gate_decision("approved", args, answer, out)


def _reject(args: argparse.Namespace, client: httpx.Client, out: TextIO) -> int:
    answer = _call(client, "POST", f"/requests/{args.id}/reject", json={"reason": args.reason})
    return _gate_decision("rejected", args, answer, out)


def _approvals(args: argparse.Namespace, client: httpx.Client, out: TextIO) -> int:
    page = _call(client, "GET", "/approvals", params={"limit": args.limit})
    if args.json:
        _dump(page, out)
        return EXIT_OK
    items = page.get("items") or []
    if not items:
        print("nothing awaits your approval", file=out)
    for entry in items:
        expires = f"  expires {entry['expires_at'][:16]}" if entry.get("expires_at") else ""
        print(
            f"{entry['request_id']}  {entry['catalog_item_id']:<32} stage {entry['stage']:<16} "
            f"{entry['requester'].get('email', '')}{expires}",
            file=out,
        )
    return EXIT_OK


def _watch(args: argparse.Namespace, client: httpx.Client, out: TextIO) -> int:
    return follow(
        client, args.id, out, interval=args.interval, live=out.isatty() and not args.plain
    )


# -- watching ------------------------------------------------------------------------------------


def action_lines(request: Mapping[str, Any]) -> list[str]:
    lines = []
    for action in request.get("actions") or []:
        status = str(action.get("status"))
        attempts = f" attempt {action.get('attempts')}/{action.get('max_attempts')}"
        extra = f"  {action['external_url']}" if action.get("external_url") else ""
        error = action.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else error
            extra += f"  error: {str(message)[:200]}"
        lines.append(
            f"  {SYMBOLS.get(status, '?')} {action['id']:<24} {action['type']:<16} {status}"
            f"{attempts if status != 'pending' else ''}{extra}"
        )
    return lines


def approval_guidance(request: Mapping[str, Any], portal: str) -> list[str]:
    """Who must approve the current stage and how, for a request ``awaiting_approval``."""
    gate = request.get("approval") or {}
    stages = list(gate.get("stages") or [])
    current = next((s for s in stages if s.get("name") == gate.get("current_stage")), None)
    if current is None:
        return [f"{request['id']} is awaiting approval"]
    who = stage_approvers(current)
    done = len(current.get("approved_by") or [])
    count = int(current.get("count") or 1)
    left = max(count - done, 0)
    lines = [
        f"awaiting approval: stage '{current['name']}' needs {left} more "
        f"approval{'s' if left != 1 else ''} ({done} of {count}) from "
        f"{', '.join(who) or 'nobody (ask the item owners)'}"
        + ("" if current.get("allow_requester") else "; not the requester"),
    ]
    later = [s for s in stages[stages.index(current) + 1 :] if s.get("state") != "skipped"]
    if later:
        lines.append(
            "  then: "
            + "; ".join(
                f"stage '{s['name']}' ({', '.join(stage_approvers(s)) or 'nobody'})" for s in later
            )
        )
    lines.append(f"  an approver runs: pao requests approve {request['id']}")
    lines.append(f"  or decides in the portal: {portal}/portal/approvals")
    if str(request.get("source", "")).startswith("github") or request.get("source") == "issue":
        lines.append("  or comments /approve on the request's pull request or issue on GitHub")
    lines.append("  still watching; Ctrl-C stops watching, not the request")
    return lines


def follow(
    client: httpx.Client, request_id: str, out: TextIO, *, interval: float, live: bool
) -> int:
    """Read the request every ``interval`` seconds until it ends. ``live`` (a terminal): one
    block redrawn in place; otherwise a line per change, for logs and CI. When a request waits
    for an approval stage, who must approve it and how is printed once per stage."""
    drawn = 0
    last: list[str] = []
    guided: str | None = None  # the stage whose approvers were named
    portal = str(client.base_url).rstrip("/")
    while True:
        request = _call(client, "GET", f"/requests/{request_id}")
        status = str(request["status"])
        header = f"{request['id']} {request['catalog_item']}: {status}"
        lines = [header, *action_lines(request)]
        guidance: list[str] = []
        if status == "awaiting_approval":
            stage = str((request.get("approval") or {}).get("current_stage"))
            if stage != guided:
                guided = stage
                guidance = approval_guidance(request, portal)
        if live:
            if drawn:
                out.write(f"\x1b[{drawn}F\x1b[J")  # back to the block's start; clear below
            for line in guidance:  # above the block, so the redraw leaves it on the screen
                out.write(line + "\n")
            out.write("\n".join(lines) + "\n")
            drawn = len(lines)
        else:  # the actions' changes first, then where the request stands
            for line in [*lines[1:], lines[0]]:
                if line not in last:
                    print(line.strip() if line.startswith("  ") else line, file=out)
            for line in guidance:
                print(line, file=out)
        out.flush()
        last = lines
        if status in TERMINAL:
            if status != "completed" and request.get("error_context"):
                reason = failure_text(request["error_context"])
                print(f"{status}: {reason}" if reason else status, file=out)
            return EXIT_OK if status == "completed" else EXIT_FAILED
        time.sleep(interval)
