"""Comment bodies: the sticky preview, the per-request status comment, command replies.

Every body carries a hidden marker so the bot finds and updates its own comment instead of
posting another one, and every body is fitted under GitHub's 65,536-character limit: plans
sit in collapsed ``<details>`` blocks, and a body that is still too long is cut at a line
boundary with a note saying where the full view is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.plan import PlannedAction
from orchestrator.catalog.issues import Issue
from orchestrator.catalog.models import CatalogItem
from orchestrator.editor_lines import split_lines

COMMENT_LIMIT = 65_536
PREVIEW_MARKER = "<!-- pao:preview -->"
FORM_MARKER = "<!-- pao:form -->"
STATUS_ICONS = {
    "submitted": "📨",
    "validating": "🔎",
    "awaiting_secret": "🔑",
    "awaiting_approval": "✋",
    "queued": "⏳",
    "in_progress": "⚙️",
    "pending": "⏳",
    "retrying": "🔁",
    "completed": "✅",
    "failed": "❌",
    "aborted": "🛑",
    "escalated": "🆘",
    "cancelled": "⏹️",
    "rejected": "🚫",
}
HELP = (
    "PAO commands (one per line, in a comment on this thread):\n\n"
    "| command | what it does |\n|---|---|\n"
    "| `/status` | show the request's current status |\n"
    "| `/retry [action-id]` | re-run the failed action and continue |\n"
    "| `/abort [reason]` | stop the request; pending actions are cancelled |\n"
    "| `/escalate [reason]` | hand the request to the owning team (manual ticket) |\n"
    "| `/approve [comment]` | approve the request's current approval stage |\n"
    "| `/reject <reason>` | reject the request (a reason is required) |\n"
    "| `/help` | this text |\n\n"
    "`/retry`, `/abort` and `/escalate` may be used by the requester, the owning team of the "
    "catalog item and the platform operators; `/approve` and `/reject` by the approvers the "
    "catalog item names (an approving pull request review counts as `/approve`)."
)


def quiet(login: str) -> str:
    """A GitHub login as text that does not notify them (a mention in code is not a mention):
    for comments that name people without asking anything of them."""
    return f"`@{login.lstrip('@').replace('`', '')}`"


_MENTION = re.compile(r"(?<![\w`/])@([A-Za-z0-9][A-Za-z0-9-]*(?:/[A-Za-z0-9][\w-]*)?)")


def unmention(text: str) -> str:
    """``text`` with every @-mention (``@login``, ``@org/team``) made inert (``quiet``), so a
    comment names people and teams without paging them: only the one line that asks approvers
    for their decision mentions anybody."""
    return _MENTION.sub(lambda m: quiet(m.group(1)), text)


def status_marker(request_id: str) -> str:
    return f"<!-- pao:status request={request_id} -->"


def fit(body: str, limit: int = COMMENT_LIMIT, *, where: str = "the PAO API") -> str:
    """``body`` cut at a line boundary under ``limit`` characters, with a note when cut."""
    if len(body) <= limit:
        return body
    note = f"\n\n_…truncated to fit GitHub's comment size limit; the full view is in {where}._\n"
    cut = body[: limit - len(note) - 20]
    cut = cut[: cut.rfind("\n")] if "\n" in cut else cut
    if cut.count("```") % 2:  # do not leave a code block open
        cut += "\n```"
    if cut.count("<details>") > cut.count("</details>"):
        cut += "\n</details>"
    return cut + note


def _code(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return "```json\n" + text.replace("```", "`\u200b``") + "\n```"


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text.replace("|", "\\|").replace("\n", " ")[:300]


@dataclass(slots=True)
class PreviewEntry:
    """One request file's part of the preview."""

    path: str
    item: CatalogItem | None
    fields: Mapping[str, Any] = field(default_factory=dict)  # already masked
    issues: Sequence[Issue] = ()
    plan: Sequence[PlannedAction] = ()
    approval: str = ""  # who must approve (``approvals.preview_gate`` as markdown), if gated

    @property
    def valid(self) -> bool:
        return not any(i.severity == "error" for i in self.issues)


