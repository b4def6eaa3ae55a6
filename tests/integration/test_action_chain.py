"""Issue 6's closing acceptance test: one catalog item chaining all four action types (a JIRA
approval ticket, a Terraform run, a GitHub workflow and a REST call) through the real engine,
the registry built from a process environment exactly as the worker builds it, against the four
loopback fakes driven by the real client libraries. Each system is checked for what actually
arrived there: the outputs of the actions before it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from actions.registry import registry_from_environment
from orchestrator.engine.executor import correlation_key
from orchestrator.engine.worker import Worker
from orchestrator.services import Services
from tests.fakes.github.actions import ActionsArea
from tests.fakes.github.core import FakeGitHub
from tests.fakes.jira import FakeJira
from tests.fakes.rest_target import RestTarget, serve_rest_target
from tests.fakes.terraform_cloud import FakeTerraformCloud, serve_terraform_cloud
from tests.integration import engine_harness as harness
from tests.integration.engine_harness import (
    action_rows,
    drain,
    events,
    item_document,
    make_due,
    request_row,
    store_item,
)

pytestmark = pytest.mark.anyio

ITEM_ID = "postgres-with-approval"
JIRA_USER = "bot@example.com"
JIRA_TOKEN = "all4-Jira-T0ken-s3cret"
TFC_TOKEN = "all4-Tfc-T0ken-s3cret.atlasv1"
GITHUB_TOKEN = "ghp_All4ChainT0kenS3cret424242424242"
TARGET_TOKEN = "all4-Inventory-T0ken-s3cret"
ADMIN_PASSWORD = "all4-Adm1n-Passw0rd"
SENSITIVE_OUTPUT = "s3cr3t-pw"  # the value of the fake state's sensitive ``db_password``
SECRETS = (JIRA_TOKEN, TFC_TOKEN, GITHUB_TOKEN, TARGET_TOKEN, ADMIN_PASSWORD, SENSITIVE_OUTPUT)
REPO = "acme/db-bootstrap"
WORKFLOW = "bootstrap.yml"
DISPATCHES = f"/repos/{REPO}/actions/workflows/{WORKFLOW}/dispatches"
ORDER = ["approval", "provision", "bootstrap", "register"]
FIELDS = [
    {"id": "instanceName", "name": "Instance", "type": "string"},
    {"id": "adminPassword", "name": "Admin password", "type": "password"},
]


@dataclass
class Fakes:
    jira: FakeJira
    tfc: FakeTerraformCloud
    gh: FakeGitHub
    actions: ActionsArea
    target: RestTarget


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    jira = FakeJira(basic={(JIRA_USER, JIRA_TOKEN)})
    jira.add_project("DBA")
    gh = FakeGitHub()
    gh.tokens = {GITHUB_TOKEN}
    actions = ActionsArea(gh)
    with (
        jira.serve(),
        serve_terraform_cloud(token=TFC_TOKEN, organizations={"acme"}) as tfc,
        gh.serve(),
        serve_rest_target() as target,
    ):
        target.require_auth = f"Bearer {TARGET_TOKEN}"
        yield Fakes(jira, tfc, gh, actions, target)


CHAIN: list[dict[str, Any]] = [
    {
        "id": "approval",
        "type": "jira-ticket",
        "config": {
            "instance": "platform",
            "project": "DBA",
            "summary": "Approve database {{fields.instanceName}}",
            "labels": ["pao-approval"],
            "waitForCompletion": True,
        },
        "cleanup": {"instructions": "Close {{outputs.approval.key}} at {{outputs.approval.url}}"},
    },
    {
        "id": "provision",
        "type": "terraform",
        "config": {
            "workspace": "db-{{fields.instanceName}}",
            "createWorkspace": True,
            "workspaceTemplate": {
                "repository": "acme/infra-databases",
                "workingDirectory": "postgres",
                "terraformVersion": "1.9.8",
                "branch": "main",
            },
            "variables": {
                "instance_name": "{{fields.instanceName}}",
                "approval_ticket": "{{outputs.approval.key}}",
                "admin_password": "{{fields.adminPassword}}",
            },
            "sensitiveVariables": ["admin_password"],
            "message": "Provision {{fields.instanceName}} ({{outputs.approval.key}})",
        },
        "cleanup": {
            "instructions": "Destroy workspace {{outputs.provision.workspace_id}}"
            " (applied by {{outputs.provision.run_url}})"
        },
    },
    {
        "id": "bootstrap",
        "type": "github-workflow",
        "config": {
            "repository": REPO,
            "workflow": WORKFLOW,
            "inputs": {
                "endpoint": "{{outputs.provision.db_endpoint}}",
                "port": "{{outputs.provision.db_port}}",
                "ticket": "{{outputs.approval.key}}",
            },
            "pollIntervalSeconds": 10,
        },
    },
    {
        "id": "register",
        "type": "rest-api",
        "config": {
            "method": "POST",
            "url": "{{environment.INVENTORY_URL}}/api/v2/resources",
            "auth": {"type": "bearer", "tokenRef": "env:INVENTORY_TOKEN"},
            "body": {
                "name": "{{fields.instanceName}}",
                "ticket": "{{outputs.approval.key}}",
                "endpoint": "{{outputs.provision.db_endpoint}}",
                "workspace": "{{outputs.provision.workspace_id}}",
                "bootstrap_run_id": "{{outputs.bootstrap.run_id}}",
                "bootstrap_run_url": "{{outputs.bootstrap.run_url}}",
            },
            "expectedStatus": [201],
            "outputs": {"inventory_id": "id"},
        },
    },
]


def environment(fakes: Fakes) -> dict[str, str]:
    """The worker process's environment: settings and the secrets its references name."""
    instances = {
        "platform": {
            "url": fakes.jira.base_url,
            "auth": {"type": "basic", "user": JIRA_USER, "tokenRef": "env:JIRA_TOKEN"},
        }
    }
    return {
        "JIRA_INSTANCES": json.dumps(instances),
        "JIRA_POLL_INTERVAL": "30s",
        "JIRA_TIMEOUT": "5",
        "JIRA_TOKEN": JIRA_TOKEN,
        "TFC_ADDRESS": fakes.tfc.base_url,
        "TFC_TOKEN_REF": "env:TFC_TOKEN",
        "TFC_TOKEN": TFC_TOKEN,
        "TFC_ORGANIZATION": "acme",
        "TFC_POLL_INTERVAL": "5",
        "TFC_TIMEOUT": "5",
        "TFC_VCS_OAUTH_TOKEN_ID": "ot-fakeVcsConnection",
        "GITHUB_API_URL": fakes.gh.base_url,
        "GITHUB_TOKEN": GITHUB_TOKEN,
        "GITHUB_TIMEOUT_SECONDS": "5",
        "REST_API_ALLOWED_HOSTS": "127.0.0.1",
        "INVENTORY_TOKEN": TARGET_TOKEN,
    }


