"""The chain runner: runs a request's actions one after another.

A ``run-action`` job runs the request's next action, and goes on with the following ones:

1. In one transaction (request and action rows locked): pick the next unfinished action in
   execution order, render its config with the full context (password fields with their real
   values from ``request_secrets``, earlier actions' outputs), store the *masked* rendering,
   mark the action ``in_progress`` (request ``queued -> in_progress``) and log it.
2. Outside any transaction: call the executor (through the per-target circuit breaker).
3. Record the result and decide what comes next. The plain case (completed, and the next action
   can run now) is one guarded statement that completes this action, starts the next one and
   points the job at it, written only if nothing changed since step 1 (``_advance``).
   Everything else is one transaction that reads the state again (``_record``): the last
   action completes the request; a pending action gets a delayed ``poll-action``; a failure a
   delayed retry (Backoff, Retry-After wins) or the request's failure; an abort that came in
   meanwhile ends the job.

A redelivered job finds the state of step 1 or 3: an action already completed is never run
again, and an action left ``in_progress`` by a crash is called again with the same correlation
key (executors are idempotent on it). A ``poll-action`` job asks the executor about a pending
action and records the result the same way.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.catalog.models import Action, CatalogItem
from orchestrator.catalog.service import CatalogService
from orchestrator.durations import duration_seconds
from orchestrator.engine.backoff import Backoff
from orchestrator.engine.breaker import CircuitBreaker, CircuitOpen
from orchestrator.engine.executor import (
    ActionExecutor,
    ActionResult,
    ActionRun,
    CancellableExecutor,
    Completed,
    Failed,
    NotifiableExecutor,
    Pending,
    Registry,
    UnknownActionType,
    correlation_key,
    target_of,
)
from orchestrator.engine.jobs import NOTIFY, POLL_ACTION, RUN_ACTION, notify_payload
from orchestrator.engine.manual import (
    MANUAL_ACTION_TYPE,
    TICKET_ACTION_TYPE,
    ManualDefaults,
    NoManualSupport,
    fulfilment_ticket,
)
from orchestrator.engine.observer import EngineObserver, NullObserver
from orchestrator.engine.pg_queue import Job
from orchestrator.engine.queue import Queue
from orchestrator.engine.records import ENGINE_ACTOR, ENGINE_SOURCE, fail_request, log_event
from orchestrator.store.database import Connection, Database, Jsonb
from orchestrator.store.queries import QUERIES
from orchestrator.templating.analysis import TemplateAnalysisError, execution_order
from orchestrator.templating.context import RequestInfo, TemplateContext, UserInfo, build_context
from orchestrator.templating.engine import TemplateEngine, default_engine
from orchestrator.templating.errors import TemplateRenderError
from orchestrator.templating.masking import mask, render_action, render_preview

RUNNABLE = frozenset({"queued", "in_progress"})
log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Plan:
    """One action about to be called (or polled), with everything its result needs."""

    request: dict[str, Any]
    item: CatalogItem
    rows: list[dict[str, Any]]
    row: dict[str, Any]
    action: Action | None
    context: TemplateContext
    fields: Mapping[str, Any]  # with the real values of password fields
    run: ActionRun


@dataclass(slots=True)
class _Start:
    """The next action to call, rendered (decided, nothing written yet)."""

    row: dict[str, Any]
    action: Action | None
    attempt: int
    resumed: bool
    context: TemplateContext
    fields: Mapping[str, Any]
    real: dict[str, Any]
    preview: dict[str, Any]


@dataclass(slots=True)
class _Stop:
    """Why a job has nothing to call: ``all-done``, ``stale`` (a delivery behind the chain),
    ``waiting`` (for an operator or the poller), ``unplannable`` or ``unrenderable``."""

    reason: str
    message: str = ""
    row: dict[str, Any] | None = None
    code: str = ""


def _log_entry(
    event: str,
    message: str,
    *,
    action_id: str | None,
    details: Mapping[str, Any],
    level: str = "info",
) -> dict[str, Any]:
    """A ``request_logs`` row written by ``engine_advance``; ``details`` already masked."""
    return {
        "action_id": action_id,
        "level": level,
        "event": event,
        "message": message,
        "details": dict(details),
    }


def _started(start: _Start) -> dict[str, Any]:
    """The ``action_started`` log row of ``start`` (its config masked)."""
    row = start.row
    return _log_entry(
        "action_started",
        f"{row['action_id']} attempt {start.attempt}" + (" (resumed)" if start.resumed else ""),
        action_id=row["action_id"],
        details={
            "type": row["action_type"],
            "attempt": start.attempt,
            "max_attempts": row["max_attempts"],
            "resumed": start.resumed,
            "config": start.preview,
        },
    )


def _completed(
    action_id: str,
    attempt: int,
    duration_ms: float,
    result: Completed,
    outputs: Mapping[str, Any],
    secrets: Collection[str],
) -> dict[str, Any]:
    """The ``action_completed`` log row of an action (outputs and response masked)."""
    return _log_entry(
        "action_completed",
        f"{action_id} completed",
        action_id=action_id,
        details={
            "attempt": attempt,
            "duration_ms": duration_ms,
            "outputs": mask(outputs, secrets),
            "response": mask(dict(result.details), secrets),
        },
    )


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


class ChainRunner:
    """Handles ``run-action`` and ``poll-action`` jobs."""

    def __init__(
        self,
        db: Database,
        catalog: CatalogService,
        queue: Queue,
        registry: Registry,
        *,
        breaker: CircuitBreaker | None = None,
        backoff: Backoff | None = None,
        template_environment: Mapping[str, str] | None = None,
        engine: TemplateEngine | None = None,
        manual_defaults: ManualDefaults | None = None,
        observer: EngineObserver | None = None,
        default_timeout_seconds: float | None = None,
        poll_jitter: float = 0.1,
        continue_chains: bool = True,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.queue = queue
        self.registry = registry
        self.breaker = breaker if breaker is not None else CircuitBreaker()
        self.backoff = backoff if backoff is not None else Backoff()
        self.template_environment = dict(template_environment or {})
        self.engine = engine or default_engine()
        self.manual_defaults = manual_defaults or ManualDefaults()
        self.observer = observer or NullObserver()
        self.default_timeout_seconds = default_timeout_seconds
        self.poll_jitter = poll_jitter
        self.continue_chains = continue_chains  # run the next action in the same job
        self._orders: dict[int, list[str]] = {}
        self._notifiable_types: dict[str, bool] = {}

    # -- job handlers ---------------------------------------------------------------------------

    async def handle(self, job: Job) -> None:
        if job.kind == POLL_ACTION:
            await self.handle_poll(job)
        else:
            await self.handle_run(job)

    async def handle_run(self, job: Job) -> None:
        """Run the request's next action; when it completes and the next one can run now, go
        on in the same job: the transaction that records a result also starts the next action
        (and names it in the job's payload), saving a claim, a completion and a transaction
        per action."""
        plan = await self._start(job, job.payload.get("action_id"))
        while plan is not None:
            result, duration_ms = await self._timed_call(plan, poll=False)
            handled, following = False, None
            if self.continue_chains and isinstance(result, Completed):
                handled, following = await self._advance(job, plan, result, duration_ms)
            if not handled:  # anything but the plain case: the full step
                following = await self._record(
                    job, plan, result, duration_ms, continue_in_job=self.continue_chains
                )
            plan = following

    async def handle_poll(self, job: Job) -> None:
        plan = await self._load_for_poll(job)
        if plan is None:
            return
        await self._record(job, plan, *await self._timed_call(plan, poll=True), polled=True)

    # -- step 1: choose and start ---------------------------------------------------------------

    async def _start(self, job: Job, wanted: str | None) -> _Plan | None:
        request_id = uuid.UUID(str(job.payload["request_id"]))
        async with self._transaction(None) as conn:
            request, held, rows, fields = await self._load_step(
                conn, request_id, job, with_fields=True
            )
            if request is None:
                await self.queue.complete(job, conn)
                return None
            if not held:
                return None  # a stale delivery: the job was reclaimed or is finished
            if not self._runnable(request, job):
                await self.queue.complete(job, conn)
                return None
            item = await self.catalog.version(int(request["catalog_version_id"]))
            assert fields is not None
            return await self._begin(conn, job, request, item, rows, wanted, fields)

    async def _begin(
        self,
        conn: Connection,
        job: Job,
        request: dict[str, Any],
        item: CatalogItem,
        rows: list[dict[str, Any]],
        wanted: str | None,
        fields: Mapping[str, Any],
    ) -> _Plan | None:
        """Start the request's next action on ``conn`` (request and action rows locked); None
        when nothing is to be called now (the job is then completed in this transaction)."""
        decision = self._decide(request, item, rows, wanted, fields)
        if isinstance(decision, _Stop):
            await self._stop(conn, job, request, item, rows, decision)
            return None
        return await self._write_start(conn, request, item, rows, decision)

    def _decide(
        self,
        request: dict[str, Any],
        item: CatalogItem,
        rows: list[dict[str, Any]],
        wanted: str | None,
        fields: Mapping[str, Any],
    ) -> _Start | _Stop:
        """What to do next, without writing anything: start (rendered) the next unfinished
        action in execution order, or stop and say why. ``fields`` carry the real values of
        password fields."""
        try:
            order = self._execution_order(int(request["catalog_version_id"]), item)
        except TemplateAnalysisError as exc:
            return _Stop("unplannable", message=str(exc))
        rows.sort(key=lambda r: (_index(order, r["action_id"]), r["position"]))
        row = next((r for r in rows if r["status"] not in ("completed", "cancelled")), None)
        if row is None:
            return _Stop("all-done")
        if wanted is not None and wanted != row["action_id"]:
            return _Stop("stale")  # a stale or duplicate delivery: that action is behind us
        if row["status"] == "failed" or (
            row["status"] == "in_progress" and row["external_ref"] is not None
        ):
            return _Stop("waiting")  # for an operator, or for the poller
        resumed = row["status"] == "in_progress"
        attempt = int(row["attempts"]) if resumed else int(row["attempts"]) + 1
        context = self._context(request, item, rows, fields)
        action = _catalog_action(item, row["action_id"])
        try:
            real, preview = self._render_row(row, action, request, item, context)
        except (TemplateRenderError, NoManualSupport) as exc:
            code = exc.code if isinstance(exc, TemplateRenderError) else "no-manual-support"
            return _Stop("unrenderable", message=str(exc), row=row, code=code)
        return _Start(row, action, attempt, resumed, context, fields, real, preview)

    async def _stop(
        self,
        conn: Connection,
        job: Job,
        request: dict[str, Any],
        item: CatalogItem,
        rows: list[dict[str, Any]],
        stop: _Stop,
    ) -> None:
        """The job ends here; a chain that cannot go on fails, one that is done completes."""
        await self.queue.complete(job, conn)
        if stop.reason == "unplannable":
            await self._fail(conn, request, item, rows, None, stop.message, {})
        elif stop.reason == "all-done":
            await self._complete_request(conn, request, rows)
        elif stop.reason == "unrenderable":
            assert stop.row is not None
            await conn.execute(
                QUERIES.engine_action_failed,
                {"id": stop.row["id"], "error": {"message": stop.message, "retryable": False}},
            )
            await self._fail(conn, request, item, rows, stop.row, stop.message, {"code": stop.code})

    async def _write_start(
        self,
        conn: Connection,
        request: dict[str, Any],
        item: CatalogItem,
        rows: list[dict[str, Any]],
        start: _Start,
        *,
        logs: list[dict[str, Any]] | None = None,
        completed: tuple[dict[str, Any], Mapping[str, Any]] | None = None,
        job: Job | None = None,
    ) -> _Plan:
        """Mark ``start``'s action ``in_progress`` with its masked config and log it, in one
        statement that may also record the action just ``completed`` (row, outputs) with its
        ``logs`` and point ``job`` at the new action: a chain's step is one write."""
        if request["status"] == "queued":
            await conn.execute(
                QUERIES.set_request_status,
                {"id": request["id"], "status": "in_progress", "from_statuses": ["queued"]},
            )
            request["status"] = "in_progress"
        deadline = self._deadline(start)
        await conn.execute(
            QUERIES.engine_advance,
            {
                **self._start_params(request, start, deadline, [*(logs or []), _started(start)]),
                "done_id": completed[0]["id"] if completed is not None else None,
                "outputs": Jsonb(dict(completed[1])) if completed is not None else None,
                "job_id": job.id if job is not None else None,
            },
        )
        return self._started_plan(request, item, rows, start, deadline)

    async def _advance(
        self, job: Job, plan: _Plan, result: Completed, duration_ms: float
    ) -> tuple[bool, _Plan | None]:
        """The plain step of a chain as one guarded statement, without a transaction: the
        action in hand completed, and the next one starts (rendered from what this job read
        when it started the action) or the request completes. The statement checks that
        nothing changed since (the request's status, the job's lease, the actions' status and
        attempts) and writes only then. (True, the next action or None) when it did; (False,
        None) when this shortcut does not apply or the check failed, and the full step
        (``_record``) runs instead, reading everything again."""
        request = plan.request
        if (
            request["status"] != "in_progress"
            or request.get("source", "api") not in ("api", "cli")  # threads hear every step
            or job.locked_by is None
        ):
            return False, None
        rows = [dict(r) for r in plan.rows]
        current = next((r for r in rows if r["id"] == plan.row["id"]), None)
        if current is None:
            return False, None
        current.update(plan.row)  # as this job wrote it when it started the action
        attempts = int(current["attempts"])
        outputs = dict(result.outputs)
        current["status"], current["outputs"] = "completed", outputs
        done = _completed(
            current["action_id"], attempts, duration_ms, result, outputs, plan.context.secrets
        )
        guard = {
            "actor": ENGINE_ACTOR,
            "source": ENGINE_SOURCE,
            "request_id": request["id"],
            "request_status": request["status"],
            "correlation_id": request["correlation_id"],
            "job_id": job.id,
            "worker_id": job.locked_by,
            "receives": job.receives,
            "done_id": current["id"],
            "done_attempts": attempts,
            "outputs": Jsonb(outputs),
        }
        following = next((r for r in _ordered(plan.item, rows) if r["status"] != "completed"), None)
        if following is None:
            return await self._finish(plan, rows, guard, done, duration_ms), None
        expected = (str(following["status"]), int(following["attempts"]))
        decision = self._decide(
            dict(request), plan.item, rows, str(following["action_id"]), plan.fields
        )
        if not isinstance(decision, _Start):
            return False, None
        deadline = self._deadline(decision)
        found = await self.db.fetch_one(
            None,
            QUERIES.engine_advance_guarded,
            {
                **guard,
                **self._start_params(request, decision, deadline, [done, _started(decision)]),
                "next_status": expected[0],
                "next_attempts": expected[1],
            },
        )
        if found is None or not found["advanced"]:
            return False, None
        self.observer.action_attempt(plan.run.action_type, "completed", duration_ms / 1000.0)
        return True, self._started_plan(dict(request), plan.item, rows, decision, deadline)

    async def _finish(
        self,
        plan: _Plan,
        rows: list[dict[str, Any]],
        guard: dict[str, Any],
        done: dict[str, Any],
        duration_ms: float,
    ) -> bool:
        """The last action completed: the request completes in one guarded statement (the
        job done, the request's secrets forgotten, both log rows written). False when someone
        must hear of it (a ``notify`` job is needed) or the check failed."""
        if self._has_audience(plan.request, rows):
            return False
        completed = _log_entry(
            "request_completed", "all actions completed", action_id=None, details={}
        )
        found = await self.db.fetch_one(
            None, QUERIES.engine_finish_guarded, {**guard, "logs": Jsonb([done, completed])}
        )
        if found is None or not found["finished"]:
            return False
        self.observer.action_attempt(plan.run.action_type, "completed", duration_ms / 1000.0)
        self._finished(plan.request, "completed")
        return True

    def _deadline(self, start: _Start) -> datetime | None:
        """When the action times out: set on its first start, kept on later ones."""
        deadline: datetime | None = start.row.get("deadline_at")
        timeout = self._timeout(start.action)
        if deadline is None and timeout is not None:
            deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        return deadline

    @staticmethod
    def _start_params(
        request: Mapping[str, Any],
        start: _Start,
        deadline: datetime | None,
        logs: list[dict[str, Any]],
    ) -> dict[str, Any]:
        return {
            "id": start.row["id"],
            "attempts": start.attempt,
            "rendered_config": start.preview,
            "deadline_at": deadline,
            "action_id": start.row["action_id"],
            "request_id": request["id"],
            "correlation_id": request["correlation_id"],
            "logs": Jsonb(logs),
        }

    def _started_plan(
        self,
        request: dict[str, Any],
        item: CatalogItem,
        rows: list[dict[str, Any]],
        start: _Start,
        deadline: datetime | None,
    ) -> _Plan:
        started = {
            **start.row,
            "status": "in_progress",
            "attempts": start.attempt,
            "rendered_config": start.preview,
            "deadline_at": deadline,
            "error": None,
        }
        return _Plan(
            request=request,
            item=item,
            rows=rows,
            row=started,
            action=start.action,
            context=start.context,
            fields=start.fields,
            run=self._action_run(request, started, start.real, start.context, start.attempt),
        )

    async def _load_for_poll(self, job: Job) -> _Plan | None:
        request_id = uuid.UUID(str(job.payload["request_id"]))
        action_id = str(job.payload.get("action_id"))
        request = await self.db.fetch_one(None, QUERIES.get_request, {"id": request_id})
        if request is None:
            await self.queue.complete(job)
            return None
        item = await self.catalog.version(int(request["catalog_version_id"]))
        async with self.db.connection() as conn:
            if not await self.queue.still_held(job, conn):
                return None
            rows = await self._rows(conn, request_id, lock=False)
            row = next((r for r in rows if r["action_id"] == action_id), None)
            if (
                not self._runnable(request, job)
                or row is None
                or row["status"] != "in_progress"
                or row["external_ref"] is None
            ):
                await self.queue.complete(job, conn)
                return None
            fields = await self._fields(conn, request)
            context = self._context(request, item, rows, fields)
        action = _catalog_action(item, action_id)
        try:
            real, _ = self._render_row(row, action, request, item, context)
        except (TemplateRenderError, NoManualSupport):
            real = dict(row["rendered_config"] or {})  # rendered before; polling needs the ref
        return _Plan(
            request=request,
            item=item,
            rows=rows,
            row=row,
            action=action,
            context=context,
            fields=fields,
            run=self._action_run(request, row, real, context, int(row["attempts"])),
        )

    # -- step 2: call ---------------------------------------------------------------------------

    async def _timed_call(self, plan: _Plan, *, poll: bool) -> tuple[ActionResult, float]:
        """The result of calling (or polling) the executor, and how long it took in ms."""
        started = time.monotonic()
        try:
            executor = self.registry.get(plan.run.action_type)
        except UnknownActionType as exc:
            return Failed(str(exc), retryable=False), 0.0
        result = await self._call(executor, plan, poll=poll)
        return result, round((time.monotonic() - started) * 1000.0, 3)

    async def _call(self, executor: ActionExecutor, plan: _Plan, *, poll: bool) -> ActionResult:
        target = target_of(executor, plan.run)
        if target is not None:
            try:
                self.breaker.before_call(target)
            except CircuitOpen as exc:
                return Failed(
                    str(exc),
                    retryable=True,
                    retry_after=exc.retry_in,
                    details={"circuit_open": target},
                )
        remaining = plan.run.timeout_seconds
        if remaining is not None and remaining <= 0:
            return await self._timed_out(executor, plan)
        try:
            call = executor.poll(plan.run) if poll else executor.execute(plan.run)
            result = await asyncio.wait_for(call, timeout=remaining)
        except TimeoutError:
            return await self._timed_out(executor, plan)
        except Exception as exc:  # an executor bug or an unexpected error: a transient failure
            result = Failed(f"{type(exc).__name__}: {exc}", retryable=True)
        if target is not None:
            if isinstance(result, Failed) and result.retryable:
                self.breaker.record_failure(target)
            else:
                self.breaker.record_success(target)
        return result

    async def _timed_out(self, executor: ActionExecutor, plan: _Plan) -> Failed:
        """The action ran past its declared timeout: it fails (no retry); an in-flight external
        run is cancelled where the executor can."""
        timeout = self._timeout(plan.action)
        cancelled = False
        if isinstance(executor, CancellableExecutor) and plan.run.external_ref is not None:
            try:
                await executor.cancel(plan.run)
                cancelled = True
            except Exception:  # best effort: the failure below is what matters
                log.warning("cancelling %s after its timeout failed", plan.run.action_id)
        return Failed(
            f"action {plan.run.action_id} exceeded its timeout of {timeout:g}s"
            if timeout is not None
            else f"action {plan.run.action_id} exceeded its timeout",
            retryable=False,
            details={"timeout_seconds": timeout, "external_run_cancelled": cancelled},
        )

    # -- step 3: record -------------------------------------------------------------------------

    async def _record(
        self,
        job: Job,
        plan: _Plan,
        result: ActionResult,
        duration_ms: float,
        *,
        polled: bool = False,
        continue_in_job: bool = False,
    ) -> _Plan | None:
        """Record ``result``; the next action, started in this same transaction, when this job
        goes on with it."""
        request_id = plan.request["id"]
        secrets = plan.context.secrets
        async with self._transaction(plan.request) as conn:
            request, held, rows, _ = await self._load_step(conn, request_id, job)
            row = next((r for r in rows if r["action_id"] == plan.row["action_id"]), None)
            if (
                request is None
                or row is None
                or not self._runnable(request, job)
                or (row["status"] != "in_progress")
            ):
                # Aborted (or finished by another delivery) while the call was out.
                await self.queue.complete(job, conn)
                return None
            following: dict[str, Any] | None = None
            if isinstance(result, Completed):
                following = next(
                    (
                        r
                        for r in _ordered(plan.item, rows)
                        if r["status"] != "completed" and r["action_id"] != row["action_id"]
                    ),
                    None,
                )
            go_on = continue_in_job and held and following is not None
            log = {
                "correlation_id": request["correlation_id"],
                "action_id": row["action_id"],
            }
            attempt = int(row["attempts"])
            self.observer.action_attempt(
                plan.run.action_type,
                "completed"
                if isinstance(result, Completed)
                else "pending"
                if isinstance(result, Pending)
                else "failed",
                duration_ms / 1000.0,
            )
            if isinstance(result, Completed):
                outputs = dict(result.outputs)
                row["status"], row["outputs"] = "completed", outputs
                done = _completed(row["action_id"], attempt, duration_ms, result, outputs, secrets)
                if request["status"] == "failed":  # an operator retry resolved the action
                    await conn.execute(
                        QUERIES.set_request_status,
                        {"id": request_id, "status": "in_progress", "from_statuses": ["failed"]},
                    )
                await self._notify_thread(conn, request, "action_completed", row["action_id"])
                decision: _Start | _Stop | None = None
                if go_on:
                    assert following is not None
                    decision = self._decide(
                        request, plan.item, rows, str(following["action_id"]), plan.fields
                    )
                    if isinstance(decision, _Start):
                        return await self._write_start(
                            conn,
                            request,
                            plan.item,
                            rows,
                            decision,
                            logs=[done],
                            completed=(row, outputs),
                            job=job,
                        )
                # The completion on its own: the chain ends, waits, or goes on in a new job.
                await conn.execute(
                    QUERIES.engine_complete_action, {"id": row["id"], "outputs": outputs}
                )
                await log_event(
                    conn,
                    request_id,
                    done["event"],
                    done["message"],
                    **log,
                    details=done["details"],
                )
                if isinstance(decision, _Stop):
                    await self._stop(conn, job, request, plan.item, rows, decision)
                    return None
                await self.queue.complete(job, conn)
                if following is None:
                    await self._complete_request(conn, request, rows)
                else:
                    await self.queue.enqueue(
                        conn,
                        RUN_ACTION,
                        run_job(request_id, following["action_id"]),
                        request_id=request_id,
                        dedupe_key=f"run:{request_id}",
                    )
                return None
            await self.queue.complete(job, conn)
            if isinstance(result, Pending):
                delay = max(0.0, result.poll_after_seconds)
                await conn.execute(
                    QUERIES.engine_action_pending,
                    {
                        "id": row["id"],
                        "external_ref": result.external_ref,
                        "external_url": result.url,
                        "delay_seconds": delay,
                    },
                )
                if not polled or row["external_ref"] != result.external_ref:
                    await self._notify_thread(conn, request, "action_pending", row["action_id"])
                    await log_event(
                        conn,
                        request_id,
                        "action_pending",
                        f"{row['action_id']} waiting on {result.external_ref}",
                        **log,
                        details={
                            "attempt": attempt,
                            "external_ref": result.external_ref,
                            "url": result.url,
                            "duration_ms": duration_ms,
                            "poll_after_seconds": delay,
                            "response": mask(dict(result.details), secrets),
                        },
                    )
                await self.queue.enqueue(
                    conn,
                    POLL_ACTION,
                    run_job(
                        request_id,
                        row["action_id"],
                        operator_retry=request["status"] == "failed",
                    ),
                    request_id=request_id,
                    delay=self._jittered(delay),
                    dedupe_key=f"poll:{request_id}:{row['action_id']}",
                )
            else:
                await self._failed(conn, plan, request, rows, row, result, duration_ms)
        return None

    async def _failed(
        self,
        conn: Connection,
        plan: _Plan,
        request: dict[str, Any],
        rows: list[dict[str, Any]],
        row: dict[str, Any],
        result: Failed,
        duration_ms: float,
    ) -> None:
        request_id = request["id"]
        secrets = plan.context.secrets
        attempt = int(row["attempts"])
        error = {
            "message": mask(result.error, secrets),
            "retryable": result.retryable,
            "retry_after": result.retry_after,
            "attempt": attempt,
            "details": mask(dict(result.details), secrets),
        }
        again = result.retryable and attempt < int(row["max_attempts"])
        delay = self.backoff.delay(attempt, retry_after=result.retry_after) if again else None
        await log_event(
            conn,
            request_id,
            "attempt_failed",
            f"{row['action_id']} attempt {attempt} failed: {error['message']}",
            correlation_id=request["correlation_id"],
            action_id=row["action_id"],
            level="warning",
            details={
                **error,
                "max_attempts": row["max_attempts"],
                "retry_in_seconds": delay,
                "duration_ms": duration_ms,
            },
        )
        if again:
            assert delay is not None
            await conn.execute(QUERIES.engine_action_retrying, {"id": row["id"], "error": error})
            await self.queue.enqueue(
                conn,
                RUN_ACTION,
                run_job(request_id, row["action_id"], operator_retry=request["status"] == "failed"),
                request_id=request_id,
                delay=delay,
                dedupe_key=f"run:{request_id}",
            )
            return
        await conn.execute(QUERIES.engine_action_failed, {"id": row["id"], "error": error})
        await self._fail(conn, request, plan.item, rows, row, error["message"], error)

    async def _fail(
        self,
        conn: Connection,
        request: dict[str, Any],
        item: CatalogItem,
        rows: list[dict[str, Any]],
        row: dict[str, Any] | None,
        message: str,
        error: Mapping[str, Any],
    ) -> None:
        """Fail the request with the context a human needs to decide what to do next."""
        completed = [r for r in _ordered(item, rows) if r["status"] == "completed"]
        context = self._context(request, item, rows, await self._fields(conn, request))
        cleanup: list[dict[str, Any]] = []
        for done in completed:
            action = _catalog_action(item, done["action_id"])
            if action is None or action.cleanup is None:
                continue
            try:
                text = render_preview(
                    action.cleanup.instructions,
                    context,
                    engine=self.engine,
                    action_id=action.id,
                )
            except TemplateRenderError as exc:
                text = f"{action.cleanup.instructions} (could not be rendered: {exc})"
            cleanup.append({"action_id": done["action_id"], "instructions": str(text)})
        secrets = context.secrets
        error_context = {
            "failed_action": row["action_id"] if row is not None else None,
            "error": {**dict(error), "message": mask(message, secrets)},
            "partial_resources": {
                r["action_id"]: {
                    "type": r["action_type"],
                    "outputs": mask(dict(r["outputs"] or {}), secrets),
                    "external_ref": r["external_ref"],
                    "external_url": r["external_url"],
                }
                for r in completed
            },
            "cleanup": cleanup,
        }
        failed_id = row["action_id"] if row is not None else None
        self._finished(request, "failed", rows)
        await fail_request(
            conn,
            request["id"],
            error_context,
            f"request failed at {failed_id or 'planning'}: {mask(message, secrets)}",
            correlation_id=request["correlation_id"],
            action_id=failed_id,
        )

    async def _complete_request(
        self, conn: Connection, request: dict[str, Any], rows: list[dict[str, Any]]
    ) -> None:
        cur = await conn.execute(QUERIES.engine_complete_request, {"id": request["id"]})
        done = await cur.fetchone()
        if done is None:
            return
        if self._has_audience(request, rows):
            await self.queue.enqueue(
                conn,
                NOTIFY,
                notify_payload(request["id"], "request_completed", "completed"),
                request_id=request["id"],
            )
        self._finished(done, "completed")
        await conn.execute(QUERIES.delete_request_secrets, {"request_id": request["id"]})
        await log_event(
            conn,
            request["id"],
            "request_completed",
            "all actions completed",
            correlation_id=request["correlation_id"],
        )

    def _has_audience(self, request: Mapping[str, Any], rows: list[dict[str, Any]]) -> bool:
        """Whether anyone hears a request-level ``notify``: a face's thread (requests from the
        bot) or an executor whose object follows the request (a JIRA ticket). An API request
        of REST calls has no one, and its completion costs no job."""
        if request.get("source", "api") not in ("api", "cli"):
            return True
        return any(self._notifiable(str(r["action_type"])) for r in rows)

    def _notifiable(self, action_type: str) -> bool:
        known = self._notifiable_types.get(action_type)
        if known is None:
            executor_type = TICKET_ACTION_TYPE if action_type == MANUAL_ACTION_TYPE else action_type
            try:
                known = isinstance(self.registry.get(executor_type), NotifiableExecutor)
            except UnknownActionType:
                known = False
            self._notifiable_types[action_type] = known
        return known

    async def _notify_thread(
        self, conn: Connection, request: Mapping[str, Any], event: str, action_id: str
    ) -> None:
        """Action-level progress matters to a GitHub thread (the status comment), not to API
        callers, who poll: only requests from the bot get a ``notify`` job per step."""
        if request.get("source", "api") in ("api", "cli"):
            return
        await self.queue.enqueue(
            conn,
            NOTIFY,
            notify_payload(request["id"], event, request["status"], action_id=action_id),
            request_id=request["id"],
        )

    def _finished(
        self,
        request: Mapping[str, Any],
        status: str,
        rows: list[dict[str, Any]] | None = None,
    ) -> None:
        created = request.get("created_at")
        if created is None:
            return
        self.observer.request_finished(
            str(request["catalog_item_id"]),
            status,
            (datetime.now(UTC) - created).total_seconds(),
            sorted({str(r["action_type"]) for r in rows or []}),
        )

    def _jittered(self, delay: float) -> float:
        """Polls of many actions spread out instead of arriving together."""
        if delay <= 0 or self.poll_jitter <= 0:
            return delay
        return delay * (1.0 + random.uniform(-self.poll_jitter, self.poll_jitter))  # noqa: S311

    # -- helpers --------------------------------------------------------------------------------

    def _transaction(self, request: Mapping[str, Any] | None) -> Any:
        """An engine transaction; without ``request`` its correlation id is set by the query
        that locks the request (``engine_lock_request_for_job``)."""
        return self.db.transaction(
            actor=ENGINE_ACTOR,
            correlation_id=request.get("correlation_id") if request is not None else None,
            source=ENGINE_SOURCE,
            durable=False,
        )

    @staticmethod
    async def _load_step(
        conn: Connection, request_id: Any, job: Job, *, with_fields: bool = False
    ) -> tuple[dict[str, Any] | None, bool, list[dict[str, Any]], dict[str, Any] | None]:
        """What one step of ``job`` starts from: the request row and its action rows, locked;
        whether the job's delivery still holds its lease (the queue contract's ``still_held``:
        both backends keep leases in ``jobs``); and, ``with_fields``, the request's fields with
        their secret values. The lock query also makes the request's correlation id the audit
        trail's.
        """
        locked = await conn.execute(
            QUERIES.engine_lock_request_for_job,
            {
                "id": request_id,
                "job_id": job.id,
                "worker_id": job.locked_by,
                "receives": job.receives,
            },
        )
        actions = await conn.execute(QUERIES.engine_actions_for_update, {"request_id": request_id})
        secret = None
        if with_fields:
            secret = await conn.execute(
                QUERIES.engine_get_request_secrets, {"request_id": request_id}
            )
        found = await locked.fetchone()
        rows = [dict(r) for r in await actions.fetchall()]
        secret_row = await secret.fetchone() if secret is not None else None
        if found is None:
            return None, False, rows, None
        request = dict(found)
        request.pop("audit_context", None)
        held = bool(request.pop("job_held"))
        fields = None
        if with_fields:
            fields = {
                **dict(request["fields"] or {}),
                **dict(secret_row["fields"] if secret_row else {}),
            }
        return request, held, rows, fields

    @staticmethod
    async def _rows(
        conn: Connection, request_id: Any, *, lock: bool = True
    ) -> list[dict[str, Any]]:
        query = QUERIES.engine_actions_for_update if lock else QUERIES.engine_actions
        cur = await conn.execute(query, {"request_id": request_id})
        return [dict(r) for r in await cur.fetchall()]

    @staticmethod
    def _runnable(request: Mapping[str, Any], job: Job) -> bool:
        if request["status"] in RUNNABLE:
            return True
        return request["status"] == "failed" and bool(job.payload.get("operator_retry"))

    @staticmethod
    async def _fields(conn: Connection, request: Mapping[str, Any]) -> dict[str, Any]:
        """The request's fields with the real values of its password fields (kept apart in
        ``request_secrets`` until the request completes)."""
        cur = await conn.execute(QUERIES.engine_get_request_secrets, {"request_id": request["id"]})
        secret_row = await cur.fetchone()
        return {
            **dict(request["fields"] or {}),
            **dict(secret_row["fields"] if secret_row else {}),
        }

    def _context(
        self,
        request: Mapping[str, Any],
        item: CatalogItem,
        rows: list[dict[str, Any]],
        fields: Mapping[str, Any],
    ) -> TemplateContext:
        outputs = {
            r["action_id"]: dict(r["outputs"] or {}) for r in rows if r["status"] == "completed"
        }
        info = RequestInfo(
            id=str(request["id"]),
            user=UserInfo(
                email=request["requester_email"],
                name=request.get("requester_name"),
                teams=tuple(request.get("requester_teams") or ()),
            ),
            correlation_id=request.get("correlation_id"),
            timestamp=request["created_at"].isoformat() if request.get("created_at") else None,
            title=request.get("title"),
            source=request.get("source"),
        )
        return build_context(
            item,
            fields,
            request=info,
            outputs=outputs,
            allowed_environment=list(self.template_environment),
            environ=self.template_environment,
        )

    def _render_row(
        self,
        row: Mapping[str, Any],
        action: Action | None,
        request: Mapping[str, Any],
        item: CatalogItem,
        context: TemplateContext,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(real config, masked config) of an action row; a manual row becomes its ticket."""
        if row["action_type"] == MANUAL_ACTION_TYPE:
            ticket = fulfilment_ticket(item, request, context, self.manual_defaults, self.engine)
            return ticket, ticket  # built from masked values only
        return self._render(action, context, int(row["position"]))

    def _execution_order(self, version_id: int, item: CatalogItem) -> list[str]:
        """The item version's action order; versions never change, so it is computed once
        (the analysis checks every template: milliseconds, on every job otherwise)."""
        order = self._orders.get(version_id)
        if order is None:
            order = execution_order(item) if item.fulfillment.actions else []
            if len(self._orders) > 1024:
                self._orders.clear()
            self._orders[version_id] = order
        return order

    def _timeout(self, action: Action | None) -> float | None:
        if action is not None and action.timeout:
            return duration_seconds(action.timeout)
        return self.default_timeout_seconds

    def _render(
        self, action: Action | None, context: TemplateContext, position: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(real config, masked config); an action unknown to the item renders as empty."""
        if action is None:
            return {}, {}
        try:
            rendered = render_action(
                action, context, index=position, engine=self.engine, with_cleanup=False
            )
        except TemplateRenderError as exc:
            raise exc.scrubbed(context.secrets) from None
        return dict(rendered.real["config"]), dict(rendered.preview["config"])

    @staticmethod
    def _action_run(
        request: Mapping[str, Any],
        row: Mapping[str, Any],
        config: dict[str, Any],
        context: TemplateContext,
        attempt: int,
    ) -> ActionRun:
        outputs = context.variables.get("outputs", {})
        action_type = row["action_type"]
        if action_type == MANUAL_ACTION_TYPE:
            action_type = TICKET_ACTION_TYPE
        timeout: float | None = None
        if row.get("deadline_at") is not None:
            timeout = (row["deadline_at"] - datetime.now(UTC)).total_seconds()
        return ActionRun(
            request_id=str(request["id"]),
            action_id=row["action_id"],
            action_type=action_type,
            config=config,
            correlation_key=correlation_key(
                str(request["id"]), row["action_id"], int(row.get("generation") or 0)
            ),
            attempt=attempt,
            external_ref=row.get("external_ref"),
            external_url=row.get("external_url"),
            outputs=outputs,
            timeout_seconds=timeout,
        )


def _index(order: list[str], action_id: str) -> int:
    return order.index(action_id) if action_id in order else len(order)


def _ordered(item: CatalogItem, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order = [a.id for a in item.fulfillment.actions]
    return sorted(rows, key=lambda r: (_index(order, r["action_id"]), r["position"]))


def _catalog_action(item: CatalogItem, action_id: str) -> Action | None:
    return next((a for a in item.fulfillment.actions if a.id == action_id), None)
