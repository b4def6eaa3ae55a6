"""Pull requests carrying request files: preview on every push, submission on merge.

* opened / synchronize / reopened: every changed ``requests/**.yaml`` file is read at the PR
  head and validated against the synced catalog; one check run carries the problems as
  annotations at their lines, and one sticky comment (updated in place) shows each request's
  item, owner, SLA, masked fields and rendered action plan.
* closed with ``merged``: each request file is submitted once per (repository, path, blob
  sha), linked to the PR, and gets its own status comment, which ``bot.notify`` keeps current.

Approval gates (issue 21): the preview says who must approve (the gate evaluated with no
decisions). A request that starts waiting for approval at merge counts the approving reviews
given on the head that was merged, each through ``ApprovalGates.decide`` (so the gate's rules
apply to reviewers as to ``/approve``); reviews of an earlier push are stale, as with GitHub's
"dismiss stale approvals". The ones that did not count are noted in the status comment, which
also lists the gate and @-mentions the approvers while the request waits.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from bot.approvals import (
    AWAITING,
    TeamLookup,
    announce_stage,
    gate_of,
    preview_gate,
    status_body,
)
from bot.comments import (
    PREVIEW_MARKER,
    PreviewEntry,
    fit,
    notes_of,
    preview_comment,
    quiet,
)
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
from orchestrator.approvals.preview import render_markdown
from orchestrator.errors import PaoError, ValidationFailed
from orchestrator.github.links import RequestLink
from orchestrator.requests.service import RequestDraft, Validation, mask_fields

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
    login: str | None = None,
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
            gate = preview_gate(
                outcome.item,
                outcome.fields,
                requester=requester,
                login=login,
                environment=environment,
                source="github-pr",
            )
            entry.approval = render_markdown(gate) if gate is not None else ""
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
                login=author,
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
    reviews = Reviews(bot, repo, pr.number)
    teams = TeamLookup(bot.github, repo.split("/", 1)[0])
    for info in await request_files(bot.github, bot.settings, repo, pr.number):
        path = str(info["filename"])
        found = await bot.github.file_text(repo, path, ref)
        if found is None:
            continue
        text, blob_sha = found
        blob_sha = blob_sha or str(info.get("sha") or "")
        async with bot.links.locked(f"pr-file:{repo}:{path}:{blob_sha}"):
            link = await bot.links.for_file(repo, path, blob_sha)
            if link is None:
                link = await _submit_file(
                    bot, repo, pr.number, path, text, blob_sha, pr.user.login, correlation_id
                )
            if link is not None and link.status_comment_id is None:
                # Not finished yet (a redelivery after a crash goes on here): counting the
                # reviews again is harmless, a person's repeated approval is not recorded twice.
                notes = await count_reviews(
                    bot, link, reviews, head_sha=pr.head.sha, teams=teams,
                    author=pr.user.login, correlation_id=correlation_id,
                )  # fmt: skip
                await post_status(bot, link, repo=repo, number=pr.number, path=path, notes=notes)


async def _submit_file(
    bot: BotContext,
    repo: str,
    number: int,
    path: str,
    text: str,
    blob_sha: str,
    author: str,
    correlation_id: str,
) -> RequestLink | None:
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
            return await bot.links.add(
                uuid.UUID(str(view["id"])),
                "pull_request",
                repo,
                number,
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


class Reviews:
    """The pull request's reviews, read once per merge delivery (for each request file)."""

    def __init__(self, bot: BotContext, repo: str, number: int) -> None:
        self.bot, self.repo, self.number = bot, repo, number
        self._latest: dict[str, dict[str, Any]] | None = None

    async def latest(self) -> dict[str, dict[str, Any]]:
        """Each reviewer's review that stands, as GitHub counts it: their latest one that
        approved, requested changes or was dismissed (a later comment changes nothing)."""
        if self._latest is None:
            self._latest = {}
            for review in await self.bot.github.pr_reviews(self.repo, self.number):
                state = str(review.get("state") or "").upper()
                login = str((review.get("user") or {}).get("login") or "")
                if login and state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
                    self._latest[login] = review
        return self._latest


