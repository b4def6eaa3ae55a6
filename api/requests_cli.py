"""`pao requests …`: requests over PAO's REST API, from a terminal or a CI job.

    pao requests submit FILE.yaml [--watch]   the same ServiceRequest YAML as pull requests
    pao requests preview FILE.yaml            validate and show what would run, submit nothing
    pao requests list [--status S] [--item ID] [--limit N]
    pao requests show ID | logs ID
    pao requests watch ID                     each action's state, live, until the request ends
    pao requests retry ID [--action A] | abort ID [--reason R] | escalate ID [--reason R]
    pao requests approve ID [--comment C] | reject ID --reason R
    pao requests approvals                    requests awaiting your approval

The API is ``PAO_API_URL`` (default: the local ``pao serve``, ``http://PAO_HOST:PAO_PORT``), with
``PAO_API_TOKEN`` as bearer token when set (auth mode ``token``). Exit status: 0 done (for
``watch``: the request completed), 1 the request failed, was aborted or escalated, or the API
refused the call (its problem document is printed), 2 usage error or the API unreachable.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

import httpx
import yaml

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
    )
    parser.add_argument("--api-url", help="PAO's base URL (default: PAO_API_URL or local serve)")
    sub = parser.add_subparsers(dest="requests_command", metavar="COMMAND", required=True)

    submit = sub.add_parser("submit", help="submit a request file (kind: ServiceRequest)")
    submit.add_argument("file", type=Path, metavar="FILE.yaml")
    submit.add_argument("--watch", action="store_true", help="then watch it until it ends")
    submit.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    submit.set_defaults(handler=_handler(_submit))

    preview = sub.add_parser("preview", help="validate a request file; submit nothing")
    preview.add_argument("file", type=Path, metavar="FILE.yaml")
    preview.add_argument("--json", action="store_true")
    preview.set_defaults(handler=_handler(_preview))

    listing = sub.add_parser("list", help="requests you may see, newest first")
    listing.add_argument("--status")
    listing.add_argument("--item", help="catalog item id")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_handler(_list))

    for name, function, text in (
        ("show", _show, "a request with its actions"),
        ("logs", _logs, "a request's step events, in order"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("id", metavar="ID")
        command.add_argument("--json", action="store_true")
        command.set_defaults(handler=_handler(function))

    watch = sub.add_parser(
        "watch",
        help="follow a request's actions live; exit 0 completed, 1 failed/aborted/escalated",
    )
    watch.add_argument("id", metavar="ID")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between reads")
    watch.add_argument(
        "--plain", action="store_true", help="one line per change, even on a terminal"
    )
    watch.set_defaults(handler=_handler(_watch))

    retry = sub.add_parser("retry", help="run the failed action again")
    retry.add_argument("id", metavar="ID")
    retry.set_defaults(handler=_handler(_decide("retry")))
    for verb in ("abort", "escalate"):
        decide = sub.add_parser(verb, help=f"{verb} a failed request")
        decide.add_argument("id", metavar="ID")
        decide.add_argument("--reason", default=None)
        decide.set_defaults(handler=_handler(_decide(verb)))

    approve = sub.add_parser("approve", help="approve the request's current approval stage")
    approve.add_argument("id", metavar="ID")
    approve.add_argument("--comment", default=None, help="kept with your approval")
    approve.set_defaults(handler=_handler(_approve))
    reject = sub.add_parser("reject", help="reject a request awaiting approval")
    reject.add_argument("id", metavar="ID")
    reject.add_argument("--reason", required=True, help="why (shown to the requester)")
    reject.set_defaults(handler=_handler(_reject))
    inbox = sub.add_parser("approvals", help="requests awaiting your approval")
    inbox.add_argument("--limit", type=int, default=50)
    inbox.add_argument("--json", action="store_true")
    inbox.set_defaults(handler=_handler(_approvals))


# -- plumbing ------------------------------------------------------------------------------------


Command = Callable[[argparse.Namespace, httpx.Client, TextIO], int]


def api_base(settings: Settings, override: str | None = None) -> str:
    url = override or settings.client.api_url
    if url:
        return url.rstrip("/")
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
    response = client.request(method, f"/api/v1{path}", **kwargs)
    if response.status_code >= 400:
        try:
            problem = response.json()
        except ValueError:
            problem = {"detail": response.text[:500]}
        detail = problem.get("detail") or problem.get("title") or response.reason_phrase
        errors = problem.get("errors") or []
        lines = [f"HTTP {response.status_code}: {detail}"]
        lines += [
            f"  {e.get('pointer', '')}: {e.get('message', e)}"
            for e in errors
            if isinstance(e, dict)
        ]
        raise ApiError("\n".join(lines), EXIT_USAGE if response.status_code == 401 else EXIT_FAILED)
    return response.json() if response.content else None


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
    for row in page.get("items") or []:
        print(
            f"{row['id']}  {row['status']:<11} {row['catalog_item']:<32} "
            f"{row['requester'].get('email', '')}  {row['created_at'][:19]}",
            file=out,
        )
    return EXIT_OK


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
        approvers = stage.get("approvers") or {}
        who = [f"team {t}" for t in approvers.get("teams") or []] + list(
            approvers.get("users") or []
        )
        if approvers.get("codeowners") is not None:
            who.append("CODEOWNERS " + (", ".join(approvers["codeowners"]) or "(none known)"))
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


def follow(
    client: httpx.Client, request_id: str, out: TextIO, *, interval: float, live: bool
) -> int:
    """Read the request every ``interval`` seconds until it ends. ``live`` (a terminal): one
    block redrawn in place; otherwise a line per change, for logs and CI."""
    drawn = 0
    last: list[str] = []
    while True:
        request = _call(client, "GET", f"/requests/{request_id}")
        status = str(request["status"])
        header = f"{request['id']} {request['catalog_item']}: {status}"
        lines = [header, *action_lines(request)]
        if live:
            if drawn:
                out.write(f"\x1b[{drawn}F\x1b[J")  # back to the block's start; clear below
            out.write("\n".join(lines) + "\n")
            drawn = len(lines)
        else:  # the actions' changes first, then where the request stands
            for line in [*lines[1:], lines[0]]:
                if line not in last:
                    print(line.strip() if line.startswith("  ") else line, file=out)
        out.flush()
        last = lines
        if status in TERMINAL:
            if status != "completed" and request.get("error_context"):
                message = (request["error_context"] or {}).get("error")
                print(f"{status}: {message}" if message else status, file=out)
            return EXIT_OK if status == "completed" else EXIT_FAILED
        time.sleep(interval)
