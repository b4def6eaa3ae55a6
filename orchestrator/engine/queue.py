"""The queue interface the worker, the chain runner and the worker pool are written against.

Two backends satisfy it: ``PgQueue`` (the default: PostgreSQL alone) and ``SqsQueue`` (SQS
decides who receives which job when; the ``jobs`` table stays the source of truth). Both keep
the same contract, so the engine's at-least-once reasoning holds on either:

* ``enqueue`` writes the job on the caller's connection, inside the caller's transaction;
* ``claim`` hands one delivery of a due job to one worker, with a lease;
* ``still_held`` and ``complete`` accept the caller's connection, so a handler can check its
  lease and finish the job in the same transaction as the state change it records;
* ``completed_by_step`` is told that an engine step which committed already marked this
  delivery's job done (``transitions.step`` with ``job_effect="done"``), so the worker's
  ``complete`` after the handler may skip asking the database again (PgQueue does; SqsQueue
  still reads the row and deletes the message, which it must);
* ``retry_later`` gives the job back (or dead-letters it after its last receive);
* ``heartbeat`` extends the lease of long work: True extended, False lost (another delivery
  holds the job, or it is finished); an error means the backend could not be asked (the worker
  tries again until the lease it last had runs out);
* ``outages`` routes a failed call's error to the dependency that did not answer
  (``orchestrator.engine.reachability``), for backoff and one log line per change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from orchestrator.engine.pg_queue import DEFAULT_LEASE_SECONDS, Job, QueueDepth
from orchestrator.engine.reachability import Outages
from orchestrator.store.database import Connection

__all__ = ["DEFAULT_LEASE_SECONDS", "Job", "Queue", "QueueDepth"]


class Queue(Protocol):
    """What a queue backend offers the engine (see the module docstring)."""

    outages: Outages

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
    ) -> int | None: ...

    async def claim(
        self,
        worker_id: str,
        kinds: Sequence[str],
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> Job | None: ...

    async def complete(self, job: Job, conn: Connection | None = None) -> bool: ...

    def completed_by_step(self, job: Job) -> None: ...

    async def still_held(self, job: Job, conn: Connection | None = None) -> bool: ...

    async def retry_later(self, job: Job, delay: float, error: str) -> bool: ...

    async def heartbeat(self, job: Job, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool: ...

    async def depth(self) -> QueueDepth: ...
