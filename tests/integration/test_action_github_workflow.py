"""The github-workflow executor through the real engine (ChainRunner + Worker + PgQueue on real
PostgreSQL) against the fake GitHub's Actions area served over loopback HTTP, driven by
githubkit (which validates every response against its models)."""

from __future__ import annotations

import base64
import importlib.util
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from actions.github_workflow import CORRELATION_INPUT, GitHubWorkflowExecutor
from actions.registry import ActionDeps, default_registry
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
from orchestrator.github_client import GitHubSettings
from orchestrator.identity.principal import Principal
from orchestrator.services import Services
from tests.fakes.github.actions import ActionsArea
from tests.fakes.github.core import FakeGitHub
from tests.fakes.http_fake import Reply
from tests.integration import engine_harness as harness
from tests.integration.engine_harness import (
    Crash,
    CrashAfterExecute,
    action_rows,
    drain,
    events,
    item_document,
    make_due,
    request_row,
    store_item,
)

pytestmark = pytest.mark.anyio

ITEM_ID = "github-workflow-item"
REPO = "acme/repo-factory"
TOKEN = "ghp_T0kenS3cretValue4242424242424242"
OPERATOR = Principal(email="oncall@example.com", teams=("platform",))
DISPATCHES = f"/repos/{REPO}/actions/workflows/create-repository.yml/dispatches"
FIELDS = [
    {"id": "repoName", "name": "Repository", "type": "string"},
    {"id": "private", "name": "Private", "type": "boolean"},
]


class GitHubFake:
    def __init__(self, gh: FakeGitHub, actions: ActionsArea) -> None:
        self.gh = gh
        self.actions = actions


@pytest.fixture
def github() -> Iterator[GitHubFake]:
    gh = FakeGitHub()
    gh.tokens = {TOKEN}
    actions = ActionsArea(gh)
    with gh.serve():
        yield GitHubFake(gh, actions)


def settings(github: GitHubFake, **overrides: Any) -> GitHubSettings:
    values: dict[str, Any] = {
        "api_url": github.gh.base_url,
        "token": TOKEN,
        "timeout_seconds": 5.0,
        "server_error_retries": 0,  # the engine's retries are under test, not githubkit's
    }
    values.update(overrides)
    return GitHubSettings(**values)


def add_factory(github: GitHubFake, **options: Any) -> Any:
    values: dict[str, Any] = {
        "name": "Create repository",
        "inputs": {"name", "private", CORRELATION_INPUT},
        "required": {"name"},
        "run_name": "Create ${{ inputs.name }} [${{ inputs.pao_correlation }}]",
    }
    values.update(options)
    return github.actions.add_workflow(REPO, "create-repository.yml", **values)


def create_repo(**config: Any) -> dict[str, Any]:
    extra = config.pop("action", {})
    return {
        "id": "create_repo",
        "type": "github-workflow",
        "config": {
            "repository": REPO,
            "workflow": "create-repository.yml",
            "inputs": {"name": "{{fields.repoName}}", "private": "{{fields.private}}"},
            **config,
        },
        **extra,
    }


async def store(services: Services, actions: list[dict[str, Any]]) -> None:
    await store_item(services, item_document(ITEM_ID, actions, fields=FIELDS))


def make_worker(
    services: Services,
    github: GitHubFake,
    *,
    registry: Registry | None = None,
    lease_seconds: float = 300.0,
    **overrides: Any,
) -> Worker:
    deps = ActionDeps(github=settings(github, **overrides))
    return harness.make_worker(
        services, registry or default_registry(deps), lease_seconds=lease_seconds
    )


async def submit(services: Services, name: str = "payments-api") -> str:
    return await harness.submit(services, ITEM_ID, {"repoName": name, "private": True})


async def settle(services: Services, worker: Worker, request_id: str) -> None:
    """Fast-forward the poll jobs until the request leaves in_progress (bounded)."""
    await drain(worker)
    for _ in range(20):
        if (await request_row(services, request_id))["status"] != "in_progress":
            return
        await make_due(services, request_id)
        await drain(worker)
    raise AssertionError("request did not settle")


def run_of(request_id: str, config: dict[str, Any], ref: str | None = None) -> ActionRun:
    return ActionRun(
        request_id=request_id,
        action_id="create_repo",
        action_type="github-workflow",
        config=config,
        correlation_key=correlation_key(request_id, "create_repo"),
        attempt=1,
        external_ref=ref,
    )


# -- the happy path --------------------------------------------------------------------------------


