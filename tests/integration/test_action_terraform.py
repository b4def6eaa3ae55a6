"""The terraform executor through the real engine (ChainRunner + Worker + PgQueue on real
PostgreSQL) against a stateful fake Terraform Cloud served over loopback HTTP."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from actions.registry import ActionDeps, default_registry
from actions.rest_api import SecretResolver
from actions.terraform import TerraformExecutor, TerraformSettings
from orchestrator.engine.executor import (
    ActionRun,
    Failed,
    Registry,
    correlation_key,
)
from orchestrator.engine.pg_queue import RUN_ACTION
from orchestrator.engine.worker import Worker
from orchestrator.services import Services
from tests.fakes.http_fake import Reply
from tests.fakes.terraform_cloud import FakeTerraformCloud, serve_terraform_cloud
from tests.integration import engine_harness as harness
from tests.integration.engine_harness import (
    Crash,
    CrashAfterExecute,
    action_rows,
    drain,
    item_document,
    make_due,
    ready_jobs,
    request_row,
    store_item,
)

pytestmark = pytest.mark.anyio

ITEM_ID = "terraform-item"
TOKEN = "tfc-T0ken-s3cret-atlasv1-value"
PASSWORD = "Adm1n-Passw0rd-s3cret"
SENSITIVE_OUTPUT = "s3cr3t-pw"  # the fake's sensitive state output
SECRET_ENV = {"TFC_TOKEN": TOKEN}
FIELDS = [
    {"id": "instanceName", "name": "Instance", "type": "string"},
    {"id": "adminPassword", "name": "Admin password", "type": "password"},
]


@pytest.fixture
def tfc() -> Iterator[FakeTerraformCloud]:
    with serve_terraform_cloud(token=TOKEN, organizations={"acme"}) as fake:
        yield fake


def settings(tfc: FakeTerraformCloud, **overrides: Any) -> TerraformSettings:
    values: dict[str, Any] = {
        "address": tfc.base_url,
        "token_ref": "env:TFC_TOKEN",
        "organization": "acme",
        "poll_interval_seconds": 5.0,
        "timeout_seconds": 5.0,
        "vcs_oauth_token_id": "ot-fakeVcsConnection",
    }
    values.update(overrides)
    return TerraformSettings(**values)


def executor(tfc: FakeTerraformCloud, **overrides: Any) -> TerraformExecutor:
    return TerraformExecutor(SecretResolver(SECRET_ENV), settings(tfc, **overrides))


def provision(**config: Any) -> dict[str, Any]:
    extra = config.pop("action", {})
    return {
        "id": "provision",
        "type": "terraform",
        "config": {
            "workspace": "db-{{fields.instanceName}}",
            "variables": {
                "instance_name": "{{fields.instanceName}}",
                "admin_password": "{{fields.adminPassword}}",
                "replicas": 2,
                "tags": {"team": "payments"},
            },
            "sensitiveVariables": ["admin_password"],
            "message": "Provision {{fields.instanceName}}",
            **config,
        },
        **extra,
    }


async def store(services: Services, actions: list[dict[str, Any]]) -> None:
    await store_item(services, item_document(ITEM_ID, actions, fields=FIELDS))


def make_worker(
    services: Services,
    tfc: FakeTerraformCloud,
    *,
    registry: Registry | None = None,
    lease_seconds: float = 300.0,
    **overrides: Any,
) -> Worker:
    deps = ActionDeps(secret_environment=SECRET_ENV, terraform=settings(tfc, **overrides))
    return harness.make_worker(
        services, registry or default_registry(deps), lease_seconds=lease_seconds
    )


async def submit(services: Services, name: str = "orders") -> str:
    return await harness.submit(
        services, ITEM_ID, {"instanceName": name, "adminPassword": PASSWORD}
    )


async def poll_until_settled(services: Services, worker: Worker, request_id: str) -> None:
    """Fast-forward the poll jobs until the request leaves in_progress (bounded)."""
    await drain(worker)
    for _ in range(20):
        if (await request_row(services, request_id))["status"] != "in_progress":
            return
        await make_due(services, request_id)
        await drain(worker)
    raise AssertionError("request did not settle")


async def assert_no_secret_stored(services: Services) -> None:
    await harness.assert_no_secret_stored(services, (TOKEN, PASSWORD, SENSITIVE_OUTPUT))


# -- the happy paths -------------------------------------------------------------------------------


async def test_plan_then_apply_then_outputs_feed_the_next_action(
    services: Services, tfc: FakeTerraformCloud
) -> None:
    tfc.add_workspace("acme", "db-orders")
    register = tfc.add_workspace("acme", "inventory")
    follow_up = {
        "id": "register",
        "type": "terraform",
        "config": {
            "workspace": "inventory",
            "autoApply": True,
            "variables": {
                "endpoint": "{{outputs.provision.db_endpoint}}",
                "port": "{{outputs.provision.db_port}}",
            },
        },
    }
    await store(services, [provision(), follow_up])
    request_id = await submit(services)
    worker = make_worker(services, tfc)

    assert await worker.run_once()  # execute: variables written, run queued
    row = (await action_rows(services, request_id))["provision"]
    assert row["status"] == "in_progress"
    (run_id,) = tfc.runs
    assert row["external_ref"] == run_id
    assert row["external_url"] == f"{tfc.base_url}/app/acme/workspaces/db-orders/runs/{run_id}"
    (poll_job,) = await ready_jobs(services, request_id)
    assert poll_job["kind"] == "poll-action"
    assert (poll_job["run_after"] - datetime.now(UTC)).total_seconds() > 3.0  # 5 s interval

    await poll_until_settled(services, worker, request_id)

    request = await request_row(services, request_id)
    assert request["status"] == "completed", request["error_context"]
    first, second = tfc.runs.values()
    assert first.actions == ["apply"]  # PAO confirmed the plan once
    assert second.actions == []  # auto-apply: nothing to confirm
    assert (first.status, second.status) == ("applied", "applied")
    assert first.auto_apply is False
    assert second.auto_apply is True
    assert first.message == (
        f"Provision orders [PAO request {request_id}, {correlation_key(request_id, 'provision')}]"
    )
    workspace = tfc.workspace("acme", "db-orders")
    assert workspace is not None
    outputs = (await action_rows(services, request_id))["provision"]["outputs"]
    assert outputs == {
        "db_endpoint": "db.internal",
        "db_port": 5432,
        "db_password": None,
        "sensitive_outputs": ["db_password"],
        "run_id": first.id,
        "run_url": f"{tfc.base_url}/app/acme/workspaces/db-orders/runs/{first.id}",
        "workspace_id": workspace.id,
    }
    variables = tfc.variables(register)
    assert variables["endpoint"]["value"] == "db.internal"
    assert variables["port"]["value"] == "5432"
    applies = tfc.seen(f"/api/v2/runs/{first.id}/actions/apply", "POST")
    assert len(applies) == 1
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in tfc.requests)
    assert all(r.headers["content-type"] == "application/vnd.api+json" for r in applies)
    await assert_no_secret_stored(services)


async def test_variables_encoded_and_sensitive_ones_marked(
    services: Services, tfc: FakeTerraformCloud
) -> None:
    workspace = tfc.add_workspace("acme", "db-orders")
    with tfc.lock:  # an existing variable with an old value is updated, not duplicated
        workspace.vars["var-old"] = {
            "key": "replicas",
            "value": "1",
            "category": "terraform",
            "hcl": False,
            "sensitive": False,
        }
    await store(services, [provision(autoApply=True)])
    request_id = await submit(services)
    await poll_until_settled(services, make_worker(services, tfc), request_id)

    assert (await request_row(services, request_id))["status"] == "completed"
    variables = tfc.variables(workspace)
    assert variables == {
        "replicas": {
            "key": "replicas",
            "value": "2",
            "category": "terraform",
            "hcl": False,
            "sensitive": False,
        },
        "instance_name": {
            "key": "instance_name",
            "value": "orders",
            "category": "terraform",
            "hcl": False,
            "sensitive": False,
        },
        "admin_password": {
            "key": "admin_password",
            "value": PASSWORD,
            "category": "terraform",
            "hcl": False,
            "sensitive": True,
        },
        "tags": {
            "key": "tags",
            "value": '{"team": "payments"}',
            "category": "terraform",
            "hcl": True,
            "sensitive": False,
        },
    }
    assert len(tfc.seen(f"/api/v2/workspaces/{workspace.id}/vars/var-old", "PATCH")) == 1
    assert len(tfc.seen(f"/api/v2/workspaces/{workspace.id}/vars", "POST")) == 3
    assert len(workspace.vars) == 4
    await assert_no_secret_stored(services)


async def test_workspace_created_from_template(services: Services, tfc: FakeTerraformCloud) -> None:
    template = {
        "repository": "acme/infra-databases",
        "workingDirectory": "postgres",
        "terraformVersion": "1.9.8",
        "branch": "main",
    }
    await store(
        services,
        [provision(createWorkspace=True, workspaceTemplate=template, autoApply=True)],
    )
    request_id = await submit(services)
    await poll_until_settled(services, make_worker(services, tfc), request_id)

    assert (await request_row(services, request_id))["status"] == "completed"
    workspace = tfc.workspace("acme", "db-orders")
    assert workspace is not None
    assert workspace.attributes == {
        "terraform-version": "1.9.8",
        "working-directory": "postgres",
        "vcs-repo": {
            "identifier": "acme/infra-databases",
            "oauth-token-id": "ot-fakeVcsConnection",
            "branch": "main",
        },
    }
    assert len(tfc.seen("/api/v2/organizations/acme/workspaces", "POST")) == 1
    assert tfc.runs_created == 1
    (run,) = tfc.runs.values()
    assert run.workspace_id == workspace.id


async def test_missing_workspace_fails_without_retry(
    services: Services, tfc: FakeTerraformCloud
) -> None:
    await store(services, [provision(action={"retry": {"maxAttempts": 3}})])
    request_id = await submit(services)
    await drain(make_worker(services, tfc))

    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    error = request["error_context"]["error"]
    assert error["retryable"] is False
    assert "workspace 'db-orders' does not exist in organization 'acme'" in error["message"]
    assert "createWorkspace" in error["message"]
    assert tfc.runs_created == 0
    assert tfc.workspace("acme", "db-orders") is None
    assert len(tfc.seen("/api/v2/organizations/acme/workspaces/db-orders", "GET")) == 1


# -- failing runs ----------------------------------------------------------------------------------


async def test_errored_run_fails_request_with_run_url(
    services: Services, tfc: FakeTerraformCloud
) -> None:
    tfc.add_workspace("acme", "db-orders")
    tfc.next_scripts.append(["pending", "planning", "errored"])
    await store(services, [provision(action={"retry": {"maxAttempts": 3}})])
    request_id = await submit(services)
    await poll_until_settled(services, make_worker(services, tfc), request_id)

    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    (run_id,) = tfc.runs
    error = request["error_context"]["error"]
    assert error["retryable"] is False
    assert "errored" in error["message"]
    url = f"{tfc.base_url}/app/acme/workspaces/db-orders/runs/{run_id}"
    assert url in error["message"]
    assert error["details"]["run_url"] == url
    assert tfc.runs_created == 1  # not retried into a second run


async def test_policy_soft_failure_fails_request(
    services: Services, tfc: FakeTerraformCloud
) -> None:
    tfc.add_workspace("acme", "db-orders")
    tfc.next_scripts.append(
        ["pending", "planning", "planned", "policy_checking", "policy_override"]
    )
    await store(services, [provision()])
    request_id = await submit(services)
    await poll_until_settled(services, make_worker(services, tfc), request_id)

    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    error = request["error_context"]["error"]
    assert error["retryable"] is False
    assert "needs a person's decision (policy_override)" in error["message"]
    assert "/runs/run-" in error["message"]  # the run's link
    (run,) = tfc.runs.values()
    assert run.actions == []  # policies run before confirmation: nothing was applied


async def test_plan_without_changes_completes(services: Services, tfc: FakeTerraformCloud) -> None:
    workspace = tfc.add_workspace("acme", "db-orders")
    tfc.next_scripts.append(["pending", "planning", "planned_and_finished"])
    await store(services, [provision()])
    request_id = await submit(services)
    await poll_until_settled(services, make_worker(services, tfc), request_id)

    assert (await request_row(services, request_id))["status"] == "completed"
    (run,) = tfc.runs.values()
    assert run.actions == []
    outputs = (await action_rows(services, request_id))["provision"]["outputs"]
    assert outputs["workspace_id"] == workspace.id
    assert set(outputs) == {"run_id", "run_url", "workspace_id"}  # no state yet


# -- retries, redelivery, auth ---------------------------------------------------------------------


async def test_429_with_retry_after_then_success(
    services: Services, tfc: FakeTerraformCloud
) -> None:
    tfc.add_workspace("acme", "db-orders")
    tfc.script(
        "POST",
        "/api/v2/runs",
        Reply(
            429,
            {
                "errors": [
                    {
                        "status": "429",
                        "title": "Too many requests",
                        "detail": "You have exceeded the API's rate limit.",
                    }
                ]
            },
            headers={"Retry-After": "7"},
            content_type="application/vnd.api+json",
        ),
    )
    await store(services, [provision(autoApply=True, action={"retry": {"maxAttempts": 3}})])
    request_id = await submit(services)
    worker = make_worker(services, tfc)

    assert await worker.run_once()
    row = (await action_rows(services, request_id))["provision"]
    assert row["status"] == "retrying"
    assert row["error"]["retryable"] is True
    assert row["error"]["retry_after"] == 7.0
    assert "HTTP 429" in row["error"]["message"]
    assert "exceeded the API's rate limit" in row["error"]["message"]
    assert await drain(worker) == 0  # not due yet

    await poll_until_settled(services, worker, request_id)
    assert (await request_row(services, request_id))["status"] == "completed"
    assert len(tfc.seen("/api/v2/runs", "POST")) == 2
    assert tfc.runs_created == 1


async def test_server_error_is_retried(services: Services, tfc: FakeTerraformCloud) -> None:
    tfc.add_workspace("acme", "db-orders")
    tfc.script(
        "GET",
        "/api/v2/organizations/acme/workspaces/db-orders",
        Reply(502, b"<html>bad gateway</html>", content_type="text/html"),
    )
    await store(services, [provision(autoApply=True, action={"retry": {"maxAttempts": 2}})])
    request_id = await submit(services)
    await poll_until_settled(services, make_worker(services, tfc), request_id)

    assert (await request_row(services, request_id))["status"] == "completed"
    assert tfc.runs_created == 1


async def test_bad_token_fails_without_leaking_it(
    services: Services, tfc: FakeTerraformCloud
) -> None:
    tfc.token = "a-different-token"
    tfc.add_workspace("acme", "db-orders")
    await store(services, [provision(action={"retry": {"maxAttempts": 3}})])
    request_id = await submit(services)
    await drain(make_worker(services, tfc))

    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    error = request["error_context"]["error"]
    assert error["retryable"] is False
    assert "HTTP 401" in error["message"]
    assert "invalid or missing API token" in error["message"]
    assert len(tfc.requests) == 1
    await assert_no_secret_stored(services)


async def test_redelivery_finds_the_existing_run(
    services: Services, tfc: FakeTerraformCloud
) -> None:
    workspace = tfc.add_workspace("acme", "db-orders")
    await store(services, [provision()])
    request_id = await submit(services)
    crashing = Registry({"terraform": CrashAfterExecute(executor(tfc))})
    stalled = make_worker(services, tfc, registry=crashing, lease_seconds=0)
    job = await stalled.queue.claim("stalled", [RUN_ACTION], lease_seconds=0)
    assert job is not None
    with pytest.raises(Crash):
        await stalled.runner.handle(job)
    assert tfc.runs_created == 1
    var_writes = len(tfc.seen(f"/api/v2/workspaces/{workspace.id}/vars", "POST"))

    rescuer = make_worker(services, tfc)  # the lease expired: the job is delivered again
    await poll_until_settled(services, rescuer, request_id)

    assert (await request_row(services, request_id))["status"] == "completed"
    assert tfc.runs_created == 1  # one run despite two deliveries
    assert len(tfc.seen("/api/v2/runs", "POST")) == 1
    assert len(tfc.seen(f"/api/v2/workspaces/{workspace.id}/runs", "GET")) == 2
    # the redelivery found the run before touching the variables again
    assert len(tfc.seen(f"/api/v2/workspaces/{workspace.id}/vars", "POST")) == var_writes
    (run_id,) = tfc.runs
    assert (await action_rows(services, request_id))["provision"]["outputs"]["run_id"] == run_id


# -- cancel and describe ---------------------------------------------------------------------------


def run_of(request_id: str, run_id: str | None) -> ActionRun:
    return ActionRun(
        request_id=request_id,
        action_id="provision",
        action_type="terraform",
        config={"workspace": "db-orders", "organization": "acme"},
        correlation_key=correlation_key(request_id, "provision"),
        attempt=1,
        external_ref=run_id,
    )


async def test_cancel_in_flight_run(services: Services, tfc: FakeTerraformCloud) -> None:
    tfc.add_workspace("acme", "db-orders")
    tfc.next_scripts.append(["pending", "planning", "planning", "planned", "applying", "applied"])
    await store(services, [provision()])
    request_id = await submit(services)
    worker = make_worker(services, tfc)
    await drain(worker)
    await make_due(services, request_id)
    await drain(worker)  # one poll: the run is planning
    (run,) = tfc.runs.values()
    assert run.status == "planning"

    await executor(tfc).cancel(run_of(request_id, run.id))

    assert run.actions == ["cancel"]
    assert run.status == "canceled"
    assert len(tfc.seen(f"/api/v2/runs/{run.id}/actions/cancel", "POST")) == 1
    await make_due(services, request_id)
    await drain(worker)
    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    assert "canceled" in request["error_context"]["error"]["message"]


async def test_cancel_discards_a_run_waiting_for_confirmation_found_by_key(
    services: Services, tfc: FakeTerraformCloud
) -> None:
    workspace = tfc.add_workspace("acme", "db-orders")
    await store(services, [provision()])
    request_id = await submit(services)
    await drain(make_worker(services, tfc))
    (run,) = tfc.runs.values()
    with tfc.lock:
        run.step = run.script.index("planned")  # paused after the plan

    await executor(tfc).cancel(run_of(request_id, None))  # no external ref: found by key

    assert run.actions == ["discard"]
    assert run.status == "discarded"
    assert len(tfc.seen(f"/api/v2/workspaces/{workspace.id}/runs", "GET")) == 2


async def test_describe_shows_payloads_without_network(tfc: FakeTerraformCloud) -> None:
    action = ActionRun(
        request_id="req-1",
        action_id="provision",
        action_type="terraform",
        config={
            "workspace": "db-orders",
            "createWorkspace": True,
            "workspaceTemplate": {"repository": "acme/infra", "branch": "main"},
            "variables": {"size": "small", "admin_password": "env:IGNORED", "replicas": 2},
            "sensitiveVariables": ["admin_password"],
            "autoApply": True,
        },
        correlation_key="pao-key",
        attempt=1,
    )
    description = executor(tfc).describe(action)

    assert tfc.requests == []
    assert description["address"] == tfc.base_url
    assert description["token"] == "env:TFC_TOKEN"
    assert description["workspace"] == {
        "organization": "acme",
        "name": "db-orders",
        "create_if_missing": True,
        "create_payload": {
            "type": "workspaces",
            "attributes": {
                "name": "db-orders",
                "vcs-repo": {
                    "identifier": "acme/infra",
                    "oauth-token-id": "ot-fakeVcsConnection",
                    "branch": "main",
                },
            },
        },
    }
    variables = {v["key"]: v for v in description["variables"]}
    assert variables["admin_password"]["value"] == "(sensitive)"
    assert variables["admin_password"]["sensitive"] is True
    assert variables["size"]["value"] == "small"
    assert variables["replicas"] == {
        "key": "replicas",
        "value": "2",
        "category": "terraform",
        "hcl": False,
        "sensitive": False,
    }
    run = description["run"]
    assert run["attributes"] == {
        "message": "Queued by PAO [PAO request req-1, pao-key]",
        "auto-apply": True,
    }
    assert run["relationships"]["workspace"]["data"]["type"] == "workspaces"
    assert TOKEN not in repr(description)


# -- the HTTP policy, called directly ---------------------------------------------------------------


def direct_run(**config: Any) -> ActionRun:
    return ActionRun(
        request_id="req-direct",
        action_id="provision",
        action_type="terraform",
        config={"workspace": "db-orders", **config},
        correlation_key="pao-direct-key",
        attempt=1,
    )


async def test_rate_limit_reset_header_sets_retry_after(tfc: FakeTerraformCloud) -> None:
    tfc.script(
        "GET",
        "/api/v2/organizations/acme/workspaces/db-orders",
        Reply(
            429,
            {"errors": [{"status": "429", "title": "Too many requests"}]},
            headers={"x-ratelimit-reset": "0.75"},
        ),
    )
    result = await executor(tfc).execute(direct_run())

    assert isinstance(result, Failed)
    assert result.retryable is True
    assert result.retry_after == 0.75
    assert "Too many requests" in result.error


async def test_token_echoed_in_an_error_is_redacted(tfc: FakeTerraformCloud) -> None:
    tfc.add_workspace("acme", "db-orders")
    tfc.script(
        "GET",
        "/api/v2/organizations/acme/workspaces/db-orders",
        Reply(422, {"errors": [{"status": "422", "detail": f"bad header Bearer {TOKEN}"}]}),
    )
    result = await executor(tfc).execute(direct_run())

    assert isinstance(result, Failed)
    assert result.retryable is False
    assert TOKEN not in result.error
    assert "bad header Bearer ****" in result.error
    assert result.details == {"status_code": 422}


async def test_unreachable_address_is_retryable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    resolver = SecretResolver(SECRET_ENV)
    unreachable = TerraformExecutor(
        resolver,
        TerraformSettings(
            address=f"http://127.0.0.1:{port}", token_ref="env:TFC_TOKEN", organization="acme"
        ),
    )
    result = await unreachable.execute(direct_run())

    assert isinstance(result, Failed)
    assert result.retryable is True
    assert "ConnectError" in result.error
    assert TOKEN not in result.error


async def test_unconfigured_token_and_organization_fail_clearly(tfc: FakeTerraformCloud) -> None:
    no_token = await executor(tfc, token_ref=None).execute(direct_run())
    no_org = await executor(tfc, organization=None).execute(direct_run())
    unset = await executor(tfc, token_ref="env:TFC_MISSING").execute(direct_run())

    assert isinstance(no_token, Failed)
    assert no_token.retryable is False
    assert "TFC_TOKEN_REF" in no_token.error
    assert isinstance(no_org, Failed)
    assert "TFC_ORGANIZATION" in no_org.error
    assert isinstance(unset, Failed)
    assert "'env:TFC_MISSING' is not set" in unset.error
    assert tfc.requests == []