def _item_lines(item: CatalogItem) -> list[str]:
    meta = item.metadata
    lines = [
        f"**{meta.name}** (`{meta.id}` {meta.version}), owned by team `{meta.owner.team}` "
        f"({meta.owner.contact})"
    ]
    if meta.sla and (meta.sla.response_time or meta.sla.fulfillment_time):
        parts = []
        if meta.sla.response_time:
            parts.append(f"response within {meta.sla.response_time}")
        if meta.sla.fulfillment_time:
            parts.append(f"fulfilled within {meta.sla.fulfillment_time}")
        lines.append(f"SLA: {', '.join(parts)}")
    return lines


def _where(issue: Issue) -> str:
    return f"line {issue.line}: " if issue.line else ""


def _entry(entry: PreviewEntry) -> list[str]:
    icon = "✅" if entry.valid else "❌"
    out = [f"### {icon} `{entry.path}`" if entry.path else f"### {icon} Request", ""]
    if entry.item is not None:
        out += [*_item_lines(entry.item), ""]
    errors = [i for i in entry.issues if i.severity == "error"]
    warnings = [i for i in entry.issues if i.severity == "warning"]
    for issue in warnings:
        out.append(f"> [!WARNING]\n> {_where(issue)}{issue.message}")
        out.append("")
    if errors:
        out.append(
            "**Problems** (also annotated on the file in the check run):"
            if entry.path
            else "**Problems:**"
        )
        out += [f"- {_where(i)}{i.message}" for i in errors] + [""]
    if entry.fields:
        out += ["| field | value |", "|---|---|"]
        out += [f"| `{k}` | {_cell(v)} |" for k, v in entry.fields.items()] + [""]
    if entry.valid and entry.approval:
        out += [entry.approval, ""]
    if entry.valid and entry.plan:
        out.append("<details><summary>Action plan: what will be sent</summary>\n")
        for number, action in enumerate(entry.plan, start=1):
            title = f" ({action.name})" if action.name else ""
            out.append(f"{number}. **{action.id}**: `{action.type}`{title}")
            if action.rendered is not None:
                out += ["", _code(action.rendered.get("config", {})), ""]
            else:
                out.append(f"   - cannot be rendered yet: {action.problem}")
        out += ["</details>", ""]
    elif entry.valid and entry.item is not None:
        out += ["No automated actions: the owning team fulfils this request by hand.", ""]
    return out


def preview_comment(entries: Iterable[PreviewEntry], *, head_sha: str) -> str:
    listed = list(entries)
    valid = all(e.valid for e in listed)
    head = (
        "## PAO request preview\n\n"
        + (
            "All request files are valid; they are submitted when this pull request is merged."
            if valid
            else "Some request files need changes before this pull request can be merged."
        )
        + f"\n\n_Checked at `{head_sha[:12]}`; this comment is updated on every push._\n"
    )
    body = [PREVIEW_MARKER, head]
    for entry in listed:
        body += _entry(entry)
    return fit("\n".join(body), where="the check run")


def form_comment(
    entry: PreviewEntry, *, submitted_request: str | None = None, note: str | None = None
) -> str:
    """The issue-form thread's answer: errors to fix by editing the issue, or the preview."""
    body = [FORM_MARKER, "## PAO request preview\n"]
    if note:
        body.append(note + "\n")
    if not entry.valid:
        body.append("Please edit this issue to fix the problems below; PAO checks it again.\n")
    elif submitted_request:
        body.append(f"Submitted as request `{submitted_request}`; its status follows below.\n")
    body += _entry(entry)
    return fit("\n".join(body))


