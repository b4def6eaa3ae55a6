"""Retry delays: exponential backoff with full jitter; a target's Retry-After always wins."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class Backoff:
    """delay(n) is uniform in [0, min(cap, base * 2**(n-1))] (AWS "full jitter")."""

    base_seconds: float = 2.0
    cap_seconds: float = 300.0

    def ceiling(self, attempt: int) -> float:
        return min(self.cap_seconds, self.base_seconds * float(2 ** max(0, attempt - 1)))

    def delay(
        self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        if retry_after is not None:
            return max(0.0, retry_after)
        jitter: float = (rng or random).uniform(0.0, self.ceiling(attempt))  # jitter, not crypto
        return jitter


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
