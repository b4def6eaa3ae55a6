"""Retries and the circuit breaker as one policy, in one place.

The chain runner asks this module three questions and nothing else decides them:

* before a call: may it go now, or must the job wait for the target's circuit (``admission``)?
  An open circuit *delays* the attempt to its probe time (the job is rescheduled, no attempt
  is spent); it never fails one.
* after a call: what does the result say about the target (``verdict``)? Only server-side
  failures count against a target: 5xx, 408, connection errors and timeouts. A 429 says the
  target is alive but busy (no verdict, its Retry-After paces the retry); other 4xx answers
  are the request's fault and show a healthy target.
* after a failed attempt: retry when, or give up (``RetryPolicy.after_failure``)? The
  action's declared ``retry.initialDelay``/``maxDelay`` shape the backoff; a target's
  Retry-After replaces it up to ``PAO_RETRY_AFTER_MAX_SECONDS``, beyond which the attempt
  fails with an error naming both (a day-long Retry-After must not park a request silently).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from orchestrator.catalog.models import Action
from orchestrator.engine.backoff import Backoff
from orchestrator.engine.breaker import CircuitBreaker, Delay, Permit
from orchestrator.engine.executor import ActionResult, Completed, Failed, Pending

DEFAULT_RETRY_AFTER_MAX_SECONDS = 900.0
RETRY_AFTER_SETTING = "PAO_RETRY_AFTER_MAX_SECONDS"


class Verdict(StrEnum):
    HEALTHY = "healthy"  # the target answered as a working target does
    FAILURE = "failure"  # a server-side failure: counts towards opening the circuit
    NONE = "none"  # says nothing about the target (rate limited, nothing sent)


def status_of(result: Failed) -> int | None:
    """The target's HTTP status in a failure's details, when the target answered."""
    for key in ("status_code", "github_status"):
        value = result.details.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def verdict(result: ActionResult) -> Verdict:
    """What ``result`` tells the breaker about the target."""
    if isinstance(result, (Completed, Pending)):
        return Verdict.HEALTHY
    status = status_of(result)
    if status == 429:
        return Verdict.NONE
    if status is not None:
        return Verdict.FAILURE if status >= 500 or status == 408 else Verdict.HEALTHY
    # No answer: connection errors, timeouts and unexplained errors are the target's; a
    # non-retryable failure without a status was decided before anything was sent.
    return Verdict.FAILURE if result.retryable else Verdict.NONE


def judge(permit: Permit, result: ActionResult) -> None:
    """Report ``result`` on ``permit`` (no verdict: the permit's exit just releases it)."""
    found = verdict(result)
    if found is Verdict.HEALTHY:
        permit.healthy()
    elif found is Verdict.FAILURE:
        permit.failed()


def admission(
    breaker: CircuitBreaker, target: str | None, *, early_probe: bool = False
) -> Permit | Delay | None:
    """A permit for a call to ``target`` (None when the executor names no target), or how
    long the job must wait for the circuit."""
    if target is None:
        return None
    return breaker.admit(target, early_probe=early_probe)


@dataclass(frozen=True, slots=True)
class RetryAfterTooLong:
    """The target asked for a wait beyond the cap: the attempt fails instead of waiting."""

    retry_after: float
    cap: float

    def message(self, target: str | None) -> str:
        who = target or "the target"
        return (
            f"{who} asked to be called again in {self.retry_after:.0f}s (Retry-After), "
            f"beyond {RETRY_AFTER_SETTING}={self.cap:.0f}s; failing now instead of holding "
            "the request that long (retry it later, or raise the setting)"
        )

    def details(self) -> dict[str, Any]:
        return {"retry_after": self.retry_after, "retry_after_max_seconds": self.cap}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When a failed attempt is tried again. ``declared``: whether actions' declared delays
    shape the backoff (off only where time is fast-forwarded: the engine tests' instant
    retries); ``rng`` only for tests (jitter)."""

    backoff: Backoff = field(default_factory=Backoff)
    retry_after_max_seconds: float = DEFAULT_RETRY_AFTER_MAX_SECONDS
    declared: bool = True
    rng: random.Random | None = None

    def backoff_for(self, action: Action | None) -> Backoff:
        """The engine's backoff shaped by the action's declared ``retry`` delays."""
        if action is None or not self.declared:
            return self.backoff
        declared = action.retry
        return self.backoff.declared(declared.initial_delay_seconds, declared.max_delay_seconds)

    def after_failure(
        self, result: Failed, attempt: int, max_attempts: int, action: Action | None
    ) -> float | RetryAfterTooLong | None:
        """Seconds until the next attempt; ``RetryAfterTooLong`` when the target's wait is
        beyond the cap; None when the failure is final (not retryable, attempts used up)."""
        if not result.retryable or attempt >= max_attempts:
            return None
        if result.retry_after is not None:
            if result.retry_after > self.retry_after_max_seconds:
                return RetryAfterTooLong(result.retry_after, self.retry_after_max_seconds)
            return float(max(0.0, result.retry_after))
        return float(self.backoff_for(action).delay(attempt, rng=self.rng))
