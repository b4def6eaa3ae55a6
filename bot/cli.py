"""``pao bot handle-event``: the bot in GitHub Actions mode (``.github/workflows/request-bot.yml``).

No webhook, no database: the workflow hands over the event, and everything stateful goes
through the PAO API. Variables:

- ``GITHUB_EVENT_NAME``, ``GITHUB_EVENT_PATH``: the event and its payload file (set by Actions);
- ``GITHUB_TOKEN`` (and ``GITHUB_API_URL``): the workflow's token, for comments and check runs;
- ``PAO_API_URL``: the PAO API base URL; ``PAO_API_TOKEN``: bearer token for it, if required;
- the ``PAO_BOT_*`` variables of ``bot.settings``.

What it does: pull requests get the same check run and sticky preview as in App mode
(validation by ``POST /api/v1/requests/validate``, the item from the catalog API); a merged PR
submits each request file with an ``Idempotency-Key`` derived from repository, path and blob
sha, so a re-run workflow does not submit twice, and posts a status comment; slash commands in
comments call the API's retry / abort / escalate, the request ids being read from the bot's
status comments in the thread. Live status updates need the service's worker (App mode).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from githubkit import GitHub

from bot.commands import Authorizer, parse_commands
from bot.comments import HELP, command_reply, fit, status_comment
from bot.events import IssueCommentEvent, PullRequestEvent
from bot.github import BotGitHub
from bot.pull_request import preview_pull_request, request_files
from bot.request_files import parse_request_file
from bot.settings import BotSettings
from orchestrator.catalog.models import CatalogItem
from orchestrator.forms import apply_defaults
from orchestrator.github_client import GitHubSettings, github_client
from orchestrator.requests.service import RequestDraft, Validation

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STATUS_ID = re.compile(r"<!-- pao:status request=([0-9a-f-]{36}) -->")
API_TIMEOUT = httpx.Timeout(30.0, connect=10.0)  # the API policy of Actions mode, in one place


class UsageError(Exception):
    pass


class PaoApi:
    """The PAO API calls Actions mode needs."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def validate(self, draft: RequestDraft) -> Validation:
        body: dict[str, Any] = {"catalog_item": draft.catalog_item, "fields": draft.fields}
        if draft.catalog_version:
            body["catalog_version"] = draft.catalog_version
        answer = await self.client.post("/api/v1/requests/validate", json=body)
        answer.raise_for_status()
        data = answer.json()
        item: CatalogItem | None = None
        fetched = await self.client.get(f"/api/v1/catalog/items/{draft.catalog_item}")
        if fetched.status_code == 200:
            document = fetched.json()
            item = CatalogItem.model_validate(document.get("definition", document))
        fields = apply_defaults(item, draft.fields) if item is not None else {}
        return Validation(
            item, None, fields=fields, errors=data["errors"], warnings=data["warnings"]
        )

    async def submit(self, draft: RequestDraft, key: str) -> dict[str, Any]:
        body: dict[str, Any] = {"catalog_item": draft.catalog_item, "fields": draft.fields}
        if draft.title:
            body["title"] = draft.title
        if draft.justification:
            body["justification"] = draft.justification
        answer = await self.client.post(
            "/api/v1/requests", json=body, headers={"Idempotency-Key": key}
        )
        answer.raise_for_status()
        view: dict[str, Any] = answer.json()
        return view

    async def detail(self, request_id: str) -> dict[str, Any]:
        answer = await self.client.get(f"/api/v1/requests/{request_id}")
        answer.raise_for_status()
        view: dict[str, Any] = answer.json()
        return view

    async def decide(self, request_id: str, decision: str, reason: str) -> httpx.Response:
        body = None if decision == "retry" else {"reason": reason}
        return await self.client.post(f"/api/v1/requests/{request_id}/{decision}", json=body)


async def _pull_request(
    name: str, payload: Mapping[str, Any], github: BotGitHub, api: PaoApi, settings: BotSettings
) -> str:
    event = PullRequestEvent.model_validate(payload)
    repo, pr = event.repository.full_name, event.pull_request
    if event.action in ("opened", "synchronize", "reopened"):
        entries = await preview_pull_request(
            github, settings, api.validate, repo=repo, number=pr.number,
            head_sha=pr.head.sha, author=pr.user.login,
        )  # fmt: skip
        return f"previewed {len(entries)} request file(s)"
    if event.action != "closed" or not pr.merged:
        return f"{name}.{event.action} ignored"
    submitted = 0
    for info in await request_files(github, settings, repo, pr.number):
        path = str(info["filename"])
        found = await github.file_text(repo, path, pr.merge_commit_sha or pr.head.sha)
        if found is None:
            continue
        parsed = parse_request_file(path, found[0], source="github-pr")
        if parsed.draft is None or not parsed.valid:
            continue
        key = hashlib.sha256(f"{repo}:{path}:{found[1]}".encode()).hexdigest()
        view = await api.submit(parsed.draft, key)
        detail = await api.detail(str(view["id"]))
        marker = f"<!-- pao:status request={view['id']} -->"
        existing = await github.find_comment(repo, pr.number, marker, settings.bot_login)
        await github.upsert_comment(
            repo, pr.number, status_comment(detail, path=path),
            comment_id=int(existing["id"]) if existing else None,
        )  # fmt: skip
        submitted += 1
    return f"submitted {submitted} request file(s)"


