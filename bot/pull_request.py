"""Pull requests carrying request files: preview on every push, submission on merge.

* opened / synchronize / reopened: every changed ``requests/**.yaml`` file is read at the PR
  head and validated against the synced catalog; one check run carries the problems as
  annotations at their lines, and one sticky comment (updated in place) shows each request's
  item, owner, SLA, masked fields and rendered action plan.
* closed with ``merged``: each request file is submitted once per (repository, path, blob
  sha), linked to the PR, and gets its own status comment, which ``bot.notify`` keeps current.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bot.comments import PREVIEW_MARKER, PreviewEntry, fit, preview_comment, status_comment
from bot.context import BotContext
from bot.events import PullRequestEvent
from bot.github import BotGitHub
from bot.plan import action_plan
from bot.request_files import (
    annotations_for,
    is_request_path,
    parse_request_file,
    validation_issues,
)
from bot.router import Event, Router
from bot.settings import BotSettings
from orchestrator.errors import PaoError, ValidationFailed
from orchestrator.requests.service import RequestDraft, Validation, mask_fields
from orchestrator.store.queries import QUERIES

log = logging.getLogger(__name__)
router = Router()
Validate = Callable[[RequestDraft], Awaitable[Validation]]


async def request_files(
    github: BotGitHub, settings: BotSettings, repo: str, number: int
) -> list[dict[str, Any]]:
    files = await github.pr_files(repo, number)
    return [
        f
        for f in files
        if f.get("status") != "removed"
        and is_request_path(str(f["filename"]), settings.request_globs)
    ]


async def build_entry(
    path: str,
    text: str,
    validate: Validate,
    *,
    requester: str,
    environment: Mapping[str, str],
) -> PreviewEntry:
    parsed = parse_request_file(path, text)
    entry = PreviewEntry(path, None, issues=list(parsed.issues))
    if parsed.draft is None:
        return entry
    outcome = await validate(parsed.draft)
    entry.issues = [*parsed.issues, *validation_issues(parsed, outcome)]
    entry.item = outcome.item
    if outcome.item is not None:
        source = outcome.fields or parsed.draft.fields
        entry.fields, _ = mask_fields(outcome.item, dict(source))
        if entry.valid:
            entry.plan = action_plan(
                outcome.item,
                outcome.fields,
                requester=requester,
                environment=environment,
                source="github-pr",
            )
    return entry


async def preview_pull_request(
    github: BotGitHub,
    settings: BotSettings,
    validate: Validate,
    *,
    repo: str,
    number: int,
    head_sha: str,
    author: str,
    environment: Mapping[str, str] | None = None,
) -> list[PreviewEntry]:
    """Validate the PR's request files, publish the check run and the sticky comment."""
    files = await request_files(github, settings, repo, number)
    existing = await github.find_comment(repo, number, PREVIEW_MARKER, settings.bot_login)
    if not files:
        if existing is not None:  # request files were removed: say so instead of a stale plan
            body = f"{PREVIEW_MARKER}\n## PAO request preview\n\nNo request files in this pull request any more."
            await github.update_comment(repo, int(existing["id"]), body)
        return []
    entries: list[PreviewEntry] = []
    for info in files:
        path = str(info["filename"])
        found = await github.file_text(repo, path, head_sha)
        if found is None:
            continue
        entries.append(
            await build_entry(
                path,
                found[0],
                validate,
                requester=settings.email_of(author),
                environment=environment or {},
            )
        )
    issues = [issue for entry in entries for issue in entry.issues]
    errors = sum(1 for i in issues if i.severity == "error")
    conclusion = "failure" if errors else "success"
    summary = preview_comment(entries, head_sha=head_sha).replace(PREVIEW_MARKER, "").strip()
    await github.publish_check_run(
        repo,
        head_sha,
        settings.check_name,
        conclusion=conclusion,
        title=(
            f"{errors} problem(s) in {len(entries)} request file(s)"
            if errors
            else f"{len(entries)} valid request file(s)"
        ),
        summary=fit(summary, 65000),
        annotations=annotations_for(issues),
    )
    body = preview_comment(entries, head_sha=head_sha)
    await github.upsert_comment(
        repo, number, body, comment_id=int(existing["id"]) if existing else None
    )
    return entries


