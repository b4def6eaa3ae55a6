"""One chain through all four action types, end to end on the real engine against the four
loopback fakes, driven by the real client libraries: a JIRA approval ticket, a Terraform run,
a GitHub workflow and a REST call, each action's outputs feeding the next."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from actions.jira_ticket import JiraSettings
from actions.registry import ActionDeps, default_registry
from actions.rest_api import RestApiSettings
from actions.terraform import TerraformSettings
from orchestrator.engine.worker import Worker
from orchestrator.github_client import GitHubSettings
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

JIRA_USER = "bot@example.com"
JIRA_TOKEN = "chain-Jira-T0ken-s3cret"
TFC_TOKEN = "chain-Tfc-T0ken-s3cret"
GITHUB_TOKEN = "ghp_ChainT0kenS3cret4242424242424242"
TARGET_TOKEN = "chain-Target-T0ken-s3cret"
SENSITIVE_OUTPUT = "s3cr3t-pw"  # the fake Terraform state's sensitive output
SECRETS = (JIRA_TOKEN, TFC_TOKEN, GITHUB_TOKEN, TARGET_TOKEN, SENSITIVE_OUTPUT)
REPO = "acme/db-bootstrap"
WORKFLOW = "bootstrap.yml"
ITEM_ID = "four-type-chain"


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


def chain() -> list[dict[str, Any]]:
    return [
        {
            "id": "approval",
            "type": "jira-ticket",
            "config": {
                "instance": "platform",
                "project": "DBA",
                "issueType": "Task",
                "summary": "Approve database {{fields.instanceName}}",
            },
            "cleanup": {"instructions": "Close {{outputs.approval.key}}"},
        },
        {
            "id": "provision",
            "type": "terraform",
            "config": {
                "workspace": "db-{{fields.instanceName}}",
                "createWorkspace": True,
                "workspaceTemplate": {"terraformVersion": "1.9.0"},
                "autoApply": True,
                "variables": {
                    "instance_name": "{{fields.instanceName}}",
                    "approval_ticket": "{{outputs.approval.key}}",
                },
            },
            "cleanup": {"instructions": "Destroy workspace db-{{fields.instanceName}}"},
        },
        {
            "id": "bootstrap",
            "type": "github-workflow",
            "config": {
                "repository": REPO,
                "workflow": WORKFLOW,
                "inputs": {
                    "endpoint": "{{outputs.provision.db_endpoint}}",
                    "ticket": "{{outputs.approval.key}}",
                },
            },
        },
        {
            "id": "register",
            "type": "rest-api",
            "config": {
                "method": "POST",
                "url": "{{environment.TARGET_URL}}/api/v2/resources",
                "auth": {"type": "bearer", "tokenRef": "env:TARGET_TOKEN"},
                "body": {
                    "name": "{{fields.instanceName}}",
                    "ticket": "{{outputs.approval.key}}",
                    "endpoint": "{{outputs.provision.db_endpoint}}",
                    "bootstrap_run": "{{outputs.bootstrap.run_url}}",
                },
                "outputs": {"inventory_id": "id"},
            },
        },
    ]


def make_worker(services: Services, fakes: Fakes) -> Worker:
    instances = {
        "platform": {
            "url": fakes.jira.base_url,
            "auth": {"type": "basic", "user": JIRA_USER, "tokenRef": "env:JIRA_TOKEN"},
        }
    }
    deps = ActionDeps(
        secret_environment={
            "JIRA_TOKEN": JIRA_TOKEN,
            "TFC_TOKEN": TFC_TOKEN,
            "TARGET_TOKEN": TARGET_TOKEN,
        },
        jira=JiraSettings.from_environment(
            {"JIRA_INSTANCES": json.dumps(instances), "JIRA_TIMEOUT": "5"}
        ),
        terraform=TerraformSettings(
            address=fakes.tfc.base_url,
            token_ref="env:TFC_TOKEN",
            organization="acme",
            poll_interval_seconds=5.0,
            timeout_seconds=5.0,
        ),
        github=GitHubSettings(
            api_url=fakes.gh.base_url,
            token=GITHUB_TOKEN,
            timeout_seconds=5.0,
            server_error_retries=0,
        ),
        rest_api=RestApiSettings(allowed_hosts=frozenset({"127.0.0.1"})),
    )
    return harness.make_worker(
        services,
        default_registry(deps),
        template_environment={"TARGET_URL": fakes.target.base_url},
    )


async def run_to_rest(services: Services, worker: Worker, fakes: Fakes, request_id: str) -> None:
    """Drain, approve the ticket once it exists, fast-forward polls until the request settles."""
    for _ in range(30):
        await drain(worker)
        status = (await request_row(services, request_id))["status"]
        if status in ("completed", "failed"):
            return
        for key, issue in list(fakes.jira.issues.items()):
            if issue.status != "Done":
                fakes.jira.move(key, "Done")
        await make_due(services, request_id)
    raise AssertionError("the chain did not settle")


async def start(services: Services, fakes: Fakes, conclusion: str = "success") -> str:
    fakes.actions.add_workflow(
        REPO,
        WORKFLOW,
        inputs={"endpoint", "ticket", "pao_correlation"},
        conclusion=conclusion,
        failing=("bootstrap", "Create schema") if conclusion == "failure" else None,
        jobs={"bootstrap": ("Set up job", "Create schema", "Complete job")},
    )
    await store_item(services, item_document(ITEM_ID, chain()))
    return await harness.submit(services, ITEM_ID, {"instanceName": "orders"})


async def test_all_four_types_in_one_chain_with_outputs_flowing(
    services: Services, fakes: Fakes
) -> None:
    request_id = await start(services, fakes)
    await run_to_rest(services, make_worker(services, fakes), fakes, request_id)

    assert (await request_row(services, request_id))["status"] == "completed"
    rows = await action_rows(services, request_id)
    # One side effect per system, however many polls it took.
    assert fakes.jira.created == 1
    assert fakes.tfc.runs_created == 1
    assert len(fakes.actions.dispatches) == 1
    assert len(fakes.target.resources) == 1

    key = rows["approval"]["outputs"]["key"]
    workspace = fakes.tfc.workspace("acme", "db-orders")
    assert workspace is not None
    assert fakes.tfc.variables(workspace)["approval_ticket"]["value"] == key
    dispatch = fakes.actions.dispatches[0]
    assert dispatch.inputs["ticket"] == key
    assert dispatch.inputs["endpoint"] == "db.internal"  # the Terraform state output
    (resource,) = fakes.target.resources.values()
    assert resource["data"]["ticket"] == key
    assert resource["data"]["endpoint"] == "db.internal"
    assert resource["data"]["bootstrap_run"] == rows["bootstrap"]["outputs"]["run_url"]
    assert rows["register"]["outputs"]["inventory_id"] == resource["id"]
    # The sensitive Terraform output is masked where it is kept, and stored nowhere.
    assert rows["provision"]["outputs"]["db_password"] is None
    assert "db_password" in rows["provision"]["outputs"]["sensitive_outputs"]
    await harness.assert_no_secret_stored(services, SECRETS)

    logged = await events(services, request_id)
    completed = [a for a, e in logged if e == "action_completed"]
    assert completed == ["approval", "provision", "bootstrap", "register"]
    assert logged[-1][1] == "request_completed"


async def test_failed_workflow_stops_the_chain_with_partial_resources_and_cleanup(
    services: Services, fakes: Fakes
) -> None:
    request_id = await start(services, fakes, conclusion="failure")
    await run_to_rest(services, make_worker(services, fakes), fakes, request_id)

    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    context = request["error_context"]
    assert context["failed_action"] == "bootstrap"
    assert "Create schema" in context["error"]["message"]  # the failing step is named
    assert set(context["partial_resources"]) == {"approval", "provision"}
    key = context["partial_resources"]["approval"]["outputs"]["key"]
    cleanup = {c["action_id"]: c["instructions"] for c in context["cleanup"]}
    assert cleanup == {"approval": f"Close {key}", "provision": "Destroy workspace db-orders"}
    assert not fakes.target.resources  # the REST call never happened
    await harness.assert_no_secret_stored(services, SECRETS)
