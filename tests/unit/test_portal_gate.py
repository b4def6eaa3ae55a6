"""The request page's gate section and the inbox's "what remains", from the core's own gate
data (``preview.describe``): each stage, who approved, what remains, skipped stages and why."""

from __future__ import annotations

import datetime as dt
import re

from orchestrator.approvals.policy import Approver, Decision, RequestFacts, evaluate
from orchestrator.approvals.preview import describe
from orchestrator.catalog.approval_stages import ApprovalStage
from portal.gates import remaining
from portal.render import environment

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
STAGES = [
    ApprovalStage.model_validate(
        {"name": "security", "teams": ["security"], "count": 2, "expiresAfter": "3d"}
    ),
    ApprovalStage.model_validate(
        {"name": "owners", "users": ["lead@example.com"], "when": "fields.level != 'read-only'"}
    ),
    ApprovalStage.model_validate({"name": "finance", "teams": ["finance"]}),
]
FACTS = RequestFacts(
    Approver("rita@example.com", ("payments",)), "r1", {"fields": {"level": "read-only"}}, T0
)


def render(gate: dict[str, object]) -> str:
    text = environment().get_template("_gate.html").render(gate=gate, remaining=remaining)
    return re.sub(r"\s+", " ", text)


def test_the_gate_shows_stages_approvals_what_remains_and_skips() -> None:
    sam = Decision("security", "sam@example.com", "approve", "r1", T0, "team:security", None, "Sam")
    gate = describe(evaluate(STAGES, FACTS, [sam], now=T0))
    security = gate["stages"][0]
    assert remaining(security) == 1
    text = render(gate)
    assert "Needed before anything is provisioned" in text
    assert "Who may approve: team security (not the requester); 2 approvals needed." in text
    assert (
        "Remaining: 1 more approval from team security</strong>; expires 2026-12-04 09:00:00 UTC."
        in text
    )
    assert "Approved by Sam (sam@example.com), 2026-12-01 09:00:00 UTC" in text
    assert "Skipped: condition `fields.level != &#39;read-only&#39;` is false." in text
    assert 'finance <span class="meta">(waiting)</span>' in text
    assert "Starts when the previous stage is approved." in text
    assert 'class="stage stage-pending" aria-current="step"' in text


def test_a_rejection_names_who_and_why() -> None:
    no = Decision("security", "sam@example.com", "reject", "r1", T0, "team:security", "too wide")
    text = render(describe(evaluate(STAGES, FACTS, [no], now=T0)))
    assert "Rejected: nothing will be provisioned." in text
    assert "Rejected by sam@example.com, 2026-12-01 09:00:00 UTC: too wide" in text
    assert "aria-current" not in text
