"""A request's live events: its step log entries and state changes, in order, for any face.

Read from PostgreSQL (``request_logs`` by id, the request's status), so any API instance can
follow any request, whichever worker writes it. The follower pulls one bounded page at a time
and only when its consumer asks for the next event: a slow consumer is never buffered for (it
holds at most one page), and a consumer that goes away simply stops the reads. Resuming is by
the last log id seen (``after_id``): entries are delivered once each, in id order.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from orchestrator.engine.states import TERMINAL
from orchestrator.errors import NotFound
from orchestrator.store.database import Database
from orchestrator.store.queries import QUERIES


@dataclass(frozen=True, slots=True)
class StreamTiming:
    """How often the follower looks for news, and how long a quiet stream waits before it
    sends a heartbeat (so proxies and clients know the stream is alive)."""

    poll_seconds: float = 1.0
    heartbeat_seconds: float = 15.0
    page_size: int = 100


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """One event of the stream. ``kind`` is ``log`` (a step event, ``id`` its log id), ``status``
    (the request's state changed), ``heartbeat`` or ``end`` (a terminal state: the last one)."""

    kind: str
    data: dict[str, Any]
    id: int | None = None


class RequestEvents:
    """The live events of any request, read from one ``Database``: built once in
    ``orchestrator.services`` (``services.events``), so a face follows a request without
    holding a connection or knowing the tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def follow(
        self,
        request_id: uuid.UUID,
        *,
        after_id: int = 0,
        timing: StreamTiming = StreamTiming(),
    ) -> AsyncIterator[RequestEvent]:
        """The request's events after log id ``after_id``, until it reaches a terminal state.

        The current status is sent first (a resumed client learns where the request stands),
        then each log entry and each change of status as it happens, then ``end``. Raises
        ``NotFound`` when the request does not exist (before anything is sent) or is deleted
        meanwhile.
        """
        last_status: str | None = None
        quiet = 0.0
        while True:
            state = await self._state(request_id)
            entries = await self._entries(request_id, after_id, timing.page_size)
            if state["status"] != last_status:
                last_status = state["status"]
                yield RequestEvent("status", {"request_id": str(request_id), **state})
            for entry in entries:
                after_id = entry["id"]
                yield RequestEvent("log", entry, id=after_id)
            if len(entries) == timing.page_size:
                quiet = 0.0
                continue  # more to read: no wait
            if last_status in TERMINAL:
                # the entries written with the terminal change are committed with it: all read
                yield RequestEvent("end", {"request_id": str(request_id), "status": last_status})
                return
            if entries:
                quiet = 0.0
            elif quiet >= timing.heartbeat_seconds:
                quiet = 0.0
                yield RequestEvent("heartbeat", {})
            await asyncio.sleep(timing.poll_seconds)
            quiet += timing.poll_seconds

    async def _state(self, request_id: uuid.UUID) -> dict[str, Any]:
        async with self._db.connection() as conn:
            cur = await conn.execute(QUERIES.request_event_state, {"request_id": request_id})
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"request {request_id} does not exist", request_id=str(request_id))
        return {"status": row["status"], "updated_at": row["updated_at"].isoformat()}

    async def _entries(
        self, request_id: uuid.UUID, after_id: int, limit: int
    ) -> list[dict[str, Any]]:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                QUERIES.request_events_after,
                {"request_id": request_id, "after_id": after_id, "limit": limit},
            )
            rows = await cur.fetchall()
        return [{**row, "created_at": row["created_at"].isoformat()} for row in rows]
