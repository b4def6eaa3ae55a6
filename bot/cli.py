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
sha, so a re-run workflow does not submit twice, and posts a status comment; issues made from a
PAO issue form are parsed by the core's one parser, answered and submitted once (the key is the
issue); slash commands run through ``bot.slash_runner``, the implementation App mode uses, the request
ids being read from the bot's status comments in the thread. ``schedule`` and
``workflow_dispatch`` runs (``GITHUB_REPOSITORY``) refresh every thread whose ``pao:*`` label
says its requests may still change: status comment, label, summary and close, as ``bot.notify``
does in App mode. ``/approve`` and ``/reject`` are the API's approve and reject on behalf of
the commenter, who the API knows by e-mail only (the workflow's token cannot read org team
membership): a stage naming people works here, one naming teams is decided through the App,
the API or the CLI. Calls to the API name the GitHub user they act for (``X-PAO-On-Behalf-Of``)
and where the request came from (``X-PAO-Source``); the API accepts both only from a token
with role ``bot`` (``pao tokens create --roles bot``).
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

from bot import setup as bot_setup
from bot.approvals import announce_stage, gate_of, status_body, team_stage_elsewhere
from bot.comments import FORM_MARKER, PreviewEntry, form_comment, status_marker
from bot.events import IssueCommentEvent, IssuesEvent, PullRequestEvent
from bot.github import BotGitHub
from bot.notify import STATE_LABELS, rejected_comment, rejected_marker, summary_comment
from bot.plan import action_plan
from bot.pull_request import preview_pull_request, request_files
from bot.request_files import parse_request_file
from bot.settings import BotSettings
from bot.slash_commands import parse_commands
from bot.slash_permissions import Authorizer
from bot.slash_runner import DecisionRefused, GateOutcome, LinkedRequest, run_commands
from orchestrator.catalog.issues import Issue
from orchestrator.catalog.models import CatalogItem
from orchestrator.forms import apply_defaults
from orchestrator.github_client import GitHubSettings, github_client
from orchestrator.issue_forms import item_id_of, parse_issue_form
from orchestrator.requests.service import RequestDraft, Validation, mask_fields

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STATUS_ID = re.compile(r"<!-- pao:status request=([0-9a-f-]{36}) -->")
API_TIMEOUT = httpx.Timeout(30.0, connect=10.0)  # the API policy of Actions mode, in one place
# The GitHub user a call of the workflow's credential acts for (the PR or issue author for a
# submission, the commenter for a decision). The API honours it only for a credential holding
# the bot role; for any other it is refused, never silently ignored.
ON_BEHALF_OF = "X-PAO-On-Behalf-Of"
# Where a request came from (github-pr, github-issue), accepted from the bot role alone, so the
# API applies GitHub's rules as in App mode (a secret field waits in ``awaiting_secret``).
SOURCE = "X-PAO-Source"
# Threads whose requests may still change, found by their state label on a scheduled run; the
# least advanced status of a thread's requests decides its label.
REFRESHED_LABELS = (
    "pao:in-progress",
    "pao:awaiting-approval",
    "pao:awaiting-secret",
    "pao:failed",
    "pao:escalated",
)
ACTIVE_ORDER = (
    "awaiting_approval",
    "awaiting_secret",
    "submitted",
    "validating",
    "queued",
    "in_progress",
    "failed",
)


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
        answer = await self.client.post(
            "/api/v1/requests/validate", json=body, headers=_source(draft)
        )
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

    async def submit(self, draft: RequestDraft, key: str, *, on_behalf_of: str) -> dict[str, Any]:
        body: dict[str, Any] = {"catalog_item": draft.catalog_item, "fields": draft.fields}
        if draft.title:
            body["title"] = draft.title
        if draft.justification:
            body["justification"] = draft.justification
        answer = await self.client.post(
            "/api/v1/requests",
            json=body,
            headers={"Idempotency-Key": key, ON_BEHALF_OF: on_behalf_of, **_source(draft)},
        )
        answer.raise_for_status()
        view: dict[str, Any] = answer.json()
        return view

    async def detail(self, request_id: str) -> dict[str, Any]:
        answer = await self.client.get(f"/api/v1/requests/{request_id}")
        answer.raise_for_status()
        view: dict[str, Any] = answer.json()
        return view

    async def item(self, item_id: str) -> CatalogItem | None:
        fetched = await self.client.get(f"/api/v1/catalog/items/{item_id}")
        if fetched.status_code != 200:
            return None
        document = fetched.json()
        return CatalogItem.model_validate(document.get("definition", document))

    async def owner_team(self, item_id: str) -> str | None:
        fetched = await self.client.get(f"/api/v1/catalog/items/{item_id}")
        if fetched.status_code != 200:
            return None
        document = fetched.json()
        definition = document.get("definition", document)
        team = ((definition.get("metadata") or {}).get("owner") or {}).get("team")
        return str(team) if team else None

    async def decide(
        self, request_id: str, decision: str, reason: str, *, on_behalf_of: str
    ) -> httpx.Response:
        body = None if decision == "retry" else {"reason": reason}
        return await self.client.post(
            f"/api/v1/requests/{request_id}/{decision}",
            json=body,
            headers={ON_BEHALF_OF: on_behalf_of},
        )

    async def gate_decide(
        self, request_id: str, verdict: str, reason: str | None, *, on_behalf_of: str
    ) -> httpx.Response:
        """``POST /api/v1/requests/{id}/approve|reject`` for the commenter (an approval's
        ``comment``, a rejection's ``reason``). The API decides with what it knows of them:
        their e-mail, no GitHub teams (the workflow's token cannot read org membership)."""
        body: dict[str, str] | None = None
        if reason:
            body = {"reason": reason} if verdict == "reject" else {"comment": reason}
        return await self.client.post(
            f"/api/v1/requests/{request_id}/{verdict}",
            json=body,
            headers={ON_BEHALF_OF: on_behalf_of},
        )