async def test_dispatch_waits_for_the_run_and_outputs_feed_the_next_action(
    services: Services, github: GitHubFake
) -> None:
    factory = add_factory(github)
    announce = github.actions.add_workflow(REPO, "announce.yml", inputs={"run", CORRELATION_INPUT})
    await store(
        services,
        [
            create_repo(),
            {
                "id": "announce",
                "type": "github-workflow",
                "config": {
                    "repository": REPO,
                    "workflow": str(announce.id),  # by id this time
                    "inputs": {"run": "{{outputs.create_repo.run_url}}"},
                    "pollIntervalSeconds": 10,
                },
            },
        ],
    )
    request_id = await submit(services)
    await settle(services, make_worker(services, github), request_id)

    request = await request_row(services, request_id)
    assert request["status"] == "completed", request["error_context"]
    first, second = github.actions.dispatches
    assert first.workflow_id == factory.id
    assert first.ref == "main"
    assert first.return_run_details is True
    assert first.inputs == {
        "name": "payments-api",
        "private": "true",
        CORRELATION_INPUT: correlation_key(request_id, "create_repo"),
    }
    run = github.actions.runs[first.run_id]
    assert (
        run.display_title == f"Create payments-api [{correlation_key(request_id, 'create_repo')}]"
    )
    assert run.gets == 3  # queued, in_progress, completed: one GET per poll
    html_url = f"https://github.com/{REPO}/actions/runs/{run.id}"
    actions = await action_rows(services, request_id)
    assert actions["create_repo"]["outputs"] == {
        "run_id": run.id,
        "run_url": html_url,
        "conclusion": "success",
    }
    assert actions["create_repo"]["external_ref"] == str(run.id)
    assert actions["create_repo"]["external_url"] == html_url
    assert second.workflow_id == announce.id
    assert second.inputs["run"] == html_url
    # the idempotency look-up came first, on the dispatch event and ref
    (listing, *_) = github.gh.seen(f"/repos/{REPO}/actions/workflows/create-repository.yml/runs")
    assert listing.arg("event") == "workflow_dispatch"
    assert listing.arg("branch") == "main"
    await harness.assert_no_secret_stored(services, (TOKEN,))


async def test_failed_run_names_the_failing_job_and_step(
    services: Services, github: GitHubFake
) -> None:
    add_factory(
        github,
        conclusion="failure",
        jobs={
            "lint": ("Set up job", "Run ruff"),
            "create": ("Set up job", "Create the repository", "Apply branch protection"),
        },
        failing=("create", "Create the repository"),
    )
    await store(services, [create_repo(action={"retry": {"maxAttempts": 3}})])
    request_id = await submit(services)
    await settle(services, make_worker(services, github), request_id)

    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    (dispatch,) = github.actions.dispatches
    error = request["error_context"]["error"]
    assert error["retryable"] is False
    assert "concluded failure" in error["message"]
    assert "job 'create' failed at step 'Create the repository'" in error["message"]
    assert "'lint'" not in error["message"]
    assert f"https://github.com/{REPO}/actions/runs/{dispatch.run_id}" in error["message"]
    assert (await action_rows(services, request_id))["create_repo"]["attempts"] == 1


# -- older servers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("server", ["rejects-run-details", "ignores-run-details"])
async def test_older_server_falls_back_to_finding_the_run_by_correlation(
    services: Services, github: GitHubFake, server: str
) -> None:
    add_factory(github)
    github.actions.reject_run_details = server == "rejects-run-details"
    github.actions.ignore_run_details = server == "ignores-run-details"
    # someone else's run of the same workflow, started just before: must not be picked up
    other = github.actions.start_run(
        github.actions.workflows[next(iter(github.actions.workflows))],
        {"name": "other", CORRELATION_INPUT: "pao-someone-else"},
        event="workflow_dispatch",
    )
    await store(services, [create_repo()])
    worker = make_worker(services, github)
    first = await submit(services, "first-repo")
    await settle(services, worker, first)

    assert (await request_row(services, first))["status"] == "completed"
    (dispatch,) = github.actions.dispatches
    assert dispatch.run_id != other.id
    assert dispatch.return_run_details is False
    posts = github.gh.seen(DISPATCHES, "POST")
    assert [p.json().get("return_run_details") for p in posts] == (
        [True, None] if server == "rejects-run-details" else [True]
    )
    rows = await action_rows(services, first)
    assert rows["create_repo"]["outputs"]["run_id"] == dispatch.run_id
    lookups = github.gh.seen(f"/repos/{REPO}/actions/workflows/create-repository.yml/runs")
    assert (lookups[1].arg("created") or "").startswith(">=")  # the look-up after the dispatch

    # a second request on the same worker: a rejecting server is not asked again
    second = await submit(services, "second-repo")
    await settle(services, worker, second)
    assert (await request_row(services, second))["status"] == "completed"
    posts = github.gh.seen(DISPATCHES, "POST")
    assert [p.json().get("return_run_details") for p in posts][-1] is (
        None if server == "rejects-run-details" else True
    )
    assert len(github.actions.dispatches) == 2


