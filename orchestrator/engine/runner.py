"""The chain runner: runs a request's actions one after another, one job per step.

A ``run-action`` job runs the request's next action:

1. In one transaction (request row locked): pick the next unfinished action in execution
   order, render its config with the full context (password fields with their real values from
   ``request_secrets``, earlier actions' outputs), store the *masked* rendering, mark the action
   ``in_progress`` (request ``queued -> in_progress``) and log ``action_started``.
2. Outside any transaction: call the executor (through the per-target circuit breaker).
3. In one transaction: record the result, complete the job, and enqueue what comes next: the
   next action's ``run-action``, a delayed ``poll-action`` for a pending action, a delayed
   retry (Backoff, Retry-After wins), or nothing when the request completed or failed.

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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
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
from orchestrator.store.database import Connection, Database
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
    run: ActionRun


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

    # -- job handlers ---------------------------------------------------------------------------

    async def handle(self, job: Job) -> None:
        if job.kind == POLL_ACTION:
            await self.handle_poll(job)
        else:
            await self.handle_run(job)

    async def handle_run(self, job: Job) -> None:
        """Run the request's next action; when it completes and the next one can run now, go
        on in the same job (its payload names the action in hand, in the same transaction
        that records the result), saving a job claim and completion per action."""
        wanted = job.payload.get("action_id")
        while True:
            plan = await self._start(job, wanted)
            if plan is None:
                return
            result, duration_ms = await self._timed_call(plan, poll=False)
            wanted = await self._record(
                job, plan, result, duration_ms, continue_in_job=self.continue_chains
            )
            if wanted is None:
                return

    async def handle_poll(self, job: Job) -> None:
        plan = await self._load_for_poll(job)
        if plan is None:
            return
        await self._record(job, plan, *await self._timed_call(plan, poll=True), polled=True)

    # -- step 1: choose and start ---------------------------------------------------------------

    async def _start(self, job: Job, wanted: str | None) -> _Plan | None:
        request_id = uuid.UUID(str(job.payload["request_id"]))
        request = await self.db.fetch_one(None, QUERIES.get_request, {"id": request_id})
        if request is None:
            await self.queue.complete(job)
            return None
        item = await self.catalog.version(int(request["catalog_version_id"]))
        async with self._transaction(request) as conn:
            request = await self._lock(conn, request_id)
            if not await self.queue.still_held(job, conn):
                return None  # a stale delivery: the job was reclaimed or is finished
            if request is None or not self._runnable(request, job):
                await self.queue.complete(job, conn)
                return None
            rows = await self._rows(conn, request_id)
            try:
                order = self._execution_order(int(request["catalog_version_id"]), item)
            except TemplateAnalysisError as exc:
                await self.queue.complete(job, conn)
                await self._fail(conn, request, item, rows, None, str(exc), {})
                return None
            rows.sort(key=lambda r: (_index(order, r["action_id"]), r["position"]))
            row = next((r for r in rows if r["status"] not in ("completed", "cancelled")), None)
            if row is None:
                await self.queue.complete(job, conn)
                await self._complete_request(conn, request)
                return None
            if wanted is not None and wanted != row["action_id"]:
                # A stale or duplicate delivery: the action it names is behind us.
                await self.queue.complete(job, conn)
                return None
            if row["status"] == "failed" or (
                row["status"] == "in_progress" and row["external_ref"] is not None
            ):
                # Waiting for an operator, or for the poller: nothing to run now.
                await self.queue.complete(job, conn)
                return None
            resumed = row["status"] == "in_progress"
            attempt = int(row["attempts"]) if resumed else int(row["attempts"]) + 1
            context = await self._context(conn, request, item, rows)
            action = _catalog_action(item, row["action_id"])
            try:
                real, preview = self._render_row(row, action, request, item, context)
            except (TemplateRenderError, NoManualSupport) as exc:
                await self.queue.complete(job, conn)
                await conn.execute(
                    QUERIES.engine_action_failed,
                    {"id": row["id"], "error": {"message": str(exc), "retryable": False}},
                )
                code = exc.code if isinstance(exc, TemplateRenderError) else "no-manual-support"
                await self._fail(conn, request, item, rows, row, str(exc), {"code": code})
                return None
            cur = await conn.execute(
                QUERIES.engine_start_action,
                {"id": row["id"], "attempts": attempt, "rendered_config": preview},
            )
            started = await cur.fetchone()
            assert started is not None
            started = dict(started)
            timeout = self._timeout(action)
            if timeout is not None:
                cur = await conn.execute(
                    QUERIES.engine_set_deadline, {"id": row["id"], "timeout_seconds": timeout}
                )
                deadline = await cur.fetchone()
                assert deadline is not None
                started["deadline_at"] = deadline["deadline_at"]
            if request["status"] == "queued":
                await conn.execute(
                    QUERIES.set_request_status,
                    {"id": request_id, "status": "in_progress", "from_statuses": ["queued"]},
                )
            await log_event(
                conn,
                request_id,
                "action_started",
                f"{row['action_id']} attempt {attempt}" + (" (resumed)" if resumed else ""),
                correlation_id=request["correlation_id"],
                action_id=row["action_id"],
                details={
                    "type": row["action_type"],
                    "attempt": attempt,
                    "max_attempts": row["max_attempts"],
                    "resumed": resumed,
                    "config": preview,
                },
            )
        return _Plan(
            request=request,
            item=item,
            rows=rows,
            row=started,
            action=action,
            context=context,
            run=self._action_run(request, started, real, context, attempt),
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
            context = await self._context(conn, request, item, rows)
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
    ) -> str | None:
        """Record ``result``; the next action's id when this job goes on with it."""
        request_id = plan.request["id"]
        secrets = plan.context.secrets
        async with self._transaction(plan.request) as conn:
            request = await self._lock(conn, request_id)
            rows = await self._rows(conn, request_id)
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
            go_on = continue_in_job and following is not None
            if go_on:
                assert following is not None
                await conn.execute(
                    QUERIES.queue_continue_job,
                    {"id": job.id, "action_id": following["action_id"]},
                )
            else:
                await self.queue.complete(job, conn)
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
                await conn.execute(
                    QUERIES.engine_complete_action, {"id": row["id"], "outputs": outputs}
                )
                row["status"], row["outputs"] = "completed", outputs
                await log_event(
                    conn,
                    request_id,
                    "action_completed",
                    f"{row['action_id']} completed",
                    **log,
                    details={
                        "attempt": attempt,
                        "duration_ms": duration_ms,
                        "outputs": mask(outputs, secrets),
                        "response": mask(dict(result.details), secrets),
                    },
                )
                if request["status"] == "failed":  # an operator retry resolved the action
                    await conn.execute(
                        QUERIES.set_request_status,
                        {"id": request_id, "status": "in_progress", "from_statuses": ["failed"]},
                    )
                await self._notify_thread(conn, request, "action_completed", row["action_id"])
                if following is None:
                    await self._complete_request(conn, request)
                elif go_on:
                    return str(following["action_id"])
                else:
                    await self.queue.enqueue(
                        conn,
                        RUN_ACTION,
                        run_job(request_id, following["action_id"]),
                        request_id=request_id,
                        dedupe_key=f"run:{request_id}",
                    )
            elif isinstance(result, Pending):
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
        context = await self._context(conn, request, item, rows)
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

    async def _complete_request(self, conn: Connection, request: dict[str, Any]) -> None:
        cur = await conn.execute(QUERIES.engine_complete_request, {"id": request["id"]})
        done = await cur.fetchone()
        if done is None:
            return
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

    def _transaction(self, request: Mapping[str, Any]) -> Any:
        return self.db.transaction(
            actor=ENGINE_ACTOR,
            correlation_id=request.get("correlation_id"),
            source=ENGINE_SOURCE,
            durable=False,
        )

    @staticmethod
    async def _lock(conn: Connection, request_id: Any) -> dict[str, Any] | None:
        cur = await conn.execute(QUERIES.get_request_for_update, {"id": request_id})
        row = await cur.fetchone()
        return dict(row) if row is not None else None

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

    async def _context(
        self,
        conn: Connection,
        request: Mapping[str, Any],
        item: CatalogItem,
        rows: list[dict[str, Any]],
    ) -> TemplateContext:
        cur = await conn.execute(QUERIES.engine_get_request_secrets, {"request_id": request["id"]})
        secret_row = await cur.fetchone()
        fields = {
            **dict(request["fields"] or {}),
            **dict(secret_row["fields"] if secret_row else {}),
        }
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
