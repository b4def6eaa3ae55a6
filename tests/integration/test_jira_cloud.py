"""The jira-ticket executor against JIRA as the products behave (fake JIRA over loopback HTTP,
driven by the ``jira`` client): Cloud's lagging search and the OAuth 2.0 gateway, browse links
from ``serverInfo.baseUrl``, outcomes by status category and resolution, and the settings
checks that refuse what JIRA would refuse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from actions.jira.executor import JiraTicketExecutor
from actions.jira.settings import JiraSettings, JiraSettingsError
from actions.secrets import SecretResolver
from orchestrator.engine.executor import ActionRun, Completed, Failed, Pending, Registry
from orchestrator.engine.pg_queue import RUN_ACTION
from orchestrator.services import Services
from tests.fakes.jira import FakeJira
from tests.integration import engine_harness as harness
from tests.integration.engine_harness import (
    Crash,
    CrashAfterExecute,
    action_rows,
    drain,
    item_document,
    store_item,
)

pytestmark = pytest.mark.anyio

USER = "bot@example.com"
API_TOKEN = "jira-Cloud-Api-T0ken-s3cret"
CLIENT_SECRET = "jira-Cloud-Client-S3cret"
SECRET_ENV = {"JIRA_TOKEN": API_TOKEN, "JIRA_CLIENT_SECRET": CLIENT_SECRET}
SITE = "https://acme.atlassian.net"
LAG = 30.0  # seconds of simulated time: the fake's clock does not move unless a test moves it
BASIC = {"type": "basic", "user": USER, "tokenRef": "env:JIRA_TOKEN"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cloud(clock: Clock) -> Iterator[FakeJira]:
    fake = FakeJira(
        basic={(USER, API_TOKEN)},
        clients={"pao-client": CLIENT_SECRET},
        deployment="Cloud",
        search_lag=LAG,
        clock=clock,
        cloud_id="c0ffee-cloud",
        site_url=SITE,
    )
    fake.add_project("DBA")
    with fake.serve():
        yield fake


def oauth(fake: FakeJira) -> dict[str, Any]:
    return {
        "type": "oauth2",
        "tokenUrl": f"{fake.base_url}/oauth/token",
        "clientId": "pao-client",
        "clientSecretRef": "env:JIRA_CLIENT_SECRET",
    }


def settings(fake: FakeJira, env: dict[str, str] | None = None, **spec: Any) -> JiraSettings:
    instance = {"url": fake.gateway_url, "auth": oauth(fake), **spec}
    return JiraSettings.from_environment(
        {"JIRA_INSTANCES": json.dumps({"platform": instance}), **(env or {})}
    )


def executor(fake: FakeJira, env: dict[str, str] | None = None, **spec: Any) -> JiraTicketExecutor:
    return JiraTicketExecutor(settings(fake, env, **spec), SecretResolver(SECRET_ENV))


CONFIG = {"instance": "platform", "project": "DBA", "summary": "Create database orders-db"}


def run_of(config: dict[str, Any] | None = None, **extra: Any) -> ActionRun:
    return ActionRun(
        request_id="req-cloud",
        action_id="ticket",
        action_type="jira-ticket",
        config={**CONFIG, **(config or {})},
        correlation_key="pao-cloud-key",
        attempt=1,
        **extra,
    )


# -- find-or-create under search lag ------------------------------------------------------------


async def test_worker_killed_between_create_and_record_ends_with_one_ticket(
    services: Services, cloud: FakeJira
) -> None:
    item = {"id": "ticket", "type": "jira-ticket", "config": CONFIG}
    await store_item(services, item_document("jira-cloud-item", [item]))
    request_id = await harness.submit(services, "jira-cloud-item", {"instanceName": "orders-db"})
    crashing = Registry({"jira-ticket": CrashAfterExecute(executor(cloud))})
    stalled = harness.make_worker(services, crashing, lease_seconds=0)
    job = await stalled.queue.claim("stalled", [RUN_ACTION], lease_seconds=0)
    assert job is not None
    with pytest.raises(Crash):  # JIRA created DBA-1; PAO never recorded it
        await stalled.runner.handle(job)
    assert cloud.created == 1

    # A new process (nothing in memory) gets the job again; search still lags 30 s behind.
    rescuer = harness.make_worker(services, Registry({"jira-ticket": executor(cloud)}))
    await drain(rescuer)

    row = (await action_rows(services, request_id))["ticket"]
    assert row["external_ref"] == "DBA-1"
    assert row["external_url"] == f"{SITE}/browse/DBA-1"
    assert cloud.created == 1  # exactly one ticket
    label_searches = [
        r
        for r in cloud.seen("/ex/jira/c0ffee-cloud/rest/api/2/search/jql")
        if "labels" in (r.arg("jql") or "")
    ]
    assert len(label_searches) == 2  # one per delivery, neither saw DBA-1 (lag)
    assert cloud.seen("/ex/jira/c0ffee-cloud/rest/api/2/issue/DBA-1", "GET")  # read by key


async def test_redelivery_in_the_same_process_reconciles_what_it_created(cloud: FakeJira) -> None:
    jira = executor(cloud)
    first = await jira.execute(run_of())
    again = await jira.execute(run_of())

    assert isinstance(first, Pending)
    assert isinstance(again, Pending)
    assert first.external_ref == again.external_ref == "DBA-1"
    assert cloud.created == 1
    last = cloud.seen("/ex/jira/c0ffee-cloud/rest/api/2/search/jql")[-1]
    assert last.query["reconcileIssues"] == [cloud.issues["DBA-1"].id]
    assert not cloud.seen("/ex/jira/c0ffee-cloud/rest/api/2/search")  # removed on Cloud


async def test_lag_over_the_index_finds_the_issue(cloud: FakeJira, clock: Clock) -> None:
    await executor(cloud).execute(run_of())
    clock.now += LAG
    found = await executor(cloud).execute(run_of())  # a fresh process: plain search now sees it

    assert isinstance(found, Pending)
    assert found.external_ref == "DBA-1"
    assert cloud.created == 1


async def test_other_issues_in_the_lag_window_are_not_mistaken(cloud: FakeJira) -> None:
    other = await executor(cloud).execute(run_of({"summary": "Other"}))
    assert isinstance(other, Pending)
    mine = await executor(cloud).execute(
        ActionRun(
            request_id="req-2",
            action_id="ticket",
            action_type="jira-ticket",
            config=CONFIG,
            correlation_key="pao-another-key",
            attempt=1,
        )
    )
    assert isinstance(mine, Pending)
    assert mine.external_ref == "DBA-2"  # DBA-1 was read by key, and is not ours
    assert cloud.created == 2


# -- deployment, links -----------------------------------------------------------------------------


async def test_gateway_links_come_from_server_info(cloud: FakeJira) -> None:
    result = await executor(cloud).execute(run_of())

    assert isinstance(result, Pending)
    assert result.url == f"{SITE}/browse/DBA-1"  # not …/ex/jira/{cloudId}/browse/…
    assert all(
        r.path.startswith("/ex/jira/c0ffee-cloud/")
        for r in cloud.requests
        if r.path != "/oauth/token"
    )


async def test_deployment_is_confirmed_against_server_info(cloud: FakeJira) -> None:
    cloud.deployment = "Server"  # settings say Cloud (gateway, oauth2); JIRA says otherwise
    result = await executor(cloud).execute(run_of())

    assert isinstance(result, Failed)
    assert result.retryable is False
    assert "reports deploymentType Server" in result.error
    assert cloud.created == 0


def test_deployment_detected_from_url_and_auth() -> None:
    def parse(url: str, auth: dict[str, Any], **spec: Any) -> str:
        instances = {"x": {"url": url, "auth": auth, **spec}}
        text = json.dumps(instances)
        return JiraSettings.from_environment({"JIRA_INSTANCES": text}).instances["x"].deployment

    gateway = "https://api.atlassian.com/ex/jira/11223344-a1b2"
    oauth2 = {
        "type": "oauth2",
        "tokenUrl": "https://auth.atlassian.com/oauth/token",
        "clientId": "c",
        "clientSecretRef": "env:S",
    }
    assert parse(gateway, BASIC) == "cloud"
    assert parse(gateway, oauth2) == "cloud"
    assert parse(SITE, BASIC) == "cloud"
    assert parse("https://jira.example.com", BASIC) == "server"
    assert parse("https://jira.example.com", oauth2, deployment="server") == "server"


@pytest.mark.parametrize(
    ("instance", "message"),
    [
        (
            {"url": SITE, "auth": {"type": "pat", "tokenRef": "env:P"}},
            "JIRA_INSTANCES.x.auth.type: personal access tokens (pat) exist only on Jira Data "
            "Center / Server",
        ),
        (
            {
                "url": "https://jira.example.com",
                "deployment": "cloud",
                "auth": {"type": "pat", "tokenRef": "env:P"},
            },
            "JIRA_INSTANCES.x.auth.type: personal access tokens",
        ),
        (
            {
                "url": SITE,
                "auth": {
                    "type": "oauth2",
                    "tokenUrl": "https://auth.atlassian.com/oauth/token",
                    "clientId": "c",
                    "clientSecretRef": "env:S",
                },
            },
            "JIRA_INSTANCES.x.url: OAuth 2.0 on Jira Cloud goes through "
            "https://api.atlassian.com/ex/jira/{cloudId}",
        ),
        (
            {"url": SITE, "auth": BASIC, "deployment": "server"},
            "JIRA_INSTANCES.x.deployment: https://acme.atlassian.net is Jira Cloud",
        ),
    ],
)
def test_start_up_refuses_what_cloud_refuses(instance: dict[str, Any], message: str) -> None:
    with pytest.raises(JiraSettingsError) as caught:
        JiraSettings.from_environment({"JIRA_INSTANCES": json.dumps({"x": instance})})
    assert str(caught.value).startswith(message)


async def test_label_with_a_space_fails_before_any_call(cloud: FakeJira) -> None:
    result = await executor(cloud).execute(run_of({"labels": ["team payments"]}))

    assert isinstance(result, Failed)
    assert result.retryable is False
    assert "'team payments' contains a space" in result.error
    assert not cloud.requests


# -- outcome: status category and resolution ---------------------------------------------------


async def outcome(
    fake: FakeJira, jira: JiraTicketExecutor, config: dict[str, Any] | None = None
) -> Any:
    created = await jira.execute(run_of(config))
    assert isinstance(created, Pending)
    return lambda: jira.poll(run_of(config, external_ref=created.external_ref))


@pytest.mark.parametrize("resolution", ["Won't Do", "Duplicate", "Cannot Reproduce", "Declined"])
async def test_failing_resolutions_fail_the_action(cloud: FakeJira, resolution: str) -> None:
    poll = await outcome(cloud, executor(cloud))
    cloud.move("DBA-1", "Done", resolution=resolution)
    result = await poll()

    assert isinstance(result, Failed)
    assert result.retryable is False
    assert f"resolved as '{resolution}' (status Done)" in result.error
    assert f"{SITE}/browse/DBA-1" in result.error


async def test_done_with_done_resolution_completes(cloud: FakeJira) -> None:
    poll = await outcome(cloud, executor(cloud))
    assert isinstance(await poll(), Pending)  # To Do
    cloud.move("DBA-1", "In Progress")
    assert isinstance(await poll(), Pending)
    cloud.move("DBA-1", "Done")
    result = await poll()

    assert isinstance(result, Completed)
    assert result.outputs == {
        "key": "DBA-1",
        "url": f"{SITE}/browse/DBA-1",
        "status": "Done",
        "resolution": "Done",
    }


async def test_failing_resolutions_are_configurable(cloud: FakeJira) -> None:
    jira = executor(cloud, {"JIRA_FAILED_RESOLUTIONS": "Declined"})
    poll = await outcome(cloud, jira)
    cloud.move("DBA-1", "Done", resolution="Duplicate")
    assert isinstance(await poll(), Completed)  # Duplicate is not failing here


async def test_item_failed_resolutions_override_the_setting(cloud: FakeJira) -> None:
    poll = await outcome(cloud, executor(cloud), {"completion": {"failedResolutions": []}})
    cloud.move("DBA-1", "Done", resolution="Won't Do")
    assert isinstance(await poll(), Completed)


def test_failed_resolutions_setting() -> None:
    assert JiraSettings.from_environment({}).failed_resolutions == (
        "Won't Do",
        "Duplicate",
        "Cannot Reproduce",
        "Declined",
    )
    parsed = JiraSettings.from_environment({"JIRA_FAILED_RESOLUTIONS": " Declined, Rejected ,"})
    assert parsed.failed_resolutions == ("Declined", "Rejected")
    assert JiraSettings.from_environment({"JIRA_FAILED_RESOLUTIONS": ""}).failed_resolutions == ()
