"""What a Terraform Cloud / Enterprise run status means for a PAO action: one table.

Every status HashiCorp documents is classified here: the constants of go-tfe's ``RunStatus``
(hashicorp/go-tfe ``run.go``), the run-state table of the Runs API and "Run states and stages"
pages, and the ``runs.attributes.status`` enum of HashiCorp's API description
(``tests/contracts/specs/hcp-terraform.json``). None of those three lists is complete alone:
``post_plan_awaiting_decision`` and ``force_canceled`` are missing from the description's enum,
``pre_plan_awaiting_decision``, ``tf_policy_*``, ``post_apply_*`` and ``assess*`` from go-tfe's
constants.

- ``RUNNING``: Terraform Cloud moves the run on by itself; poll again.
- ``CONFIRMABLE``: the run paused after its plan and waits for a confirmation. PAO applies it
  when the run says ``actions.is-confirmable`` (checks passed, not auto-applied); otherwise it
  waits (an auto-apply run goes on by itself).
- ``DECISION``: a person must decide (a failed run task or OPA / Sentinel policy that may be
  overridden). The action fails with the run's link and the reason, unless the item says
  ``onDecision: wait`` (then it waits, within the action's timeout, for someone to decide).
- ``APPLIED``: finished; the state outputs are read.
- ``FAILED`` / ``CANCELLED``: finished without applying; the action fails.

An unknown status (a newer product) is treated as running: the action's timeout bounds it.
"""

from __future__ import annotations

from enum import Enum


class RunPhase(Enum):
    RUNNING = "running"
    CONFIRMABLE = "waiting for confirmation"
    DECISION = "waiting for a decision"
    APPLIED = "applied"
    FAILED = "failed"
    CANCELLED = "cancelled"


RUN_STATUSES: dict[str, RunPhase] = {
    "pending": RunPhase.RUNNING,
    "fetching": RunPhase.RUNNING,
    "fetching_completed": RunPhase.RUNNING,
    "pre_plan_running": RunPhase.RUNNING,
    "pre_plan_completed": RunPhase.RUNNING,
    "pre_plan_awaiting_decision": RunPhase.DECISION,
    "queuing": RunPhase.RUNNING,
    "plan_queued": RunPhase.RUNNING,
    "planning": RunPhase.RUNNING,
    "planned": RunPhase.CONFIRMABLE,
    "cost_estimating": RunPhase.RUNNING,
    "cost_estimated": RunPhase.CONFIRMABLE,
    "policy_checking": RunPhase.RUNNING,
    "policy_override": RunPhase.DECISION,
    "policy_soft_failed": RunPhase.FAILED,  # final: a plan-only run cannot be overridden
    "policy_checked": RunPhase.CONFIRMABLE,
    "tf_policy_override": RunPhase.DECISION,  # OPA policy evaluation, overridable
    "tf_policy_checked": RunPhase.CONFIRMABLE,
    "post_plan_running": RunPhase.RUNNING,
    "post_plan_completed": RunPhase.CONFIRMABLE,  # post-plan run tasks / OPA passed
    "post_plan_awaiting_decision": RunPhase.DECISION,
    "planned_and_saved": RunPhase.CONFIRMABLE,  # a saved plan: confirmable later
    "confirmed": RunPhase.RUNNING,
    "pre_apply_running": RunPhase.RUNNING,
    "pre_apply_completed": RunPhase.RUNNING,
    "queuing_apply": RunPhase.RUNNING,
    "apply_queued": RunPhase.RUNNING,
    "applying": RunPhase.RUNNING,
    "post_apply_running": RunPhase.RUNNING,
    "post_apply_completed": RunPhase.RUNNING,
    "applied": RunPhase.APPLIED,
    "planned_and_finished": RunPhase.APPLIED,  # no changes: nothing to apply
    "assessing": RunPhase.RUNNING,  # health assessments (drift detection)
    "assessed": RunPhase.APPLIED,
    "errored": RunPhase.FAILED,
    "discarded": RunPhase.CANCELLED,
    "canceled": RunPhase.CANCELLED,
    "force_canceled": RunPhase.CANCELLED,
}

# Why a person must decide, said in the action's error.
DECISION_REASONS: dict[str, str] = {
    "pre_plan_awaiting_decision": "a pre-plan run task failed and waits for a person to "
    "override it or cancel the run",
    "post_plan_awaiting_decision": "a post-plan run task or policy evaluation failed and waits "
    "for a person to override it or cancel the run",
    "policy_override": "a soft-mandatory Sentinel policy failed and waits for a person with "
    "policy override permission to override it or discard the run",
    "tf_policy_override": "a soft-mandatory OPA policy failed and waits for a person with "
    "policy override permission to override it or discard the run",
}

DECISION_MODES = ("fail", "wait")


def phase(status: str) -> RunPhase:
    """The phase of a run status (unknown statuses: running)."""
    return RUN_STATUSES.get(status, RunPhase.RUNNING)
