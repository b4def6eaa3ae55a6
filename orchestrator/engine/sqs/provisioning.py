"""Creating (or finding) the queue and its dead-letter queue with the spec's attributes, and
reporting how existing queues drift from them (``pao worker --create-queues``, ``pao queues
create``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from orchestrator.engine.jobs import DEFAULT_MAX_RECEIVES
from orchestrator.engine.sqs.client import NO_SUCH_QUEUE, SqsError, call_sync

RETENTION_SECONDS: Final = 1_209_600  # 14 days, the spec's retention
QUEUE_VISIBILITY_SECONDS: Final = 300
MAX_RECEIVE_COUNT: Final = DEFAULT_MAX_RECEIVES


@dataclass(frozen=True, slots=True)
class QueueReport:
    """What ``provision_queues`` did with one queue: created it, or found it (and how its
    attributes differ from the spec's, which it leaves alone)."""

    name: str
    url: str
    created: bool
    drift: tuple[str, ...] = ()

    def describe(self) -> str:
        line = f"queue {self.name}: {'created' if self.created else 'found'} ({self.url})"
        if self.drift:
            line += "; differs from the spec: " + "; ".join(self.drift)
        return line


def _find_queue(client: Any, name: str) -> str | None:
    try:
        reply = call_sync(client, "get_queue_url", name, QueueName=name)
    except SqsError as exc:
        if exc.code in NO_SUCH_QUEUE:
            return None
        raise
    return str(reply["QueueUrl"])


def _same_redrive(have: str | None, want: str) -> bool:
    try:
        policy, expected = json.loads(have or "{}"), json.loads(want)
        return bool(
            policy.get("deadLetterTargetArn") == expected["deadLetterTargetArn"]
            and int(policy.get("maxReceiveCount", -1)) == int(expected["maxReceiveCount"])
        )
    except (AttributeError, TypeError, ValueError):
        return False


def _drift(actual: Mapping[str, str], expected: Mapping[str, str]) -> tuple[str, ...]:
    """``Name is X, expected Y`` for each spec attribute the queue has otherwise."""
    found: list[str] = []
    for key, want in expected.items():
        have = actual.get(key)
        same = _same_redrive(have, want) if key == "RedrivePolicy" else have == want
        if not same:
            found.append(f"{key} is {have or 'unset'}, expected {want}")
    return tuple(found)


def _ensure_queue(client: Any, name: str, attributes: Mapping[str, str]) -> QueueReport:
    url = _find_queue(client, name)
    if url is None:
        # Two processes creating at once both succeed: CreateQueue with the same attributes
        # is idempotent.
        reply = call_sync(client, "create_queue", name, QueueName=name, Attributes=attributes)
        return QueueReport(name, str(reply["QueueUrl"]), created=True)
    reply = call_sync(
        client, "get_queue_attributes", url, QueueUrl=url, AttributeNames=list(attributes)
    )
    return QueueReport(
        name, url, created=False, drift=_drift(reply.get("Attributes") or {}, attributes)
    )


def provision_queues(
    client: Any,
    name: str,
    *,
    dead_letter_name: str | None = None,
    visibility_timeout: int = QUEUE_VISIBILITY_SECONDS,
    retention_seconds: int = RETENTION_SECONDS,
    max_receive_count: int = MAX_RECEIVE_COUNT,
) -> tuple[QueueReport, QueueReport]:
    """Create queue ``name`` and its dead-letter queue (``name-dlq`` unless named) with the
    spec's attributes, or find them; (queue, dead-letter queue). A queue found with other
    attributes is reported, not changed: its owner may have had a reason. Synchronous."""
    dlq = _ensure_queue(
        client,
        dead_letter_name or f"{name}-dlq",
        {"MessageRetentionPeriod": str(retention_seconds)},
    )
    dlq_arn = call_sync(
        client, "get_queue_attributes", dlq.url, QueueUrl=dlq.url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
    queue = _ensure_queue(
        client,
        name,
        {
            "VisibilityTimeout": str(visibility_timeout),
            "MessageRetentionPeriod": str(retention_seconds),
            "RedrivePolicy": json.dumps(redrive),
        },
    )
    return queue, dlq


def ensure_queues(
    client: Any,
    name: str,
    *,
    visibility_timeout: int = QUEUE_VISIBILITY_SECONDS,
    retention_seconds: int = RETENTION_SECONDS,
    max_receive_count: int = MAX_RECEIVE_COUNT,
) -> tuple[str, str]:
    """``provision_queues``' URLs (queue, dead-letter queue)."""
    queue, dlq = provision_queues(
        client,
        name,
        visibility_timeout=visibility_timeout,
        retention_seconds=retention_seconds,
        max_receive_count=max_receive_count,
    )
    return queue.url, dlq.url