def _source(draft: RequestDraft) -> dict[str, str]:
    """The ``X-PAO-Source`` header stating where ``draft`` came from, if from GitHub."""
    return {SOURCE: draft.source} if draft.source.startswith("github-") else {}


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
    statuses: list[str] = []
    for info in await request_files(github, settings, repo, pr.number):
        path = str(info["filename"])
        found = await github.file_text(repo, path, pr.merge_commit_sha or pr.head.sha)
        if found is None:
            continue
        parsed = parse_request_file(path, found[0], source="github-pr")
        if parsed.draft is None or not parsed.valid:
            continue
        key = hashlib.sha256(f"{repo}:{path}:{found[1]}".encode()).hexdigest()
        view = await api.submit(parsed.draft, key, on_behalf_of=settings.email_of(pr.user.login))
        detail = await api.detail(str(view["id"]))
        statuses.append(str(detail["status"]))
        marker = status_marker(str(view["id"]))
        existing = await github.find_comment(repo, pr.number, marker, settings.bot_login)
        body = status_body(
            detail, gate_of(detail), path=path,
            org=repo.split("/", 1)[0], login_of=settings.login_of,
        )  # fmt: skip
        await github.upsert_comment(
            repo, pr.number, body, comment_id=int(existing["id"]) if existing else None
        )
        submitted += 1
    if submitted:  # the scheduled refresh follows the thread by its state label
        shown = next((s for s in ACTIVE_ORDER if s in statuses), "queued")
        current = await github.labels(repo, pr.number)
        await github.set_state_label(
            repo, pr.number, STATE_LABELS[shown], family="pao:", current=current
        )
    return f"submitted {submitted} request file(s)"


async def _issue_form(
    payload: Mapping[str, Any], github: BotGitHub, api: PaoApi, settings: BotSettings
) -> str:
    """An issue made from a PAO form, as ``bot.issues`` handles it in App mode: parsed by the
    core's one parser, answered in one sticky comment, submitted once (the idempotency key is
    the issue), then followed by ``refresh`` runs."""
    event = IssuesEvent.model_validate(payload)
    issue, repo = event.issue, event.repository.full_name
    if settings.form_label not in issue.label_names or issue.pull_request is not None:
        return "issue ignored"
    if issue.state != "open" or event.action not in ("opened", "edited", "labeled", "reopened"):
        return "issue ignored"
    labels = sorted(issue.label_names)

    async def answer(body: str) -> None:
        found = await github.find_comment(repo, issue.number, FORM_MARKER, settings.bot_login)
        await github.upsert_comment(
            repo, issue.number, body, comment_id=int(found["id"]) if found else None
        )

    linked = await ApiBackend(github, api, settings).request_ids(repo, issue.number)
    if linked:
        if event.action == "edited":
            await answer(
                f"{FORM_MARKER}\nThis issue was already submitted as request `{linked[0]}`; "
                "edits are not applied to it. To change it, `/abort` it and open a new issue."
            )
        return "issue already submitted"
    entry = PreviewEntry("", None)
    item_id = item_id_of(issue.label_names, issue.title)
    item = await api.item(item_id) if item_id else None
    if item_id is None or item is None:
        problem = "the issue names no catalog item (label `catalog:<id>`)"
        if item_id is not None:
            problem = f"catalog item '{item_id}' does not exist"
        entry.issues = [Issue("", 0, 0, "request", problem)]
        await answer(form_comment(entry))
        await github.set_state_label(
            repo, issue.number, "pao:invalid", family="pao:", current=labels
        )
        return "issue names no catalog item"
    fields = parse_issue_form(item, issue.body).fields
    draft = RequestDraft(item.id, fields, title=issue.title, source="github-issue")
    outcome = await api.validate(draft)
    entry.item = outcome.item
    entry.issues = [Issue("", 0, 0, "request", str(e["message"])) for e in outcome.errors] + [
        Issue("", 0, 0, "request", w, severity="warning") for w in outcome.warnings
    ]
    entry.fields, _ = mask_fields(item, outcome.fields or fields)
    if not entry.valid:
        await answer(form_comment(entry))
        await github.set_state_label(
            repo, issue.number, "pao:invalid", family="pao:", current=labels
        )
        return "issue answered with its errors"
    author = issue.user.login
    entry.plan = action_plan(
        item, outcome.fields, requester=settings.email_of(author), login=author,
        title=issue.title, source="github-issue",
    )  # fmt: skip
    key = hashlib.sha256(f"{repo}#issue-{issue.number}".encode()).hexdigest()
    view = await api.submit(draft, key, on_behalf_of=settings.email_of(author))
    await answer(form_comment(entry, submitted_request=str(view["id"])))
    await github.set_state_label(repo, issue.number, "pao:valid", family="pao:", current=labels)
    await refresh_thread(github, api, settings, repo, issue.number, [str(view["id"])], True)
    return f"submitted request {view['id']}"


