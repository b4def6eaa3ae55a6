"""What one step of a chain starts from, read in the step's transaction: the request row and
its action rows (locked), whether the job's delivery still holds its lease, and the request's
fields with the real values of its password fields (kept apart in ``request_secrets`` until the
request completes). The chain's plain start reads the same without a lock (``read_step``): its
one write is guarded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.engine.pg_queue import Job
from orchestrator.store.database import Connection
from orchestrator.store.queries import QUERIES

RUNNABLE = frozenset({"queued", "in_progress"})


@dataclass(slots=True)
class StepState:
    """The request (None: it does not exist), whether the job's delivery holds its lease, the
    action rows, and (when asked for) the fields with their secret values."""

    request: dict[str, Any] | None
    held: bool
    rows: list[dict[str, Any]]
    fields: dict[str, Any] | None


async def load_step(
    conn: Connection,
    request_id: Any,
    job: Job,
    *,
    actor: str,
    source: str,
    with_fields: bool = False,
) -> StepState:
    """The request row and its action rows, locked; whether the job's delivery still holds its
    lease (the queue contract's ``still_held``: both backends keep leases in ``jobs``); and,
    ``with_fields``, the request's fields with their secret values. Two round trips; the first
    statement of the step's transaction, it also sets the transaction's audit context
    (``actor``, ``source``, the request's correlation id) and its commit mode."""
    locked = await conn.execute(
        QUERIES.engine_lock_request_for_job,
        {
            "id": request_id,
            "job_id": job.id,
            "worker_id": job.locked_by,
            "receives": job.receives,
            "actor": actor,
            "source": source,
        },
    )
    found = await locked.fetchone()
    actions = await conn.execute(QUERIES.engine_actions_for_update, {"request_id": request_id})
    rows = [dict(r) for r in await actions.fetchall()]
    return _state(found, rows, with_fields=with_fields)


async def read_step(conn: Connection, request_id: Any, job: Job) -> StepState:
    """What ``load_step`` reads (with the fields), without locks, on an autocommit
    connection: two read-only statements, no transaction. For the chain's plain start only,
    whose one write (``transitions.step``) is guarded by what it relies on (the request's
    status, the job's lease, the action's status and attempts), as the plain step after a call
    is; anything else reads again under the lock (``load_step``)."""
    read = await conn.execute(
        QUERIES.engine_read_request_for_job,
        {
            "id": request_id,
            "job_id": job.id,
            "worker_id": job.locked_by,
            "receives": job.receives,
        },
    )
    found = await read.fetchone()
    if found is None:
        return StepState(None, False, [], None)
    actions = await conn.execute(QUERIES.engine_actions, {"request_id": request_id})
    rows = [dict(r) for r in await actions.fetchall()]
    return _state(found, rows, with_fields=True)


def _state(
    found: Mapping[str, Any] | None, rows: list[dict[str, Any]], *, with_fields: bool
) -> StepState:
    if found is None:
        return StepState(None, False, rows, None)
    request = dict(found)
    request.pop("audit_context", None)
    held = bool(request.pop("job_held"))
    secret_fields = request.pop("secret_fields", None)
    fields = None
    if with_fields:
        fields = {**dict(request["fields"] or {}), **dict(secret_fields or {})}
    return StepState(request, held, rows, fields)


async def action_rows(conn: Connection, request_id: Any) -> list[dict[str, Any]]:
    """The request's action rows, unlocked (a poll reads them outside the step's lock)."""
    cur = await conn.execute(QUERIES.engine_actions, {"request_id": request_id})
    return [dict(r) for r in await cur.fetchall()]


async def request_fields(conn: Connection, request: Mapping[str, Any]) -> dict[str, Any]:
    """The request's fields with the real values of its password fields."""
    cur = await conn.execute(QUERIES.engine_get_request_secrets, {"request_id": request["id"]})
    secret_row = await cur.fetchone()
    return {
        **dict(request["fields"] or {}),
        **dict(secret_row["fields"] if secret_row else {}),
    }


def runnable(request: Mapping[str, Any], job: Job) -> bool:
    """Whether the job may run the request's actions: the request is queued or in progress, or
    failed and the job is an operator's retry."""
    if request["status"] in RUNNABLE:
        return True
    return request["status"] == "failed" and bool(job.payload.get("operator_retry"))
