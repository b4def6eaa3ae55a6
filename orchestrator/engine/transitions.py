"""Every state transition of an action and of a request, each one named operation.

Each function here issues one named query (``orchestrator/store/sql/engine.sql``,
``escalation.sql``) and is the only code that moves an action or a request between states;
every path goes through them: the chain's normal and fast steps (``step``), failures and
retries, circuit waits, dead letters (``fail_request``, via ``records.fail_request``), the
submission's outcome (``queue_request``, ``hold_for_secret``, ``hold_for_approval``), the
requester's secrets (``release_secrets``), the approval gate's end (``approve_request``,
``reject_request``, from ``orchestrator.approvals.lifecycle``) and the operators' retry, abort
and escalation (``orchestrator.requests.service``). The guards (the state a transition may
start from) are bound into the queries from ``orchestrator.engine.states``, written once.

A chain's step is a *composition* of transitions in one statement (``engine_step``), so a step
costs one round trip: the action in hand completes, the next one starts (or the request
completes), the log rows are written and the job is pointed at the new action (or done). Its
``job_effect`` is the one place outside the queue that touches ``jobs``, and only through the
queue's own lease check: the runner itself writes no ``jobs`` column.

A new transition is one more function here with its query, its ``from`` states added to
``orchestrator.engine.states``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, LiteralString

from psycopg.types.json import Jsonb

from orchestrator.engine.states import ALLOWED_FROM, TICKET_FROM
from orchestrator.store.database import Connection, Database
from orchestrator.store.queries import QUERIES

if TYPE_CHECKING:
    from orchestrator.engine.pg_queue import Job

JobEffect = Literal["none", "point", "done"]


@dataclass(frozen=True, slots=True)
class Completion:
    """The action in hand completes: its row id, the attempts it was started with (the guard)
    and its outputs."""

    id: int
    attempts: int
    outputs: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Begin:
    """The next action starts an attempt: its row as read (``status``/``attempts``, the guard)
    and what the attempt is started with."""

    id: int
    action_id: str
    status: str
    attempts: int
    attempt: int
    rendered_config: Mapping[str, Any]
    deadline_at: datetime | None


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a chain (see ``step``). ``job``: the delivery whose lease guards the step
    (None: not guarded, e.g. a completion recorded by a delivery that lost its lease);
    ``job_effect``: what the step does to that job."""

    request_id: Any
    request_status: str
    correlation_id: str | None
    actor: str
    source: str
    done: Completion | None = None
    begin: Begin | None = None
    finish: bool = False
    job: Job | None = None
    job_effect: JobEffect = "none"
    crash_limit: int = 0
    logs: Sequence[Mapping[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StepResult:
    """Whether the step was written (False: the state it was planned on changed) and the
    request's new status when it moved."""

    ok: bool
    status: str | None


async def step(db: Database, conn: Connection | None, change: Step) -> StepResult:
    """The chain's step as one statement (``engine_step``): complete the action in hand, start
    the next one or complete the request, move the request, write the log rows, point the job
    at the new action or finish it. On ``conn`` inside the caller's transaction, or on its own
    (``conn`` None: its own transaction, no BEGIN/COMMIT round trips)."""
    if change.job_effect != "none" and change.job is None:
        raise ValueError("a step that changes its job must be guarded by it")
    done, begin, job = change.done, change.begin, change.job
    row = await db.fetch_one(
        conn,
        QUERIES.engine_step,
        {
            "actor": change.actor,
            "source": change.source,
            "request_id": change.request_id,
            "request_status": change.request_status,
            "correlation_id": change.correlation_id,
            "job_id": job.id if job is not None else None,
            "worker_id": job.locked_by if job is not None else None,
            "receives": job.receives if job is not None else None,
            "job_effect": change.job_effect,
            "crash_limit": change.crash_limit,
            "done_id": done.id if done is not None else None,
            "done_attempts": done.attempts if done is not None else None,
            "outputs": Jsonb(dict(done.outputs)) if done is not None else None,
            "id": begin.id if begin is not None else None,
            "action_id": begin.action_id if begin is not None else None,
            "next_status": begin.status if begin is not None else None,
            "next_attempts": begin.attempts if begin is not None else None,
            "attempts": begin.attempt if begin is not None else None,
            "rendered_config": Jsonb(dict(begin.rendered_config)) if begin is not None else None,
            "deadline_at": begin.deadline_at if begin is not None else None,
            "finish": change.finish,
            "logs": Jsonb([dict(entry) for entry in change.logs]),
        },
    )
    if row is None or not row["ok"]:
        return StepResult(False, None)
    return StepResult(True, row["status"])


# -- an action's attempt ended without completing ----------------------------------------------


async def action_pending(
    conn: Connection, id: int, external_ref: str, external_url: str | None, delay: float
) -> None:
    """The attempt started an external run: the action waits on ``external_ref`` (polled)."""
    await conn.execute(
        QUERIES.engine_action_pending,
        {
            "id": id,
            "external_ref": external_ref,
            "external_url": external_url,
            "delay_seconds": delay,
        },
    )


async def action_retrying(
    conn: Connection, id: int, error: Mapping[str, Any], *, outcome_unknown: bool, new_key: bool
) -> None:
    """A failed attempt is tried again later (a new correlation key only with ``new_key``)."""
    await conn.execute(
        QUERIES.engine_action_retrying,
        {
            "id": id,
            "error": Jsonb(dict(error)),
            "outcome_unknown": outcome_unknown,
            "new_key": new_key,
        },
    )


async def action_failed(
    conn: Connection, id: int, error: Mapping[str, Any], *, outcome_unknown: bool
) -> None:
    """The action failed for good (its request fails with it: ``fail_request``)."""
    await conn.execute(
        QUERIES.engine_action_failed,
        {"id": id, "error": Jsonb(dict(error)), "outcome_unknown": outcome_unknown},
    )


async def action_delayed(conn: Connection, id: int) -> dict[str, Any] | None:
    """The attempt just started is given back unspent (the target's circuit opened); the row
    as it is now, or None when the action was not in progress."""
    cur = await conn.execute(QUERIES.engine_action_delayed, {"id": id})
    row = await cur.fetchone()
    return dict(row) if row is not None else None


# -- a request waits, or goes to the queue ------------------------------------------------------
# The callers enqueue the request's first job (or its notification) in the same transaction.


async def queue_request(conn: Connection, request_id: Any) -> dict[str, Any] | None:
    """The request just submitted goes to the queue (``submitted -> queued``); the request
    row, or None when it was not in that state."""
    return await _move(conn, QUERIES.engine_queue_request, request_id, "queue")


async def hold_for_secret(conn: Connection, request_id: Any) -> dict[str, Any] | None:
    """The request just submitted waits for its requester's secret (``submitted ->
    awaiting_secret``); the request row, or None when it was not in that state."""
    return await _move(conn, QUERIES.engine_hold_for_secret, request_id, "hold_for_secret")


async def hold_for_approval(conn: Connection, request_id: Any) -> dict[str, Any] | None:
    """The request just submitted waits for its approval gate (``submitted ->
    awaiting_approval``); the request row, or None when it was not in that state."""
    return await _move(conn, QUERIES.engine_hold_for_approval, request_id, "hold_for_approval")


async def release_secrets(
    conn: Connection, request_id: Any, masked: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The requester supplied the secrets the request waited for: ``masked`` markers merged
    into its fields, ``awaiting_secret -> queued``; the request row, or None when it was not
    waiting for them."""
    cur = await conn.execute(
        QUERIES.engine_release_secrets,
        {
            "id": request_id,
            "masked": Jsonb(dict(masked)),
            "from_statuses": sorted(ALLOWED_FROM["supply_secret"]),
        },
    )
    row = await cur.fetchone()
    return dict(row) if row is not None else None


async def approve_request(
    conn: Connection, request_id: Any, *, awaiting_secret: bool
) -> dict[str, Any] | None:
    """The approval gate's last stage passed: ``awaiting_approval -> queued``, or ``->
    awaiting_secret`` for a request from GitHub still missing a secret; the request row, or
    None when it was no longer awaiting approval."""
    query = QUERIES.engine_hold_for_secret if awaiting_secret else QUERIES.engine_queue_request
    return await _move(conn, query, request_id, "approve")


async def reject_request(
    conn: Connection, request_id: Any, outcome: Literal["rejected", "expired"], reason: str
) -> dict[str, Any] | None:
    """The approval gate ended without a yes (an approver rejected it, or its stage expired):
    ``rejected``, terminal, ``error_context`` saying why, its actions cancelled and its secrets
    forgotten; the request row, or None when it was no longer awaiting approval."""
    decision = "reject" if outcome == "rejected" else "expire"
    cur = await conn.execute(
        QUERIES.engine_reject_request,
        {
            "id": request_id,
            "context": Jsonb({"error": reason, "approval": outcome}),
            "from_statuses": sorted(ALLOWED_FROM[decision]),
        },
    )
    row = await cur.fetchone()
    return dict(row) if row is not None else None


async def _move(
    conn: Connection, query: LiteralString, request_id: Any, decision: str
) -> dict[str, Any] | None:
    """A status-only move by ``query``, guarded by the from-states of ``decision``."""
    cur = await conn.execute(
        query, {"id": request_id, "from_statuses": sorted(ALLOWED_FROM[decision])}
    )
    row = await cur.fetchone()
    return dict(row) if row is not None else None


# -- a request stops ---------------------------------------------------------------------------


async def fail_request(
    conn: Connection, request_id: Any, error_context: Mapping[str, Any], message: str
) -> dict[str, Any] | None:
    """The request fails with ``error_context`` and its open actions with ``message``; the
    request row, or None when it was already final."""
    cur = await conn.execute(
        QUERIES.engine_fail_request,
        {
            "id": request_id,
            "error_context": Jsonb(dict(error_context)),
            "action_error": Jsonb({"message": message}),
        },
    )
    row = await cur.fetchone()
    return dict(row) if row is not None else None


async def abort_request(conn: Connection, request_id: Any, reason: str) -> dict[str, Any] | None:
    """An operator aborts the request: ``aborted`` with ``reason`` (an escalation ticket still
    being opened withdrawn with it), its unfinished actions cancelled, its secrets forgotten;
    the request row with ``in_flight`` (the actions whose external run was still going, to be
    cancelled at their target), or None when it may not be aborted."""
    cur = await conn.execute(
        QUERIES.engine_abort_request,
        {
            "id": request_id,
            "reason": reason,
            "from_statuses": sorted(ALLOWED_FROM["abort"]),
            "withdrawn_tickets": sorted(TICKET_FROM["withdrawn"]),
        },
    )
    row = await cur.fetchone()
    return dict(row) if row is not None else None


# -- operators' retry and escalation -----------------------------------------------------------


async def retry_failed_actions(conn: Connection, request_id: Any) -> list[str]:
    """An operator's retry: the request's failed actions get a fresh attempt budget (the
    request stays ``failed`` until the engine resolves them); their ids."""
    cur = await conn.execute(QUERIES.engine_retry_failed_action, {"request_id": request_id})
    return [str(r["action_id"]) for r in await cur.fetchall()]


async def escalate_request(conn: Connection, request_id: Any) -> dict[str, Any] | None:
    """The request goes to people: ``escalated``, its ticket ``pending``; None when the
    request's state (or its ticket's) does not allow it."""
    cur = await conn.execute(
        QUERIES.escalate_request,
        {
            "id": request_id,
            "from_statuses": sorted(ALLOWED_FROM["escalate"]),
            "from_tickets": sorted(TICKET_FROM["open"]),
        },
    )
    row = await cur.fetchone()
    return dict(row) if row is not None else None


async def withdraw_escalation(conn: Connection, request_id: Any) -> dict[str, Any] | None:
    """An escalated request without a ticket goes back to ``failed`` (ticket ``cancelled``)."""
    cur = await conn.execute(
        QUERIES.withdraw_escalation,
        {"id": request_id, "from_tickets": sorted(TICKET_FROM["withdrawn"])},
    )
    row = await cur.fetchone()
    return dict(row) if row is not None else None


async def ticket_created(
    conn: Connection, request_id: Any, key: str, url: str | None, attempt: int
) -> bool:
    """The escalation ticket job's success, for the attempt the request expects (``pending ->
    created``); False when a stale or withdrawn job changed nothing."""
    cur = await conn.execute(
        QUERIES.escalation_ticket_created,
        {
            "id": request_id,
            "ticket": key,
            "url": url,
            "attempt": attempt,
            "from_tickets": sorted(TICKET_FROM["created"]),
        },
    )
    return await cur.fetchone() is not None


async def ticket_attempt_failed(
    conn: Connection,
    request_id: Any,
    state: str,
    attempt: int,
    error: str | None,
    delay: float | None,
) -> bool:
    """A failed attempt to open the escalation ticket: ``pending`` while another attempt is
    scheduled in ``delay`` seconds, else ``failed`` or ``not_configured``; False when a stale
    or withdrawn job changed nothing."""
    event = "attempt_failed" if state == "pending" else state
    cur = await conn.execute(
        QUERIES.escalation_ticket_attempt_failed,
        {
            "id": request_id,
            "state": state,
            "attempt": attempt,
            "error": error,
            "delay_seconds": delay,
            "from_tickets": sorted(TICKET_FROM[event]),
        },
    )
    return await cur.fetchone() is not None
