"""The run-status table covers every status HashiCorp documents, from each of its sources."""

from __future__ import annotations

import json
from pathlib import Path

from actions.terraform_runs import DECISION_REASONS, RUN_STATUSES, RunPhase

SPEC = Path(__file__).resolve().parents[1] / "contracts" / "specs" / "hcp-terraform.json"

# hashicorp/go-tfe run.go, `RunStatus` constants (main, 2026-12).
GO_TFE = {
    "applied", "applying", "apply_queued", "canceled", "confirmed", "cost_estimated",
    "cost_estimating", "discarded", "errored", "fetching", "fetching_completed", "pending",
    "planned", "planned_and_finished", "planned_and_saved", "planning", "plan_queued",
    "policy_checked", "policy_checking", "policy_override", "policy_soft_failed",
    "post_plan_awaiting_decision", "post_plan_completed", "post_plan_running",
    "pre_apply_running", "pre_apply_completed", "pre_plan_completed", "pre_plan_running",
    "queuing", "queuing_apply",
}  # fmt: skip
# developer.hashicorp.com/terraform/cloud-docs/api-docs/run, "Run States" (adds these).
DOCS = {"force_canceled", "pre_plan_awaiting_decision"}


def test_every_go_tfe_and_documented_status_is_classified() -> None:
    assert not (GO_TFE | DOCS) - set(RUN_STATUSES)


def test_every_status_of_the_api_description_is_classified() -> None:
    spec = json.loads(SPEC.read_text())
    enum = spec["components"]["schemas"]["runs"]["properties"]["attributes"]["properties"][
        "status"
    ]["enum"]
    assert not set(enum) - set(RUN_STATUSES)


def test_decisions_say_why() -> None:
    decisions = {s for s, p in RUN_STATUSES.items() if p is RunPhase.DECISION}
    assert decisions == set(DECISION_REASONS)
    assert decisions == {
        "pre_plan_awaiting_decision",
        "post_plan_awaiting_decision",
        "policy_override",
        "tf_policy_override",
    }
