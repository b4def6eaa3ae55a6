"""Records shared by the queue and the runner: request logs, and failing a request with its log
row and ``notify`` job (the state change itself is ``transitions.fail_request``).

Each helper runs on the caller's connection, inside the caller's transaction, so a state change,
its log rows and the jobs it needs commit together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg.types.json import Jsonb

from orchestrator.engine import transitions
from orchestrator.engine.jobs import NOTIFY, enqueue_job, notify_payload
from orchestrator.store.database import Connection
from orchestrator.store.queries import QUERIES

ENGINE_ACTOR = "pao-engine"
ENGINE_SOURCE = "worker"  # the audit trail's source for everything the engine does


async def log_event(
    conn: Connection,
    request_id: Any,
    event: str,
    message: str,
    *,
    correlation_id: str | None = None,
    action_id: str | None = None,
    level: str = "info",
    details: Mapping[str, Any] | None = None,
) -> None:
    """One ``request_logs`` row; ``details`` must already be masked."""
    await conn.execute(
        QUERIES.insert_request_log,
        {
            "request_id": request_id,
            "action_id": action_id,
            "level": level,
            "event": event,
            "message": message,
            "details": Jsonb(dict(details or {})),
            "correlation_id": correlation_id,
        },
    )


async def fail_request(
    conn: Connection,
    request_id: Any,
    error_context: Mapping[str, Any],
    message: str,
    *,
    correlation_id: str | None = None,
    action_id: str | None = None,
) -> bool:
    """Mark the request ``failed`` with ``error_context`` (its open actions failed too) and log
    ``request_failed``; False when the request is already final (completed, aborted ...).

    Without ``correlation_id`` (a dead-lettered job, whose transaction may fail several
    requests) the request's own correlation id is made the transaction's audit context first,
    so these audit rows are found with the rest of the request's history."""
    if correlation_id is None:
        cur = await conn.execute(QUERIES.engine_adopt_correlation, {"id": request_id})
        adopted = await cur.fetchone()
        correlation_id = adopted["correlation_id"] if adopted is not None else None
    if await transitions.fail_request(conn, request_id, error_context, message) is None:
        return False
    await log_event(
        conn,
        request_id,
        "request_failed",
        message,
        correlation_id=correlation_id,
        action_id=action_id,
        level="error",
        details=error_context,
    )
    await enqueue_job(
        conn,
        NOTIFY,
        notify_payload(request_id, "request_failed", "failed", action_id=action_id),
        request_id=request_id,
    )
    return True
