"""Retry delays: exponential backoff between an initial and a maximum delay, jittered upwards.

A catalog action may declare ``retry.initialDelay`` and ``retry.maxDelay``; both are promises to
its author, so the jitter stays inside them: attempt ``n`` waits between
``min(max, initial * 2**(n-1))`` and 25 % more, never beyond ``max`` (the spread keeps retries
of many requests from arriving together, without retrying sooner than declared). A target's
``Retry-After`` replaces the backoff (``orchestrator.engine.policy`` caps it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class Backoff:
    """delay(n) is uniform in [ceiling(n), min(cap, ceiling(n) * (1 + jitter))]."""

    base_seconds: float = 2.0
    cap_seconds: float = 300.0
    jitter: float = 0.25

    def ceiling(self, attempt: int) -> float:
        """The undisturbed delay after failed attempt ``attempt`` (1 for the first)."""
        return min(self.cap_seconds, self.base_seconds * float(2 ** max(0, attempt - 1)))

    def delay(
        self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        if retry_after is not None:
            return max(0.0, retry_after)
        low = self.ceiling(attempt)
        high = min(self.cap_seconds, low * (1.0 + max(0.0, self.jitter)))
        if high <= low:
            return low
        spread: float = (rng or random).uniform(low, high)  # jitter, not crypto
        return spread

    def declared(self, initial_seconds: float | None, max_seconds: float | None) -> Backoff:
        """This backoff with a catalog action's ``initialDelay``/``maxDelay`` (each kept from
        here when absent); a maximum below the initial delay caps it."""
        base = self.base_seconds if initial_seconds is None else initial_seconds
        cap = self.cap_seconds if max_seconds is None else max_seconds
        if max_seconds is None and base > cap:
            cap = base  # only an initial delay declared: the default cap must not undercut it
        return replace(self, base_seconds=base, cap_seconds=cap)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
