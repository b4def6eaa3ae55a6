"""The preview's "who must approve": JSON-ready data and the markdown the bot posts."""

from __future__ import annotations

import datetime as dt
import json

from orchestrator.approvals.policy import Approver, Decision, RequestFacts, evaluate
from orchestrator.approvals.preview import describe, render_markdown
from orchestrator.catalog.approval_stages import ApprovalStage

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
REQUESTER = Approver("rita@example.com", ("payments",))
STAGES = [
    ApprovalStage.model_validate(
        {"name": "security", "teams": ["security"], "expiresAfter": "3d", "count": 2}
    ),
    ApprovalStage.model_validate(
        {"name": "owners", "codeowners": True, "when": "fields.level != 'read-only'"}
    ),
    ApprovalStage.model_validate(
        {"name": "public", "users": ["@net|lead"], "allowRequester": True}
    ),
]


def facts(level: str) -> RequestFacts:
    return RequestFacts(
        REQUESTER, "r1", {"fields": {"level": level}}, started_at=T0, codeowners=("@acme/iam",)
    )


def test_the_preview_lists_stages_approvers_counts_and_skips_with_reasons() -> None:
    status = evaluate(STAGES, facts("read-only"), [])
    data = describe(status)

    json.dumps(data)  # JSON-ready
    assert data["required"] is True
    assert data["outcome"] == "pending"
    assert data["current_stage"] == "security"
    assert [(s["name"], s["state"]) for s in data["stages"]] == [
        ("security", "pending"),
        ("owners", "skipped"),
        ("public", "waiting"),
    ]
    security, owners, public = data["stages"]
    assert security["approvers"] == {"teams": ["security"], "users": [], "codeowners": None}
    assert security["count"] == 2
    assert security["expires_at"] == "2026-12-04T09:00:00+00:00"
    assert owners["reason"] == "condition `fields.level != 'read-only'` is false"
    assert owners["approvers"]["codeowners"] == ["@acme/iam"]
    assert public["allow_requester"] is True


def test_the_markdown_says_who_must_approve_and_escapes_table_cells() -> None:
    decided = Decision(
        "security", "sam@example.com", "approve", "r1", T0, "team:security", None, "Sam"
    )
    text = render_markdown(evaluate(STAGES, facts("admin"), [decided], now=T0))

    assert text.startswith("**Approval:** needed before anything is provisioned.")
    lines = text.splitlines()
    assert (
        "| security | team security (not the requester) | 2 | waiting for approval (1 of 2: Sam)"
        in lines[4]
    )
    assert lines[4].endswith(", expires 2026-12-04T09:00+00:00 |")
    assert lines[5] == (
        "| owners when `fields.level != 'read-only'` | CODEOWNERS (@acme/iam) (not the requester) "
        "| 1 | after the previous stage (0 of 1) |"
    )
    assert lines[6].startswith("| public | @net\\|lead | 1 |")


def test_a_request_that_needs_no_approval_says_so() -> None:
    only_conditional = [STAGES[1]]
    status = evaluate(only_conditional, facts("read-only"), [])
    assert describe(status)["required"] is False
    assert render_markdown(status).startswith("**Approval:** not needed for this request.")
    assert render_markdown(evaluate([], facts("admin"), [])) == ""


def test_a_rejection_shows_who_and_why() -> None:
    rejected = Decision(
        "security", "sam@example.com", "reject", "r1", T0, "team:security", "no | ticket", "Sam"
    )
    status = evaluate(STAGES, facts("admin"), [rejected], now=T0)
    data = describe(status)
    assert data["outcome"] == "rejected"
    assert data["stages"][0]["rejected_by"]["reason"] == "no | ticket"
    text = render_markdown(status)
    assert text.startswith("**Approval:** rejected; nothing will be provisioned.")
    assert "rejected by Sam: no \\| ticket" in text