async def refresh_thread(
    github: BotGitHub,
    api: PaoApi,
    settings: BotSettings,
    repo: str,
    number: int,
    request_ids: list[str],
    is_issue: bool,
) -> None:
    """What ``bot.notify`` does in App mode, from the API: the status comment of each request
    (and a new comment asking a later approval stage), the ``pao:*`` state label, for a
    completed issue request the summary and the close, for a rejected one (or whose approval
    expired) a comment saying why and, on an issue, the close as ``not_planned``."""
    details = [await api.detail(request_id) for request_id in request_ids]
    for detail in details:
        marker = status_marker(str(detail["id"]))
        found = await github.find_comment(repo, number, marker, settings.bot_login)
        gate = gate_of(detail)
        if found is not None:  # a later stage: asked in a new comment (an edit notifies nobody)
            await announce_stage(
                github, repo, number, detail, gate,
                author=settings.bot_login, login_of=settings.login_of,
            )  # fmt: skip
        body = status_body(
            detail, gate, path=None,
            org=repo.split("/", 1)[0], login_of=settings.login_of,
        )  # fmt: skip
        await github.upsert_comment(
            repo, number, body, comment_id=int(found["id"]) if found else None
        )
    statuses = [str(d["status"]) for d in details]
    # The thread shows its least advanced request: one still running keeps it "in progress".
    shown = next((s for s in ACTIVE_ORDER if s in statuses), statuses[-1] if statuses else None)
    label = STATE_LABELS.get(shown or "")
    if label:
        current = await github.labels(repo, number)
        await github.set_state_label(repo, number, label, family="pao:", current=current)
    for detail in details:  # ended without a yes: said once in a new comment
        if str(detail["status"]) == "rejected":
            marker = rejected_marker(str(detail["id"]))
            if await github.find_comment(repo, number, marker, settings.bot_login) is None:
                kind = "issue" if is_issue else "pull_request"
                await github.create_comment(repo, number, rejected_comment(detail, kind=kind))
    ended = is_issue and statuses and all(s == "rejected" for s in statuses)
    if ended and await github.issue_state(repo, number) == "open":
        await github.close_issue(repo, number, reason="not_planned")
    if is_issue and statuses and all(s == "completed" for s in statuses):
        for detail in details:
            marker = status_marker(str(detail["id"])).replace("status", "summary")
            if await github.find_comment(repo, number, marker, settings.bot_login) is None:
                await github.create_comment(repo, number, summary_comment(detail))
        if await github.issue_state(repo, number) == "open":
            await github.close_issue(repo, number)


async def refresh(github: BotGitHub, api: PaoApi, settings: BotSettings, repo: str) -> str:
    """A scheduled run: every thread whose requests may still change is brought up to date,
    so the requester keeps getting status after the workflow that submitted ended."""
    backend = ApiBackend(github, api, settings)
    seen: set[int] = set()
    for label in REFRESHED_LABELS:
        for thread in await github.threads_labelled(repo, label):
            number = int(thread["number"])
            if number in seen:
                continue
            seen.add(number)
            ids = await backend.request_ids(repo, number)
            if ids:
                is_issue = "pull_request" not in thread
                await refresh_thread(github, api, settings, repo, number, ids, is_issue)
    return f"refreshed {len(seen)} thread(s)"