async def approve_as(
    bot: BotContext,
    request_id: uuid.UUID,
    login: str,
    teams: TeamLookup,
    *,
    correlation_id: str,
    reason: str | None = None,
) -> str | None:
    """Record ``login``'s approval of a request through the gate; None when accepted (or a
    repeat), else the core's refusal."""
    gates = bot.approvals
    if gates is None:
        return "approval gates are not available in this deployment"
    try:
        held = await teams.for_gate(login, await gates.gate(request_id))
        await gates.decide(
            request_id,
            dataclasses.replace(bot.principal(login), teams=held),
            "approve",
            correlation_id=correlation_id,
            source="bot",
            reason=reason,
            login=login,
            teams=held,
        )
    except PaoError as exc:
        return exc.message
    return None


async def count_reviews(
    bot: BotContext,
    link: RequestLink,
    reviews: Reviews,
    *,
    head_sha: str,
    teams: TeamLookup,
    author: str,
    correlation_id: str,
) -> list[str]:
    """Approving reviews given before the merge, recorded on the request just submitted;
    the notes for the status comment (stale or unqualified reviews, and why). The notes name
    reviewers without notifying them (``quiet``): the comment is about the request, and a
    mention in it would page them on every request they once reviewed."""
    if bot.approvals is None:
        return []
    detail = await bot.requests.detail(link.request_id)
    if str(detail["status"]) != AWAITING:
        return []
    notes: list[str] = []
    for login, review in (await reviews.latest()).items():
        if str(review.get("state")).upper() != "APPROVED" or login == author:
            continue
        if login == bot.settings.bot_login:
            continue
        commit = str(review.get("commit_id") or "")
        if commit != head_sha:
            notes.append(
                f"The approving review by {quiet(login)} was given on an earlier push "
                f"(`{commit[:12] or 'unknown'}`), not on the merged head: not counted."
            )
            continue
        refused = await approve_as(
            bot, link.request_id, login, teams, correlation_id=correlation_id,
            reason=f"approving review {review.get('id')}",
        )  # fmt: skip
        if refused is not None:
            notes.append(f"The approving review by {quiet(login)} did not count: {refused}")
    return notes


async def post_status(
    bot: BotContext,
    link: RequestLink,
    *,
    repo: str,
    number: int,
    path: str | None,
    notes: Sequence[str] | None = None,
) -> int:
    """Create or refresh a request's status comment and remember its id on the link.

    One writer per link at a time (merge handler and ``notify`` jobs may race on different
    workers), reading the link again under the lock, so the comment is never posted twice.
    The approval gate is listed and its approvers are @-mentioned while the request waits
    (``approvals.status_body``); when a later stage starts, its approvers are asked in a new
    comment (``approvals.announce_stage``), as the edit of this one notifies nobody. ``notes`` replace the earlier comment's notes; None keeps
    them.
    """
    async with bot.links.locked(f"status:{link.id}"):
        fresh = await bot.links.by_id(link.id) or link
        detail = await bot.requests.detail(fresh.request_id)
        gate = await request_gate(bot, fresh.request_id, detail)
        if notes is None and gate is not None and fresh.status_comment_id is not None:
            earlier = await bot.github.comment(repo, fresh.status_comment_id)
            notes = notes_of(earlier.get("body") if earlier else None)
        if fresh.status_comment_id is not None:  # an update notifies nobody: ask in a new one
            await announce_stage(
                bot.github, repo, number, detail, gate,
                author=bot.settings.bot_login, login_of=bot.settings.login_of,
            )  # fmt: skip
        body = status_body(
            detail,
            gate,
            path=path,
            org=repo.split("/", 1)[0],
            login_of=bot.settings.login_of,
            notes=notes or (),
        )
        comment_id = await bot.github.upsert_comment(
            repo, number, body, comment_id=fresh.status_comment_id
        )
        if comment_id != fresh.status_comment_id:
            await bot.links.set_status_comment(fresh.id, comment_id)
    return comment_id


async def request_gate(
    bot: BotContext, request_id: uuid.UUID, detail: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The request's approval gate (JSON): from its view when the view carries it, else from
    the gates; None when its item has no gate."""
    carried = gate_of(detail)
    if carried is not None:
        return carried
    if bot.approvals is None:
        return None
    return await bot.approvals.gate(request_id)
