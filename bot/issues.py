"""Requests by issue form: parse, validate, answer, submit; labels show the state.

On ``opened``, ``edited`` and ``labeled`` of an issue carrying the form label, the body is read
back into fields through the item's generated form. Problems are answered in one sticky
comment (the author edits the issue, PAO checks again); a valid issue is submitted once and
linked, and ``bot.notify`` keeps its status comment and ``pao:*`` label current until the
issue is closed on completion.

Edits after submission are not applied, except while the request waits for approval: then the
edited form is read again and ``ApprovalGates.revise`` applies it (re-validated; the approvals
given so far are reset, since they were for the earlier content). An edit with problems is
answered like a new issue, and the request keeps waiting with its earlier content.
"""

from __future__ import annotations

import uuid

from bot.approvals import AWAITING
from bot.comments import FORM_MARKER, PreviewEntry, form_comment
from bot.context import BotContext
from bot.events import IssuesEvent
from bot.plan import action_plan
from bot.pull_request import post_status
from bot.router import Event, Router
from orchestrator.catalog.issues import Issue
from orchestrator.catalog.models import CatalogItem
from orchestrator.errors import PaoError, ValidationFailed
from orchestrator.github.links import RequestLink
from orchestrator.issue_forms import item_id_of, parse_issue_form
from orchestrator.requests.service import RequestDraft, mask_fields

router = Router()
STATE_FAMILY = "pao:"
LABEL_INVALID = "pao:invalid"
LABEL_VALID = "pao:valid"


def _problem(message: str) -> Issue:
    return Issue("", 0, 0, "request", message)


@router.register("issues", "opened")
@router.register("issues", "edited")
@router.register("issues", "labeled")
@router.register("issues", "reopened")
async def on_issue(event: Event, bot: BotContext) -> None:
    parsed = IssuesEvent.model_validate(event.payload)
    issue = parsed.issue
    if bot.settings.form_label not in issue.label_names or issue.pull_request is not None:
        return
    if issue.state != "open":
        return
    repo = parsed.repository.full_name
    async with bot.links.locked(f"issue:{repo}:{issue.number}"):
        await _handle(bot, parsed, correlation_id=f"github-{event.delivery_id}")


async def _answer(bot: BotContext, repo: str, number: int, body: str) -> None:
    existing = await bot.github.find_comment(repo, number, FORM_MARKER, bot.settings.bot_login)
    await bot.github.upsert_comment(
        repo, number, body, comment_id=int(existing["id"]) if existing else None
    )


async def _handle(bot: BotContext, event: IssuesEvent, *, correlation_id: str) -> None:
    repo = event.repository.full_name
    issue = event.issue
    labels = sorted(issue.label_names)
    link = await bot.links.for_issue(repo, issue.number)
    if link is not None:
        if event.action == "edited" and not await _revise(bot, event, link, correlation_id):
            note = (
                f"This issue was already submitted as request `{link.request_id}`; edits "
                "are not applied to it. To change it, `/abort` it and open a new issue."
            )
            await _answer(bot, repo, issue.number, f"{FORM_MARKER}\n{note}")
        return
    item_id = item_id_of(issue.label_names, issue.title)
    entry = PreviewEntry("", None)
    if item_id is None:
        entry.issues = [_problem("the issue names no catalog item (label `catalog:<id>`)")]
        await _answer(bot, repo, issue.number, form_comment(entry))
        await bot.github.set_state_label(
            repo, issue.number, LABEL_INVALID, family=STATE_FAMILY, current=labels
        )
        return
    try:
        item, _ = await bot.catalog.current(item_id)
    except PaoError:
        item = None
    fields = parse_issue_form(item, issue.body).fields if item else {}
    draft = RequestDraft(
        catalog_item=item_id,
        fields=fields,
        title=issue.title,
        source="github-issue",
    )
    outcome = await bot.requests.validate(draft)
    entry.item = outcome.item
    problems = [_problem(str(e["message"])) for e in outcome.errors]
    warnings = [Issue("", 0, 0, "request", w, severity="warning") for w in outcome.warnings]
    entry.issues = problems + warnings
    if outcome.item is not None:
        entry.fields, _ = mask_fields(outcome.item, outcome.fields or fields)
    if not entry.valid:
        await _answer(bot, repo, issue.number, form_comment(entry))
        await bot.github.set_state_label(
            repo, issue.number, LABEL_INVALID, family=STATE_FAMILY, current=labels
        )
        return
    assert outcome.item is not None
    author = issue.user.login
    entry.plan = action_plan(
        outcome.item,
        outcome.fields,
        requester=bot.settings.email_of(author),
        environment=bot.template_environment,
        login=author,
        title=issue.title,
        source="github-issue",
    )
    try:
        view = await bot.requests.submit(draft, bot.principal(author), correlation_id)
    except PaoError as exc:
        entry.issues = [_problem(exc.message)]
        await _answer(bot, repo, issue.number, form_comment(entry))
        return
    request_id = str(view["id"])
    link = await bot.links.add(uuid.UUID(request_id), "issue", repo, issue.number)
    await _answer(bot, repo, issue.number, form_comment(entry, submitted_request=request_id))
    await bot.github.set_state_label(
        repo, issue.number, LABEL_VALID, family=STATE_FAMILY, current=labels
    )
    await post_status(bot, link, repo=repo, number=issue.number, path=None)


