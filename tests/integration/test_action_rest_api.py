"""The rest-api executor through the real engine (ChainRunner + Worker + PgQueue on real
PostgreSQL) against a stateful fake REST target served over loopback HTTP."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from actions.registry import ActionDeps, default_registry
from actions.rest_api import RestApiExecutor, RestApiSettings, SecretResolver
from orchestrator.engine.executor import Registry
from orchestrator.engine.pg_queue import RUN_ACTION
from orchestrator.engine.worker import Worker
from orchestrator.services import Services
from tests.fakes.rest_target import RestTarget, Scripted, serve_rest_target
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

ITEM_ID = "rest-target-item"
TOKEN = "bearer-Tok3n-s3cret-value"
PASSWORD = "basic-Passw0rd-s3cret"
API_KEY = "api-Key-s3cret-4242"
CLIENT_SECRET = "client-S3cret-oauth"
SECRET_ENV = {
    "TARGET_TOKEN": TOKEN,
    "TARGET_PASSWORD": PASSWORD,
    "TARGET_KEY": API_KEY,
    "TARGET_CLIENT_SECRET": CLIENT_SECRET,
}
ALL_SECRETS = (TOKEN, PASSWORD, API_KEY, CLIENT_SECRET)
SETTINGS = RestApiSettings(allowed_hosts=frozenset({"127.0.0.1"}), default_timeout_seconds=5.0)
BEARER = {"type": "bearer", "tokenRef": "env:TARGET_TOKEN"}


@pytest.fixture
def target() -> Iterator[RestTarget]:
    with serve_rest_target() as fake:
        fake.clients = {"pao": CLIENT_SECRET}
        yield fake


def create_action(auth: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "method": "POST",
        "url": "{{environment.TARGET_URL}}/api/v2/resources",
        "headers": {"X-Correlation-Id": "{{request.correlation_id}}"},
        "body": {"name": "{{fields.instanceName}}", "owner": "{{request.user.email}}"},
        "expectedStatus": [200, 201],
        "outputs": {"resource_id": "id", "self_url": "links.self"},
        **extra.pop("config", {}),
    }
    if auth is not None:
        config["auth"] = auth
    return {"id": "create", "type": "rest-api", "config": config, **extra}


def fetch_action(auth: dict[str, Any] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "method": "GET",
        "url": "{{outputs.create.self_url}}",
        "outputs": {"fetched_name": "name", "fetched_owner": "data.owner"},
    }
    if auth is not None:
        config["auth"] = auth
    return {"id": "fetch", "type": "rest-api", "config": config}


async def store(services: Services, actions: list[dict[str, Any]]) -> None:
    await store_item(services, item_document(ITEM_ID, actions))


def make_worker(
    services: Services,
    target: RestTarget,
    *,
    registry: Registry | None = None,
    lease_seconds: float = 300.0,
) -> Worker:
    deps = ActionDeps(secret_environment=SECRET_ENV, rest_api=SETTINGS)
    return harness.make_worker(
        services,
        registry or default_registry(deps),
        lease_seconds=lease_seconds,
        template_environment={"TARGET_URL": target.base_url},
    )


async def submit(services: Services, name: str = "orders-db") -> str:
    return await harness.submit(services, ITEM_ID, {"instanceName": name})


async def assert_no_secret_stored(services: Services) -> None:
    await harness.assert_no_secret_stored(services, ALL_SECRETS)


# -- chains and auth -----------------------------------------------------------------------------


AUTH_VARIANTS: dict[str, tuple[dict[str, Any], Any]] = {
    "bearer": (BEARER, f"Bearer {TOKEN}"),
    "basic": (
        {"type": "basic", "username": "pao", "passwordRef": "env:TARGET_PASSWORD"},
        "Basic " + base64.b64encode(f"pao:{PASSWORD}".encode()).decode(),
    ),
    "api-key-header": (
        {"type": "api-key", "in": "header", "name": "X-Api-Key", "valueRef": "env:TARGET_KEY"},
        ("header", "X-Api-Key", API_KEY),
    ),
    "api-key-query": (
        {"type": "api-key", "in": "query", "name": "api_key", "valueRef": "env:TARGET_KEY"},
        ("query", "api_key", API_KEY),
    ),
}


@pytest.mark.parametrize("variant", sorted(AUTH_VARIANTS))
async def test_chain_posts_then_uses_outputs_with_auth(
    services: Services, target: RestTarget, variant: str
) -> None:
    auth, required = AUTH_VARIANTS[variant]
    target.require_auth = required  # anything else gets 401
    await store(services, [create_action(auth), fetch_action(auth)])
    request_id = await submit(services)
    # one job runs both actions (no completion notice: nobody listens to an API request)
    assert await drain(make_worker(services, target)) == 1

    request = await request_row(services, request_id)
    assert request["status"] == "completed", request["error_context"]
    actions = await action_rows(services, request_id)
    self_url = f"{target.base_url}/api/v2/resources/res-1"
    assert actions["create"]["outputs"] == {
        "resource_id": "res-1",
        "self_url": self_url,
        "status_code": 201,
    }
    assert actions["fetch"]["outputs"] == {
        "fetched_name": "orders-db",
        "fetched_owner": "dev@example.com",
        "status_code": 200,
    }
    post, get = target.requests
    assert (post.method, post.path) == ("POST", "/api/v2/resources")
    assert post.json() == {"name": "orders-db", "owner": "dev@example.com"}
    assert post.headers["content-type"] == "application/json"
    assert post.headers["x-correlation-id"] == request["correlation_id"]
    assert post.headers["idempotency-key"].startswith("pao-")
    assert (get.method, get.path) == ("GET", "/api/v2/resources/res-1")
    assert get.headers["idempotency-key"] != post.headers["idempotency-key"]
    await assert_no_secret_stored(services)


async def test_oauth2_token_is_cached_across_calls(services: Services, target: RestTarget) -> None:
    target.require_auth = "oauth"
    auth = {
        "type": "oauth2-client-credentials",
        "tokenUrl": f"{target.base_url}/oauth/token",
        "clientId": "pao",
        "clientSecretRef": "env:TARGET_CLIENT_SECRET",
        "scopes": ["resources:write", "resources:read"],
    }
    await store(services, [create_action(auth), fetch_action(auth)])
    request_id = await submit(services)
    await drain(make_worker(services, target))

    assert (await request_row(services, request_id))["status"] == "completed"
    assert target.token_requests == 1  # two calls, one token
    (token_call,) = target.seen("/oauth/token")
    assert token_call.form() == {
        "grant_type": ["client_credentials"],
        "scope": ["resources:write resources:read"],
    }
    used = {r.headers["authorization"] for r in target.requests if r.path != "/oauth/token"}
    assert len(used) == 1
    assert used.pop().removeprefix("Bearer ") in target.tokens
    await assert_no_secret_stored(services)


async def test_form_body_and_query(services: Services, target: RestTarget) -> None:
    action = create_action(
        BEARER, config={"bodyType": "form", "query": {"dryRun": False, "region": "eu"}}
    )
    await store(services, [action])
    request_id = await submit(services)
    await drain(make_worker(services, target))

    assert (await request_row(services, request_id))["status"] == "completed"
    (post,) = target.requests
    assert post.headers["content-type"] == "application/x-www-form-urlencoded"
    assert post.form() == {"name": ["orders-db"], "owner": ["dev@example.com"]}
    assert post.query == {"dryRun": ["false"], "region": ["eu"]}


# -- failures and retries ------------------------------------------------------------------------


async def test_429_with_retry_after_then_success(services: Services, target: RestTarget) -> None:
    target.script("/api/v2/resources", Scripted(429, {"error": "slow down"}, {"Retry-After": "7"}))
    await store(services, [create_action(BEARER, retry={"maxAttempts": 3})])
    request_id = await submit(services)
    worker = make_worker(services, target)

    assert await worker.run_once()
    create = (await action_rows(services, request_id))["create"]
    assert create["status"] == "retrying"
    assert create["error"]["retryable"] is True
    assert create["error"]["retry_after"] == 7.0  # the target's Retry-After wins over backoff
    assert "HTTP 429" in create["error"]["message"]
    (waiting,) = await ready_jobs(services, request_id)
    assert (waiting["run_after"] - datetime.now(UTC)).total_seconds() > 5.0
    assert await drain(worker) == 0  # not due yet

    await make_due(services, request_id)
    assert await drain(worker) == 1  # the retried action, then the next one in that job
    assert (await request_row(services, request_id))["status"] == "completed"
    posts = target.seen("/api/v2/resources", "POST")
    assert len(posts) == 2
    assert posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]
    assert len(target.resources) == 1


async def test_500_until_max_attempts_fails_request(services: Services, target: RestTarget) -> None:
    target.script("/api/v2/resources", *[Scripted(500, {"error": "boom", "token": "n/a"})] * 5)
    await store(services, [create_action(BEARER, retry={"maxAttempts": 3}), fetch_action(BEARER)])
    request_id = await submit(services)
    await drain(make_worker(services, target))

    assert len(target.seen("/api/v2/resources", "POST")) == 3
    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    assert request["error_context"]["failed_action"] == "create"
    assert "HTTP 500" in request["error_context"]["error"]["message"]
    actions = await action_rows(services, request_id)
    assert actions["create"]["status"] == "failed"
    assert actions["create"]["attempts"] == 3
    assert actions["fetch"]["status"] == "pending"
    assert target.seen("/api/v2/resources/res-1") == []
    await assert_no_secret_stored(services)


async def test_4xx_is_not_retried(services: Services, target: RestTarget) -> None:
    target.script("/api/v2/resources", Scripted(422, {"error": "name taken"}))
    await store(services, [create_action(BEARER, retry={"maxAttempts": 3})])
    request_id = await submit(services)
    await drain(make_worker(services, target))

    assert len(target.requests) == 1
    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    error = request["error_context"]["error"]
    assert error["retryable"] is False
    assert "HTTP 422" in error["message"]
    assert "name taken" in error["message"]


async def test_timeout_is_retried(services: Services, target: RestTarget) -> None:
    target.script("/api/v2/resources", Scripted(201, {"id": "late"}, delay=0.5))
    deps = ActionDeps(
        secret_environment=SECRET_ENV,
        rest_api=RestApiSettings(
            allowed_hosts=frozenset({"127.0.0.1"}), default_timeout_seconds=0.2
        ),
    )
    await store(services, [create_action(BEARER, retry={"maxAttempts": 2})])
    request_id = await submit(services)
    await drain(make_worker(services, target, registry=default_registry(deps)))

    request = await request_row(services, request_id)
    assert request["status"] == "completed"
    assert (await action_rows(services, request_id))["create"]["outputs"]["resource_id"] == "res-1"
    logs = await services.db.fetch_all(
        None,
        "SELECT details FROM request_logs WHERE request_id = %(id)s AND event = 'attempt_failed'",
        {"id": request_id},
    )
    assert len(logs) == 1
    assert "timed out" in logs[0]["details"]["message"]


async def test_oversized_response_fails_without_retry(
    services: Services, target: RestTarget
) -> None:
    action = {
        "id": "big",
        "type": "rest-api",
        "config": {"method": "GET", "url": "{{environment.TARGET_URL}}/big"},
        "retry": {"maxAttempts": 3},
    }
    await store(services, [action])
    request_id = await submit(services)
    await drain(make_worker(services, target))

    assert len(target.requests) == 1
    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    assert "cap" in request["error_context"]["error"]["message"]
    assert request["error_context"]["error"]["retryable"] is False


# -- idempotency ---------------------------------------------------------------------------------


async def test_redelivery_reuses_idempotency_key_and_creates_once(
    services: Services, target: RestTarget
) -> None:
    await store(services, [create_action(BEARER), fetch_action(BEARER)])
    request_id = await submit(services)
    crashing = Registry(
        {"rest-api": CrashAfterExecute(RestApiExecutor(SecretResolver(SECRET_ENV), SETTINGS))}
    )
    stalled = make_worker(services, target, registry=crashing, lease_seconds=0)
    job = await stalled.queue.claim("stalled", [RUN_ACTION], lease_seconds=0)
    assert job is not None
    with pytest.raises(Crash):
        await stalled.runner.handle(job)
    assert len(target.resources) == 1
    assert (await action_rows(services, request_id))["create"]["status"] == "in_progress"

    rescuer = make_worker(services, target)  # the lease expired: the job is delivered again
    assert await drain(rescuer) == 1  # the resumed action and the next one in one job

    posts = target.seen("/api/v2/resources", "POST")
    assert len(posts) == 2
    assert posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]
    assert len(target.resources) == 1  # one resource despite two deliveries
    assert (await request_row(services, request_id))["status"] == "completed"
    actions = await action_rows(services, request_id)
    assert actions["create"]["outputs"]["resource_id"] == "res-1"
    assert actions["create"]["outputs"]["status_code"] == 200  # the replayed resource
    assert actions["fetch"]["outputs"]["fetched_name"] == "orders-db"


# -- SSRF ----------------------------------------------------------------------------------------


async def test_metadata_address_is_refused_without_a_request(
    services: Services, target: RestTarget
) -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    executor = RestApiExecutor(
        SecretResolver(SECRET_ENV),
        RestApiSettings(allow_private=True),  # even private ranges allowed: link-local is not
        transport=httpx.MockTransport(record),
    )
    action = {
        "id": "create",
        "type": "rest-api",
        "config": {
            "method": "GET",
            "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "auth": BEARER,
        },
        "retry": {"maxAttempts": 3},
    }
    await store(services, [action])
    request_id = await submit(services)
    await drain(make_worker(services, target, registry=Registry({"rest-api": executor})))

    assert sent == []
    assert target.requests == []
    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    error = request["error_context"]["error"]
    assert error["retryable"] is False
    assert "169.254.169.254" in error["message"]
    assert "metadata" in error["message"]
    assert error["details"] == {"ssrf": True}


async def test_private_host_is_refused_unless_allowed(
    services: Services, target: RestTarget
) -> None:
    await store(services, [create_action(BEARER)])
    request_id = await submit(services)
    deps = ActionDeps(secret_environment=SECRET_ENV)  # 127.0.0.1 not on the allow-list
    await drain(make_worker(services, target, registry=default_registry(deps)))

    assert target.requests == []
    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    assert "not a public address" in request["error_context"]["error"]["message"]


# -- async mode ----------------------------------------------------------------------------------


def async_action(interval: str = "5s") -> dict[str, Any]:
    return create_action(
        BEARER,
        config={
            "async": {
                "statusUrl": "/status/{{request.id}}",
                "successWhen": "state == 'succeeded'",
                "failureWhen": "state == 'failed'",
                "interval": interval,
            },
            "outputs": {"operation": "id", "result_url": "result.url"},
        },
    )


async def test_async_mode_pending_then_completed(services: Services, target: RestTarget) -> None:
    await store(services, [async_action()])
    request_id = await submit(services)
    target.statuses[request_id] = ["running", "running", "succeeded"]
    worker = make_worker(services, target)

    assert await worker.run_once()
    create = (await action_rows(services, request_id))["create"]
    assert create["status"] == "in_progress"
    assert create["external_ref"] == f"{target.base_url}/status/{request_id}"
    (poll_job,) = await ready_jobs(services, request_id)
    assert poll_job["kind"] == "poll-action"
    assert (poll_job["run_after"] - datetime.now(UTC)).total_seconds() > 3.0  # interval 5s

    for _ in range(3):
        assert await drain(worker) == 0
        await make_due(services, request_id)
        assert await worker.run_once()
    assert (await request_row(services, request_id))["status"] == "completed"
    create = (await action_rows(services, request_id))["create"]
    assert create["outputs"] == {
        "operation": request_id,
        "result_url": f"{target.base_url}/done/{request_id}",
        "status_code": 200,
    }
    polls = target.seen(f"/status/{request_id}", "GET")
    assert len(polls) == 3
    assert all(p.headers["authorization"] == f"Bearer {TOKEN}" for p in polls)
    assert len(target.resources) == 1
    await assert_no_secret_stored(services)


async def test_async_mode_failure_condition_fails_request(
    services: Services, target: RestTarget
) -> None:
    await store(services, [async_action()])
    request_id = await submit(services)
    target.statuses[request_id] = ["running", "failed"]
    worker = make_worker(services, target)
    await drain(worker)
    for _ in range(2):
        await make_due(services, request_id)
        await drain(worker)

    request = await request_row(services, request_id)
    assert request["status"] == "failed"
    assert "failure" in request["error_context"]["error"]["message"]
    assert request["error_context"]["error"]["retryable"] is False
