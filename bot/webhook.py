"""Webhook intake: verify, store, enqueue, answer: well inside GitHub's 10-second limit.

Nothing here talks to GitHub or runs handlers: a delivery is stored and its processing job
enqueued in one atomic statement (``github-webhook`` jobs, processed by ``bot.app``; deliveries
arriving together share the statement, see ``DeliveryWriter``), so a crash
after the 202 loses nothing and a slow handler never makes GitHub time out. A delivery id
already stored is a duplicate unless its processing failed, in which case GitHub's redelivery
is taken again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from orchestrator.engine.jobs import DEFAULT_MAX_RECEIVES
from orchestrator.github.deliveries import Delivery, WebhookDeliveries
from orchestrator.store.errors import StoreError, StoreUnavailable

log = logging.getLogger(__name__)

WEBHOOK_JOB: Final = "github-webhook"
SIGNATURE_PREFIX: Final = "sha256="


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """What the route answers: an HTTP status and a small JSON body (never the payload)."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)


def sign(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body`` (also used by tests/bench)."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secrets: Collection[str], body: bytes, header: str | None) -> bool:
    """True when ``header`` is the HMAC-SHA256 of ``body`` under one of ``secrets``.

    Every secret is compared in constant time, and all of them are tried, so the time taken
    does not tell which one (if any) nearly matched.
    """
    if not header or not header.startswith(SIGNATURE_PREFIX) or not secrets:
        return False
    given = header.encode()
    matched = False
    for secret in secrets:
        expected = sign(secret, body).encode()
        matched |= hmac.compare_digest(expected, given)
    return matched


_USER = {"login": True, "type": True}
_LABELS = {"name": True}
KEPT: dict[str, Any] = {
    "action": True,
    "number": True,
    "ref": True,
    "after": True,
    "repository": {
        "full_name": True,
        "name": True,
        "owner": {"login": True},
        "default_branch": True,
    },
    "sender": _USER,
    "pull_request": {
        "number": True,
        "state": True,
        "title": True,
        "body": True,
        "user": _USER,
        "head": {"sha": True, "ref": True},
        "base": {"sha": True, "ref": True},
        "merged": True,
        "merge_commit_sha": True,
        "html_url": True,
    },
    "issue": {
        "number": True,
        "title": True,
        "body": True,
        "state": True,
        "user": _USER,
        "labels": _LABELS,
        "pull_request": True,
    },
    "label": _LABELS,
    "comment": {"id": True, "body": True, "user": _USER, "html_url": True},
    "review": {"id": True, "body": True, "user": _USER, "state": True, "commit_id": True},
    "check_suite": {"head_sha": True, "pull_requests": {"number": True}},
}
"""What is stored of a payload: the fields the handlers read (``bot.events``). GitHub's
payloads are mostly URLs and nested repository and user objects; keeping only these makes a
stored delivery about a thirtieth of the body, and writing the body whole was most of the
intake's cost (measured by ``bench/webhook_intake.py``)."""


def project(data: Any, spec: Any) -> Any:
    """``data`` reduced to the keys of ``spec`` (``True``: the value whole)."""
    if spec is True:
        return data
    if isinstance(data, list):
        return [project(item, spec) for item in data]
    if not isinstance(data, dict):
        return data
    return {key: project(data[key], sub) for key, sub in spec.items() if key in data}


def _problem(status: int, title: str, detail: str) -> IntakeResult:
    return IntakeResult(status, {"status": status, "title": title, "detail": detail})


@dataclass(slots=True)
class _Pending:
    delivery_id: str
    event: str
    payload: str
    done: asyncio.Future[bool]


class DeliveryWriter:
    """Writes deliveries in batches: every delivery arriving while a write is in flight joins
    the next one, so a burst of N deliveries costs a few statements and commits, not N.

    Each batch is one atomic statement (deliveries and their jobs), whose commit is one fsync
    for the whole burst. When PostgreSQL refuses a batch (a body that is not JSON after all),
    its deliveries are written one by one so only the refused one fails (e.g. a ``\\u0000``
    escape, which ``jsonb`` does not take); when the database is
    unavailable they all fail (answered 5xx, and GitHub's redelivery brings them back).
    """

    def __init__(self, deliveries: WebhookDeliveries, *, max_batch: int = 200) -> None:
        self.deliveries = deliveries
        self.max_batch = max_batch
        self._pending: list[_Pending] = []
        self._flushing: asyncio.Task[None] | None = None

    async def store(self, delivery_id: str, event: str, payload: str) -> bool:
        """True when stored and enqueued now; False for a duplicate (already known, or twice
        in one batch)."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(delivery_id, event, payload, done))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let deliveries read in the same loop iteration join
        while self._pending:
            batch, self._pending = (
                self._pending[: self.max_batch],
                self._pending[self.max_batch :],
            )
            try:
                outcomes: dict[int, bool | BaseException] = {}
                stored = await self._write(batch)
                for index, pending in enumerate(batch):
                    outcomes[index] = pending.delivery_id in stored
                    stored.discard(pending.delivery_id)  # a second copy in a batch: duplicate
            except StoreError as exc:
                if len(batch) == 1 or isinstance(exc, StoreUnavailable):
                    outcomes = dict.fromkeys(range(len(batch)), exc)
                else:  # one body PostgreSQL refuses must not fail the others: one by one
                    outcomes = {}
                    for index, pending in enumerate(batch):
                        try:
                            outcomes[index] = pending.delivery_id in await self._write([pending])
                        except StoreError as single:
                            outcomes[index] = single
            for index, pending in enumerate(batch):
                outcome = outcomes[index]
                if pending.done.done():
                    continue
                if isinstance(outcome, BaseException):
                    pending.done.set_exception(outcome)
                else:
                    pending.done.set_result(outcome)

    async def _write(self, batch: list[_Pending]) -> set[str]:
        return await self.deliveries.store(
            [Delivery(p.delivery_id, p.event, p.payload) for p in batch],
            job_kind=WEBHOOK_JOB,
            max_receives=DEFAULT_MAX_RECEIVES,
        )


class WebhookIntake:
    """Callable the API's webhook route hands the raw body and headers to."""

    def __init__(
        self,
        deliveries: WebhookDeliveries,
        secrets: Collection[str],
        events: Collection[str],
        *,
        max_body_bytes: int,
    ) -> None:
        self.writer = DeliveryWriter(deliveries)
        self.secrets = tuple(secrets)
        self.events = frozenset(events)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, body: bytes, headers: Mapping[str, str]) -> IntakeResult:
        lower = {k.lower(): v for k, v in headers.items()}
        if len(body) > self.max_body_bytes:
            return _problem(413, "Payload too large", f"over {self.max_body_bytes} bytes")
        missing = [
            name
            for name in ("x-github-event", "x-github-delivery", "x-hub-signature-256")
            if not lower.get(name)
        ]
        if missing:
            return _problem(400, "Missing headers", f"missing header(s): {', '.join(missing)}")
        if not verify_signature(self.secrets, body, lower["x-hub-signature-256"]):
            return _problem(401, "Bad signature", "X-Hub-Signature-256 does not match the body")
        event = lower["x-github-event"]
        delivery = lower["x-github-delivery"][:200]
        if event == "ping":
            return IntakeResult(200, {"status": "pong", "delivery": delivery})
        if event not in self.events:
            # GitHub sends an App events it never subscribed to (``installation``,
            # ``installation_repositories``, ...) and whatever an admin ticks: a 4xx would show
            # every one as a failed delivery. Acknowledged, not stored, one log line.
            log.info("webhook %s delivery %s ignored: PAO does not handle it", event, delivery)
            return IntakeResult(200, {"status": "ignored", "event": event, "delivery": delivery})
        try:
            payload = json.loads(body)
        except ValueError:
            return _problem(400, "Invalid JSON", "the body is not a JSON document")
        if not isinstance(payload, dict):
            return _problem(400, "Invalid JSON", "the body is not a JSON object")
        kept = json.dumps(project(payload, KEPT), separators=(",", ":"))
        try:
            accepted = await self.writer.store(delivery, event, kept)
        except StoreError as exc:
            if isinstance(exc, StoreUnavailable):
                raise
            return _problem(400, "Invalid JSON", "the body is not a valid JSON object")
        if not accepted:
            return IntakeResult(200, {"status": "duplicate", "delivery": delivery})
        return IntakeResult(202, {"status": "accepted", "delivery": delivery})