class ApiBackend:
    """Actions mode: the thread's requests from the bot's status comments, decisions through the
    PAO API, stating on whose behalf (``ON_BEHALF_OF``) the workflow's credential acts."""

    def __init__(
        self, github: BotGitHub, api: PaoApi, settings: BotSettings, *, org: str = ""
    ) -> None:
        self.github, self.api, self.settings = github, api, settings
        self.org = org  # the thread's organisation: teams named without one are its

    async def request_ids(self, repo: str, number: int) -> list[str]:
        """The requests of a thread: the ids in the bot's own status comments."""
        ids: list[str] = []
        for existing in await self.github.comments(repo, number):
            if (existing.get("user") or {}).get("login") == self.settings.bot_login:
                ids += STATUS_ID.findall(existing.get("body") or "")
        return list(dict.fromkeys(ids))

    async def linked(self, repo: str, number: int) -> list[LinkedRequest]:
        links = []
        for request_id in await self.request_ids(repo, number):
            detail = await self.api.detail(request_id)
            links.append(
                LinkedRequest(
                    request_id=request_id,
                    requester_login=self.settings.login_of(detail["requester"]["email"]),
                    owner_team=await self.api.owner_team(str(detail["catalog_item"])),
                )
            )
        return links

    async def detail(self, request_id: str) -> dict[str, Any]:
        return await self.api.detail(request_id)

    async def decide(self, request_id: str, decision: str, *, login: str, reason: str) -> None:
        answer = await self.api.decide(
            request_id, decision, reason, on_behalf_of=self.settings.email_of(login)
        )
        if not answer.is_success:
            try:
                detail = answer.json().get("detail")
            except ValueError:
                detail = None
            raise DecisionRefused(str(detail or f"the PAO API answered {answer.status_code}"))

    async def _team_stage(self, request_id: str, email: str) -> str | None:
        """For a refusal on a stage naming teams, where its members can decide instead
        (``approvals.team_stage_elsewhere``); None for the requester, whom the API's
        separation-of-duties refusal answers better."""
        detail = await self.api.detail(request_id)
        if str((detail.get("requester") or {}).get("email") or "").lower() == email.lower():
            return None
        return team_stage_elsewhere(gate_of(detail), org=self.org, request_id=request_id)

    async def gate_decide(
        self, request_id: str, verdict: str, *, login: str, reason: str | None
    ) -> GateOutcome:
        """The approval decision through the API, on behalf of the commenter (by e-mail, no
        teams: a refusal on a team's stage says where its members decide instead)."""
        email = self.settings.email_of(login)
        answer = await self.api.gate_decide(request_id, verdict, reason, on_behalf_of=email)
        if not answer.is_success:
            try:
                problem = answer.json().get("detail")
            except ValueError:
                problem = None
            if answer.status_code == 403:
                problem = await self._team_stage(request_id, email) or problem
            raise DecisionRefused(str(problem or f"the PAO API answered {answer.status_code}"))
        data = answer.json() if answer.content else {}
        after = data.get("gate") or data.get("approval")
        return GateOutcome(
            bool(data.get("recorded", True)),
            str(data.get("outcome") or ""),
            after if isinstance(after, dict) else None,
        )


async def _comment(
    payload: Mapping[str, Any], github: BotGitHub, api: PaoApi, settings: BotSettings
) -> str:
    event = IssueCommentEvent.model_validate(payload)
    comment, repo, number = event.comment, event.repository.full_name, event.issue.number
    if event.action != "created" or comment.user.login == settings.bot_login:
        return "comment ignored"
    if comment.user.type == "Bot":
        return "comment ignored"
    commands = parse_commands(comment.body)
    if not commands:
        return "no commands"
    answered = await run_commands(
        github,
        Authorizer(github, settings.operator_teams),
        ApiBackend(github, api, settings, org=repo.split("/", 1)[0]),
        commands,
        repo=repo,
        number=number,
        login=comment.user.login,
        comment_id=comment.id,
    )
    return f"{answered} command(s) answered"


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
        if name == "issues":
            return await _issue_form(payload, gh, api, settings)
        if name in ("schedule", "workflow_dispatch"):
            repository = env.get("GITHUB_REPOSITORY") or ""
            if "/" not in repository:
                raise UsageError("GITHUB_REPOSITORY must be set (owner/name) to refresh")
            return await refresh(gh, api, settings, repository)
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
    bot_setup.register(sub)