async def test_a_run_that_never_shows_its_correlation_key_fails_after_the_wait(
    github: GitHubFake,
) -> None:
    add_factory(github, run_name="Create ${{ inputs.name }}")  # the key is not in the title
    github.actions.ignore_run_details = True
    now = [1_000_000.0]
    executor = GitHubWorkflowExecutor(
        settings(github), find_attempts=1, find_timeout_seconds=600.0, clock=lambda: now[0]
    )
    run = run_of("req-1", {"repository": REPO, "workflow": "create-repository.yml",
                           "inputs": {"name": "x"}})  # fmt: skip

    first = await executor.execute(run)
    assert isinstance(first, Pending)
    assert first.external_ref == "dispatched:1000000"
    waiting = run_of("req-1", dict(run.config), first.external_ref)
    assert isinstance(await executor.execute(waiting), Pending)  # redelivered: no 2nd dispatch
    assert len(github.actions.dispatches) == 1
    now[0] += 599
    assert isinstance(await executor.poll(waiting), Pending)
    now[0] += 2
    result = await executor.poll(waiting)

    assert isinstance(result, Failed)
    assert result.retryable is False
    assert "run-name" in result.error
    assert CORRELATION_INPUT in result.error
    assert len(github.actions.dispatches) == 1


# -- redelivery, rate limits, server errors --------------------------------------------------------


async def test_redelivery_finds_the_existing_run(services: Services, github: GitHubFake) -> None:
    add_factory(github)
    await store(services, [create_repo()])
    request_id = await submit(services)
    crashing = Registry(
        {"github-workflow": CrashAfterExecute(GitHubWorkflowExecutor(settings(github)))}
    )
    stalled = make_worker(services, github, registry=crashing, lease_seconds=0)
    job = await stalled.queue.claim("stalled", [RUN_ACTION], lease_seconds=0)
    assert job is not None
    with pytest.raises(Crash):
        await stalled.runner.handle(job)
    assert len(github.actions.dispatches) == 1

    rescuer = make_worker(services, github)  # the lease expired: the job is delivered again
    await settle(services, rescuer, request_id)

    assert (await request_row(services, request_id))["status"] == "completed"
    (dispatch,) = github.actions.dispatches  # one run despite two deliveries
    assert len(github.gh.seen(DISPATCHES, "POST")) == 1
    outputs = (await action_rows(services, request_id))["create_repo"]["outputs"]
    assert outputs["run_id"] == dispatch.run_id


async def test_secondary_rate_limit_then_success(services: Services, github: GitHubFake) -> None:
    add_factory(github)
    github.gh.script(
        "POST",
        DISPATCHES,
        Reply(
            403,
            {
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes "
                "before you try again.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits",
            },
            {"retry-after": "120"},
        ),
    )
    await store(services, [create_repo(action={"retry": {"maxAttempts": 3}})])
    request_id = await submit(services)
    worker = make_worker(services, github)

    assert await worker.run_once()
    row = (await action_rows(services, request_id))["create_repo"]
    assert row["status"] == "retrying"
    assert row["error"]["retryable"] is True
    assert row["error"]["retry_after"] == 120.0
    assert "secondary rate limit" in row["error"]["message"]
    assert await drain(worker) == 0  # not due for two minutes

    await settle(services, worker, request_id)
    assert (await request_row(services, request_id))["status"] == "completed"
    assert len(github.gh.seen(DISPATCHES, "POST")) == 2
    assert len(github.actions.dispatches) == 1


async def test_primary_rate_limit_waits_for_the_reset(
    services: Services, github: GitHubFake
) -> None:
    add_factory(github)
    github.gh.rate_limit_remaining = 0
    github.gh.rate_limit_reset = int(time.time()) + 600  # within PAO_RETRY_AFTER_MAX_SECONDS
    await store(services, [create_repo(action={"retry": {"maxAttempts": 3}})])
    request_id = await submit(services)
    worker = make_worker(services, github)

    assert await worker.run_once()
    row = (await action_rows(services, request_id))["create_repo"]
    assert row["status"] == "retrying"
    assert "primary rate limit" in row["error"]["message"]
    assert 500 < row["error"]["retry_after"] <= 600  # until x-ratelimit-reset
    assert not github.actions.dispatches

    github.gh.rate_limit_remaining = 5000  # the window reset
    await settle(services, worker, request_id)
    assert (await request_row(services, request_id))["status"] == "completed"
    assert len(github.actions.dispatches) == 1