async def _comment(
    payload: Mapping[str, Any], github: BotGitHub, api: PaoApi, settings: BotSettings
) -> str:
    event = IssueCommentEvent.model_validate(payload)
    comment, repo, number = event.comment, event.repository.full_name, event.issue.number
    if event.action != "created" or comment.user.login == settings.bot_login:
        return "comment ignored"
    commands = parse_commands(comment.body)
    if not commands:
        return "no commands"
    ids: list[str] = []
    for existing in await github.comments(repo, number):
        if (existing.get("user") or {}).get("login") == settings.bot_login:
            ids += STATUS_ID.findall(existing.get("body") or "")
    authorizer = Authorizer(github, settings.operator_teams)
    login = comment.user.login
    for command in commands:
        if not command.known or command.name == "help" or not ids:
            text = HELP if ids or not command.known else "No PAO request is linked to this thread."
            await github.create_comment(repo, number, command_reply(command.line, text))
            continue
        lines = []
        for request_id in dict.fromkeys(ids):
            detail = await api.detail(request_id)
            if command.name == "status":
                lines.append(f"- `{request_id}`: **{detail['status']}**")
                continue
            decision = await authorizer.authorise(
                login=login, repo=repo,
                requester_login=settings.login_of(detail["requester"]["email"]), owner_team=None,
            )  # fmt: skip
            if not decision.allowed:
                lines.append(f"- `{request_id}`: sorry @{login}, only {decision.reason} may")
                continue
            reason = command.argument or f"requested by @{login} with /{command.name}"
            answer = await api.decide(request_id, command.name, reason)
            outcome = "done" if answer.is_success else answer.json().get("detail", answer.text)
            lines.append(f"- `{request_id}`: {command.name} {outcome}")
        await github.create_comment(
            repo, number, command_reply(command.line, fit("\n".join(lines)))
        )
    return f"{len(commands)} command(s) answered"


async def handle_event(
    env: Mapping[str, str],
    *,
    github: GitHub[Any] | None = None,
    pao_transport: httpx.AsyncBaseTransport | None = None,
) -> str:
    """Handle the event ``env`` describes; a one-line account of what was done."""
    name = env.get("GITHUB_EVENT_NAME")
    path = env.get("GITHUB_EVENT_PATH")
    api_url = env.get("PAO_API_URL")
    if not name or not path or not api_url:
        raise UsageError("GITHUB_EVENT_NAME, GITHUB_EVENT_PATH and PAO_API_URL must be set")
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the event file {path}: {exc}") from None
    settings = BotSettings.from_environment(env)
    client = github or github_client(GitHubSettings.from_environment(env))
    headers = (
        {"Authorization": f"Bearer {env['PAO_API_TOKEN']}"} if env.get("PAO_API_TOKEN") else {}
    )
    async with httpx.AsyncClient(
        base_url=api_url, headers=headers, timeout=API_TIMEOUT, transport=pao_transport
    ) as http:
        api, gh = PaoApi(http), BotGitHub(client)
        if name == "pull_request":
            return await _pull_request(name, payload, gh, api, settings)
        if name == "issue_comment":
            return await _comment(payload, gh, api, settings)
    return f"{name} ignored"


def _run(args: argparse.Namespace) -> int:
    try:
        print(asyncio.run(handle_event(os.environ)))
    except UsageError as exc:
        print(f"pao bot handle-event: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (httpx.HTTPError, Exception) as exc:
        print(f"pao bot handle-event: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def register(commands: Any) -> None:
    """The ``pao.commands`` entry point: adds ``pao bot handle-event``."""
    bot = commands.add_parser("bot", help="the GitHub bot")
    sub = bot.add_subparsers(dest="bot_command", metavar="COMMAND", required=True)
    handle = sub.add_parser(
        "handle-event",
        help="handle the GitHub Actions event of this job (GITHUB_EVENT_NAME/GITHUB_EVENT_PATH)",
    )
    handle.set_defaults(handler=_run)
