"""Secret references: ``env:`` from the start-up mapping, ``aws-sm:`` from Secrets Manager (moto's
server mode on loopback), brief caching, and errors that name the reference, never the value."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto.server import ThreadedMotoServer

from actions.rest_api import SecretResolver as ReExported
from actions.secrets import SecretError, SecretResolver, SecretSettings

pytestmark = pytest.mark.anyio
REGION = "eu-west-1"
VALUE = "s3cret-Value-42"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def settings(endpoint: str, **overrides: Any) -> SecretSettings:
    values: dict[str, Any] = {
        "aws_region": REGION,
        "aws_endpoint_url": endpoint,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing-secret-key",
        **overrides,
    }
    return SecretSettings(**values)


def secretsmanager(endpoint: str) -> Any:
    return boto3.client(
        "secretsmanager",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret-key",
    )


def new_secret(endpoint: str, value: str) -> tuple[str, str]:
    """(name, ARN) of a fresh secret holding ``value``."""
    name = f"pao/test-{uuid.uuid4().hex[:8]}"
    created = secretsmanager(endpoint).create_secret(Name=name, SecretString=value)
    return name, str(created["ARN"])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_env_references_come_from_the_given_mapping() -> None:
    resolver = SecretResolver({"TOKEN": VALUE, "EMPTY": ""})
    assert resolver.resolve("env:TOKEN") == VALUE
    with pytest.raises(SecretError, match="'env:EMPTY' is not set"):
        resolver.resolve("env:EMPTY")
    with pytest.raises(SecretError, match="'env:MISSING' is not set"):
        resolver.resolve("env:MISSING")
    for bad in ("TOKEN", "vault:x", "env:", "aws-sm:"):
        with pytest.raises(SecretError, match="invalid secret reference"):
            resolver.resolve(bad)
    assert VALUE not in repr(resolver)
    assert ReExported is SecretResolver  # the old import path still works


def test_aws_secret_by_name_arn_and_json_key(endpoint: str) -> None:
    name, arn = new_secret(endpoint, json.dumps({"token": VALUE, "port": 5432}))
    plain, _ = new_secret(endpoint, VALUE)
    resolver = SecretResolver({}, settings(endpoint))

    assert resolver.resolve(f"aws-sm:{plain}") == VALUE
    assert resolver.resolve(f"aws-sm:{name}#token") == VALUE
    assert resolver.resolve(f"aws-sm:{arn}#token") == VALUE
    assert resolver.resolve(f"aws-sm:{name}#port") == "5432"
    assert json.loads(resolver.resolve(f"aws-sm:{name}")) == {"token": VALUE, "port": 5432}


async def test_resolve_async_reads_aws_in_a_thread(endpoint: str) -> None:
    name, _ = new_secret(endpoint, VALUE)
    resolver = SecretResolver({"A": "a"}, settings(endpoint))
    assert await resolver.resolve_async(f"aws-sm:{name}") == VALUE
    assert await resolver.resolve_async("env:A") == "a"


def test_aws_values_are_cached_briefly(endpoint: str) -> None:
    name, _ = new_secret(endpoint, "first-value")
    clock = Clock()
    resolver = SecretResolver({}, settings(endpoint, cache_seconds=60), clock=clock)
    assert resolver.resolve(f"aws-sm:{name}") == "first-value"

    secretsmanager(endpoint).put_secret_value(SecretId=name, SecretString="rotated-value")
    clock.now += 30
    assert resolver.resolve(f"aws-sm:{name}") == "first-value"  # still cached
    clock.now += 31
    assert resolver.resolve(f"aws-sm:{name}") == "rotated-value"  # expired: fetched again


def test_aws_errors_name_the_reference_not_the_value(endpoint: str) -> None:
    name, _ = new_secret(endpoint, json.dumps({"token": VALUE}))
    plain, _ = new_secret(endpoint, VALUE)
    resolver = SecretResolver({}, settings(endpoint))

    with pytest.raises(SecretError) as missing:
        resolver.resolve("aws-sm:pao/does-not-exist")
    assert "'aws-sm:pao/does-not-exist'" in str(missing.value)
    assert "ResourceNotFoundException" in str(missing.value)

    with pytest.raises(SecretError) as no_key:
        resolver.resolve(f"aws-sm:{name}#password")
    assert "has no key 'password'" in str(no_key.value)

    with pytest.raises(SecretError) as not_json:
        resolver.resolve(f"aws-sm:{plain}#token")
    assert "not a JSON object" in str(not_json.value)

    for error in (missing.value, no_key.value, not_json.value):
        assert VALUE not in str(error)
        assert error.__context__ is None or error.__suppress_context__  # no chained original


def test_unreachable_secrets_manager_is_a_secret_error() -> None:
    resolver = SecretResolver({}, settings("http://127.0.0.1:9"))
    with pytest.raises(SecretError, match="'aws-sm:pao/x': Secrets Manager unreachable"):
        resolver.resolve("aws-sm:pao/x")


def test_settings_from_environment() -> None:
    loaded = SecretSettings.from_environment(
        {
            "AWS_DEFAULT_REGION": "us-east-2",
            "AWS_ENDPOINT_URL_SECRETSMANAGER": "http://127.0.0.1:4566",
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "very-secret-key",
            "PAO_SECRET_CACHE_SECONDS": "15",
        }
    )
    assert loaded.aws_region == "us-east-2"
    assert loaded.aws_endpoint_url == "http://127.0.0.1:4566"
    assert loaded.cache_seconds == 15.0
    assert "very-secret-key" not in repr(loaded)
    assert SecretSettings.from_environment({"AWS_REGION": "eu-west-1"}).aws_region == "eu-west-1"
    assert SecretSettings.from_environment({}).cache_seconds == 60.0
    with pytest.raises(ValueError, match="PAO_SECRET_CACHE_SECONDS: 'soon'"):
        SecretSettings.from_environment({"PAO_SECRET_CACHE_SECONDS": "soon"})
    with pytest.raises(ValueError, match="must not be negative"):
        SecretSettings.from_environment({"PAO_SECRET_CACHE_SECONDS": "-1"})


def test_rest_api_describe_shows_references_never_values() -> None:
    from actions.rest_api import RestApiExecutor
    from orchestrator.engine.executor import ActionRun

    resolver = SecretResolver({"TOKEN": VALUE})
    executor = RestApiExecutor(resolver)
    auth = {"type": "bearer", "tokenRef": "env:TOKEN"}
    run = ActionRun(
        request_id="req-1",
        action_id="create",
        action_type="rest-api",
        config={
            "method": "post",
            "url": "https://inventory.example.com/api/dbs",
            "headers": {"X-Team": "dba"},
            "query": {"dryRun": False},
            "body": {"name": "orders"},
            "auth": auth,
            "async": {"statusUrl": "/api/dbs/status", "successWhen": "done"},
        },
        correlation_key="pao-0123",
        attempt=1,
    )
    described = executor.describe(run)
    create, status = described["requests"]
    assert create == {
        "method": "POST",
        "url": "https://inventory.example.com/api/dbs",
        "headers": {
            "X-Team": "dba",
            "Idempotency-Key": "pao-0123",
            "User-Agent": "pao-orchestrator",
        },
        "query": {"dryRun": "false"},
        "body": {"name": "orders"},
        "bodyType": "json",
        "auth": auth,
    }
    assert status["url"] == "https://inventory.example.com/api/dbs/status"
    assert VALUE not in json.dumps(described)
