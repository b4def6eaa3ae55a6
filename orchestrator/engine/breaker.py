"""Circuit breaker per external target: stop calling a target that keeps failing.

closed --(threshold consecutive failures)--> open --(cool-down elapsed)--> half-open
half-open: one probe at a time; success closes, failure re-opens for another cool-down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitOpen(Exception):
    """Fail fast: the target's breaker is open; no call was made."""

    def __init__(self, target: str, retry_in: float) -> None:
        super().__init__(f"circuit for {target} is open; next probe in {retry_in:.0f}s")
        self.target = target
        self.retry_in = retry_in


@dataclass(slots=True)
class _Circuit:
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    probing: bool = False


@dataclass(slots=True)
class CircuitBreaker:
    failure_threshold: int = 5
    reset_seconds: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _circuits: dict[str, _Circuit] = field(default_factory=dict)

    def state(self, target: str) -> BreakerState:
        circuit = self._circuits.get(target)
        if circuit is None:
            return BreakerState.CLOSED
        if (
            circuit.state is BreakerState.OPEN
            and self.clock() - circuit.opened_at >= self.reset_seconds
        ):
            return BreakerState.HALF_OPEN
        return circuit.state

    def before_call(self, target: str) -> None:
        """Raise CircuitOpen instead of letting a call through to a failing target."""
        circuit = self._circuits.setdefault(target, _Circuit())
        state = self.state(target)
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and not circuit.probing:
            circuit.state = BreakerState.HALF_OPEN
            circuit.probing = True
            return
        remaining = max(0.0, self.reset_seconds - (self.clock() - circuit.opened_at))
        raise CircuitOpen(target, remaining)

    def record_success(self, target: str) -> None:
        self._circuits[target] = _Circuit()

    def record_failure(self, target: str) -> None:
        circuit = self._circuits.setdefault(target, _Circuit())
        circuit.failures += 1
        if circuit.state is BreakerState.HALF_OPEN or circuit.failures >= self.failure_threshold:
            circuit.state = BreakerState.OPEN
            circuit.opened_at = self.clock()
            circuit.probing = False