async def test_server_error_is_retried(services: Services, github: GitHubFake) -> None:
    add_factory(github)
    github.gh.script(
        "POST", DISPATCHES, Reply(502, b"<html>bad gateway</html>", content_type="text/html")
    )
    await store(services, [create_repo(action={"retry": {"maxAttempts": 2}})])
    request_id = await submit(services)
    await settle(services, make_worker(services, github), request_id)

    assert (await request_row(services, request_id))["status"] == "completed"
    assert len(github.actions.dispatches) == 1
    logged = await events(services, request_id)
    assert ("create_repo", "attempt_failed") in logged


@pytest.mark.parametrize(
    ("setup", "status", "message"),
    [
        ("missing-workflow", 404, "Not Found"),
        ("no-dispatch-trigger", 422, "Workflow does not have 'workflow_dispatch' trigger"),
        ("unexpected-input", 422, 'Unexpected inputs provided: ["private"]'),
        ("unknown-ref", 422, "No ref found for: release"),
    ],
)
async def test_permanent_errors_fail_at_once_with_githubs_message(
    services: Services, github: GitHubFake, setup: str, status: int, message: str
) -> None:
    config: dict[str, Any] = {}
    if setup == "missing-workflow":
        github.actions.add_workflow(REPO, "something-else.yml")
    elif setup == "no-dispatch-trigger":
        add_factory(github, dispatchable=False)
    elif setup == "unexpected-input":
        github.actions.add_workflow(
            REPO, "create-repository.yml", inputs={"name", CORRELATION_INPUT}
        )
    else:
        add_factory(github)
        config["ref"] = "release"
    await store(services, [create_repo(**config, action={"retry": {"maxAttempts": 3}})])
    request_id = await submit(services)
    await drain(make_worker(services, github))

    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    error = request["error_context"]["error"]
    assert error["retryable"] is False
    assert f"HTTP {status}" in error["message"]
    assert message in error["message"]
    assert "create-repository.yml" in error["message"]
    assert REPO in error["message"]
    assert not github.actions.dispatches
    assert (await action_rows(services, request_id))["create_repo"]["attempts"] == 1


# -- auth ------------------------------------------------------------------------------------------


async def test_bad_token_fails_without_leaking_it(services: Services, github: GitHubFake) -> None:
    add_factory(github)
    github.gh.tokens = {"ghp_a-different-token"}
    await store(services, [create_repo(action={"retry": {"maxAttempts": 3}})])
    request_id = await submit(services)
    await drain(make_worker(services, github))

    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    error = request["error_context"]["error"]
    assert error["retryable"] is False
    assert "HTTP 401" in error["message"]
    assert "Bad credentials" in error["message"]
    assert all(r.headers["authorization"] == f"token {TOKEN}" for r in github.gh.requests)
    await harness.assert_no_secret_stored(services, (TOKEN,))


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


