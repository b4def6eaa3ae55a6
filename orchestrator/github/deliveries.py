"""Webhook deliveries: stored with their processing job at intake, claimed and finished by the
worker that processes them.

A delivery is stored and its job enqueued in one statement, so a crash after GitHub got its
202 loses nothing; a delivery that failed is taken again on GitHub's redelivery, any other known
id is a duplicate.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.store.database import Database
from orchestrator.store.queries import QUERIES

Outcome = Literal["processed", "ignored", "failed"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """A webhook delivery as received: its id, event name and (projected) JSON body."""

    delivery_id: str
    event: str
    payload: str  # a JSON object, as text: sent to PostgreSQL without parsing it again


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery claimed for processing."""

    delivery_id: str
    event: str
    payload: dict[str, Any]


class WebhookDeliveries:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def store(
        self, batch: Sequence[Delivery], *, job_kind: str, max_receives: int
    ) -> set[str]:
        """Store ``batch`` and enqueue a ``job_kind`` job (delivered at most ``max_receives``
        times) for each new delivery, atomically, in one round trip; the ids stored now (a
        duplicate is not among them)."""
        # One JSON text parameter: far cheaper for the web process to send than text arrays.
        document = (
            "["
            + ",".join(
                f'{{"d":{json.dumps(d.delivery_id)},"e":{json.dumps(d.event)},"p":{d.payload}}}'
                for d in batch
            )
            + "]"
        )
        rows = await self.db.fetch_all(
            None,
            QUERIES.bot_store_deliveries,
            {"batch": document, "kind": job_kind, "max_receives": max_receives},
        )
        return {str(row["delivery_id"]) for row in rows}

    async def claim(self, delivery_id: str) -> ClaimedDelivery | None:
        """Mark the delivery as being processed; None when it was already processed or
        ignored (a job run twice processes it once)."""
        row = await self.db.fetch_one(
            None, QUERIES.bot_start_delivery, {"delivery_id": delivery_id}
        )
        if row is None:
            return None
        return ClaimedDelivery(str(row["delivery_id"]), str(row["event"]), dict(row["payload"]))

    async def finish(self, delivery_id: str, outcome: Outcome, error: str | None = None) -> None:
        """Record how processing ended (``error`` says why it failed or was ignored)."""
        await self.db.execute(
            None,
            QUERIES.bot_finish_delivery,
            {"delivery_id": delivery_id, "status": outcome, "error": error},
        )
