"""The one dead-letter path, the same for both queue backends: a job dead-lettered and its
request failed, in the caller's transaction.

A job is dead-lettered after its last allowed receive: its lease ran out each time (the worker
died holding it) or its handler kept raising. The receive budget of a ``run-action`` job counts
per action: when the job goes on with the next action, the ``start_action`` transition records
the receive it starts from (``payload.action_receives_from``) and grants ``crash_limit`` more,
so a chain of actions that each crashed once or twice is not killed by the sum. A job dead on an
action fails that action (and the request) with "worker crashed N times while running X".

Who calls it: ``PgQueue.claim`` (expired leases swept), ``give_back`` (``retry_later`` of both
backends), and for SQS the receive of a job out of receives and the dead-letter queue's drain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from orchestrator.engine.jobs import POLL_ACTION, RUN_ACTION
from orchestrator.engine.records import ENGINE_ACTOR, ENGINE_SOURCE, fail_request
from orchestrator.store.database import Connection, Database
from orchestrator.store.queries import QUERIES

if TYPE_CHECKING:  # pg_queue imports this module
    from orchestrator.engine.pg_queue import Job


def crash_message(job: Mapping[str, Any], reason: str | None, *, crashed: bool = True) -> str:
    """Why ``job`` is dead, in words naming the action it kept failing on; ``crashed``: its
    leases ran out (the worker died), else its handler kept raising."""
    payload = dict(job.get("payload") or {})
    action_id = payload.get("action_id")
    reason = reason or "job dead-lettered"
    if job.get("kind") not in (RUN_ACTION, POLL_ACTION) or not action_id:
        return reason
    since = payload.get("action_receives_from")
    receives = int(job.get("receives") or 0) - (int(since) if isinstance(since, int) else 0)
    what = "worker crashed" if crashed else "job failed"
    return f"{what} {receives} times while running {action_id} ({reason})"


def out_of_receives(row: Mapping[str, Any], what: str) -> str:
    """The dead-letter reason of a job whose receives ran out: ``what`` happened after its
    receives, with its last error when it had one."""
    error = f"{what} after {row['receives']} receives without completion"
    if row["last_error"]:
        error += f" (last error: {row['last_error']})"
    return error


async def fail_for_dead_letter(
    conn: Connection, job: Mapping[str, Any], reason: str | None, *, crashed: bool = True
) -> None:
    """Fail the dead job's request (its open actions failed too) with the reason."""
    if job["request_id"] is None:
        return
    payload = dict(job["payload"] or {})
    message = crash_message(job, reason, crashed=crashed)
    await fail_request(
        conn,
        job["request_id"],
        {
            "reason": "dead-lettered",
            "error": message,
            "job": {"id": int(job["id"]), "kind": job["kind"], "receives": job["receives"]},
            "failed_action": payload.get("action_id"),
        },
        f"job {job['id']} ({job['kind']}) dead-lettered: {message}",
        action_id=payload.get("action_id"),
    )


async def dead_letter(
    conn: Connection, job_id: int, error: str, *, crashed: bool = True
) -> Mapping[str, Any] | None:
    """Dead-letter the job (still ready or running) with ``error`` and fail its request, on
    ``conn``; the dead row, or None when the job was already finished."""
    cur = await conn.execute(QUERIES.queue_dead_letter, {"id": job_id, "error": error})
    dead = await cur.fetchone()
    if dead is not None:
        await fail_for_dead_letter(conn, dead, dead["last_error"], crashed=crashed)
    return dead


async def give_back(
    db: Database, job: Job, delay: float, error: str
) -> Literal["dead", "retried"] | None:
    """A handler's failure: the job is received again after ``delay`` seconds or, after its
    last receive, dead-lettered (its request failed). None when this delivery no longer held
    it. Each backend's ``retry_later`` adds what its broker needs (SQS: the message)."""
    async with db.transaction(actor=ENGINE_ACTOR, source=ENGINE_SOURCE) as conn:
        if job.receives >= job.max_receives:
            reason = f"failed on all {job.receives} receives; last error: {error}"
            dead = await dead_letter(conn, job.id, reason, crashed=False)
            return "dead" if dead is not None else None
        cur = await conn.execute(
            QUERIES.queue_retry_later,
            {
                "id": job.id,
                "worker_id": job.locked_by,
                "delay_seconds": max(0.0, float(delay)),
                "error": error[:2000],
            },
        )
        return "retried" if await cur.fetchone() is not None else None
