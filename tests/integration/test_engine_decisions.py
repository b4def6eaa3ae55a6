"""Operator decisions and the engine's follow-up jobs on real PostgreSQL: escalation tickets,
manual-only items, abort cancelling in-flight runs, timeouts, retries with a fresh correlation
key, and notifications. A scripted executor stands in for the external systems."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from orchestrator.engine.executor import (
    ActionResult,
    ActionRun,
    Completed,
    Failed,
    Pending,
    Registry,
)
from orchestrator.engine.jobs import NOTIFY
from orchestrator.engine.manual import ManualDefaults
from orchestrator.engine.pg_queue import Job
from orchestrator.identity.principal import Principal
from orchestrator.services import Services
from tests.integration.engine_harness import (
    action_rows,
    drain,
    events,
    item_document,
    make_due,
    make_worker,
    request_row,
    store_item,
    submit,
)

pytestmark = pytest.mark.anyio

OPERATOR = Principal(email="oncall@example.com", teams=("platform",))
MANUAL = {"jira": {"instance": "platform", "project": "OPS", "issueType": "Task"}}


class Target:
    """Records calls per action id; answers from scripts; counts side effects per key."""

    def __init__(self) -> None:
        self.execute_script: dict[str, list[ActionResult]] = {}
        self.poll_script: dict[str, list[ActionResult]] = {}
        self.runs: list[ActionRun] = []
        self.polls: list[ActionRun] = []
        self.cancelled: list[ActionRun] = []
        self.notified: list[tuple[str, str, str]] = []
        self.created: dict[str, int] = {}
        self.delay = 0.0

    async def execute(self, action: ActionRun) -> ActionResult:
        self.runs.append(action)
        if self.delay:
            await asyncio.sleep(self.delay)
        queued = self.execute_script.get(action.action_id)
        if queued:
            return queued.pop(0)
        self.created[action.correlation_key] = self.created.get(action.correlation_key, 0) + 1
        key = f"OPS-{len(self.created)}"
        return Completed({"key": key, "url": f"https://jira.test/browse/{key}"})

    async def poll(self, action: ActionRun) -> ActionResult:
        self.polls.append(action)
        queued = self.poll_script.get(action.action_id)
        if queued:
            return queued.pop(0)
        return Completed({"key": action.external_ref})

    async def cancel(self, action: ActionRun) -> None:
        self.cancelled.append(action)

    async def notify(self, action: ActionRun, state: str, message: str) -> None:
        self.notified.append((action.action_id, state, message))


class PlainTarget:
    """An executor that can neither cancel nor be notified."""

    async def execute(self, action: ActionRun) -> ActionResult:
        return Pending(external_ref="run-1", poll_after_seconds=60)

    async def poll(self, action: ActionRun) -> ActionResult:
        return Pending(external_ref="run-1", poll_after_seconds=60)


def action(action_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": action_id,
        "type": "rest-api",
        "config": {"method": "POST", "url": "https://inventory.test/{{fields.instanceName}}"},
        **extra,
    }


async def setup(
    services: Services, actions: list[dict[str, Any]], *, manual: dict[str, Any] | None = MANUAL
) -> str:
    await store_item(services, item_document("decisions-item", actions, manual=manual))
    return await submit(services, "decisions-item", {"instanceName": "orders-db"})


def worker_for(services: Services, target: Any, defaults: ManualDefaults | None = None) -> Any:
    worker = make_worker(services, Registry({"rest-api": target, "jira-ticket": target}))
    if defaults is not None:
        worker.runner.manual_defaults = defaults
        worker.escalation.defaults = defaults
    return worker


async def fail_first_action(services: Services, target: Target) -> tuple[str, Any]:
    request_id = await setup(
        services,
        [
            action("provision", cleanup={"instructions": "delete {{fields.instanceName}}"}),
            action("register"),
        ],
    )
    target.execute_script["register"] = [Failed("HTTP 400: bad owner", retryable=False)]
    worker = worker_for(services, target)
    await drain(worker)
    assert (await request_row(services, request_id))["status"] == "failed"
    return request_id, worker


async def test_escalation_opens_one_ticket_with_the_failure_context(services: Services) -> None:
    target = Target()
    request_id, worker = await fail_first_action(services, target)

    view = await services.requests.escalate(
        uuid.UUID(request_id), OPERATOR, "bad owner field, needs a human", "corr-esc"
    )
    assert view["status"] == "escalated"
    await drain(worker)

    ticket_runs = [r for r in target.runs if r.action_id == "escalation"]
    assert len(ticket_runs) == 1
    config = ticket_runs[0].config
    assert config["project"] == "OPS"
    assert config["waitForCompletion"] is False
    assert "pao-escalation" in config["labels"]
    description = config["description"]
    assert "*Failed action*: register" in description
    assert "HTTP 400: bad owner" in description
    assert "delete orders-db" in description  # cleanup of the completed action
    assert "oncall@example.com" in description
    request = await request_row(services, request_id)
    assert request["escalation_ticket"] == "OPS-2"
    escalation = await services.requests.escalation(uuid.UUID(request_id))
    assert escalation["url"] == "https://jira.test/browse/OPS-2"

    # A redelivered escalate job finds the ticket stored and opens no second one.
    await services.db.execute(
        None,
        "INSERT INTO jobs (kind, payload, request_id) VALUES ('escalate', %(p)s, %(id)s)",
        {"p": f'{{"request_id": "{request_id}", "reason": "again"}}', "id": request_id},
    )
    await drain(worker)
    assert len([r for r in target.runs if r.action_id == "escalation"]) == 1


async def test_escalation_without_manual_support_is_logged(services: Services) -> None:
    target = Target()
    request_id = await setup(services, [action("provision")], manual=None)
    target.execute_script["provision"] = [Failed("boom", retryable=False)]
    worker = worker_for(services, target)
    await drain(worker)
    await services.requests.escalate(uuid.UUID(request_id), OPERATOR, "help", "corr")
    await drain(worker)
    assert (None, "escalation_ticket_failed") in await events(services, request_id)
    request = await request_row(services, request_id)
    assert request["escalation_ticket"] is None
    assert request["escalation_state"] == "not_configured"
    assert "PAO_MANUAL_JIRA_PROJECT" in request["escalation_error"]

    # With a configured default project, escalating again opens a ticket there.
    defaults = ManualDefaults(jira_instance="platform", jira_project="HELP")
    worker = worker_for(services, target, defaults)
    await services.requests.escalate(uuid.UUID(request_id), OPERATOR, "help", "corr-again")
    await drain(worker)
    ticket = [r for r in target.runs if r.action_id == "escalation"]
    assert ticket[-1].config["project"] == "HELP"
    assert (await request_row(services, request_id))["escalation_ticket"] is not None


async def test_manual_only_item_is_fulfilled_by_a_ticket(services: Services) -> None:
    target = Target()
    request_id = await setup(services, [])
    target.execute_script["manual"] = [
        Pending(external_ref="OPS-7", url="https://jira.test/browse/OPS-7")
    ]
    target.poll_script["manual"] = [Pending(external_ref="OPS-7")]
    worker = worker_for(services, target)
    await drain(worker)

    (run,) = target.runs
    assert run.action_type == "jira-ticket"
    assert run.config["project"] == "OPS"
    assert run.config["waitForCompletion"] is True
    assert "instanceName" in run.config["description"]
    assert (await action_rows(services, request_id))["manual"]["external_ref"] == "OPS-7"

    await make_due(services, request_id)
    await drain(worker)
    assert (await request_row(services, request_id))["status"] == "in_progress"
    await make_due(services, request_id)
    await drain(worker)
    assert (await request_row(services, request_id))["status"] == "completed"
    assert len(target.polls) == 2


async def test_abort_cancels_in_flight_runs_where_supported(services: Services) -> None:
    target = Target()
    request_id = await setup(services, [action("provision"), action("register")])
    target.execute_script["provision"] = [Pending(external_ref="run-42", url="https://tf/run-42")]
    worker = worker_for(services, target)
    await drain(worker)
    assert (await action_rows(services, request_id))["provision"]["status"] == "in_progress"

    await services.requests.abort(uuid.UUID(request_id), OPERATOR, "wrong size", "corr-abort")
    await drain(worker)

    assert [c.external_ref for c in target.cancelled] == ["run-42"]
    rows = await action_rows(services, request_id)
    assert rows["provision"]["status"] == "cancelled"
    assert rows["register"]["status"] == "cancelled"
    logged = await events(services, request_id)
    assert ("provision", "action_cancelled") in logged
    assert not target.polls  # the pending poll found the request aborted and did nothing
    request = await request_row(services, request_id)
    assert request["status"] == "aborted"
    assert request["abort_reason"] == "wrong size"


async def test_abort_of_a_run_that_cannot_be_cancelled_says_so(services: Services) -> None:
    request_id = await setup(services, [action("provision")])
    worker = make_worker(services, Registry({"rest-api": PlainTarget()}))
    await drain(worker)
    await services.requests.abort(uuid.UUID(request_id), OPERATOR, "stop", "corr")
    await drain(worker)
    assert ("provision", "action_cancel_unsupported") in await events(services, request_id)


async def test_pending_action_past_its_timeout_fails_and_is_cancelled(services: Services) -> None:
    target = Target()
    request_id = await setup(services, [action("provision", timeout="2h")])
    target.execute_script["provision"] = [Pending(external_ref="run-7")]
    worker = worker_for(services, target)
    await drain(worker)
    row = (await action_rows(services, request_id))["provision"]
    assert row["deadline_at"] is not None

    await services.db.execute(  # two hours pass
        None,
        "UPDATE request_actions SET deadline_at = now() - interval '1 second' WHERE id = %(id)s",
        {"id": row["id"]},
    )
    await make_due(services, request_id)
    await drain(worker)

    assert not target.polls  # not asked again after the deadline
    assert [c.external_ref for c in target.cancelled] == ["run-7"]
    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    error = request["error_context"]["error"]
    assert "exceeded its timeout of 7200s" in error["message"]
    assert error["retryable"] is False


async def test_call_running_past_the_timeout_fails_the_action(services: Services) -> None:
    target = Target()
    target.delay = 5.0
    request_id = await setup(
        services, [action("provision", timeout="1s", retry={"maxAttempts": 2})]
    )
    await drain(worker_for(services, target))
    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    assert "exceeded its timeout of 1s" in request["error_context"]["error"]["message"]
    # Each attempt has its own deadline; a timed-out call may have done its work, so the
    # retry keeps the correlation key (the outcome is unknown).
    assert [r.attempt for r in target.runs] == [1, 2]
    assert len({r.correlation_key for r in target.runs}) == 1
    assert (await action_rows(services, request_id))["provision"]["outcome_unknown"] is True


async def test_operator_retry_uses_a_new_correlation_key(services: Services) -> None:
    target = Target()
    request_id, worker = await fail_first_action(services, target)
    first_key = next(r.correlation_key for r in target.runs if r.action_id == "register")

    await services.requests.retry(uuid.UUID(request_id), OPERATOR, "corr-retry")
    await drain(worker)

    keys = [r.correlation_key for r in target.runs if r.action_id == "register"]
    assert len(keys) == 2
    assert keys[1] != first_key  # a fresh run, not the failed one found again
    assert (await request_row(services, request_id))["status"] == "completed"


async def test_notifications_reach_executors_and_listeners(services: Services) -> None:
    target = Target()
    request_id = await setup(services, [action("provision")])
    target.execute_script["provision"] = [Pending(external_ref="OPS-9")]
    worker = worker_for(services, target)
    heard: list[dict[str, Any]] = []

    async def listener(job: Job) -> None:
        heard.append(dict(job.payload))

    worker.notifier.listen(listener)
    await drain(worker)
    await make_due(services, request_id)
    await drain(worker)

    assert (await request_row(services, request_id))["status"] == "completed"
    assert [(h["event"], h["status"]) for h in heard] == [("request_completed", "completed")]
    assert target.notified == [
        ("provision", "completed", f"PAO request {request_id} is now completed.")
    ]
    jobs = await services.db.fetch_all(
        None,
        "SELECT status FROM jobs WHERE kind = %(k)s AND request_id = %(id)s",
        {"k": NOTIFY, "id": request_id},
    )
    assert [j["status"] for j in jobs] == ["done"]
