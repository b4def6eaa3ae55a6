"""Calling an executor for one attempt: through the target's circuit, within the attempt's
deadline, every error turned into a result.

Nothing here touches the database: the planning (``orchestrator.engine.planning``) says what to
call, the recording (``orchestrator.engine.recording``) writes what came of it. Retries and the
breaker are one policy (``orchestrator.engine.policy``): ``admission`` lets the call through, or
says how long the target's circuit keeps it back (``Delayed``: not an attempt), and ``judge``
tells the circuit what the call came to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from orchestrator.engine.breaker import CircuitBreaker, Delay
from orchestrator.engine.executor import (
    ActionExecutor,
    ActionResult,
    CancellableExecutor,
    Failed,
    Registry,
    UnknownActionType,
    target_of,
)
from orchestrator.engine.planning import Plan, Planner
from orchestrator.engine.policy import admission, judge

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delayed:
    """The call did not go: the target's circuit was open when the call was due (another job
    took the probe after this one started its attempt). Not an attempt: it is given back."""

    delay: Delay


class Caller:
    """Makes a plan's call (or poll) and says what came of it, and how long it took."""

    def __init__(self, registry: Registry, breaker: CircuitBreaker, planner: Planner) -> None:
        self.registry = registry
        self.breaker = breaker
        self.planner = planner  # the attempt's timeout, for the words of a timeout

    async def timed_call(self, plan: Plan, *, poll: bool) -> tuple[ActionResult | Delayed, float]:
        """The result of calling (or polling) the executor, and how long it took in ms."""
        started = time.monotonic()
        try:
            executor = self.registry.get(plan.run.action_type)
        except UnknownActionType as exc:
            return Failed(str(exc), retryable=False), 0.0
        result = await self._call(executor, plan, poll=poll)
        return result, round((time.monotonic() - started) * 1000.0, 3)

    async def _call(
        self, executor: ActionExecutor, plan: Plan, *, poll: bool
    ) -> ActionResult | Delayed:
        """One call through the target's circuit. The permit is a context manager: whatever
        ends the call (a result, the attempt's deadline, cancellation, an error) releases it,
        so a probe can never be left out for good."""
        permit = admission(
            self.breaker,
            target_of(executor, plan.run),
            early_probe=plan.request.get("status") == "failed",
        )
        if isinstance(permit, Delay):
            return Delayed(permit)
        with contextlib.nullcontext() if permit is None else permit:
            result = await self._attempt(executor, plan, poll=poll)
            if permit is not None:
                judge(permit, result)
        return result

    async def _attempt(self, executor: ActionExecutor, plan: Plan, *, poll: bool) -> ActionResult:
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

    async def _timed_out(self, executor: ActionExecutor, plan: Plan, *, poll: bool) -> Failed:
        """The attempt ran past its deadline. A call that timed out may have done its work at
        the target (outcome unknown): it is retried, keeping the correlation key. A long-running
        external run past the attempt's deadline is cancelled where the executor can, and the
        action fails (no retry: it was the run itself that took too long)."""
        timeout = self.planner.timeout(plan.action)
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
