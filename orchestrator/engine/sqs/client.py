"""The SQS client: one retry policy, one call wrapper (in a thread, errors as ``SqsError``,
outcomes reported to a ``Reachability``), and the small conversions every SQS module needs."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from orchestrator.engine.reachability import Reachability
from orchestrator.settings import EngineSettings

SQS_MAX_DELAY_SECONDS: Final = 900
SQS_MAX_VISIBILITY_SECONDS: Final = 43_200
SQS_BATCH: Final = 10
NO_SUCH_QUEUE: Final = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


class SqsError(RuntimeError):
    """An SQS call failed; the message names the operation, the queue and SQS's error code."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class SqsPolicy:
    """Timeouts and retries of every SQS call, in one place."""

    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0  # above the longest receive wait (20 s)
    max_attempts: int = 3  # botocore's "standard" mode: throttling and 5xx, with backoff

    def config(self) -> Any:
        from botocore.config import Config  # type: ignore[import-untyped]

        return Config(
            connect_timeout=self.connect_timeout_seconds,
            read_timeout=self.read_timeout_seconds,
            retries={"mode": "standard", "max_attempts": self.max_attempts},
        )


def sqs_client(
    settings: EngineSettings,
    *,
    policy: SqsPolicy | None = None,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    aws_session_token: str | None = None,
) -> Any:
    """A boto3 SQS client for ``settings`` (region, endpoint) with the one retry policy."""
    import boto3  # type: ignore[import-untyped]

    session = boto3.session.Session(
        aws_access_key_id=aws_access_key_id,
        aws_secret_access_key=aws_secret_access_key,
        aws_session_token=aws_session_token,
        region_name=settings.aws_region,
    )
    return session.client(
        "sqs", endpoint_url=settings.sqs_endpoint_url, config=(policy or SqsPolicy()).config()
    )


def call_sync(client: Any, operation: str, target: str, **params: Any) -> dict[str, Any]:
    """One SQS call; failures become ``SqsError`` naming the call and ``target`` (a queue)."""
    method = getattr(client, operation)
    try:
        reply: dict[str, Any] = method(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code")
        raise SqsError(
            f"SQS {operation} on {target} failed: {code}: {error.get('Message', '')}", code
        ) from exc
    except BotoCoreError as exc:
        raise SqsError(f"SQS {operation} on {target} failed: {exc}") from exc
    return reply


# SQS answered, but the queue cannot be used now (gone, overloaded, failing): an outage too.
_UNAVAILABLE: Final = NO_SUCH_QUEUE | frozenset(
    {
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestThrottled",
        "ThrottlingException",
        "KMS.ThrottlingException",
    }
)


def unavailable(exc: SqsError) -> bool:
    """Whether ``exc`` means SQS could not be used (no answer, or an outage answer) rather
    than SQS refusing this one call (e.g. a receipt handle no longer valid)."""
    return exc.code is None or exc.code in _UNAVAILABLE


async def call(
    client: Any,
    operation: str,
    queue_url: str,
    reachability: Reachability | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Run one SQS call in a thread; failures become ``SqsError`` naming the call and queue.
    Each outcome is reported to ``reachability`` (one log line per change, not per call)."""
    try:
        reply = await asyncio.to_thread(
            call_sync, client, operation, queue_url, QueueUrl=queue_url, **params
        )
    except SqsError as exc:
        if reachability is not None:
            if unavailable(exc):
                reachability.failed(exc, during=operation)
            else:
                reachability.succeeded()
        raise
    if reachability is not None:
        reachability.succeeded()
    return reply


def queue_name(queue_url: str) -> str:
    """The queue's name: the last path segment of its URL."""
    return queue_url.rstrip("/").rsplit("/", 1)[-1]


def job_message(message: Mapping[str, Any]) -> tuple[int, int] | None:
    """(job id, receive count) of a PAO message, or None for anything else."""
    try:
        body = json.loads(message["Body"])
        job_id = int(body["job_id"])
    except (KeyError, TypeError, ValueError):
        return None
    attributes = message.get("Attributes") or {}
    return job_id, int(attributes.get("ApproximateReceiveCount", "1"))


def seconds(value: float, limit: int) -> int:
    """Whole seconds for SQS (rounded up: never earlier than asked), within ``[0, limit]``."""
    return max(0, min(limit, math.ceil(max(0.0, value))))