def make_worker(services: Services, fakes: Fakes) -> Worker:
    return harness.make_worker(
        services,
        registry_from_environment(environment(fakes)),
        template_environment={"INVENTORY_URL": fakes.target.base_url},
    )


async def start(services: Services, fakes: Fakes, conclusion: str = "success") -> str:
    fakes.actions.add_workflow(
        REPO,
        WORKFLOW,
        inputs={"endpoint", "port", "ticket", "pao_correlation"},
        required={"endpoint", "ticket"},
        conclusion=conclusion,
        jobs={"bootstrap": ("Set up job", "Run migrations", "Complete job")},
        failing=("bootstrap", "Run migrations"),
    )
    await store_item(services, item_document(ITEM_ID, CHAIN, fields=FIELDS))
    return await harness.submit(
        services, ITEM_ID, {"instanceName": "orders", "adminPassword": ADMIN_PASSWORD}
    )


async def approve_then_settle(
    services: Services, worker: Worker, fakes: Fakes, request_id: str
) -> str:
    """Run until the approval ticket waits on a person, check the chain stops there, approve
    it on the fake, then fast-forward the polls until the request settles. The ticket key."""
    await drain(worker)
    row = (await action_rows(services, request_id))["approval"]
    assert row["status"] == "in_progress"
    key = str(row["external_ref"])
    await make_due(services, request_id)
    await drain(worker)  # polled: still To Do, nothing further started
    assert (await request_row(services, request_id))["status"] == "in_progress"
    assert fakes.tfc.workspace("acme", "db-orders") is None
    assert not fakes.tfc.runs

    fakes.jira.move(key, "Done")
    for _ in range(30):
        await make_due(services, request_id)
        await drain(worker)
        if (await request_row(services, request_id))["status"] != "in_progress":
            return key
    raise AssertionError("the chain did not settle")


