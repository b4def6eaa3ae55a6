"""The PostgreSQL job queue over table ``jobs``.

* ``enqueue`` runs on the caller's connection, so a job commits with the state change that
  needs it (no lost jobs, no orphan jobs); a ``dedupe_key`` keeps one live job per key.
* ``claim`` leases the oldest due job with ``FOR UPDATE SKIP LOCKED``: any number of workers on
  any number of machines each get a different job. A lease (``locked_until``) that runs out
  makes the job claimable again (the worker stalled or died); ``heartbeat`` extends it.
* A job received ``max_receives`` times (default 3) without completing is dead-lettered
  (status ``dead``) and its request marked ``failed`` with that reason, in one transaction. A
  ``run-action`` job's budget counts per action (``orchestrator.engine.dead_letters``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.engine.dead_letters import fail_for_dead_letter, give_back
from orchestrator.engine.jobs import (
    DEFAULT_MAX_RECEIVES,
    POLL_ACTION,
    RUN_ACTION,
    enqueue_job,
    release_dedupe,
)
from orchestrator.engine.reachability import Outages, Reachability
from orchestrator.engine.records import ENGINE_ACTOR, ENGINE_SOURCE
from orchestrator.store.database import Connection, Database
from orchestrator.store.errors import StoreUnavailable
from orchestrator.store.queries import QUERIES

__all__ = ["DEFAULT_LEASE_SECONDS", "POLL_ACTION", "RUN_ACTION", "Job", "PgQueue", "QueueDepth"]

DEFAULT_LEASE_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Job:
    """A leased job, as claimed."""

    id: int
    kind: str
    payload: Mapping[str, Any]
    request_id: uuid.UUID | None
    receives: int
    max_receives: int
    locked_by: str | None
    locked_until: datetime | None
    last_error: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Job:
        return cls(
            id=int(row["id"]),
            kind=str(row["kind"]),
            payload=dict(row["payload"] or {}),
            request_id=row["request_id"],
            receives=int(row["receives"]),
            max_receives=int(row["max_receives"]),
            locked_by=row["locked_by"],
            locked_until=row["locked_until"],
            last_error=row["last_error"],
        )


@dataclass(frozen=True, slots=True)
class QueueDepth:
    ready: int
    running: int
    dead: int
    oldest_ready_age_seconds: float | None


class PgQueue:
    """The default queue backend."""

    def __init__(
        self,
        db: Database,
        *,
        max_receives: int = DEFAULT_MAX_RECEIVES,
        sweep_seconds: float = 1.0,
        database: Reachability | None = None,
    ) -> None:
        """``database``: where PostgreSQL's answers (or their absence) are reported."""
        self.db = db
        self.database = database or Reachability("PostgreSQL")
        self.outages = Outages((StoreUnavailable, self.database))
        self.max_receives = max_receives
        self.sweep_seconds = sweep_seconds
        self._swept_at = float("-inf")
        # deliveries (job id, receive) a committed engine step already marked done: the
        # worker's own ``complete`` afterwards answers without a round trip
        self._done_by_step: set[tuple[int, int]] = set()

    async def enqueue(
        self,
        conn: Connection,
        kind: str,
        payload: Mapping[str, Any],
        *,
        request_id: Any = None,
        delay: float = 0.0,
        dedupe_key: str | None = None,
        max_receives: int | None = None,
    ) -> int | None:
        """Insert a job on ``conn`` (inside the caller's transaction); the new job's id, or None
        when a live job with the same ``dedupe_key`` already exists."""
        return await enqueue_job(
            conn,
            kind,
            payload,
            request_id=request_id,
            delay=delay,
            dedupe_key=dedupe_key,
            max_receives=max_receives or self.max_receives,
        )

    async def claim(
        self,
        worker_id: str,
        kinds: Sequence[str],
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> Job | None:
        """Lease one due job of ``kinds`` to ``worker_id``, or None when nothing is due.

        Expired leases of jobs already received ``max_receives`` times are dead-lettered (each
        with its request failed, in this same transaction) when nothing was due, and at least
        every ``sweep_seconds`` while busy: the claim itself never picks them. Between sweeps
        the claim is one statement in its own transaction."""
        params = {
            "kinds": list(kinds),
            "worker_id": worker_id,
            "lease_seconds": max(0.0, float(lease_seconds)),
        }
        if time.monotonic() - self._swept_at < self.sweep_seconds:
            found = await self.db.fetch_one(None, QUERIES.queue_claim, params)
            self.database.succeeded()
            if found is not None:
                return Job.from_row(found)
        async with self.db.transaction(
            actor=ENGINE_ACTOR, source=ENGINE_SOURCE, durable=False
        ) as conn:
            cur = await conn.execute(QUERIES.queue_claim, params)
            row = await cur.fetchone()
            now = time.monotonic()
            if row is None or now - self._swept_at >= self.sweep_seconds:
                self._swept_at = now
                cur = await conn.execute(QUERIES.queue_dead_letter_expired, {"kinds": list(kinds)})
                for dead in await cur.fetchall():
                    await fail_for_dead_letter(conn, dead, dead["last_error"])
        self.database.succeeded()
        return Job.from_row(row) if row is not None else None

    async def complete(self, job: Job, conn: Connection | None = None) -> bool:
        """Mark the job done (on ``conn`` to commit with a state change); False if this delivery
        no longer holds it (already completed in the handler's transaction, reclaimed, dead).
        On ``conn``, a job another delivery holds gives up its dedupe key (``release_dedupe``)."""
        if conn is None and (job.id, job.receives) in self._done_by_step:
            self._done_by_step.discard((job.id, job.receives))
            return False  # what the statement would answer: the step completed it already
        params = {"id": job.id, "worker_id": job.locked_by, "receives": job.receives}
        done = await self.db.fetch_one(conn, QUERIES.queue_complete, params) is not None
        if not done and conn is not None:
            await release_dedupe(conn, job)
        return done

    def completed_by_step(self, job: Job) -> None:
        """A committed engine step marked this delivery's job done (``transitions.step``,
        ``job_effect="done"``); the worker's ``complete`` after the handler then costs nothing.
        Only a committed completion may be reported: the row is ``done`` for good."""
        self._done_by_step.add((job.id, job.receives))

    async def still_held(self, job: Job, conn: Connection | None = None) -> bool:
        """Whether this delivery still holds the job's lease (False for a stale delivery whose
        lease ran out and was claimed again, or a job already finished)."""
        params = {"id": job.id, "worker_id": job.locked_by, "receives": job.receives}
        row = await self.db.fetch_one(conn, QUERIES.queue_still_held, params)
        return bool(row and row["held"])

    async def retry_later(self, job: Job, delay: float, error: str) -> bool:
        """Give the job back to be received again after ``delay`` seconds; when it has had its
        last receive it is dead-lettered instead (and its request failed). False when the
        worker no longer held the job (``dead_letters.give_back``)."""
        self._done_by_step.discard((job.id, job.receives))
        return await give_back(self.db, job, delay, error) is not None

    async def heartbeat(self, job: Job, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
        """Extend the lease of a job still held by its worker; False when it was lost. Raises
        ``StoreUnavailable`` when PostgreSQL does not answer (the worker tries again)."""
        params = {"id": job.id, "worker_id": job.locked_by, "lease_seconds": lease_seconds}
        extended = await self.db.execute(None, QUERIES.queue_heartbeat, params) > 0
        self.database.succeeded()
        return extended

    async def depth(self) -> QueueDepth:
        row = await self.db.fetch_one(None, QUERIES.queue_depth)
        assert row is not None
        age = row["oldest_ready_age_seconds"]
        return QueueDepth(
            ready=int(row["ready"]),
            running=int(row["running"]),
            dead=int(row["dead"]),
            oldest_ready_age_seconds=float(age) if age is not None else None,
        )
