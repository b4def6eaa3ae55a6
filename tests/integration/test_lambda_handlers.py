"""The Lambda face invoked in-process with AWS's documented event shapes, against real
PostgreSQL and moto's SQS: an HTTP API (payload v2.0) call with an IAM authorizer context, SQS
batches as the event source mapping delivers them, an EventBridge scheduled event.

Each ``LambdaRuntime`` is one container (its own loop, pool and services); the event source
mapping is played by receiving from the queue and handing the messages over as Lambda records.
The tests are synchronous on purpose: a handler runs its container's loop, as on Lambda.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from lambda_handlers.api import ApiFunction
from lambda_handlers.catalog_processor import CatalogProcessor
from lambda_handlers.request_processor import RequestProcessor
from lambda_handlers.runtime import LambdaRuntime, secret_environment
from orchestrator.settings import Settings, SettingsError
from tests.fakes.rest_target import RestTarget, serve_rest_target
from tests.integration.engine_harness import item_document
from tests.integration.sqs_harness import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    SqsQueues,
)

ACCOUNT = "123456789012"
CALLER = f"arn:aws:iam::{ACCOUNT}:user/dev"
ITEM = "lambda-chain"


@dataclass
class Context:
    """Lambda's context object, as much of it as the handlers read."""

    remaining_ms: int = 300_000
    function_name: str = "pao-test"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def http_event(
    method: str, path: str, body: Any = None, *, caller: str | None = CALLER
) -> dict[str, Any]:
    """An HTTP API payload v2.0 event with the IAM authorizer's context (AWS's example shape)."""
    raw = json.dumps(body) if body is not None else None
    context: dict[str, Any] = {
        "accountId": ACCOUNT,
        "apiId": "api-id",
        "domainName": "id.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "id",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "192.0.2.1",
            "userAgent": "agent",
        },
        "requestId": "id",
        "routeKey": "ANY /api/v1/{proxy+}",
        "stage": "$default",
        "time": "12/Mar/2020:19:03:58 +0000",
        "timeEpoch": 1583348638390,
    }
    if caller is not None:
        context["authorizer"] = {
            "iam": {
                "accessKey": "AKIAIOSFODNN7EXAMPLE",
                "accountId": ACCOUNT,
                "callerId": "AIDACKCEVSQ6C2EXAMPLE",
                "cognitoIdentity": None,
                "principalOrgId": None,
                "userArn": caller,
                "userId": "AIDACKCEVSQ6C2EXAMPLE",
            }
        }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "ANY /api/v1/{proxy+}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "accept": "application/json",
            "content-type": "application/json",
            "host": "id.execute-api.us-east-1.amazonaws.com",
            "x-forwarded-proto": "https",
        },
        "requestContext": context,
        "pathParameters": {"proxy": path.removeprefix("/api/v1/")},
        "isBase64Encoded": False,
    }
    if raw is not None:
        event["body"] = raw
    return event


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A received message as Lambda's SQS event source mapping hands it over."""
    attributes = message.get("Attributes") or {}
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", "1545082649183"),
            "SenderId": attributes.get("SenderId", "AIDAIENQZJOLO23YVJ4VO"),
            "ApproximateFirstReceiveTimestamp": attributes.get(
                "ApproximateFirstReceiveTimestamp", "1545082649185"
            ),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(message["Body"].encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def scheduled_event() -> dict[str, Any]:
    """An EventBridge scheduled event (AWS's example shape)."""
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2015-10-08T16:53:06Z",
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/pao-catalog-every-5-minutes"],
        "detail": {},
    }


def body_of(response: dict[str, Any]) -> Any:
    raw = response.get("body") or ""
    if response.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    return json.loads(raw) if raw else None


