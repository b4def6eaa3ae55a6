"""The chain runner: runs a request's actions one after another.

A ``run-action`` job runs the request's next action, and goes on with the following ones:

1. In one transaction (request and action rows locked): pick the next unfinished action in
   execution order, render its config with the full context (password fields with their real
   values from ``request_secrets``, earlier actions' outputs), store the *masked* rendering,
   mark the action ``in_progress`` (request ``queued -> in_progress``) and log it.
2. Outside any transaction: call the executor (through the per-target circuit breaker), with
   the attempt's own deadline. Retries and the breaker are one policy
   (``orchestrator.engine.policy``): an open circuit delays the attempt to its probe time (the
   job is rescheduled, no attempt spent), found before the attempt starts where possible.
3. Record the result and decide what comes next. The plain case (completed, and the next action
   can run now) is one guarded statement that completes this action, starts the next one and
   points the job at it, written only if nothing changed since step 1 (``_advance``).
   Everything else is one transaction that reads the state again (``_record``): the last
   action completes the request; a pending action gets a delayed ``poll-action``; a failure a
   delayed retry (the action's declared backoff; a target's Retry-After up to its cap) or the
   request's failure; an abort that came in meanwhile ends the job.

A redelivered job finds the state of step 1 or 3: an action already completed is never run
again, and an action left ``in_progress`` by a crash is called again with the same correlation
key (executors are idempotent on it) and a new deadline. A job that keeps crashing on one action
is dead-lettered after ``crash_limit`` receives *of that action* (moving on to the next action
gives the job a fresh budget), failing the request with "worker crashed N times while running
X" (``orchestrator.engine.dead_letters``). A ``poll-action`` job asks the executor about a pending
action and records the result the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from orchestrator.engine.breaker import BreakerState, CircuitBreaker, Delay
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
from orchestrator.engine.jobs import (
    ACTION_CRASH_LIMIT,
    NOTIFY,
    POLL_ACTION,
    RUN_ACTION,
    notify_payload,
)
from orchestrator.engine.manual import (
    MANUAL_ACTION_TYPE,
    TICKET_ACTION_TYPE,
    ManualDefaults,
    NoManualSupport,
    fulfilment_ticket,
)
from orchestrator.engine.observer import (
    EngineObserver,
    NullObserver,
    after_commit,
    failure_reason,
    team_of,
)
from orchestrator.engine.pg_queue import Job
from orchestrator.engine.policy import (
    DEFAULT_RETRY_AFTER_MAX_SECONDS,
    RetryAfterTooLong,
    RetryPolicy,
    admission,
    judge,
    status_of,
)
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
    ``waiting`` (for an operator or the poller), ``unplannable``, ``unrenderable`` or
    ``circuit-open`` (the target's circuit: the job comes back at ``delay.seconds``)."""

    reason: str
    message: str = ""
    row: dict[str, Any] | None = None
    code: str = ""
    delay: Delay | None = None


