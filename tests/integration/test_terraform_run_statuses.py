"""Every documented Terraform Cloud run status, as the terraform executor reads it, against the
fake Terraform Cloud over loopback HTTP (one test per status), and the run-task / policy
decision flows end to end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from actions.rest_api import SecretResolver
from actions.terraform import TerraformExecutor, TerraformSettings
from actions.terraform_runs import RUN_STATUSES, RunPhase
from orchestrator.engine.executor import ActionRun, Completed, Failed, Pending
from tests.fakes.terraform_cloud import FakeRun, FakeTerraformCloud, serve_terraform_cloud

pytestmark = pytest.mark.anyio

TOKEN = "tfc-T0ken-s3cret-statuses"


@pytest.fixture
def tfc() -> Iterator[FakeTerraformCloud]:
    with serve_terraform_cloud(token=TOKEN, organizations={"acme"}) as fake:
        yield fake


def executor(tfc: FakeTerraformCloud) -> TerraformExecutor:
    settings = TerraformSettings(
        address=tfc.base_url,
        token_ref="env:TFC_TOKEN",
        organization="acme",
        poll_interval_seconds=5.0,
        timeout_seconds=5.0,
    )
    return TerraformExecutor(SecretResolver({"TFC_TOKEN": TOKEN}), settings)


def run_of(run_id: str | None = None, **config: Any) -> ActionRun:
    return ActionRun(
        request_id="req-status",
        action_id="provision",
        action_type="terraform",
        config={"workspace": "db-orders", **config},
        correlation_key="pao-status-key",
        attempt=1,
        external_ref=run_id,
    )


def start_run(tfc: FakeTerraformCloud, script: list[str]) -> FakeRun:
    workspace = tfc.workspace("acme", "db-orders") or tfc.add_workspace("acme", "db-orders")
    with tfc.lock:
        run = FakeRun(
            id=f"run-{len(tfc.runs) + 1:04d}Status",
            workspace_id=workspace.id,
            message="Queued by PAO [PAO request req-status, pao-status-key]",
            auto_apply=False,
            script=script,
        )
        tfc.runs[run.id] = run
    return run


@pytest.mark.parametrize("status", sorted(RUN_STATUSES))
async def test_each_documented_status(tfc: FakeTerraformCloud, status: str) -> None:
    run = start_run(tfc, [status])
    result = await executor(tfc).poll(run_of(run.id))

    kind = RUN_STATUSES[status]
    if kind is RunPhase.RUNNING:
        assert isinstance(result, Pending), result
        assert run.actions == []
    elif kind is RunPhase.CONFIRMABLE:
        assert isinstance(result, Pending), result
        assert run.actions == ["apply"]  # confirmable: PAO confirms
    elif kind is RunPhase.DECISION:
        assert isinstance(result, Failed), result
        assert result.retryable is False
        assert f"needs a person's decision ({status})" in result.error
        assert f"/app/acme/workspaces/db-orders/runs/{run.id}" in result.error
        assert "override" in result.error  # the reason
        assert result.details["reason"]
        assert run.actions == []
        waiting = await executor(tfc).poll(run_of(run.id, onDecision="wait"))
        assert isinstance(waiting, Pending), waiting
    elif kind is RunPhase.APPLIED:
        assert isinstance(result, Completed), result
        assert result.outputs["run_id"] == run.id
    else:
        assert isinstance(result, Failed), result
        assert result.retryable is False
        assert run.id in result.error
        assert run.actions == []


async def test_unknown_status_waits(tfc: FakeTerraformCloud) -> None:
    run = start_run(tfc, ["teleporting"])
    assert isinstance(await executor(tfc).poll(run_of(run.id)), Pending)


async def poll_until_done(tfc: FakeTerraformCloud, run: ActionRun, limit: int = 12) -> Any:
    result: Any = None
    for _ in range(limit):
        result = await executor(tfc).poll(run)
        if not isinstance(result, Pending):
            return result
    return result


async def test_post_plan_run_tasks_then_confirmation_then_apply(tfc: FakeTerraformCloud) -> None:
    script = [
        "pending",
        "planning",
        "planned",
        "post_plan_running",
        "post_plan_completed",
        "apply_queued",
        "applying",
        "applied",
    ]
    run = start_run(tfc, script)
    result = await poll_until_done(tfc, run_of(run.id))

    assert isinstance(result, Completed), result
    assert run.actions == ["apply"]  # confirmed once, at post_plan_completed (not at planned)


async def test_post_plan_decision_fails_with_link_by_default(tfc: FakeTerraformCloud) -> None:
    script = ["pending", "planning", "planned", "post_plan_running", "post_plan_awaiting_decision"]
    run = start_run(tfc, script)
    result = await poll_until_done(tfc, run_of(run.id))

    assert isinstance(result, Failed)
    assert "post_plan_awaiting_decision" in result.error
    assert "run task" in result.error
    assert run.id in result.error


async def test_item_waits_for_the_decision_then_applies(tfc: FakeTerraformCloud) -> None:
    script = [
        "pending",
        "pre_plan_running",
        "pre_plan_awaiting_decision",
        "planning",
        "planned",
        "policy_checking",
        "policy_override",
        "policy_checked",
        "applying",
        "applied",
    ]
    run = start_run(tfc, script)
    waiting = run_of(run.id, onDecision="wait")
    for _ in range(4):
        assert isinstance(await executor(tfc).poll(waiting), Pending)
    assert run.status == "pre_plan_awaiting_decision"
    tfc.decide(run.id)  # someone overrides the run task
    for _ in range(5):
        assert isinstance(await executor(tfc).poll(waiting), Pending)
    assert run.status == "policy_override"
    assert run.actions == []
    tfc.decide(run.id)  # someone overrides the policy
    result = await poll_until_done(tfc, waiting)

    assert isinstance(result, Completed), result
    assert run.actions == ["apply"]  # policy_checked (confirmable) applied by PAO
