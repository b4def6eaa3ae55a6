"""Recording what came of a chain's steps: every write of the runner, through the named
transitions (``orchestrator.engine.transitions``) and the queue's API.

* ``start``: the next action starts (its masked config stored, ``action_started`` logged, the
  job pointed at it), the action in hand completing in the same statement when going on.
* ``advance``: the plain case of a chain (completed, and the next action can run now, or the
  last one completed and nobody needs to hear of it) as one guarded statement outside any
  transaction, written only if nothing changed since the job read the state.
* ``record``: everything else, in one transaction that reads the state again: a completion on
  its own (the chain ends, waits or goes on in a new job), a pending action's poll, a failed
  attempt's retry (the action's declared backoff; a target's Retry-After up to its cap) or the
  request's failure, a circuit that opened meanwhile, an abort that came in meanwhile.

About 600 lines: the full step's branches (completed, pending, failed, delayed, stopped) read
the same locked state and end the same job, and are easier to check side by side.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.catalog.models import CatalogItem
from orchestrator.engine import transitions
from orchestrator.engine.audience import Audience, has_thread
from orchestrator.engine.breaker import BreakerState, Delay
from orchestrator.engine.calling import Delayed
from orchestrator.engine.chain_logs import REQUEST_COMPLETED, completed_log, started_log
from orchestrator.engine.chain_state import StepState, load_step, request_fields, runnable
from orchestrator.engine.executor import (
    ActionResult,
    Completed,
    Failed,
    Pending,
    Registry,
    target_of,
)
from orchestrator.engine.failure_context import failure_context
from orchestrator.engine.jobs import NOTIFY, POLL_ACTION, RUN_ACTION, notify_payload, run_job
from orchestrator.engine.observer import EngineObserver, after_commit, failure_reason
from orchestrator.engine.pg_queue import Job
from orchestrator.engine.planning import Plan, Planner, Start, Stop, ordered
from orchestrator.engine.policy import RetryAfterTooLong, RetryPolicy, status_of
from orchestrator.engine.queue import Queue
from orchestrator.engine.records import ENGINE_ACTOR, ENGINE_SOURCE, fail_request, log_event
from orchestrator.engine.transitions import Begin, Completion, JobEffect, Step
from orchestrator.store.database import Connection, Database
from orchestrator.templating.masking import mask


class Recorder:
    """Writes the runner's steps (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        queue: Queue,
        registry: Registry,
        planner: Planner,
        observer: EngineObserver,
        retry: RetryPolicy,
        *,
        crash_limit: int,
        poll_jitter: float,
    ) -> None:
        self.db = db
        self.queue = queue
        self.registry = registry
        self.planner = planner
        self.observer = observer
        self.retry = retry
        self.crash_limit = crash_limit
        self.poll_jitter = poll_jitter
        self.audience = Audience(queue, registry, observer)

    def transaction(self) -> Any:
        """An engine step's transaction. Its first statement (``chain_state.load_step``) locks
        the request and sets the audit context (the engine as actor, the request's correlation
        id) and the commit mode (no wait for the WAL flush): no round trip of its own."""
        return after_commit(self.db.transaction())  # metrics count what committed

    async def load(
        self, conn: Connection, request_id: Any, job: Job, *, with_fields: bool = False
    ) -> StepState:
        """What the step starts from (``chain_state.load_step``), audited as the engine."""
        return await load_step(
            conn,
            request_id,
            job,
            actor=ENGINE_ACTOR,
            source=ENGINE_SOURCE,
            with_fields=with_fields,
        )

    def _step(self, request: Mapping[str, Any], **change: Any) -> Step:
        return Step(
            request_id=request["id"],
            request_status=str(request["status"]),
            correlation_id=request["correlation_id"],
            actor=ENGINE_ACTOR,
            source=ENGINE_SOURCE,
            crash_limit=self.crash_limit,
            **change,
        )

    # -- the next action starts -----------------------------------------------------------------

    async def start(
        self,
        conn: Connection | None,
        job: Job,
        request: dict[str, Any],
        item: CatalogItem,
        rows: list[dict[str, Any]],
        start: Start,
        *,
        job_effect: JobEffect,
        done: Completion | None = None,
        logs: Sequence[Mapping[str, Any]] = (),
    ) -> Plan | None:
        """Start ``start``'s action (and complete ``done`` with its ``logs``) in one statement,
        guarded by the job's lease and the rows as read; its plan, or None when the state
        changed and nothing was written. ``conn`` None (or an autocommit connection, outside
        any transaction): the statement is its own transaction."""
        deadline = self.planner.deadline(start)
        row = start.row
        written = await transitions.step(
            self.db,
            conn,
            self._step(
                request,
                done=done,
                begin=Begin(
                    id=int(row["id"]),
                    action_id=str(row["action_id"]),
                    status=str(row["status"]),
                    attempts=int(row["attempts"]),
                    attempt=start.attempt,
                    rendered_config=start.preview,
                    deadline_at=deadline,
                ),
                job=job,
                job_effect=job_effect,
                logs=[*logs, started_log(start)],
            ),
        )
        if not written.ok:
            return None
        if written.status is not None:
            request["status"] = written.status
        return self.planner.started(request, item, rows, start, deadline)

    # -- the plain step: one guarded statement ----------------------------------------------------

    async def advance(
        self, job: Job, plan: Plan, result: Completed, duration_ms: float
    ) -> tuple[bool, Plan | None]:
        """The plain step of a chain as one guarded statement, without a transaction: the
        action in hand completed, and the next one starts (rendered from what this job read
        when it started the action) or the request completes. The statement checks that
        nothing changed since (the request's status, the job's lease, the actions' status and
        attempts) and writes only then. (True, the next action or None) when it did; (False,
        None) when this shortcut does not apply or the check failed, and the full step
        (``record``) runs instead, reading everything again."""
        request = plan.request
        if (
            request["status"] != "in_progress"
            or has_thread(request)  # threads hear every step
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
        done_log = completed_log(
            current["action_id"], attempts, duration_ms, result, outputs, plan.context.secrets
        )
        done = Completion(int(current["id"]), attempts, outputs)
        following = next((r for r in ordered(plan.item, rows) if r["status"] != "completed"), None)
        if following is None:
            return await self._finish(job, plan, rows, done, done_log, duration_ms), None
        decision = self.planner.decide(
            dict(request), plan.item, rows, str(following["action_id"]), plan.fields
        )
        if not isinstance(decision, Start):
            return False, None
        started = await self.start(
            None,
            job,
            dict(request),
            plan.item,
            rows,
            decision,
            job_effect="point",
            done=done,
            logs=[done_log],
        )
        if started is None:
            return False, None
        self._attempted(plan, "completed", duration_ms)
        return True, started

    async def _finish(
        self,
        job: Job,
        plan: Plan,
        rows: list[dict[str, Any]],
        done: Completion,
        done_log: dict[str, Any],
        duration_ms: float,
    ) -> bool:
        """The last action completed: the request completes in one guarded statement (the
        job done, the request's secrets forgotten, both log rows written). False when someone
        must hear of it (a ``notify`` job is needed) or the check failed."""
        if self.audience.has_audience(plan.request, rows):
            return False
        written = await transitions.step(
            self.db,
            None,
            self._step(
                plan.request,
                done=done,
                finish=True,
                job=job,
                job_effect="done",
                logs=[done_log, REQUEST_COMPLETED],
            ),
        )
        if not written.ok:
            return False
        self.queue.completed_by_step(job)  # committed (its own transaction): the job is done
        self._attempted(plan, "completed", duration_ms)
        self.audience.finished(plan.request, "completed")
        return True

    # -- the full step: one transaction reading the state again --------------------------------

    async def record(
        self,
        job: Job,
        plan: Plan,
        result: ActionResult | Delayed,
        duration_ms: float,
        *,
        polled: bool = False,
        continue_in_job: bool = False,
    ) -> Plan | None:
        """Record ``result``; the next action, started in this same transaction, when this job
        goes on with it."""
        async with self.transaction() as conn:
            state = await self.load(conn, plan.request["id"], job)
            request, rows = state.request, state.rows
            row = next((r for r in rows if r["action_id"] == plan.row["action_id"]), None)
            if (
                request is None
                or row is None
                or not runnable(request, job)
                or (row["status"] != "in_progress")
            ):
                # Aborted (or finished by another delivery) while the call was out.
                await self.queue.complete(job, conn)
                return None
            if isinstance(result, Delayed):  # the circuit opened meanwhile: not an attempt
                await self.queue.complete(job, conn)
                if not polled:
                    row = await transitions.action_delayed(conn, int(row["id"])) or row
                await self.wait_for_circuit(conn, request, row, result.delay, poll=polled)
                return None
            outcome = (
                "completed"
                if isinstance(result, Completed)
                else "pending"
                if isinstance(result, Pending)
                else "failed"
            )
            self._attempted(plan, outcome, duration_ms, failure_reason(result))
            if isinstance(result, Completed):
                go_on = continue_in_job and state.held
                return await self._completed(
                    conn, job, plan, request, rows, row, result, duration_ms, go_on=go_on
                )
            await self.queue.complete(job, conn)
            if isinstance(result, Pending):
                await self._pending(conn, plan, request, row, result, duration_ms, polled=polled)
            else:
                await self._failed(
                    conn, plan, request, rows, row, result, duration_ms, polled=polled
                )
        return None

    async def _completed(
        self,
        conn: Connection,
        job: Job,
        plan: Plan,
        request: dict[str, Any],
        rows: list[dict[str, Any]],
        row: dict[str, Any],
        result: Completed,
        duration_ms: float,
        *,
        go_on: bool,
    ) -> Plan | None:
        """The action completed: with ``go_on`` the next one starts in the same statement and
        this job goes on with it; otherwise the completion is written on its own and the chain
        ends (the request completes), waits, or goes on in a new job."""
        request_id = request["id"]
        following = next(
            (
                r
                for r in ordered(plan.item, rows)
                if r["status"] != "completed" and r["action_id"] != row["action_id"]
            ),
            None,
        )
        attempt = int(row["attempts"])
        outputs = dict(result.outputs)
        row["status"], row["outputs"] = "completed", outputs
        done_log = completed_log(
            row["action_id"], attempt, duration_ms, result, outputs, plan.context.secrets
        )
        done = Completion(int(row["id"]), attempt, outputs)
        await self.audience.notify_thread(conn, request, "action_completed", row["action_id"])
        decision: Start | Stop | None = None
        if go_on and following is not None:
            decision = self.planner.decide(
                request, plan.item, rows, str(following["action_id"]), plan.fields
            )
            if isinstance(decision, Start):
                started = await self.start(
                    conn,
                    job,
                    request,
                    plan.item,
                    rows,
                    decision,
                    job_effect="point",
                    done=done,
                    logs=[done_log],
                )
                if started is not None:
                    return started
                decision = None  # the lease was lost meanwhile: the completion on its own
        if following is None and decision is None:
            await self.queue.complete(job, conn)
            if await self.complete_request(conn, request, rows, done=done, logs=[done_log]):
                return None
        # The completion on its own: the chain waits, or goes on in a new job.
        await transitions.step(self.db, conn, self._step(request, done=done, logs=[done_log]))
        if isinstance(decision, Stop):
            await self.stop(conn, job, request, plan.item, rows, decision)
            return None
        await self.queue.complete(job, conn)
        if following is not None:
            await self.queue.enqueue(
                conn,
                RUN_ACTION,
                run_job(request_id, following["action_id"]),
                request_id=request_id,
                dedupe_key=f"run:{request_id}",
                max_receives=self.crash_limit,
            )
        return None

    async def _pending(
        self,
        conn: Connection,
        plan: Plan,
        request: dict[str, Any],
        row: dict[str, Any],
        result: Pending,
        duration_ms: float,
        *,
        polled: bool,
    ) -> None:
        """The action waits on an external run: polled after the executor's delay."""
        request_id = request["id"]
        delay = max(0.0, result.poll_after_seconds)
        await transitions.action_pending(
            conn, int(row["id"]), result.external_ref, result.url, delay
        )
        if not polled or row["external_ref"] != result.external_ref:
            await self.audience.notify_thread(conn, request, "action_pending", row["action_id"])
            await log_event(
                conn,
                request_id,
                "action_pending",
                f"{row['action_id']} waiting on {result.external_ref}",
                correlation_id=request["correlation_id"],
                action_id=row["action_id"],
                details={
                    "attempt": int(row["attempts"]),
                    "external_ref": result.external_ref,
                    "url": result.url,
                    "duration_ms": duration_ms,
                    "poll_after_seconds": delay,
                    "response": mask(dict(result.details), plan.context.secrets),
                },
            )
        await self.queue.enqueue(
            conn,
            POLL_ACTION,
            run_job(request_id, row["action_id"], operator_retry=request["status"] == "failed"),
            request_id=request_id,
            delay=self._jittered(delay),
            dedupe_key=f"poll:{request_id}:{row['action_id']}",
            max_receives=self.crash_limit,
        )

    async def _failed(
        self,
        conn: Connection,
        plan: Plan,
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
        if delay is not None:
            new_key = not unknown and status_of(result) != 429  # a 429 was not acted on
            await transitions.action_retrying(
                conn, int(row["id"]), error, outcome_unknown=unknown, new_key=new_key
            )
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
        await transitions.action_failed(conn, int(row["id"]), error, outcome_unknown=unknown)
        await self.fail(conn, request, plan.item, rows, row, error["message"], error)

    # -- a job ends without a call ----------------------------------------------------------------

    async def stop(
        self,
        conn: Connection,
        job: Job,
        request: dict[str, Any],
        item: CatalogItem,
        rows: list[dict[str, Any]],
        stop: Stop,
    ) -> None:
        """The job ends here; a chain that cannot go on fails, one that is done completes."""
        await self.queue.complete(job, conn)
        if stop.reason == "unplannable":
            await self.fail(conn, request, item, rows, None, stop.message, {})
        elif stop.reason == "all-done":
            await self.complete_request(conn, request, rows)
        elif stop.reason == "unrenderable":
            assert stop.row is not None
            await transitions.action_failed(
                conn,
                int(stop.row["id"]),
                {"message": stop.message, "retryable": False},
                outcome_unknown=False,
            )
            await self.fail(conn, request, item, rows, stop.row, stop.message, {"code": stop.code})
        elif stop.reason == "circuit-open":
            assert stop.row is not None
            assert stop.delay is not None
            await self.wait_for_circuit(conn, request, stop.row, stop.delay, poll=False)

    async def wait_for_circuit(
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

    # -- the request ends -------------------------------------------------------------------------

    async def fail(
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
        fields = await request_fields(conn, request)
        context = self.planner.context(request, item, rows, fields)
        error_context = failure_context(
            item, rows, row, message, error, context, self.planner.engine
        )
        secrets = context.secrets
        failed_id = row["action_id"] if row is not None else None
        self.audience.finished(request, "failed", rows)
        await fail_request(
            conn,
            request["id"],
            error_context,
            f"request failed at {failed_id or 'planning'}: {mask(message, secrets)}",
            correlation_id=request["correlation_id"],
            action_id=failed_id,
        )

    async def complete_request(
        self,
        conn: Connection,
        request: dict[str, Any],
        rows: list[dict[str, Any]],
        *,
        done: Completion | None = None,
        logs: Sequence[Mapping[str, Any]] = (),
    ) -> bool:
        """The request completes (with ``done``, its last action, and its ``logs`` when given),
        its secrets forgotten, and whoever hears of it told; False when it could not (then
        nothing was written)."""
        written = await transitions.step(
            self.db,
            conn,
            self._step(request, done=done, finish=True, logs=[*logs, REQUEST_COMPLETED]),
        )
        if not written.ok:
            return False
        if self.audience.has_audience(request, rows):
            await self.queue.enqueue(
                conn,
                NOTIFY,
                notify_payload(request["id"], "request_completed", "completed"),
                request_id=request["id"],
            )
        self.audience.finished(request, "completed")
        return True

    def _attempted(
        self, plan: Plan, outcome: str, duration_ms: float, reason: str | None = None
    ) -> None:
        self.observer.action_attempt(
            plan.run.action_type,
            outcome,
            duration_ms / 1000.0,
            catalog_item=plan.item.id,
            failure_reason=reason,
        )

    def _jittered(self, delay: float) -> float:
        """Polls of many actions spread out instead of arriving together."""
        if delay <= 0 or self.poll_jitter <= 0:
            return delay
        return delay * (1.0 + random.uniform(-self.poll_jitter, self.poll_jitter))  # noqa: S311