@dataclass(frozen=True, slots=True)
class _Delayed:
    """The call did not go: the target's circuit was open when the call was due (another job
    took the probe after this one started its attempt). Not an attempt: it is given back."""

    delay: Delay


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
        retry_after_max_seconds: float = DEFAULT_RETRY_AFTER_MAX_SECONDS,
        crash_limit: int = ACTION_CRASH_LIMIT,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        """``retry_after_max_seconds``: the longest Retry-After honoured (longer fails the
        attempt); ``crash_limit``: receives of one action before its job is dead-lettered;
        ``retry_policy`` (instead of ``backoff`` and ``retry_after_max_seconds``)."""
        self.db = db
        self.catalog = catalog
        self.queue = queue
        self.registry = registry
        self.breaker = breaker if breaker is not None else CircuitBreaker()
        self.backoff = backoff if backoff is not None else Backoff()
        self.retry = retry_policy or RetryPolicy(self.backoff, retry_after_max_seconds)
        self.crash_limit = crash_limit
        self.template_environment = dict(template_environment or {})
        self.engine = engine or default_engine()
        self.manual_defaults = manual_defaults or ManualDefaults()
        self.observer = observer or NullObserver()
        self.default_timeout_seconds = default_timeout_seconds
        self.poll_jitter = poll_jitter
        self.continue_chains = continue_chains  # run the next action in the same job
        circuit_state = getattr(self.observer, "circuit_state", None)  # pao_circuit_state
        if callable(circuit_state):
            self.breaker.listeners.append(circuit_state)
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
        when nothing is to be called now (the job is then completed in this transaction).
        A job naming no action yet (a request's first job) is pointed at the action it starts,
        as ``engine_advance`` does going on: a later delivery of it then resumes that action
        only, and the lost-lease path (``jobs.release_dedupe``) hands on its chain too."""
        decision = self._decide(request, item, rows, wanted, fields)
        if isinstance(decision, _Stop):
            await self._stop(conn, job, request, item, rows, decision)
            return None
        names_action = job.payload.get("action_id") is not None
        return await self._write_start(
            conn, request, item, rows, decision, job=None if names_action else job
        )

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
        delay = self._circuit_delay(request, row, real, context, attempt)
        if delay is not None:
            return _Stop("circuit-open", row=row, delay=delay)
        return _Start(row, action, attempt, resumed, context, fields, real, preview)

    def _circuit_delay(
        self,
        request: Mapping[str, Any],
        row: Mapping[str, Any],
        real: dict[str, Any],
        context: TemplateContext,
        attempt: int,
    ) -> Delay | None:
        """How long the action must wait for its target's circuit, found before an attempt
        starts (so waiting spends none); the target as shown in logs (secrets masked). An
        operator's retry (the request is ``failed``) may probe before the cool-down ends."""
        run = self._action_run(request, row, real, context, attempt)
        if run.action_type not in self.registry:
            return None  # the call fails on the unknown type, not here
        target = target_of(self.registry.get(run.action_type), run)
        if target is None:
            return None
        delay = self.breaker.delay(target, early_probe=request["status"] == "failed")
        if delay is None:
            return None
        return Delay(str(mask(delay.target, context.secrets)), delay.seconds, delay.state)

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
                {
                    "id": stop.row["id"],
                    "error": {"message": stop.message, "retryable": False},
                    "outcome_unknown": False,
                },
            )
            await self._fail(conn, request, item, rows, stop.row, stop.message, {"code": stop.code})
        elif stop.reason == "circuit-open":
            assert stop.row is not None
            assert stop.delay is not None
            await self._wait_for_circuit(conn, request, stop.row, stop.delay, poll=False)

    async def _wait_for_circuit(
        self,
        conn: Connection,
        request: Mapping[str, Any],
        row: Mapping[str, Any],
        delay: Delay,
        *,
        poll: bool,
    ) -> None:
        """The action waits for its target's circuit: a log line saying so, and its job again
        at the probe time (the job in hand is already completed on ``conn``)."""
        request_id = request["id"]
        action_id = row["action_id"]
        why = "its probe is out" if delay.state is BreakerState.HALF_OPEN else "next probe then"
        await log_event(
            conn,
            request_id,
            "action_delayed",
            f"{action_id} delayed {delay.seconds:.0f}s: the circuit for {delay.target} is "
            f"{delay.state} ({why}); no attempt spent",
            correlation_id=request["correlation_id"],
            action_id=action_id,
            details={
                "target": delay.target,
                "circuit": str(delay.state),
                "delay_seconds": delay.seconds,
                "attempts": int(row["attempts"]),
                "poll": poll,
            },
        )
        await self.queue.enqueue(
            conn,
            POLL_ACTION if poll else RUN_ACTION,
            run_job(request_id, action_id, operator_retry=request["status"] == "failed"),
            request_id=request_id,
            delay=delay.seconds,
            dedupe_key=f"poll:{request_id}:{action_id}" if poll else f"run:{request_id}",
            max_receives=self.crash_limit,
        )

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
                "crash_limit": self.crash_limit,
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
                "crash_limit": self.crash_limit,
            },
        )
        if found is None or not found["advanced"]:
            return False, None
        self.observer.action_attempt(
            plan.run.action_type, "completed", duration_ms / 1000.0, catalog_item=plan.item.id
        )
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
        self.observer.action_attempt(
            plan.run.action_type, "completed", duration_ms / 1000.0, catalog_item=plan.item.id
        )
        self._finished(plan.request, "completed")
        return True

    def _deadline(self, start: _Start) -> datetime | None:
        """When this attempt times out: its timeout from now. The deadline belongs to the
        attempt: a resumed attempt (its job redelivered after a crash) gets a new one, never
        the crashed delivery's, which may have passed while nobody was running it."""
        timeout = self._timeout(start.action)
        if timeout is None:
            return None
        return datetime.now(UTC) + timedelta(seconds=timeout)

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

    async def _timed_call(
        self, plan: _Plan, *, poll: bool
    ) -> tuple[ActionResult | _Delayed, float]:
        """The result of calling (or polling) the executor, and how long it took in ms."""
        started = time.monotonic()
        try:
            executor = self.registry.get(plan.run.action_type)
        except UnknownActionType as exc:
            return Failed(str(exc), retryable=False), 0.0
        result = await self._call(executor, plan, poll=poll)
        return result, round((time.monotonic() - started) * 1000.0, 3)

    async def _call(
        self, executor: ActionExecutor, plan: _Plan, *, poll: bool
    ) -> ActionResult | _Delayed:
        """One call through the target's circuit. The permit is a context manager: whatever
        ends the call (a result, the attempt's deadline, cancellation, an error) releases it,
        so a probe can never be left out for good."""
        permit = admission(
            self.breaker,
            target_of(executor, plan.run),
            early_probe=plan.request.get("status") == "failed",
        )
        if isinstance(permit, Delay):
            return _Delayed(permit)
        with contextlib.nullcontext() if permit is None else permit:
            result = await self._attempt(executor, plan, poll=poll)
            if permit is not None:
                judge(permit, result)
        return result

    async def _attempt(self, executor: ActionExecutor, plan: _Plan, *, poll: bool) -> ActionResult:
        """The executor's answer within the attempt's deadline."""
        remaining = plan.run.timeout_seconds
        if remaining is not None and remaining <= 0:
            return await self._timed_out(executor, plan, poll=poll)
        try:
            call = executor.poll(plan.run) if poll else executor.execute(plan.run)
            return await asyncio.wait_for(call, timeout=remaining)
        except TimeoutError:
            return await self._timed_out(executor, plan, poll=poll)
        except Exception as exc:  # an executor bug or an unexpected error: a transient failure
            # whose effect at the target nobody knows: the retry keeps the correlation key.
            return Failed(f"{type(exc).__name__}: {exc}", retryable=True, outcome_unknown=True)

    async def _timed_out(self, executor: ActionExecutor, plan: _Plan, *, poll: bool) -> Failed:
        """The attempt ran past its deadline. A call that timed out may have done its work at
        the target (outcome unknown): it is retried, keeping the correlation key. A long-running
        external run past the attempt's deadline is cancelled where the executor can, and the
        action fails (no retry: it was the run itself that took too long)."""
        timeout = self._timeout(plan.action)
        took = f" of {timeout:g}s" if timeout is not None else ""
        if not poll:
            return Failed(
                f"action {plan.run.action_id} attempt {plan.run.attempt} exceeded its "
                f"timeout{took} (outcome unknown: the retry keeps its correlation key)",
                retryable=True,
                outcome_unknown=True,
                details={"timeout_seconds": timeout},
            )
        cancelled = False
        if isinstance(executor, CancellableExecutor) and plan.run.external_ref is not None:
            try:
                await executor.cancel(plan.run)
                cancelled = True
            except Exception:  # best effort: the failure below is what matters
                log.warning("cancelling %s after its timeout failed", plan.run.action_id)
        return Failed(
            f"action {plan.run.action_id} exceeded its timeout{took}",
            retryable=False,
            details={"timeout_seconds": timeout, "external_run_cancelled": cancelled},
        )

    # -- step 3: record -------------------------------------------------------------------------

    async def _record(
        self,
        job: Job,
        plan: _Plan,
        result: ActionResult | _Delayed,
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
            if isinstance(result, _Delayed):  # the circuit opened meanwhile: not an attempt
                await self.queue.complete(job, conn)
                if not polled:
                    cur = await conn.execute(QUERIES.engine_action_delayed, {"id": row["id"]})
                    row = dict(await cur.fetchone() or row)
                await self._wait_for_circuit(conn, request, row, result.delay, poll=polled)
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
                catalog_item=plan.item.id,
                failure_reason=failure_reason(result),
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
                        max_receives=self.crash_limit,
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
                    max_receives=self.crash_limit,
                )
            else:
                await self._failed(
                    conn, plan, request, rows, row, result, duration_ms, polled=polled
                )
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
        *,
        polled: bool = False,
    ) -> None:
        """A failed attempt: retried later (``RetryPolicy``) or the request fails. Whether the
        outcome is unknown is stored with the action: the retry (automatic or an operator's)
        then keeps the correlation key; a known failure gets a new one (a 429 keeps it: the
        target did not act on the request). A retryable failure of a poll is a failed status
        check, not of the work: its outcome is unknown too."""
        request_id = request["id"]
        secrets = plan.context.secrets
        attempt = int(row["attempts"])
        unknown = result.outcome_unknown or (polled and result.retryable)
        decision = self.retry.after_failure(result, attempt, int(row["max_attempts"]), plan.action)
        message = str(mask(result.error, secrets))
        details = dict(result.details)
        if isinstance(decision, RetryAfterTooLong):
            target = target_of(self.registry.get(plan.run.action_type), plan.run)
            message = f"{message}; {decision.message(target)}"
            details.update(decision.details())
        error = {
            "message": mask(message, secrets),
            "retryable": result.retryable,
            "retry_after": result.retry_after,
            "attempt": attempt,
            "outcome_unknown": unknown,
            "details": mask(details, secrets),
        }
        delay = decision if isinstance(decision, float) else None
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
        state = {"id": row["id"], "error": error, "outcome_unknown": unknown}
        if delay is not None:
            new_key = not unknown and status_of(result) != 429  # a 429 was not acted on
            await conn.execute(QUERIES.engine_action_retrying, {**state, "new_key": new_key})
            await self.queue.enqueue(
                conn,
                RUN_ACTION,
                run_job(request_id, row["action_id"], operator_retry=request["status"] == "failed"),
                request_id=request_id,
                delay=delay,
                dedupe_key=f"run:{request_id}",
                max_receives=self.crash_limit,
            )
            return
        await conn.execute(QUERIES.engine_action_failed, state)
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
            user_team=team_of(request.get("requester_teams")),
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
        return after_commit(  # metrics count what committed (observer.on_commit)
            self.db.transaction(
                actor=ENGINE_ACTOR,
                correlation_id=request.get("correlation_id") if request is not None else None,
                source=ENGINE_SOURCE,
                durable=False,
            )
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