def single(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


async def test_all_four_types_in_one_chain_with_outputs_flowing(
    services: Services, fakes: Fakes
) -> None:
    request_id = await start(services, fakes)
    key = await approve_then_settle(services, make_worker(services, fakes), fakes, request_id)

    request = await request_row(services, request_id)
    assert request["status"] == "completed", request["error_context"]
    rows = await action_rows(services, request_id)
    assert list(rows) == ORDER
    assert all(r["status"] == "completed" for r in rows.values())

    # JIRA: one approval ticket, its key and URL the action's outputs.
    issue_post = single(fakes.jira.seen("/rest/api/2/issue", "POST"))
    assert fakes.jira.created == 1
    assert issue_post.json()["fields"]["summary"] == "Approve database orders"
    approval = rows["approval"]["outputs"]
    assert approval["key"] == key == "DBA-1"
    assert approval["url"] == f"{fakes.jira.base_url}/browse/{key}"
    assert approval["status"] == "Done"

    # Terraform: workspace made from the template, the ticket key in a variable and in the run
    # message, the plan confirmed once, outputs read from state with the sensitive one masked.
    workspace = fakes.tfc.workspace("acme", "db-orders")
    assert workspace is not None
    single(fakes.tfc.seen("/api/v2/organizations/acme/workspaces", "POST"))
    assert workspace.attributes["vcs-repo"]["identifier"] == "acme/infra-databases"
    assert workspace.attributes["working-directory"] == "postgres"
    sent_vars = {
        r.json()["data"]["attributes"]["key"]: r.json()["data"]["attributes"]
        for r in fakes.tfc.seen(f"/api/v2/workspaces/{workspace.id}/vars", "POST")
    }
    assert sent_vars["approval_ticket"]["value"] == key
    assert sent_vars["instance_name"]["value"] == "orders"
    assert sent_vars["admin_password"]["sensitive"] is True
    run_post = single(fakes.tfc.seen("/api/v2/runs", "POST"))
    assert run_post.json()["data"]["relationships"]["workspace"]["data"]["id"] == workspace.id
    run = single(list(fakes.tfc.runs.values()))
    assert run.message.startswith(f"Provision orders ({key}) [PAO request {request_id}")
    assert (run.status, run.actions) == ("applied", ["apply"])
    run_url = f"{fakes.tfc.base_url}/app/acme/workspaces/db-orders/runs/{run.id}"
    assert rows["provision"]["outputs"] == {
        "db_endpoint": "db.internal",
        "db_port": 5432,
        "db_password": None,
        "sensitive_outputs": ["db_password"],
        "run_id": run.id,
        "run_url": run_url,
        "workspace_id": workspace.id,
    }

    # GitHub: one dispatch whose inputs are the Terraform outputs and the ticket key.
    dispatch_post = single(fakes.gh.seen(DISPATCHES, "POST"))
    dispatch = single(fakes.actions.dispatches)
    expected_inputs = {
        "endpoint": "db.internal",
        "port": "5432",
        "ticket": key,
        "pao_correlation": correlation_key(request_id, "bootstrap"),
    }
    assert dispatch_post.json()["inputs"] == expected_inputs
    assert dispatch.inputs == expected_inputs
    html_url = f"https://github.com/{REPO}/actions/runs/{dispatch.run_id}"
    assert fakes.actions.runs[dispatch.run_id].status == "completed"
    assert rows["bootstrap"]["outputs"] == {
        "run_id": dispatch.run_id,
        "run_url": html_url,
        "conclusion": "success",
    }

    # REST: one resource, its body made of all three earlier actions' outputs.
    post = single(fakes.target.seen("/api/v2/resources", "POST"))
    resource = single(list(fakes.target.resources.values()))
    assert post.headers["authorization"] == f"Bearer {TARGET_TOKEN}"
    body = post.json()
    assert body == {
        "name": "orders",
        "ticket": key,
        "endpoint": "db.internal",
        "workspace": workspace.id,
        "bootstrap_run_id": dispatch.run_id,  # a whole-value template keeps the number
        "bootstrap_run_url": html_url,
    }
    assert resource["data"] == body
    assert rows["register"]["outputs"] == {"inventory_id": resource["id"], "status_code": 201}

    # The sensitive output went nowhere downstream and is stored nowhere; nor is any token.
    bodies = [r.body for r in fakes.gh.requests] + [r.body for r in fakes.target.requests]
    assert not [b for b in bodies if SENSITIVE_OUTPUT.encode() in b]
    await harness.assert_no_secret_stored(services, SECRETS)

    # The request log: each action started and completed, in the chain's order.
    logged = await events(services, request_id)
    steps = [(a, e) for a, e in logged if e in ("action_started", "action_completed")]
    assert steps == [(a, e) for a in ORDER for e in ("action_started", "action_completed")]
    assert logged[-1] == (None, "request_completed")


async def test_failed_workflow_fails_the_request_with_partial_resources_and_cleanup(
    services: Services, fakes: Fakes
) -> None:
    request_id = await start(services, fakes, conclusion="failure")
    key = await approve_then_settle(services, make_worker(services, fakes), fakes, request_id)

    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    rows = await action_rows(services, request_id)
    assert {a: r["status"] for a, r in rows.items()} == {
        "approval": "completed",
        "provision": "completed",
        "bootstrap": "failed",
        "register": "pending",
    }
    dispatch = single(fakes.actions.dispatches)
    html_url = f"https://github.com/{REPO}/actions/runs/{dispatch.run_id}"
    context = request["error_context"]
    assert context["failed_action"] == "bootstrap"
    error = context["error"]
    assert error["retryable"] is False
    assert "concluded failure" in error["message"]
    assert "job 'bootstrap' failed at step 'Run migrations'" in error["message"]
    assert html_url in error["message"]

    workspace = fakes.tfc.workspace("acme", "db-orders")
    assert workspace is not None
    run = single(list(fakes.tfc.runs.values()))
    run_url = f"{fakes.tfc.base_url}/app/acme/workspaces/db-orders/runs/{run.id}"
    partial = context["partial_resources"]
    assert list(partial) == ["approval", "provision"]
    assert partial["approval"]["type"] == "jira-ticket"
    assert partial["approval"]["external_ref"] == key
    assert partial["approval"]["outputs"]["key"] == key
    assert partial["provision"]["type"] == "terraform"
    assert partial["provision"]["external_ref"] == run.id
    assert partial["provision"]["outputs"]["workspace_id"] == workspace.id
    assert partial["provision"]["outputs"]["db_endpoint"] == "db.internal"
    assert partial["provision"]["outputs"]["db_password"] is None
    assert context["cleanup"] == [
        {
            "action_id": "approval",
            "instructions": f"Close {key} at {fakes.jira.base_url}/browse/{key}",
        },
        {
            "action_id": "provision",
            "instructions": f"Destroy workspace {workspace.id} (applied by {run_url})",
        },
    ]

    # The chain stopped at the failure: nothing reached the REST target, nothing was retried.
    assert not fakes.target.requests
    assert rows["bootstrap"]["attempts"] == 1
    assert (fakes.jira.created, fakes.tfc.runs_created) == (1, 1)
    await harness.assert_no_secret_stored(services, SECRETS)
    logged = await events(services, request_id)
    steps = [(a, e) for a, e in logged if e in ("action_started", "action_completed")]
    assert steps == [
        ("approval", "action_started"),
        ("approval", "action_completed"),
        ("provision", "action_started"),
        ("provision", "action_completed"),
        ("bootstrap", "action_started"),
    ]
    assert ("bootstrap", "request_failed") in logged