@router.register("pull_request", "opened")
@router.register("pull_request", "synchronize")
@router.register("pull_request", "reopened")
async def on_changed(event: Event, bot: BotContext) -> None:
    parsed = PullRequestEvent.model_validate(event.payload)
    pr = parsed.pull_request
    await preview_pull_request(
        bot.github,
        bot.settings,
        bot.requests.validate,
        repo=parsed.repository.full_name,
        number=pr.number,
        head_sha=pr.head.sha,
        author=pr.user.login,
        environment=bot.template_environment,
    )


@router.register("pull_request", "closed")
async def on_closed(event: Event, bot: BotContext) -> None:
    parsed = PullRequestEvent.model_validate(event.payload)
    if parsed.pull_request.merged:
        await submit_merged(bot, parsed, correlation_id=f"github-{event.delivery_id}")


async def submit_merged(bot: BotContext, event: PullRequestEvent, *, correlation_id: str) -> None:
    repo = event.repository.full_name
    pr = event.pull_request
    ref = pr.merge_commit_sha or pr.head.sha
    for info in await request_files(bot.github, bot.settings, repo, pr.number):
        path = str(info["filename"])
        found = await bot.github.file_text(repo, path, ref)
        if found is None:
            continue
        text, blob_sha = found
        blob_sha = blob_sha or str(info.get("sha") or "")
        async with bot.locked(f"pr-file:{repo}:{path}:{blob_sha}"):
            link = await bot.fetch_one(
                QUERIES.bot_link_for_file, repository=repo, path=path, blob_sha=blob_sha
            )
            if link is None:
                link = await _submit_file(
                    bot, repo, pr.number, path, text, blob_sha, pr.user.login, correlation_id
                )
            if link is not None and link["status_comment_id"] is None:
                await post_status(bot, link, repo=repo, number=pr.number, path=path)


async def _submit_file(
    bot: BotContext,
    repo: str,
    number: int,
    path: str,
    text: str,
    blob_sha: str,
    author: str,
    correlation_id: str,
) -> dict[str, Any] | None:
    parsed = parse_request_file(path, text, source="github-pr")
    problem: str | None = None
    if parsed.draft is None or not parsed.valid:
        problem = "; ".join(f"line {i.line}: {i.message}" for i in parsed.issues)
    else:
        try:
            view = await bot.requests.submit(parsed.draft, bot.principal(author), correlation_id)
        except PaoError as exc:
            problem = exc.message
            if isinstance(exc, ValidationFailed):
                problem += ": " + "; ".join(str(e.get("message")) for e in exc.errors[:10])
        else:
            return await bot.fetch_one(
                QUERIES.bot_insert_link,
                request_id=uuid.UUID(str(view["id"])),
                kind="pull_request",
                repository=repo,
                number=number,
                path=path,
                blob_sha=blob_sha,
            )
    marker = f"<!-- pao:not-submitted {path}@{blob_sha} -->"
    if await bot.github.find_comment(repo, number, marker, bot.settings.bot_login) is None:
        await bot.github.create_comment(
            repo,
            number,
            fit(
                f"{marker}\n❌ `{path}` was merged but **not submitted**: {problem}\n\n"
                "Fix the file in a new pull request."
            ),
        )
    log.info("merged request file %s of %s#%s not submitted: %s", path, repo, number, problem)
    return None


async def post_status(
    bot: BotContext, link: Mapping[str, Any], *, repo: str, number: int, path: str | None
) -> int:
    """Create or refresh a request's status comment and remember its id on the link.

    One writer per link at a time (merge handler and ``notify`` jobs may race on different
    workers), reading the link again under the lock, so the comment is never posted twice.
    """
    async with bot.locked(f"status:{link['id']}"):
        fresh = await bot.fetch_one(QUERIES.bot_link_by_id, id=link["id"]) or link
        detail = await bot.requests.detail(uuid.UUID(str(fresh["request_id"])))
        comment_id = await bot.github.upsert_comment(
            repo, number, status_comment(detail, path=path), comment_id=fresh["status_comment_id"]
        )
        if comment_id != fresh["status_comment_id"]:
            await bot.db.execute(
                None, QUERIES.bot_set_status_comment, {"id": fresh["id"], "comment_id": comment_id}
            )
    return comment_id