async def test_app_installation_auth(services: Services, github: GitHubFake) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    add_factory(github)
    github.gh.tokens = {"ghp_nobody-has-this"}  # only installation tokens are accepted
    await store(services, [create_repo()])
    request_id = await submit(services)
    worker = make_worker(
        services, github, token=None, app_id="424242", private_key=pem, installation_id=77
    )
    await settle(services, worker, request_id)
    request = await request_row(services, request_id)

    if importlib.util.find_spec("jwt") is None:
        # githubkit signs App JWTs with PyJWT, an extra (githubkit[auth-app]) not installed here
        error = request["error_context"]["error"]
        assert request["status"] == "failed"
        assert error["retryable"] is False
        assert "githubkit[auth-app]" in error["message"]
        assert not github.gh.requests
        return
    assert request["status"] == "completed", request["error_context"]
    (token_call,) = github.gh.seen("/app/installations/77/access_tokens", "POST")
    _, _, jwt = token_call.headers["authorization"].partition(" ")
    header, payload, signature = jwt.split(".")
    key.public_key().verify(
        _b64decode(signature),
        f"{header}.{payload}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )  # signed with the App's key
    assert json.loads(_b64decode(payload))["iss"] == "424242"
    (installation_token,) = github.gh.installation_tokens
    dispatch = github.gh.seen(DISPATCHES, "POST")[0]
    assert dispatch.headers["authorization"].split(" ")[1] == installation_token
    await harness.assert_no_secret_stored(services, (installation_token, pem.splitlines()[1]))


# -- cancel, describe, limits ----------------------------------------------------------------------


async def test_abort_cancels_the_run(services: Services, github: GitHubFake) -> None:
    add_factory(github, statuses=("queued", "in_progress", "in_progress", "completed"))
    await store(services, [create_repo()])
    request_id = await submit(services)
    worker = make_worker(services, github)
    await drain(worker)
    await make_due(services, request_id)
    await drain(worker)  # one poll: the run is queued
    (dispatch,) = github.actions.dispatches
    run = github.actions.runs[dispatch.run_id]
    assert run.status == "queued"

    await services.requests.abort(uuid.UUID(request_id), OPERATOR, "wrong name", "corr-abort")
    await drain(worker)

    assert run.cancelled
    assert run.status == "completed"
    cancels = github.gh.seen(f"/repos/{REPO}/actions/runs/{run.id}/cancel", "POST")
    assert len(cancels) == 1
    assert ("create_repo", "action_cancelled") in await events(services, request_id)
    assert (await request_row(services, request_id))["status"] == "aborted"


async def test_cancel_of_a_finished_run_is_a_no_op(github: GitHubFake) -> None:
    workflow = add_factory(github, statuses=("completed",))
    key = correlation_key("req-9", "create_repo")
    run = github.actions.start_run(
        workflow, {"name": "x", CORRELATION_INPUT: key}, event="workflow_dispatch"
    )
    executor = GitHubWorkflowExecutor(settings(github))
    config = {"repository": REPO, "workflow": "create-repository.yml"}

    await executor.cancel(run_of("req-9", config))  # found by its correlation key

    assert len(github.gh.seen(f"/repos/{REPO}/actions/runs/{run.id}/cancel", "POST")) == 1
    assert not run.cancelled  # 409: it had finished


async def test_describe_shows_the_dispatch_without_network(github: GitHubFake) -> None:
    executor = GitHubWorkflowExecutor(settings(github))
    run = run_of(
        "req-1",
        {
            "repository": REPO,
            "workflow": "create-repository.yml",
            "ref": "release/2.x",
            "inputs": {"name": "payments-api", "private": True, "replicas": 3},
        },
    )

    described = executor.describe(run)

    assert described["requests"] == [
        {
            "method": "POST",
            "url": f"{github.gh.base_url}{DISPATCHES}",
            "body": {
                "ref": "release/2.x",
                "inputs": {
                    "name": "payments-api",
                    "private": "true",
                    "replicas": "3",
                    CORRELATION_INPUT: correlation_key("req-1", "create_repo"),
                },
                "return_run_details": True,
            },
        }
    ]
    assert executor.target(run) == "github:127.0.0.1"
    assert not github.gh.requests


@pytest.mark.parametrize("count", [25, 30])
async def test_more_inputs_than_github_accepts_are_refused(
    services: Services, github: GitHubFake, count: int
) -> None:
    inputs = {f"input_{i}": str(i) for i in range(count)}
    document = item_document(ITEM_ID, [create_repo(inputs=inputs)], fields=FIELDS)
    report = services.catalog.validator.validate_texts([("item.yaml", json.dumps(document))])
    assert report.issues  # refused when the catalog is validated

    config = {"repository": REPO, "workflow": "create-repository.yml", "inputs": inputs}
    result = await GitHubWorkflowExecutor(settings(github)).execute(run_of("req-1", config))

    assert isinstance(result, Failed)  # and again when executed
    assert result.retryable is False
    assert f"has {count} inputs" in result.error
    assert CORRELATION_INPUT in result.error
    assert not github.gh.requests


async def test_a_completed_run_found_on_redelivery_completes_at_once(github: GitHubFake) -> None:
    workflow = add_factory(github, statuses=("completed",))
    key = correlation_key("req-3", "create_repo")
    run = github.actions.start_run(
        workflow, {"name": "x", CORRELATION_INPUT: key}, event="workflow_dispatch"
    )
    config = {"repository": REPO, "workflow": "create-repository.yml", "inputs": {"name": "x"}}

    result = await GitHubWorkflowExecutor(settings(github)).execute(run_of("req-3", config))

    assert isinstance(result, Completed)
    assert result.outputs["run_id"] == run.id
    assert not github.actions.dispatches