def _action_line(action: Mapping[str, Any]) -> str:
    icon = STATUS_ICONS.get(str(action.get("status")), "•")
    line = f"| {icon} | `{action['id']}` | {action['type']} | {action['status']} |"
    ref = action.get("external_ref")
    url = action.get("external_url")
    link = f"[{ref or 'link'}]({url})" if url else (f"`{ref}`" if ref else "")
    outputs = action.get("outputs") or {}
    shown = ", ".join(f"{k}: {_cell(v)}" for k, v in list(outputs.items())[:5])
    error = action.get("error") or {}
    detail = error.get("message") if isinstance(error, Mapping) else str(error)
    extra = shown or (_cell(detail) if detail else "")
    return line + f" {link} | {extra} |"


def _escalation_line(detail: Mapping[str, Any]) -> str:
    """Where the escalation stands: its ticket, or why there is none yet."""
    if detail.get("escalation_ticket"):
        return f"Escalated to manual support: `{detail['escalation_ticket']}`"
    escalation = detail.get("escalation") or {}
    state = escalation.get("state")
    error = escalation.get("last_error")
    if state == "pending":
        return "Escalation ticket pending" + (f": {_cell(error)}" if error else " (being opened)")
    if state in ("failed", "not_configured"):
        return (
            f"Escalation ticket {'not configured' if state == 'not_configured' else 'failed'}: "
            f"{_cell(error or 'no detail')}. Fix the cause, then comment `/escalate [reason]`, "
            "`/retry` or `/abort [reason]`."
        )
    return "Escalated to manual support; the ticket is being opened."


NOTES_START = "<!-- pao:notes -->"
NOTES_END = "<!-- /pao:notes -->"
_GATE_OUTCOME = {
    "approved": "approved; nothing more is needed.",
    "pending": "needed before anything is provisioned.",
    "rejected": "rejected; nothing will be provisioned.",
    "expired": "expired; nothing will be provisioned.",
}


def _gate_who(stage: Mapping[str, Any]) -> str:
    approvers = stage.get("approvers") or {}
    parts = [f"team {t}" for t in approvers.get("teams") or []]
    parts += [str(u) for u in approvers.get("users") or []]
    owners = approvers.get("codeowners")
    if owners is not None:
        parts.append(f"CODEOWNERS ({', '.join(owners)})" if owners else "CODEOWNERS (none known)")
    who = ", ".join(parts) or "nobody"
    return who if stage.get("allow_requester") else who + " (not the requester)"


def _gate_progress(stage: Mapping[str, Any]) -> str:
    state = str(stage.get("state"))
    if state == "skipped":
        return f"skipped: {stage.get('reason') or ''}"
    rejected = stage.get("rejected_by")
    if state == "rejected" and rejected:
        by = rejected.get("name") or rejected.get("approver")
        return f"❌ rejected by {by}: {rejected.get('reason') or 'no reason given'}"
    approved = [a.get("name") or a.get("approver") for a in stage.get("approved_by") or []]
    words = {"approved": "✅ approved", "pending": "⏳ waiting", "waiting": "after the previous"}
    text = f"{words.get(state, state)} ({len(approved)} of {stage.get('count', 1)}"
    text += f": {', '.join(map(str, approved))})" if approved else ")"
    if state == "pending" and stage.get("expires_at"):
        text += f", expires {str(stage['expires_at'])[:16]}"
    return text


def gate_section(gate: Mapping[str, Any] | None) -> list[str]:
    """The approval gate as the status comment lists it: each stage, who may approve, who
    did, what remains (the gate's JSON, ``approvals.preview.describe``)."""
    if not gate or not gate.get("stages"):
        return []
    if not gate.get("required"):
        return ["**Approval:** not needed for this request.", ""]
    lines = [
        f"**Approval:** {_GATE_OUTCOME.get(str(gate.get('outcome')), str(gate.get('outcome')))}",
        "",
        "| stage | who may approve | needed | status |",
        "|---|---|---|---|",
    ]
    for stage in gate["stages"]:
        name = str(stage.get("name"))
        if stage.get("condition"):
            condition = str(stage["condition"]).replace("`", "'")
            name += f" when `{condition}`"
        lines.append(
            f"| {_cell(name)} | {unmention(_cell(_gate_who(stage)))} | {stage.get('count', 1)} "
            f"| {unmention(_cell(_gate_progress(stage)))} |"
        )
    return [*lines, ""]


