"""The jira-ticket executor through the real engine (ChainRunner + Worker + PgQueue on real
PostgreSQL) against a stateful fake JIRA served over loopback HTTP and driven by the ``jira``
client; secrets from ``env:`` references and from moto's Secrets Manager in server mode."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto.server import ThreadedMotoServer

from actions.jira.executor import JiraTicketExecutor, correlation_label
from actions.jira.settings import JiraSettings, JiraSettingsError
from actions.registry import ActionDeps, default_registry
from actions.secrets import SecretResolver, SecretSettings
from orchestrator.engine.executor import (
    ActionRun,
    Completed,
    Failed,
    Pending,
    Registry,
    correlation_key,
)
from orchestrator.engine.pg_queue import RUN_ACTION
from orchestrator.engine.worker import Worker
from orchestrator.identity.principal import Principal
from orchestrator.services import Services
from tests.fakes.http_fake import Reply
from tests.fakes.jira import FakeJira
from tests.integration import engine_harness as harness
from tests.integration.engine_harness import (
    Crash,
    CrashAfterExecute,
    action_rows,
    drain,
    item_document,
    make_due,
    request_row,
    store_item,
)

pytestmark = pytest.mark.anyio

ITEM_ID = "jira-item"
USER = "bot@example.com"
API_TOKEN = "jira-Api-T0ken-s3cret"
PAT = "jira-P4t-s3cret-value"
CLIENT_SECRET = "jira-Client-S3cret-oauth"
AWS_PAT = "jira-Pat-from-AWS-s3cret"
SECRET_ENV = {"JIRA_TOKEN": API_TOKEN, "JIRA_PAT": PAT, "JIRA_CLIENT_SECRET": CLIENT_SECRET}
ALL_SECRETS = (API_TOKEN, PAT, CLIENT_SECRET, AWS_PAT)
OPERATOR = Principal(email="oncall@example.com", teams=("platform",))
BASIC = {"type": "basic", "user": USER, "tokenRef": "env:JIRA_TOKEN"}


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    fake = FakeJira(basic={(USER, API_TOKEN)}, tokens={PAT}, clients={"pao-client": CLIENT_SECRET})
    fake.add_project("DBA", components=("postgres",))
    fake.add_project("OPS")
    with fake.serve():
        yield fake


def jira_settings(jira: FakeJira, auth: dict[str, Any] | None = None, **spec: Any) -> JiraSettings:
    instances = {"platform": {"url": jira.base_url, "auth": auth or BASIC, **spec}}
    return JiraSettings.from_environment(
        {"JIRA_INSTANCES": json.dumps(instances), "JIRA_POLL_INTERVAL": "30s", "JIRA_TIMEOUT": "5"}
    )


def ticket(action: dict[str, Any] | None = None, **config: Any) -> dict[str, Any]:
    return {
        "id": "ticket",
        "type": "jira-ticket",
        "config": {
            "instance": "platform",
            "project": "DBA",
            "issueType": "Task",
            "summary": "Create database {{fields.instanceName}}",
            "description": "Requested by {{request.user.email}}",
            "priority": "High",
            "labels": ["pao", "databases"],
            "components": ["postgres"],
            "customFields": {"customfield_10010": "{{fields.instanceName}}"},
            **config,
        },
        **(action or {}),
    }


FOLLOW_UP = {
    "id": "announce",
    "type": "jira-ticket",
    "config": {
        "instance": "platform",
        "project": "OPS",
        "summary": "Announce {{outputs.ticket.key}} ({{outputs.ticket.status}})",
        "waitForCompletion": False,
    },
}


async def store(services: Services, actions: list[dict[str, Any]], **kwargs: Any) -> None:
    await store_item(services, item_document(ITEM_ID, actions, **kwargs))


def make_worker(
    services: Services,
    jira: FakeJira,
    *,
    registry: Registry | None = None,
    lease_seconds: float = 300.0,
    auth: dict[str, Any] | None = None,
    secrets: SecretSettings | None = None,
    **spec: Any,
) -> Worker:
    deps = ActionDeps(
        secret_environment=SECRET_ENV,
        secrets=secrets or SecretSettings(),
        jira=jira_settings(jira, auth, **spec),
    )
    return harness.make_worker(
        services, registry or default_registry(deps), lease_seconds=lease_seconds
    )


async def submit(services: Services, name: str = "orders-db") -> str:
    return await harness.submit(services, ITEM_ID, {"instanceName": name})


async def assert_no_secret_stored(services: Services) -> None:
    await harness.assert_no_secret_stored(services, ALL_SECRETS)


async def settle(services: Services, worker: Worker, request_id: str) -> None:
    """Fast-forward waiting jobs until the request leaves in_progress (bounded)."""
    await drain(worker)
    for _ in range(10):
        if (await request_row(services, request_id))["status"] != "in_progress":
            return
        await make_due(services, request_id)
        await drain(worker)
    raise AssertionError("request did not settle")


# -- the chain -----------------------------------------------------------------------------------


async def test_ticket_pending_until_done_then_outputs_feed_the_next_action(
    services: Services, jira: FakeJira
) -> None:
    await store(services, [ticket(), FOLLOW_UP])
    request_id = await submit(services)
    worker = make_worker(services, jira)

    await drain(worker)
    row = (await action_rows(services, request_id))["ticket"]
    assert row["status"] == "in_progress"
    assert row["external_ref"] == "DBA-1"
    assert row["external_url"] == f"{jira.base_url}/browse/DBA-1"
    issue = jira.issues["DBA-1"]
    label = correlation_label(correlation_key(request_id, "ticket"))
    assert issue.fields["summary"] == "Create database orders-db"
    assert issue.fields["description"] == "Requested by dev@example.com"
    assert issue.fields["labels"] == ["pao", "databases", label]
    assert issue.fields["priority"] == {"name": "High"}
    assert issue.fields["components"] == [{"name": "postgres"}]
    assert issue.fields["customfield_10010"] == "orders-db"

    await make_due(services, request_id)
    await drain(worker)  # polled: still To Do
    assert (await request_row(services, request_id))["status"] == "in_progress"

    jira.move("DBA-1", "Done")
    await settle(services, worker, request_id)

    request = await request_row(services, request_id)
    assert request["status"] == "completed", request["error_context"]
    actions = await action_rows(services, request_id)
    assert actions["ticket"]["outputs"] == {
        "key": "DBA-1",
        "url": f"{jira.base_url}/browse/DBA-1",
        "status": "Done",
        "resolution": "Done",
    }
    assert actions["announce"]["outputs"]["key"] == "OPS-1"
    assert jira.issues["OPS-1"].fields["summary"] == "Announce DBA-1 (Done)"
    assert jira.created == 2
    # the completion notice became a comment on both tickets
    assert any("is now completed" in body for body in jira.comment_bodies("DBA-1"))
    assert all(r.headers.get("authorization", "").startswith("Basic ") for r in jira.requests)
    await assert_no_secret_stored(services)


async def test_wont_do_fails_the_request_without_retry(services: Services, jira: FakeJira) -> None:
    await store(services, [ticket(action={"retry": {"maxAttempts": 3}})])
    request_id = await submit(services)
    worker = make_worker(services, jira)
    await drain(worker)
    jira.move("DBA-1", "Done", resolution="Won't Do")  # stock JIRA: a resolution on Done
    await settle(services, worker, request_id)

    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    error = request["error_context"]["error"]
    assert error["retryable"] is False
    assert "DBA-1 was resolved as 'Won't Do' (status Done)" in error["message"]
    assert f"{jira.base_url}/browse/DBA-1" in error["message"]
    polls = [r for r in jira.seen("/rest/api/2/issue/DBA-1", "GET") if "status" in str(r.query)]
    assert len(polls) == 1  # not polled again
    assert any("is now failed" in body for body in jira.comment_bodies("DBA-1"))


async def test_configured_completed_statuses(services: Services, jira: FakeJira) -> None:
    completion = {"completedStatuses": ["Provisioned"], "failedStatuses": ["Won't Do"]}
    await store(services, [ticket(completion=completion)])
    request_id = await submit(services)
    worker = make_worker(services, jira)
    await drain(worker)

    jira.move("DBA-1", "In Progress")
    await make_due(services, request_id)
    await drain(worker)
    assert (await request_row(services, request_id))["status"] == "in_progress"

    jira.move("DBA-1", "Provisioned")  # not a done-category status, but the configured one
    await settle(services, worker, request_id)
    request = await request_row(services, request_id)
    assert request["status"] == "completed", request["error_context"]
    outputs = (await action_rows(services, request_id))["ticket"]["outputs"]
    assert (outputs["status"], outputs["resolution"]) == ("Provisioned", None)


async def test_without_waiting_completes_at_once(services: Services, jira: FakeJira) -> None:
    await store(services, [ticket(waitForCompletion=False)])
    request_id = await submit(services)
    await drain(make_worker(services, jira))

    assert (await request_row(services, request_id))["status"] == "completed"
    outputs = (await action_rows(services, request_id))["ticket"]["outputs"]
    assert outputs == {
        "key": "DBA-1",
        "id": jira.issues["DBA-1"].id,
        "url": f"{jira.base_url}/browse/DBA-1",
    }
    assert not [
        r for r in jira.seen("/rest/api/2/issue/DBA-1", "GET") if "status" in str(r.query)
    ]  # never polled


# -- idempotency and failures ------------------------------------------------------------------------


async def test_redelivery_after_a_crash_finds_the_issue(services: Services, jira: FakeJira) -> None:
    await store(services, [ticket()])
    request_id = await submit(services)
    executor = JiraTicketExecutor(jira_settings(jira), SecretResolver(SECRET_ENV))
    crashing = Registry({"jira-ticket": CrashAfterExecute(executor)})
    stalled = make_worker(services, jira, registry=crashing, lease_seconds=0)
    job = await stalled.queue.claim("stalled", [RUN_ACTION], lease_seconds=0)
    assert job is not None
    with pytest.raises(Crash):
        await stalled.runner.handle(job)
    assert jira.created == 1

    rescuer = make_worker(services, jira)  # the lease expired: the job is delivered again
    await drain(rescuer)
    row = (await action_rows(services, request_id))["ticket"]
    assert row["external_ref"] == "DBA-1"
    assert jira.created == 1  # one issue despite two deliveries
    assert len(jira.seen("/rest/api/2/issue", "POST")) == 1
    # first delivery: label search, newest-issue search (then reads by key); second: label search
    assert len(jira.seen("/rest/api/2/search", "GET")) == 3


async def test_429_with_retry_after_then_success(services: Services, jira: FakeJira) -> None:
    jira.script(
        "POST",
        "/rest/api/2/issue",
        Reply(
            429,
            {"errorMessages": ["Rate limit exceeded."], "errors": {}},
            headers={"Retry-After": "7"},
        ),
    )
    await store(services, [ticket(action={"retry": {"maxAttempts": 3}})])
    request_id = await submit(services)
    worker = make_worker(services, jira)

    assert await worker.run_once()
    row = (await action_rows(services, request_id))["ticket"]
    assert row["status"] == "retrying"
    assert row["error"]["retryable"] is True
    assert row["error"]["retry_after"] == 7.0
    assert "HTTP 429" in row["error"]["message"]
    assert "Rate limit exceeded." in row["error"]["message"]
    assert len(jira.seen("/rest/api/2/issue", "POST")) == 1  # the client did not retry itself
    assert await drain(worker) == 0  # not due yet

    await make_due(services, request_id)
    await drain(worker)
    row = (await action_rows(services, request_id))["ticket"]
    assert (row["status"], row["external_ref"]) == ("in_progress", "DBA-1")
    assert jira.created == 1


async def test_server_errors_are_retried(services: Services, jira: FakeJira) -> None:
    jira.script("GET", "/rest/api/2/search", Reply(503, b"busy", content_type="text/plain"))
    jira.script("GET", "/rest/api/2/search", Reply(500, {"errorMessages": ["oops"]}))
    await store(services, [ticket(waitForCompletion=False, action={"retry": {"maxAttempts": 3}})])
    request_id = await submit(services)
    await settle(services, make_worker(services, jira), request_id)

    assert (await request_row(services, request_id))["status"] == "completed"
    assert len(jira.seen("/rest/api/2/search", "GET")) == 4  # 2 failed, then label + newest
    assert jira.created == 1


async def test_bad_field_fails_with_jiras_errors(services: Services, jira: FakeJira) -> None:
    bad = ticket(customFields={"customfield_99999": "x"}, action={"retry": {"maxAttempts": 3}})
    await store(services, [bad])
    request_id = await submit(services)
    await drain(make_worker(services, jira))

    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    error = request["error_context"]["error"]
    assert error["retryable"] is False
    assert "HTTP 400" in error["message"]
    assert "customfield_99999: Field 'customfield_99999' cannot be set" in error["message"]
    assert len(jira.seen("/rest/api/2/issue", "POST")) == 1


async def test_rejected_credentials_fail_without_leaking_them(
    services: Services, jira: FakeJira
) -> None:
    jira.basic = {(USER, "another-token")}
    await store(services, [ticket(action={"retry": {"maxAttempts": 3}})])
    request_id = await submit(services)
    await drain(make_worker(services, jira))

    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    error = request["error_context"]["error"]
    assert error["retryable"] is False
    assert "HTTP 401" in error["message"]
    assert "not authenticated" in error["message"]
    assert API_TOKEN not in json.dumps(request["error_context"])
    await assert_no_secret_stored(services)


async def test_unknown_instance_fails_clearly(services: Services, jira: FakeJira) -> None:
    await store(services, [ticket(instance="elsewhere")])
    request_id = await submit(services)
    await drain(make_worker(services, jira))

    error = (await request_row(services, request_id))["error_context"]["error"]
    assert error["retryable"] is False
    assert "unknown JIRA instance 'elsewhere'" in error["message"]
    assert "platform" in error["message"]
    assert not jira.requests


# -- authentication and secrets ------------------------------------------------------------------


AUTH_VARIANTS: dict[str, dict[str, Any]] = {
    "basic": BASIC,
    "pat": {"type": "pat", "tokenRef": "env:JIRA_PAT"},
    "oauth2": {
        "type": "oauth2",
        "tokenUrl": "{base}/oauth/token",
        "clientId": "pao-client",
        "clientSecretRef": "env:JIRA_CLIENT_SECRET",
        "scopes": ["write:jira-work", "read:jira-work"],
    },
    "oauth2-body": {
        "type": "oauth2",
        "tokenUrl": "{base}/oauth/token",
        "clientId": "pao-client",
        "clientSecretRef": "env:JIRA_CLIENT_SECRET",
        "clientAuth": "body",
    },
}


@pytest.mark.parametrize("variant", sorted(AUTH_VARIANTS))
async def test_auth_variants(services: Services, jira: FakeJira, variant: str) -> None:
    auth = {
        k: v.format(base=jira.base_url) if isinstance(v, str) else v
        for k, v in AUTH_VARIANTS[variant].items()
    }
    await store(services, [ticket()])
    request_id = await submit(services)
    spec: dict[str, Any] = {}
    if auth["type"] == "oauth2":  # OAuth 2.0 is Cloud, through the gateway
        jira.deployment = "Cloud"
        spec["url"] = jira.gateway_url
    worker = make_worker(services, jira, auth=auth, **spec)
    await drain(worker)
    jira.move("DBA-1", "Done")
    await settle(services, worker, request_id)

    assert (await request_row(services, request_id))["status"] == "completed"
    used = {r.headers["authorization"] for r in jira.requests if r.path != "/oauth/token"}
    assert len(used) == 1
    header = used.pop()
    if variant == "basic":
        assert header.startswith("Basic ")
        assert not jira.token_requests
    elif variant == "pat":
        assert header == f"Bearer {PAT}"
    else:
        assert header.removeprefix("Bearer ").startswith("oauth-")
        (token_call,) = jira.token_requests  # search, create, poll, comment: one token
        form = token_call.form()
        assert form["grant_type"] == ["client_credentials"]
        if variant == "oauth2":
            assert form["scope"] == ["write:jira-work read:jira-work"]
            assert token_call.headers["authorization"].startswith("Basic ")
        else:
            assert form["client_secret"] == [CLIENT_SECRET]
            assert "authorization" not in token_call.headers
    await assert_no_secret_stored(services)


async def test_revoked_oauth_token_is_replaced_once(jira: FakeJira) -> None:
    auth = {**AUTH_VARIANTS["oauth2"], "tokenUrl": f"{jira.base_url}/oauth/token"}
    jira.deployment = "Cloud"
    executor = JiraTicketExecutor(
        jira_settings(jira, auth, url=jira.gateway_url), SecretResolver(SECRET_ENV)
    )
    first = await executor.execute(run_of(ticket(waitForCompletion=False)["config"], "a"))
    assert isinstance(first, Completed)
    jira.tokens = {PAT}  # JIRA forgot every OAuth token

    second = await executor.execute(run_of(ticket(waitForCompletion=False)["config"], "b"))
    assert isinstance(second, Completed), second
    assert len(jira.token_requests) == 2
    assert jira.created == 2


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


async def test_token_from_aws_secrets_manager(
    services: Services, jira: FakeJira, moto_endpoint: str
) -> None:
    secret_settings = SecretSettings(
        aws_region="eu-west-1",
        aws_endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = f"pao/jira-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "secretsmanager",
        region_name="eu-west-1",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_secret(Name=name, SecretString=json.dumps({"pat": AWS_PAT, "other": "x"}))
    jira.tokens = {AWS_PAT}
    await store(services, [ticket(waitForCompletion=False)])
    request_id = await submit(services)
    auth = {"type": "pat", "tokenRef": f"aws-sm:{name}#pat"}
    await drain(make_worker(services, jira, auth=auth, secrets=secret_settings))

    request = await request_row(services, request_id)
    assert request["status"] == "completed", request["error_context"]
    assert {r.headers["authorization"] for r in jira.requests} == {f"Bearer {AWS_PAT}"}
    await assert_no_secret_stored(services)


# -- notify, cancel, escalation ------------------------------------------------------------------


async def test_abort_comments_on_the_open_ticket(services: Services, jira: FakeJira) -> None:
    await store(services, [ticket()])
    request_id = await submit(services)
    worker = make_worker(services, jira)
    await drain(worker)

    await services.requests.abort(uuid.UUID(request_id), OPERATOR, "wrong size", "corr-abort")
    await drain(worker)

    assert (await request_row(services, request_id))["status"] == "aborted"
    bodies = jira.comment_bodies("DBA-1")
    assert any(f"PAO request {request_id} was aborted" in body for body in bodies)
    assert any("wrong size" in body for body in bodies)  # the notice of the abort itself
    assert jira.issues["DBA-1"].status == "To Do"  # PAO does not close tickets


async def test_escalation_opens_a_ticket_that_completes_at_once(
    services: Services, jira: FakeJira
) -> None:
    manual = {"jira": {"instance": "platform", "project": "OPS", "issueType": "Task"}}
    await store(services, [ticket()], manual=manual)
    request_id = await submit(services)
    worker = make_worker(services, jira)
    await drain(worker)
    jira.move("DBA-1", "Won't Do")
    await settle(services, worker, request_id)
    assert (await request_row(services, request_id))["status"] == "failed"

    await services.requests.escalate(uuid.UUID(request_id), OPERATOR, "needs a DBA", "corr-esc")
    await drain(worker)

    request = await request_row(services, request_id)
    assert request["status"] == "escalated"
    assert request["escalation_ticket"] == "OPS-1"
    issue = jira.issues["OPS-1"]
    assert "pao-escalation" in issue.fields["labels"]
    assert issue.fields["summary"].startswith("[PAO escalation]")
    assert "Won't Do" in issue.fields["description"]
    assert issue.status == "To Do"
    assert not [
        r for r in jira.seen("/rest/api/2/issue/OPS-1", "GET") if "status" in str(r.query)
    ]  # not waited on


# -- describe, target, cloud, settings ---------------------------------------------------------


def run_of(config: dict[str, Any], action_id: str = "ticket", **extra: Any) -> ActionRun:
    return ActionRun(
        request_id="req-1",
        action_id=action_id,
        action_type="jira-ticket",
        config=config,
        correlation_key=correlation_key("req-1", action_id),
        attempt=1,
        **extra,
    )


async def test_describe_shows_the_payload_without_network(jira: FakeJira) -> None:
    executor = JiraTicketExecutor(jira_settings(jira), SecretResolver({}))  # no secrets at all
    config = {**ticket()["config"], "summary": "Create database orders-db"}
    described = executor.describe(run_of(config))

    label = correlation_label(correlation_key("req-1", "ticket"))
    (request,) = described["requests"]
    assert request["method"] == "POST"
    assert request["url"] == f"{jira.base_url}/rest/api/2/issue"
    assert request["auth"] == {"type": "basic", "user": USER, "tokenRef": "env:JIRA_TOKEN"}
    assert request["body"]["fields"] == {
        "project": {"key": "DBA"},
        "issuetype": {"name": "Task"},
        "summary": "Create database orders-db",
        "description": "Requested by {{request.user.email}}",
        "priority": {"name": "High"},
        "labels": ["pao", "databases", label],
        "components": [{"name": "postgres"}],
        "customfield_10010": "{{fields.instanceName}}",
    }
    assert described["searchFirst"] == f'project = "DBA" AND labels = "{label}"'
    assert executor.target(run_of(config)) == "jira:platform"
    assert not jira.requests
    assert "error" in executor.describe(run_of({**config, "instance": "nowhere"}))


async def test_cloud_instance_uses_enhanced_search(jira: FakeJira) -> None:
    jira.deployment = "Cloud"
    executor = JiraTicketExecutor(
        jira_settings(jira, deployment="cloud"), SecretResolver(SECRET_ENV)
    )
    config = ticket()["config"]
    first = await executor.execute(run_of(config))
    again = await executor.execute(run_of(config))

    assert isinstance(first, Pending)
    assert isinstance(again, Pending)
    assert first.external_ref == again.external_ref == "DBA-1"
    assert first.poll_after_seconds == 30.0
    assert len(jira.seen("/rest/api/2/search/jql", "GET")) == 3  # label, newest; label
    assert not jira.seen("/rest/api/2/search", "GET")
    # the jira client reads it to choose its search API; PAO once, to confirm and for baseUrl
    assert len(jira.seen("/rest/api/2/serverInfo", "GET")) == 2


async def test_timeout_is_retryable(jira: FakeJira) -> None:
    settings = JiraSettings(
        instances=jira_settings(jira).instances, timeout_seconds=0.2, poll_interval_seconds=1
    )
    jira.script("GET", "/rest/api/2/issue/DBA-7", Reply(200, {}, delay=1.0))
    executor = JiraTicketExecutor(settings, SecretResolver(SECRET_ENV))
    result = await executor.poll(run_of(ticket()["config"], external_ref="DBA-7"))

    assert isinstance(result, Failed)
    assert result.retryable is True
    assert "timed out" in result.error


async def test_unreachable_instance_is_retryable() -> None:
    settings = JiraSettings.from_environment(
        {
            "JIRA_INSTANCES": json.dumps(
                {"platform": {"url": "http://127.0.0.1:9", "auth": BASIC}}
            ),
            "JIRA_TIMEOUT": "2",
        }
    )
    executor = JiraTicketExecutor(settings, SecretResolver(SECRET_ENV))
    result = await executor.execute(run_of(ticket()["config"]))

    assert isinstance(result, Failed)
    assert result.retryable is True
    assert "connection failed" in result.error


async def test_notify_comments_and_swallows_failures(jira: FakeJira) -> None:
    executor = JiraTicketExecutor(jira_settings(jira), SecretResolver(SECRET_ENV))
    created = await executor.execute(run_of(ticket()["config"]))
    assert isinstance(created, Pending)
    run = run_of(ticket()["config"], external_ref=created.external_ref)
    await executor.notify(run, "failed", "PAO request req-1 is now failed: boom.")
    assert jira.comment_bodies("DBA-1") == ["PAO request req-1 is now failed: boom."]

    await executor.notify(run_of(ticket()["config"], external_ref="DBA-404"), "failed", "x")
    assert len(jira.seen("/rest/api/2/issue/DBA-404/comment", "POST")) == 1  # tried, no raise


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        ('{"platform": ', "JIRA_INSTANCES: invalid JSON at line 1 column 14"),
        ("[]", "JIRA_INSTANCES: expected a JSON object"),
        (
            {"platform": {"url": "https://jira.example.com", "auth": {"type": "kerberos"}}},
            "JIRA_INSTANCES.platform.auth.type: unknown auth type 'kerberos' "
            "(expected basic, pat or oauth2)",
        ),
        (
            {"platform": {"url": "https://jira.example.com", "auth": {"type": "pat"}}},
            "JIRA_INSTANCES.platform.auth.tokenRef: required for pat auth",
        ),
        (
            {
                "platform": {
                    "url": "https://jira.example.com",
                    "auth": {"type": "pat", "token": "literal-secret"},
                }
            },
            "JIRA_INSTANCES.platform.auth.token: secrets are given as references",
        ),
        (
            {
                "platform": {
                    "url": "https://jira.example.com",
                    "auth": {"type": "pat", "tokenRef": "literal-secret"},
                }
            },
            "JIRA_INSTANCES.platform.auth.tokenRef: expected a secret reference",
        ),
        (
            {"platform": {"url": "jira.example.com", "auth": BASIC}},
            "JIRA_INSTANCES.platform.url: expected an http(s) URL",
        ),
        (
            {
                "platform": {
                    "url": "https://jira.example.com",
                    "auth": BASIC,
                    "deployment": "datacenter",
                }
            },
            "JIRA_INSTANCES.platform.deployment: unknown deployment 'datacenter'",
        ),
    ],
)
def test_settings_errors_are_located(instances: Any, message: str) -> None:
    text = instances if isinstance(instances, str) else json.dumps(instances)
    with pytest.raises(JiraSettingsError) as caught:
        JiraSettings.from_environment({"JIRA_INSTANCES": text})
    assert str(caught.value).startswith(message)
    assert "literal-secret" not in str(caught.value)


def test_settings_defaults_and_durations() -> None:
    instances = {
        "cloud": {"url": "https://acme.atlassian.net/", "auth": BASIC},
        "dc": {"url": "https://jira.example.com", "auth": BASIC, "verify": "/etc/ca.pem"},
    }
    settings = JiraSettings.from_environment(
        {"JIRA_INSTANCES": json.dumps(instances), "JIRA_POLL_INTERVAL": "5m"}
    )
    assert settings.poll_interval_seconds == 300.0
    assert settings.timeout_seconds == 30.0
    assert settings.instances["cloud"].url == "https://acme.atlassian.net"
    assert settings.instances["cloud"].deployment == "cloud"
    assert settings.instances["dc"].deployment == "server"
    assert settings.instances["dc"].verify == "/etc/ca.pem"
    assert JiraSettings.from_environment({}).instances == {}
    with pytest.raises(JiraSettingsError, match="JIRA_TIMEOUT"):
        JiraSettings.from_environment({"JIRA_TIMEOUT": "soon"})
