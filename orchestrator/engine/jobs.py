"""Job kinds and the one function that writes a job, on the caller's connection.

Every job is a ``jobs`` row committed with the state change that needs it. When the queue
backend is SQS, the connections carry ``pao.queue_outbox=on`` and a trigger on ``jobs`` adds an
``outbox`` row in the same transaction. The outbox relay sends unsent rows to SQS after commit,
so a crash between commit and send loses nothing (``orchestrator.engine.sqs``); a message
lost in SQS (queue purged or recreated, message expired) is found by the reconciler, which adds
a new outbox row for a job due too long without a message on its way
(``orchestrator.engine.reconciler``, with its bounds on how late such a job runs).

A job's payload also carries the context of whoever enqueued it (``orchestrator.tracing``): the
W3C ``traceparent`` when tracing is on, and the correlation id and user for the worker's logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from psycopg.types.json import Jsonb

from orchestrator.store.database import Connection
from orchestrator.store.queries import QUERIES
from orchestrator.tracing import with_job_context

if TYPE_CHECKING:
    from orchestrator.engine.pg_queue import Job

RUN_ACTION: Final = "run-action"  # run a request's next action
POLL_ACTION: Final = "poll-action"  # ask an executor about a pending action
CANCEL_ACTION: Final = "cancel-action"  # cancel an aborted request's in-flight external run
ESCALATE: Final = "escalate"  # open the manual-support ticket of an escalated request
NOTIFY: Final = "notify"  # tell the faces (bot) and notifiable executors a request changed
DEFAULT_MAX_RECEIVES: Final = 3
# Receives of one action (a run or a poll job) before the job is dead-lettered as a crash. A
# poison action stops after this many worker deaths; an innocent one must outlive the deaths it
# merely shares with other jobs in flight (the fault run, SIGKILLing a worker every 3 s under
# load, failed 1 action in 900 on a budget of 3).
ACTION_CRASH_LIMIT: Final = 5


async def enqueue_job(
    conn: Connection,
    kind: str,
    payload: Mapping[str, Any],
    *,
    request_id: Any = None,
    delay: float = 0.0,
    dedupe_key: str | None = None,
    max_receives: int = DEFAULT_MAX_RECEIVES,
) -> int | None:
    """Insert a job inside the caller's transaction; its id, or None when a live job with the
    same ``dedupe_key`` already exists."""
    cur = await conn.execute(
        QUERIES.insert_job,
        {
            "kind": kind,
            "payload": Jsonb(with_job_context(payload)),
            "request_id": request_id,
            "delay_seconds": max(0.0, float(delay)),
            "max_receives": max_receives,
            "dedupe_key": dedupe_key,
        },
    )
    row = await cur.fetchone()
    return int(row["id"]) if row is not None else None


async def release_dedupe(conn: Connection, job: Job) -> None:
    """The job in hand ends in the caller's transaction, but another delivery holds it now (this
    delivery's lease ran out): it gives up its dedupe key, so the next step the caller enqueues
    (``run:<request>``, the same key) is written instead of dropped. The other delivery finds
    the action its job names recorded and stops; without this, both would end and the request
    be stranded. A job naming no action keeps its key (its other delivery goes on)."""
    await conn.execute(
        QUERIES.queue_release_dedupe,
        {"id": job.id, "worker_id": job.locked_by, "receives": job.receives},
    )


def notify_payload(request_id: Any, event: str, status: str, **extra: Any) -> dict[str, Any]:
    """What a ``notify`` job carries: which request, what happened, its status now."""
    return {"request_id": str(request_id), "event": event, "status": status, **extra}


def run_job(
    request_id: Any, action_id: str | None = None, *, operator_retry: bool = False
) -> dict[str, Any]:
    """A run-action or poll-action payload. ``operator_retry`` marks work an operator asked for
    on a ``failed`` request (which stays failed until the retried action resolves)."""
    payload: dict[str, Any] = {"request_id": str(request_id)}
    if action_id is not None:
        payload["action_id"] = action_id
    if operator_retry:
        payload["operator_retry"] = True
    return payload