def notes_of(body: str | None) -> list[str]:
    """The notes block of an earlier status comment (kept across updates)."""
    text = body or ""
    start, end = text.find(NOTES_START), text.find(NOTES_END)
    if start < 0 or end < start:
        return []
    inner = text[start + len(NOTES_START) : end]
    return [line[2:] for line in split_lines(inner) if line.startswith("- ")]


def status_comment(
    detail: Mapping[str, Any],
    *,
    path: str | None = None,
    gate: Mapping[str, Any] | None = None,
    mention: Sequence[str] = (),
    remaining: str | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The request's status comment. ``gate``: its approval gate (JSON); ``mention``: the
    approvers to @-mention while it waits; ``remaining``: what the gate still needs, in
    words; ``notes``: lines kept across updates (approving reviews that did not count).
    Only the ``mention`` line notifies anyone: people and teams named in the gate's table and
    in the notes are written so GitHub does not page them (``unmention``)."""
    status = str(detail["status"])
    icon = STATUS_ICONS.get(status, "•")
    where = f" from `{path}`" if path else ""
    lines = [
        status_marker(str(detail["id"])),
        f"## {icon} PAO request `{detail['id']}`{where}: **{status}**",
        "",
        f"Catalog item `{detail['catalog_item']}` {detail['catalog_item_version']}, requested by "
        f"{detail['requester']['email']}.",
        "",
    ]
    actions = detail.get("actions") or []
    if actions:
        lines += [
            "| | action | type | status | link | outputs / error |",
            "|---|---|---|---|---|---|",
        ]
        lines += [_action_line(a) for a in actions] + [""]
    if status == "failed":
        lines.append(
            "The request stopped. Fix the cause, then comment `/retry`, `/abort [reason]` or "
            "`/escalate [reason]`."
        )
    if status == "awaiting_secret":
        lines.append(
            "Waiting for a secret this item needs. Secrets are never written in issues or pull "
            "requests: the requester supplies it through the PAO API, "
            f"`PUT /api/v1/requests/{detail['id']}/secrets` with "
            '`{"fields": {"<field id>": "<value>"}}` (authenticated as the requester). '
            "Nothing runs until then; `/abort [reason]` withdraws the request."
        )
    lines += gate_section(gate)
    if status == "awaiting_approval":
        lines.append(
            "Waiting for approval: nothing is provisioned before the last stage passes. "
            + (remaining or "")
        )
        if mention:
            lines.append(f"\n🔔 Approval requested from {', '.join(mention)}.")
        lines.append(
            "Approvers comment `/approve [comment]` or `/reject <reason>` (an approving pull "
            "request review counts as `/approve`)."
        )
    if status == "rejected":
        lines.append(unmention(remaining or "Rejected: nothing will be provisioned."))
    if notes:
        lines += ["", NOTES_START, *[f"- {unmention(n)}" for n in notes], NOTES_END]
    if status == "aborted" and detail.get("abort_reason"):
        lines.append(f"Aborted: {detail['abort_reason']}")
    if status == "escalated":
        lines.append(_escalation_line(detail))
    lines.append(f"\n_Updated as actions progress. Correlation id `{detail['correlation_id']}`._")
    return fit("\n".join(lines))


def quote(text: str) -> str:
    return "\n".join(f"> {line}" for line in split_lines(text) or [""])


def command_reply(command_text: str, message: str) -> str:
    return fit(f"{quote(command_text)}\n\n{message}")
