"""``pao bot setup``: prepare a requests repository for the bot, and say what is missing.

1. Labels. GitHub applies an issue form's ``labels`` only when they already exist in the
   repository, so the form label (``pao-request``), one ``catalog:<id>`` label per requestable
   item (shortened deterministically to GitHub's 50 characters, ``forms.catalog_label``) and
   the ``pao:*`` state labels are created when absent. Existing labels are left as they are.
2. The GitHub App (when PAO runs as one): the installation's granted permissions and subscribed
   webhook events are compared with what the bot needs (``REQUIRED_PERMISSIONS``,
   ``REQUIRED_EVENTS``, the README's table); every gap is printed. With a token (Actions
   mode) there is no installation to check; the workflow's ``permissions:`` block grants them.

Exit status: 0 when nothing is missing, 1 otherwise (labels that could not be created, a
permission or an event missing), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from githubkit import AppInstallationAuthStrategy, GitHub
from githubkit.exception import RequestFailed

from bot.app import ROUTER
from bot.github import HEADERS, PAGE_SIZE
from bot.notify import STATE_LABELS
from bot.settings import BotSettings
from orchestrator.catalog.validator import CatalogValidator, discover
from orchestrator.forms import catalog_label
from orchestrator.github_client import GitHubNotConfigured, GitHubSettings, github_client

EXIT_OK, EXIT_MISSING, EXIT_USAGE = 0, 1, 2
LEVELS = {"none": 0, "read": 1, "write": 2, "admin": 3}

# What the bot does with each permission (the README's table is this one).
REQUIRED_PERMISSIONS: dict[str, tuple[str, str]] = {
    "metadata": ("read", "every App; repository lookups"),
    "contents": ("read", "read request files of pull requests and merge commits"),
    "pull_requests": ("read", "list a pull request's changed files and reviews"),
    "checks": ("write", "the validation check run with annotations"),
    "issues": ("write", "comments, state labels, closing completed issue requests"),
    "members": (
        "read",
        "team membership for slash commands and approvers (organization permission)",
    ),
}
EVENT_USES: dict[str, str] = {
    "pull_request": "preview request files; submit them on merge",
    "issues": "issue-form requests (opened, edited, labeled, reopened)",
    "issue_comment": "slash commands",
    "pull_request_review": "slash commands in review bodies; approving reviews",
    "check_suite": "re-run of the validation check",
    "push": "catalog changes on the default branch",
}
REQUIRED_EVENTS: frozenset[str] = frozenset(ROUTER.events)

STATE_COLOURS = {
    "pao:valid": "0e8a16",
    "pao:invalid": "d93f0b",
    "pao:completed": "0e8a16",
    "pao:failed": "b60205",
    "pao:aborted": "6a737d",
    "pao:escalated": "e99695",
    "pao:in-progress": "1d76db",
    "pao:awaiting-secret": "fbca04",
    "pao:awaiting-approval": "fbca04",
    "pao:rejected": "b60205",
}


@dataclass(frozen=True, slots=True)
class Label:
    name: str
    color: str
    description: str


@dataclass
class SetupReport:
    created: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    missing_permissions: list[str] = field(default_factory=list)
    missing_events: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.missing_permissions or self.missing_events)

    def lines(self) -> list[str]:
        out = [f"label created: {name}" for name in self.created]
        out.append(f"labels already present: {len(self.present)}")
        out += [f"label NOT created: {problem}" for problem in self.failed]
        out += [f"permission missing: {p}" for p in self.missing_permissions]
        out += [f"webhook event not subscribed: {e}" for e in self.missing_events]
        out += self.notes
        out.append("setup complete" if self.ok else "setup incomplete: see the lines above")
        return out


def labels_for(item_ids: Iterable[str], settings: BotSettings) -> list[Label]:
    """Every label the bot and the generated issue forms use, within 50 characters."""
    found = [Label(settings.form_label, "5319e7", "A PAO service request (issue form)")]
    for item_id in sorted(set(item_ids)):
        found.append(Label(catalog_label(item_id), "c5def5", f"PAO catalog item {item_id}"[:100]))
    for name in sorted({*STATE_LABELS.values(), "pao:valid", "pao:invalid"}):
        found.append(Label(name, STATE_COLOURS.get(name, "ededed"), "PAO request state"))
    return found


def missing_permissions(granted: Mapping[str, str]) -> list[str]:
    gaps = []
    for name, (level, use) in REQUIRED_PERMISSIONS.items():
        if LEVELS.get(str(granted.get(name, "none")), 0) < LEVELS[level]:
            gaps.append(f"{name}: {level} (has {granted.get(name, 'none')}; for {use})")
    return gaps


def missing_events(subscribed: Iterable[str]) -> list[str]:
    have = set(subscribed)
    return [f"{e} ({EVENT_USES.get(e, 'handled by PAO')})" for e in sorted(REQUIRED_EVENTS - have)]


async def _existing_labels(client: GitHub[Any], repo: str) -> set[str]:
    names: set[str] = set()
    for page in range(1, 31):
        response = await client.arequest(
            "GET",
            f"/repos/{repo}/labels",
            params={"per_page": PAGE_SIZE, "page": page},
            headers=HEADERS,
        )
        batch = response.json() or []
        names |= {str(label["name"]).lower() for label in batch}
        if len(batch) < PAGE_SIZE:
            break
    return names


async def ensure_labels(
    client: GitHub[Any], repo: str, labels: Sequence[Label], report: SetupReport
) -> None:
    existing = await _existing_labels(client, repo)
    for label in labels:
        if label.name.lower() in existing:
            report.present.append(label.name)
            continue
        try:
            await client.arequest(
                "POST",
                f"/repos/{repo}/labels",
                json={"name": label.name, "color": label.color, "description": label.description},
                headers=HEADERS,
            )
        except RequestFailed as exc:
            report.failed.append(f"{label.name} (GitHub answered {exc.response.status_code})")
            continue
        report.created.append(label.name)


async def check_installation(github: GitHubSettings, report: SetupReport) -> None:
    if not github.uses_app:
        report.notes.append(
            "token mode: no GitHub App installation to check; the workflow's `permissions:` "
            "block must grant contents: read, checks: write, issues: write, pull-requests: write"
        )
        return
    assert github.app_id
    assert github.private_key
    assert github.installation_id
    app = GitHub(
        AppInstallationAuthStrategy(
            github.app_id, github.private_key, github.installation_id
        ).as_app(),
        base_url=github.api_url,
        http_cache=False,
    )
    response = await app.arequest(
        "GET", f"/app/installations/{github.installation_id}", headers=HEADERS
    )
    data = response.json() or {}
    report.missing_permissions = missing_permissions(data.get("permissions") or {})
    report.missing_events = missing_events(data.get("events") or [])


def catalog_ids(path: Path) -> list[str]:
    files, _ = discover([path])
    report = CatalogValidator().validate_files(files)
    return [
        item_id
        for item_id, entry in report.items.items()
        if entry.item.lifecycle.status != "retired"
    ]


async def setup(
    env: Mapping[str, str], repo: str, catalog: Path, *, client: GitHub[Any] | None = None
) -> SetupReport:
    settings = BotSettings.from_environment(env)
    github = GitHubSettings.from_environment(env)
    report = SetupReport()
    gh = client or github_client(github)
    await ensure_labels(gh, repo, labels_for(catalog_ids(catalog), settings), report)
    await check_installation(github, report)
    return report


def _run(args: argparse.Namespace) -> int:
    catalog = args.catalog or os.environ.get("CATALOG_LOCAL_PATH")
    if not catalog:
        print("pao bot setup: --catalog DIR (or CATALOG_LOCAL_PATH) is required", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = asyncio.run(setup(os.environ, args.repo, Path(catalog)))
    except GitHubNotConfigured as exc:
        print(f"pao bot setup: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print("\n".join(report.lines()))
    return EXIT_OK if report.ok else EXIT_MISSING


def register(sub: Any) -> None:
    """Adds ``pao bot setup`` to the ``pao bot`` sub-commands."""
    parser = sub.add_parser(
        "setup",
        help="create the labels PAO uses in a repository; check the App's permissions and events",
    )
    parser.add_argument("--repo", required=True, metavar="OWNER/NAME")
    parser.add_argument("--catalog", metavar="DIR", help="catalog directory (CATALOG_LOCAL_PATH)")
    parser.set_defaults(handler=_run)