class Deployment:
    """The functions of one stack, each its own container, and the event source mapping."""

    def __init__(self, env: dict[str, str], queues: SqsQueues) -> None:
        self.env = env
        self.queues = queues
        self.queue_arn = queues.client.get_queue_attributes(
            QueueUrl=queues.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.runtimes: list[LambdaRuntime] = []
        self.api = ApiFunction(self.container())
        self.processor = RequestProcessor(self.container())

    def container(self) -> LambdaRuntime:
        runtime = LambdaRuntime(
            Settings.from_env(self.env), self.env, sqs_client=self.queues.client
        )
        self.runtimes.append(runtime)
        return runtime

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        response = self.api(http_event(method, path, body), Context())
        return int(response["statusCode"]), body_of(response)

    def receive(self) -> list[dict[str, Any]]:
        """One batch, as the event source mapping receives it (the queue's visibility)."""
        reply = self.queues.client.receive_message(
            QueueUrl=self.queues.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
        )
        return [sqs_record(m, self.queue_arn) for m in reply.get("Messages") or []]

    def process(self, records: list[dict[str, Any]], context: Context | None = None) -> set[str]:
        reply = self.processor({"Records": records}, context or Context())
        return {failure["itemIdentifier"] for failure in reply["batchItemFailures"]}

    def run_until(self, request_id: str, status: str, rounds: int = 40) -> dict[str, Any]:
        for _ in range(rounds):
            code, request = self.call("GET", f"/api/v1/requests/{request_id}")
            assert code == 200, request
            if request["status"] == status:
                return dict(request)
            records = self.receive()
            if records:
                assert self.process(records) == set()
            else:
                time.sleep(0.05)
        raise AssertionError(f"request {request_id} did not reach {status}: {request['status']}")

    def close(self) -> None:
        for runtime in self.runtimes:
            runtime.close()


@pytest.fixture
def target() -> Iterator[RestTarget]:
    with serve_rest_target() as served:
        yield served


@pytest.fixture
def catalog(tmp_path: Path, target: RestTarget) -> Path:
    actions = [
        {
            "id": step,
            "type": "rest-api",
            "config": {
                "method": "POST",
                "url": f"{target.base_url}/{step}/resources",
                "body": {"name": "{{fields.instanceName}}"},
            },
        }
        for step in ("provision", "register")
    ]
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / f"{ITEM}.yaml").write_text(yaml.safe_dump(item_document(ITEM, actions)))
    return folder


@pytest.fixture
def environment(database_url: str, sqs_queues: SqsQueues, catalog: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "CATALOG_LOCAL_PATH": str(catalog),
        "CATALOG_LOCAL_WATCH_SECONDS": "0",
        "PAO_QUEUE_BACKEND": "sqs",
        "SQS_QUEUE_URL": sqs_queues.queue_url,
        "SQS_DEAD_LETTER_QUEUE_URL": sqs_queues.dead_letter_queue_url,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_SQS": sqs_queues.endpoint,
        "PAO_AUTH_MODE": "aws-iam",
        "PAO_IAM_SOURCE": "gateway",
        "PAO_IAM_PRINCIPALS": json.dumps(
            {CALLER: {"email": "dev@example.com", "teams": ["payments"]}}
        ),
        "REST_API_ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_POOL_MIN": "1",
        "DATABASE_POOL_MAX": "2",
    }


@pytest.fixture
def deployment(environment: dict[str, str], sqs_queues: SqsQueues) -> Iterator[Deployment]:
    stack = Deployment(environment, sqs_queues)
    try:
        yield stack
    finally:
        stack.close()


def submit(deployment: Deployment, name: str) -> str:
    code, created = deployment.call(
        "POST", "/api/v1/requests", {"catalog_item": ITEM, "fields": {"instanceName": name}}
    )
    assert code == 201, created
    return str(created["id"])


def test_a_request_submitted_through_api_is_fulfilled_by_request_processor(
    deployment: Deployment, target: RestTarget
) -> None:
    request_id = submit(deployment, "orders-db")
    # The api function relayed the job it enqueued before answering: it is on the queue now.
    request = deployment.run_until(request_id, "completed")
    assert request["requester"]["email"] == "dev@example.com"  # the IAM caller, from the context
    assert [r.path for r in target.seen(method="POST")] == [
        "/provision/resources",
        "/register/resources",
    ]


def test_the_api_function_refuses_a_call_without_the_iam_context(deployment: Deployment) -> None:
    response = deployment.api(http_event("GET", "/api/v1/catalog", caller=None), Context())
    assert response["statusCode"] == 401


