"""Every request the jira-ticket and terraform executors send, and every response the fakes give
them, checked against Atlassian's and HashiCorp's published API descriptions (trimmed copies in
``specs/``); and the checker itself shown to fail on drift."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from actions.jira.executor import JiraTicketExecutor
from actions.jira.settings import JiraSettings
from actions.secrets import SecretResolver
from actions.terraform import TerraformExecutor, TerraformSettings
from orchestrator.engine.executor import ActionRun, Pending
from tests.contracts.checker import ContractError, Exchange, check
from tests.fakes.http_fake import Recorded, Reply
from tests.fakes.jira import FakeJira
from tests.fakes.terraform_cloud import FakeTerraformCloud, serve_terraform_cloud

pytestmark = pytest.mark.anyio

TOKEN = "contract-T0ken"
USER = "bot@example.com"


def exchange(request: Recorded, reply: Reply) -> Exchange:
    if isinstance(reply.body, bytes):
        body = reply.body
    else:
        body = b"" if reply.body is None else json.dumps(reply.body).encode()
    return Exchange(
        request.method,
        request.path,
        request.query,
        request.headers,
        request.body,
        reply.status,
        body,
        reply.content_type,
    )


def run_of(action_type: str, config: Mapping[str, Any], ref: str | None = None) -> ActionRun:
    return ActionRun(
        request_id="req-contract",
        action_id="a",
        action_type=action_type,
        config=config,
        correlation_key="pao-contract-key",
        attempt=1,
        external_ref=ref,
    )


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    fake = FakeJira(
        basic={(USER, TOKEN)}, deployment="Cloud", site_url="https://acme.atlassian.net"
    )
    fake.add_project("DBA", components=("postgres",))
    with fake.serve():
        yield fake


async def test_jira_calls_match_the_description(jira: FakeJira) -> None:
    settings = JiraSettings.from_environment(
        {
            "JIRA_INSTANCES": json.dumps(
                {
                    "platform": {
                        "url": jira.base_url,
                        "deployment": "cloud",
                        "auth": {"type": "basic", "user": USER, "tokenRef": "env:T"},
                    }
                }
            )
        }
    )
    executor = JiraTicketExecutor(settings, SecretResolver({"T": TOKEN}))
    config = {
        "instance": "platform",
        "project": "DBA",
        "summary": "Create database orders-db",
        "priority": "High",
        "labels": ["pao"],
        "components": ["postgres"],
    }
    created = await executor.execute(run_of("jira-ticket", config))
    assert isinstance(created, Pending)
    await executor.execute(run_of("jira-ticket", config))  # found again
    await executor.poll(run_of("jira-ticket", config, created.external_ref))
    jira.move("DBA-1", "Done", resolution="Duplicate")
    await executor.poll(run_of("jira-ticket", config, created.external_ref))

    checked = {(r.method, r.path) for r, _ in jira.exchanges}
    assert ("POST", "/rest/api/2/issue") in checked
    assert ("GET", "/rest/api/2/search/jql") in checked
    for request, reply in jira.exchanges:
        check("jira", exchange(request, reply))


@pytest.fixture
def tfc() -> Iterator[FakeTerraformCloud]:
    with serve_terraform_cloud(token=TOKEN, organizations={"acme"}) as fake:
        yield fake


async def test_terraform_calls_match_the_description(tfc: FakeTerraformCloud) -> None:
    workspace = tfc.add_workspace("acme", "db-orders")
    tfc.next_scripts.append(
        ["pending", "planning", "planned", "post_plan_running", "post_plan_completed", "applied"]
    )
    settings = TerraformSettings(
        address=tfc.base_url, token_ref="env:T", organization="acme", timeout_seconds=5.0
    )
    executor = TerraformExecutor(SecretResolver({"T": TOKEN}), settings)
    config = {
        "workspace": "db-orders",
        "variables": {"name": "orders", "replicas": 2, "tags": {"team": "db"}},
        "sensitiveVariables": ["name"],
    }
    started = await executor.execute(run_of("terraform", config))
    assert isinstance(started, Pending)
    for _ in range(6):
        await executor.poll(run_of("terraform", config, started.external_ref))
    await executor.execute(run_of("terraform", config))  # redelivery: finds the run
    assert workspace.outputs is not None

    methods = {(r.method, r.path.split("/")[-1]) for r, _ in tfc.exchanges}
    assert ("POST", "apply") in methods
    assert ("POST", "runs") in methods
    for request, reply in tfc.exchanges:
        check("terraform", exchange(request, reply))


# -- the checker fails on drift -----------------------------------------------------------------


def drifted_run_request(data: Mapping[str, Any]) -> Exchange:
    return Exchange(
        "POST",
        "/api/v2/runs",
        {},
        {"content-type": "application/vnd.api+json"},
        json.dumps({"data": data}).encode(),
        201,
        b"{}",
        "application/vnd.api+json",
    )


def test_checker_fails_on_a_drifted_request() -> None:
    good = {
        "type": "runs",
        "attributes": {"message": "x", "auto-apply": False},
        "relationships": {"workspace": {"data": {"type": "workspaces", "id": "ws-1"}}},
    }
    check("terraform", drifted_run_request(good), response=False)
    drifted = {**good, "attributes": {"message": "x", "auto-apply": "yes"}}  # not a boolean
    with pytest.raises(ContractError, match="POST /api/v2/runs: request"):
        check("terraform", drifted_run_request(drifted), response=False)


def test_checker_fails_on_a_drifted_response() -> None:
    ok = Exchange(
        "GET",
        "/rest/api/2/serverInfo",
        {},
        {},
        b"",
        200,
        b'{"baseUrl": "https://a"}',
        "application/json",
    )
    check("jira", ok)
    drifted = Exchange(
        "GET",
        "/rest/api/2/serverInfo",
        {},
        {},
        b"",
        200,
        b'{"versionNumbers": "9"}',
        "application/json",
    )
    with pytest.raises(ContractError, match="serverInfo -> 200: response"):
        check("jira", drifted)
