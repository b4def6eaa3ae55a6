"""The chain runner: runs a request's actions one after another.

A ``run-action`` job runs the request's next action, and goes on with the following ones:

1. Pick the next unfinished action in execution order, render its config with the full
   context (password fields with their real values from ``request_secrets``, earlier actions'
   outputs), store the *masked* rendering, mark the action ``in_progress`` (request ``queued ->
   in_progress``) and log it. The plain case (the job's lease held, the action can be called
   now) reads the state without a lock and starts the action with one guarded statement, as
   step 3 goes on (``ChainRunner._start_plainly``); anything else, or a check that failed,
   does it in one transaction with the request and action rows locked.
2. Outside any transaction: call the executor (through the per-target circuit breaker), with
   the attempt's own deadline. Retries and the breaker are one policy
   (``orchestrator.engine.policy``): an open circuit delays the attempt to its probe time (the
   job is rescheduled, no attempt spent), found before the attempt starts where possible.
3. Record the result and decide what comes next. The plain case (completed, and the next action
   can run now) is one guarded statement that completes this action, starts the next one and
   points the job at it, written only if nothing changed since step 1 (``Recorder.advance``).
   Everything else is one transaction that reads the state again (``Recorder.record``): the
   last action completes the request; a pending action gets a delayed ``poll-action``; a
   failure a delayed retry (the action's declared backoff; a target's Retry-After up to its
   cap) or the request's failure; an abort that came in meanwhile ends the job.

The three jobs are three modules: planning (``orchestrator.engine.planning``: pure, what runs
next rendered with what), calling (``orchestrator.engine.calling``: the attempt, the breaker,
the deadline) and recording (``orchestrator.engine.recording``: every write, each state change
a named transition of ``orchestrator.engine.transitions``). This module strings them together
per job.

A redelivered job finds the state of step 1 or 3: an action already completed is never run
again, and an action left ``in_progress`` by a crash is called again with the same correlation
key (executors are idempotent on it) and a new deadline. A job that keeps crashing on one action
is dead-lettered after ``crash_limit`` receives *of that action* (moving on to the next action
gives the job a fresh budget), failing the request with "worker crashed N times while running
X" (``orchestrator.engine.dead_letters``). A ``poll-action`` job asks the executor about a pending
action and records the result the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from orchestrator.catalog.models import CatalogItem
from orchestrator.catalog.service import CatalogService
from orchestrator.engine.backoff import Backoff
from orchestrator.engine.breaker import CircuitBreaker
from orchestrator.engine.calling import Caller
from orchestrator.engine.chain_state import action_rows, read_step, request_fields, runnable
from orchestrator.engine.executor import Completed, Registry
from orchestrator.engine.jobs import ACTION_CRASH_LIMIT, POLL_ACTION
from orchestrator.engine.manual import ManualDefaults
from orchestrator.engine.observer import EngineObserver, NullObserver
from orchestrator.engine.pg_queue import Job
from orchestrator.engine.planning import Plan, Planner, Start, Stop
from orchestrator.engine.policy import DEFAULT_RETRY_AFTER_MAX_SECONDS, RetryPolicy
from orchestrator.engine.queue import Queue
from orchestrator.engine.recording import Recorder
from orchestrator.store.database import Connection, Database
from orchestrator.store.queries import QUERIES
from orchestrator.templating.engine import TemplateEngine, default_engine


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
        self.engine = engine or default_engine()
        self.manual_defaults = manual_defaults or ManualDefaults()
        self.observer = observer or NullObserver()
        self.continue_chains = continue_chains  # run the next action in the same job
        circuit_state = getattr(self.observer, "circuit_state", None)  # pao_circuit_state
        if callable(circuit_state):
            self.breaker.listeners.append(circuit_state)
        self.planner = Planner(
            registry,
            self.breaker,
            self.engine,
            self.manual_defaults,
            template_environment or {},
            default_timeout_seconds,
        )
        self.caller = Caller(registry, self.breaker, self.planner)
        self.recorder = Recorder(
            db,
            queue,
            registry,
            self.planner,
            self.observer,
            self.retry,
            crash_limit=crash_limit,
            poll_jitter=poll_jitter,
        )

    async def handle(self, job: Job) -> None:
        if job.kind == POLL_ACTION:
            await self.handle_poll(job)
        else:
            await self.handle_run(job)

    async def handle_run(self, job: Job) -> None:
        """Run the request's next action; when it completes and the next one can run now, go
        on in the same job: the statement that records a result also starts the next action
        (and names it in the job's payload), saving a claim, a completion and a transaction
        per action."""
        plan = await self._start(job, job.payload.get("action_id"))
        while plan is not None:
            result, duration_ms = await self.caller.timed_call(plan, poll=False)
            handled, following = False, None
            if self.continue_chains and isinstance(result, Completed):
                handled, following = await self.recorder.advance(job, plan, result, duration_ms)
            if not handled:  # anything but the plain case: the full step
                following = await self.recorder.record(
                    job, plan, result, duration_ms, continue_in_job=self.continue_chains
                )
            plan = following

    async def handle_poll(self, job: Job) -> None:
        plan = await self._load_for_poll(job)
        if plan is None:
            return
        result, duration_ms = await self.caller.timed_call(plan, poll=True)
        await self.recorder.record(job, plan, result, duration_ms, polled=True)

    async def _start(self, job: Job, wanted: str | None) -> Plan | None:
        request_id = uuid.UUID(str(job.payload["request_id"]))
        plan = await self._start_plainly(job, request_id, wanted)
        if plan is not None:
            return plan
        async with self.recorder.transaction() as conn:
            state = await self.recorder.load(conn, request_id, job, with_fields=True)
            request = state.request
            if request is None:
                await self.queue.complete(job, conn)
                return None
            if not state.held:
                return None  # a stale delivery: the job was reclaimed or is finished
            if not runnable(request, job):
                await self.queue.complete(job, conn)
                return None
            item = await self.catalog.version(int(request["catalog_version_id"]))
            assert state.fields is not None
            return await self._begin(conn, job, request, item, state.rows, wanted, state.fields)

    async def _start_plainly(
        self, job: Job, request_id: uuid.UUID, wanted: str | None
    ) -> Plan | None:
        """The plain start of a job (its request runnable, its lease held, the next action to
        call now) without a transaction: the state read unlocked (``chain_state.read_step``),
        the action started by the guarded statement that writes only if nothing it relies on
        changed since, as the plain step after a call does (``Recorder.advance``). Three round
        trips instead of five (no BEGIN, no COMMIT) on the first action of every job. None when
        this does not apply or the check failed (nothing written): the locked start then reads
        everything again and decides."""
        if job.locked_by is None:
            return None
        async with self.db.connection() as conn:
            state = await read_step(conn, request_id, job)
            request = state.request
            if request is None or not state.held or not runnable(request, job):
                return None
            item = await self.catalog.version(int(request["catalog_version_id"]))
            assert state.fields is not None
            decision = self.planner.decide(request, item, state.rows, wanted, state.fields)
            if not isinstance(decision, Start):
                return None
            names_action = job.payload.get("action_id") is not None
            return await self.recorder.start(
                conn,
                job,
                request,
                item,
                state.rows,
                decision,
                job_effect="none" if names_action else "point",
            )

    async def _begin(
        self,
        conn: Connection,
        job: Job,
        request: dict[str, Any],
        item: CatalogItem,
        rows: list[dict[str, Any]],
        wanted: str | None,
        fields: Mapping[str, Any],
    ) -> Plan | None:
        """Start the request's next action on ``conn`` (request and action rows locked); None
        when nothing is to be called now (the job is then completed in this transaction).
        A job naming no action yet (a request's first job) is pointed at the action it starts,
        as going on does: a later delivery of it then resumes that action only, and the
        lost-lease path (``jobs.release_dedupe``) hands on its chain too."""
        decision = self.planner.decide(request, item, rows, wanted, fields)
        if isinstance(decision, Stop):
            await self.recorder.stop(conn, job, request, item, rows, decision)
            return None
        names_action = job.payload.get("action_id") is not None
        return await self.recorder.start(
            conn,
            job,
            request,
            item,
            rows,
            decision,
            job_effect="none" if names_action else "point",
        )

    async def _load_for_poll(self, job: Job) -> Plan | None:
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
            rows = await action_rows(conn, request_id)
            row = next((r for r in rows if r["action_id"] == action_id), None)
            if (
                not runnable(request, job)
                or row is None
                or row["status"] != "in_progress"
                or row["external_ref"] is None
            ):
                await self.queue.complete(job, conn)
                return None
            fields = await request_fields(conn, request)
        return self.planner.for_poll(request, item, rows, row, fields)