def _entry_of(
    item: CatalogItem | None, fields: dict[str, object], errors: list[str]
) -> PreviewEntry:
    entry = PreviewEntry("", item, issues=[_problem(e) for e in errors])
    if item is not None:
        entry.fields, _ = mask_fields(item, dict(fields))
    return entry


async def _revise(
    bot: BotContext, event: IssuesEvent, link: RequestLink, correlation_id: str
) -> bool:
    """Apply an edit to a request waiting for approval; False when it is not waiting (the
    caller says edits are not applied)."""
    gates = bot.approvals
    if gates is None:
        return False
    detail = await bot.requests.detail(link.request_id)
    if str(detail["status"]) != AWAITING:
        return False
    repo, issue = event.repository.full_name, event.issue
    item_id = str(detail["catalog_item"])
    try:
        item, _ = await bot.catalog.current(item_id)
    except PaoError:
        return False
    fields = parse_issue_form(item, issue.body).fields
    draft = RequestDraft(item_id, fields, title=issue.title, source="github-issue")
    outcome = await bot.requests.validate(draft)
    kept = (
        f"Request `{link.request_id}` keeps waiting for approval with its earlier content "
        "until the issue is valid again."
    )
    if outcome.errors:
        entry = _entry_of(outcome.item or item, outcome.fields or fields, [])
        entry.issues = [_problem(str(e["message"])) for e in outcome.errors]
        await _answer(bot, repo, issue.number, form_comment(entry, note=kept))
        return True
    before = await gates.gate(link.request_id)
    try:
        revised = await gates.revise(
            link.request_id,
            fields,
            bot.principal(event.sender.login),
            correlation_id=correlation_id,
            source="bot",
        )
    except ValidationFailed as exc:
        problems = [str(e.get("message")) for e in exc.errors] or [exc.message]
        entry = _entry_of(item, outcome.fields or fields, problems)
        await _answer(bot, repo, issue.number, form_comment(entry, note=kept))
        return True
    except PaoError:
        return False  # no longer waiting (decided meanwhile): edits are not applied
    entry = _entry_of(item, outcome.fields or fields, [])
    after = revised.get("approval") or {}
    if before is not None and before.get("revision") == after.get("revision"):
        note = (
            f"The edit changes nothing in request `{link.request_id}`; the approvals given so "
            "far still count."
        )
    else:
        note = (
            f"The edit was applied to request `{link.request_id}`. Approvals given so far "
            "were reset: the approvers decide again on the new content."
        )
    await _answer(
        bot,
        repo,
        issue.number,
        form_comment(entry, submitted_request=str(link.request_id), note=note),
    )
    await post_status(bot, link, repo=repo, number=issue.number, path=None)
    return True
