"""SQS for integration tests: moto's server over loopback, fresh queues per test, and settings
that put the engine on the SQS backend.

Credentials are dummies passed to boto3 explicitly (never through ``os.environ``). The test queue
pumps before each receive: the outbox relay runs (sending only jobs that are due, so a test that
moves ``run_after`` forward still works) and the dead-letter queue is drained; in production the
worker pool runs both periodically instead.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator.engine.pg_queue import DEFAULT_LEASE_SECONDS, Job
from orchestrator.engine.sqs.client import sqs_client
from orchestrator.engine.sqs.dead_letters import DeadLetterDrain
from orchestrator.engine.sqs.provisioning import ensure_queues
from orchestrator.engine.sqs.queue import SqsQueue
from orchestrator.engine.sqs.relay import OutboxRelay
from orchestrator.settings import EngineSettings, Settings
from orchestrator.store.database import Database

REGION = "us-east-1"
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing-secret"
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class SqsQueues:
    endpoint: str
    queue_url: str
    dead_letter_queue_url: str
    client: Any

    def messages(self, url: str | None = None) -> dict[str, int]:
        """SQS's own counts of a queue (the main queue by default)."""
        attributes = self.client.get_queue_attributes(
            QueueUrl=url or self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return {
            "visible": int(attributes["ApproximateNumberOfMessages"]),
            "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
            "delayed": int(attributes["ApproximateNumberOfMessagesDelayed"]),
        }


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Endpoint URL of moto's server on a free loopback port, for the whole session."""
    from moto.server import ThreadedMotoServer  # imported here: slow, and only SQS tests need it

    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)  # not one line per SQS call
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        werkzeug.setLevel(level)


def engine_settings(endpoint: str) -> EngineSettings:
    return EngineSettings(aws_region=REGION, sqs_endpoint_url=endpoint)


@functools.cache
def _client(endpoint: str | None, region: str | None) -> Any:
    return sqs_client(
        EngineSettings(aws_region=region, sqs_endpoint_url=endpoint),
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


def dummy_client(settings: EngineSettings) -> Any:
    """An SQS client with the dummy credentials (and the production retry policy); one per
    endpoint, as boto3 clients are thread-safe and slow to build."""
    return _client(settings.sqs_endpoint_url, settings.aws_region)


@pytest.fixture
def sqs_queues(moto_server: str) -> SqsQueues:
    """A fresh queue and dead-letter queue (the spec's attributes) for this test."""
    client = dummy_client(engine_settings(moto_server))
    queue_url, dlq_url = ensure_queues(client, f"pao-test-{uuid.uuid4().hex[:10]}")
    return SqsQueues(moto_server, queue_url, dlq_url, client)


def sqs_settings(queues: SqsQueues, **extra: str) -> Settings:
    """The API fixtures' settings, on the SQS backend with these queues."""
    return Settings.from_env(
        {
            "CATALOG_LOCAL_PATH": str(ROOT / "examples" / "catalog"),
            "PAO_QUEUE_BACKEND": "sqs",
            "SQS_QUEUE_URL": queues.queue_url,
            "SQS_DEAD_LETTER_QUEUE_URL": queues.dead_letter_queue_url,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL_SQS": queues.endpoint,
            **extra,
        }
    )


class PumpedSqsQueue(SqsQueue):
    """SqsQueue whose claim first relays the due outbox rows and drains the dead-letter queue,
    so a test's ``drain(worker)`` sees every job committed before it."""

    def __init__(self, db: Database, client: Any, settings: EngineSettings) -> None:
        assert settings.sqs_queue_url is not None
        assert settings.sqs_dead_letter_queue_url is not None
        super().__init__(
            db,
            client,
            settings.sqs_queue_url,
            dead_letter_queue_url=settings.sqs_dead_letter_queue_url,
            wait_seconds=0,
        )
        self.relay = OutboxRelay(db, client, settings.sqs_queue_url, send_ahead_seconds=0)
        self.dead_letters = DeadLetterDrain(db, client, settings.sqs_dead_letter_queue_url)

    async def claim(
        self,
        worker_id: str,
        kinds: Sequence[str],
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> Job | None:
        await self.relay.run_once()
        await self.dead_letters.run_once()
        return await super().claim(worker_id, kinds, lease_seconds)


def sqs_test_queue(db: Database, settings: EngineSettings) -> PumpedSqsQueue:
    return PumpedSqsQueue(db, dummy_client(settings), settings)
