"""The request preview's "who must approve": JSON-ready data, and markdown for bot comments.

Built from a ``GateStatus`` (``policy.evaluate``): before submission with no decisions (and no
``now``), afterwards with the decisions so far, so the preview and the status comment say the
same thing in the same words.
"""

from __future__ import annotations

from typing import Any

from orchestrator.approvals.policy import GateStatus, StageStatus, describe_approvers

_STATE_WORDS = {
    "skipped": "skipped",
    "approved": "approved",
    "rejected": "rejected",
    "expired": "expired",
    "pending": "waiting for approval",
    "waiting": "after the previous stage",
}


def stage_data(status: StageStatus) -> dict[str, Any]:
    stage = status.stage
    return {
        "name": stage.name,
        "description": stage.description,
        "state": status.state,
        "reason": status.reason or None,
        "approvers": {
            "teams": list(stage.teams),
            "users": list(stage.users),
            "codeowners": list(status.codeowners) if stage.codeowners else None,
        },
        "count": stage.count,
        "approved_by": [
            {
                "approver": d.approver,
                "name": d.approver_name,
                "via": d.via,
                "at": d.decided_at.isoformat(),
            }
            for d in status.approvals
        ],
        "rejected_by": (
            {
                "approver": status.rejection.approver,
                "name": status.rejection.approver_name,
                "reason": status.rejection.reason,
                "at": status.rejection.decided_at.isoformat(),
            }
            if status.rejection
            else None
        ),
        "condition": stage.when,
        "allow_requester": stage.allow_requester,
        "expires_after": stage.expires_after,
        "expires_at": status.expires_at.isoformat() if status.expires_at else None,
    }


def describe(status: GateStatus) -> dict[str, Any]:
    """The gate as JSON-ready data (the preview's and the request view's ``approvals``)."""
    current = status.current
    return {
        "required": status.required,
        "outcome": status.outcome,
        "reason": status.reason or None,
        "revision": status.revision,
        "current_stage": current.name if current is not None else None,
        "stages": [stage_data(s) for s in status.stages],
    }


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell (no pipes or line breaks break the row)."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def _who(status: StageStatus) -> str:
    return describe_approvers(status.stage, status.codeowners)


def _progress(status: StageStatus) -> str:
    stage = status.stage
    if status.state == "skipped":
        return f"skipped: {status.reason}"
    if status.state == "rejected" and status.rejection is not None:
        by = status.rejection.approver_name or status.rejection.approver
        return f"rejected by {by}: {status.rejection.reason or 'no reason given'}"
    approved = ", ".join(d.approver_name or d.approver for d in status.approvals)
    words = _STATE_WORDS[status.state]
    counted = f"{len(status.approvals)} of {stage.count}"
    text = f"{words} ({counted}{': ' + approved if approved else ''})"
    if status.state == "pending" and status.expires_at is not None:
        text += f", expires {status.expires_at.isoformat(timespec='minutes')}"
    return text


def render_markdown(status: GateStatus) -> str:
    """A markdown section for the preview and status comments."""
    if not status.stages:
        return ""
    if not status.required:
        lines = ["**Approval:** not needed for this request."]
    else:
        lines = [f"**Approval:** {_OUTCOME_WORDS[status.outcome]}"]
    lines += ["", "| stage | who may approve | needed | status |", "|---|---|---|---|"]
    for stage_status in status.stages:
        stage = stage_status.stage
        who = _who(stage_status)
        if not stage.allow_requester:
            who += " (not the requester)"
        condition = f" when {_code(stage.when)}" if stage.when else ""
        lines.append(
            f"| {_cell(stage.name + condition)} | {_cell(who)} | {stage.count} "
            f"| {_cell(_progress(stage_status))} |"
        )
    return "\n".join(lines)


_OUTCOME_WORDS = {
    "approved": "approved; nothing more is needed.",
    "pending": "needed before anything is provisioned.",
    "rejected": "rejected; nothing will be provisioned.",
    "expired": "expired; nothing will be provisioned.",
}