def test_a_poisoned_record_comes_back_while_the_rest_of_the_batch_completes(
    deployment: Deployment,
) -> None:
    ids = [submit(deployment, f"db-{n}") for n in range(3)]
    records = deployment.receive()
    assert len(records) == 3
    deployment.queues.client.send_message(
        QueueUrl=deployment.queues.queue_url, MessageBody='{"not": "a pao job"}'
    )
    poison = [r for r in deployment.receive() if "not" in r["body"]]
    assert len(poison) == 1
    failures = deployment.process([records[0], poison[0], *records[1:]])
    assert failures == {poison[0]["messageId"]}
    for request_id in ids:  # the first actions ran; the second ones follow
        deployment.run_until(request_id, "completed")


def test_records_that_would_outlive_the_invocation_go_back_unstarted(
    deployment: Deployment, target: RestTarget
) -> None:
    request_id = submit(deployment, "late-db")
    records = deployment.receive()
    assert len(records) == 1
    almost_over = Context(remaining_ms=1_000)  # below PAO_LAMBDA_JOB_SECONDS (60 s)
    assert deployment.process(records, almost_over) == {records[0]["messageId"]}
    assert target.seen(method="POST") == []  # not half-run: not run at all
    # Made visible again at once: the next batch has it, and it completes then.
    deployment.run_until(request_id, "completed")


def test_a_frozen_and_thawed_container_still_works(
    deployment: Deployment, database_url: str
) -> None:
    request_id = submit(deployment, "thawed-db")
    # While the containers are frozen, the server drops every connection of their pools.
    with psycopg.connect(database_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert killed is not None
    assert killed[0] >= 2  # the api's and the processor's pools
    code, request = deployment.call("GET", f"/api/v1/requests/{request_id}")
    assert code == 200, request
    deployment.run_until(request_id, "completed")


def test_catalog_processor_syncs_once_per_scheduled_event(
    deployment: Deployment, catalog: Path
) -> None:
    function = CatalogProcessor(deployment.container())
    first = function(scheduled_event(), Context())
    assert first == {"stored": 0, "unchanged": 1, "errors": 0}
    document = yaml.safe_load((catalog / f"{ITEM}.yaml").read_text())
    document["metadata"]["version"] = "1.1.0"
    document["metadata"]["description"] = "Changed between two scheduled syncs."
    (catalog / f"{ITEM}.yaml").write_text(yaml.safe_dump(document))
    assert function(scheduled_event(), Context()) == {"stored": 1, "unchanged": 0, "errors": 0}
    code, item = deployment.call("GET", f"/api/v1/catalog/items/{ITEM}")
    assert code == 200, item
    assert "1.1.0" in json.dumps(item)


def test_the_lambda_functions_never_start_the_embedded_defaults(
    environment: dict[str, str], sqs_queues: SqsQueues
) -> None:
    without_database = {k: v for k, v in environment.items() if k != "DATABASE_URL"}
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        LambdaRuntime(Settings.from_env(without_database), without_database)
    on_postgres_queue = {**environment, "PAO_QUEUE_BACKEND": "postgres"}
    with pytest.raises(SettingsError, match="PAO_QUEUE_BACKEND=sqs"):
        LambdaRuntime(Settings.from_env(on_postgres_queue), on_postgres_queue)


def test_secrets_come_from_secrets_manager_at_cold_start(moto_server: str) -> None:
    import boto3  # type: ignore[import-untyped]

    client = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name=REGION,
    ).client("secretsmanager", endpoint_url=moto_server)
    name = f"pao-{uuid.uuid4().hex[:8]}"
    arn = client.create_secret(
        Name=name, SecretString=json.dumps({"DATABASE_URL": "postgresql://pao:pw@db/pao"})
    )["ARN"]
    env = secret_environment({"PAO_SECRETS_ARN": arn, "LOG_LEVEL": "INFO"}, client)
    assert env["DATABASE_URL"] == "postgresql://pao:pw@db/pao"
    assert env["LOG_LEVEL"] == "INFO"
    assert secret_environment({"LOG_LEVEL": "INFO"}, client) == {"LOG_LEVEL": "INFO"}
    client.put_secret_value(SecretId=arn, SecretString='["not", "an object"]')
    with pytest.raises(SettingsError, match="PAO_SECRETS_ARN"):
        secret_environment({"PAO_SECRETS_ARN": arn}, client)
