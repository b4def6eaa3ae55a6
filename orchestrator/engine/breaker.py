"""Circuit breaker per external target: stop calling a target that keeps failing, and say when
to come back instead of failing the work.

closed --(threshold consecutive target failures)--> open --(cool-down elapsed)--> half-open
half-open: one probe at a time; a healthy answer closes, a failure re-opens for another
cool-down, a call that ends without a verdict (cancelled, past its deadline, rate limited)
lets the next caller probe.

Why our own small breaker and not a library: aiobreaker, pybreaker, circuitbreaker and purgatory
(PyPI, 2026-12) all *fail* a call when the circuit is open (they raise), classify outcomes by
exceptions (our executors return ``Failed`` values with an HTTP status), read the wall clock
(tests need an injected clock), and none says when the next probe may go. The engine needs
"delay, don't fail": an open circuit reschedules the job to the probe time and spends no
attempt, which takes the probe time as data (``Delay.seconds``). pybreaker is synchronous
(async only through tornado); aiobreaker and aiocircuitbreaker are unmaintained since
2021/2022; purgatory admits every caller in half-open (no single probe). What is left is
~100 lines.

Every admitted call holds a ``Permit``: a context manager whose exit releases a probe on every
path (success, failure, timeout, ``CancelledError``, a deadline passed before the call), so no
outcome can leave a circuit half-open with a probe that never returns ("next probe in 0s"
for good).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType


class BreakerState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half-open"
    OPEN = "open"

    @property
    def gauge(self) -> int:
        """The value of ``pao_circuit_state``: 0 closed, 1 half-open, 2 open."""
        return _GAUGE[self]


_GAUGE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}

StateListener = Callable[[str, BreakerState], None]


@dataclass(frozen=True, slots=True)
class Delay:
    """The circuit is open (or its one probe is out): call again in ``seconds``."""

    target: str
    seconds: float
    state: BreakerState


@dataclass(slots=True)
class _Circuit:
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    probing: bool = False


class Permit:
    """One admitted call. Report what the target said with ``healthy()`` or ``failed()``; leave
    the ``with`` block without a verdict and the call counts for nothing (a probe is released
    so the next caller may probe). A ``TimeoutError`` escaping the block is a target failure."""

    __slots__ = ("_breaker", "_done", "probe", "target")

    def __init__(self, breaker: CircuitBreaker, target: str, *, probe: bool) -> None:
        self._breaker = breaker
        self.target = target
        self.probe = probe
        self._done = False

    def healthy(self) -> None:
        if not self._done:
            self._done = True
            self._breaker._succeeded(self.target)

    def failed(self) -> None:
        if not self._done:
            self._done = True
            self._breaker._failed(self.target)

    def release(self) -> None:
        """No verdict (cancelled, not called, rate limited): only the probe slot is freed."""
        if not self._done:
            self._done = True
            self._breaker._released(self.target, probe=self.probe)

    def __enter__(self) -> Permit:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None and issubclass(exc_type, TimeoutError):
            self.failed()
        self.release()  # a no-op after a verdict


@dataclass(slots=True)
class CircuitBreaker:
    """Circuits keyed by target (what executors name: an endpoint, a JIRA instance ...).

    ``probe_wait_seconds``: how long callers wait while the one half-open probe is out."""

    failure_threshold: int = 5
    reset_seconds: float = 30.0
    probe_wait_seconds: float = 5.0
    clock: Callable[[], float] = time.monotonic
    listeners: list[StateListener] = field(default_factory=list)
    _circuits: dict[str, _Circuit] = field(default_factory=dict)

    def state(self, target: str) -> BreakerState:
        circuit = self._circuits.get(target)
        if circuit is None:
            return BreakerState.CLOSED
        if circuit.state is BreakerState.OPEN and self._cooled(circuit):
            return BreakerState.HALF_OPEN
        return circuit.state

    def delay(self, target: str, *, early_probe: bool = False) -> Delay | None:
        """Whether a call to ``target`` must wait, without taking anything (no probe slot).
        ``early_probe``: an operator's retry may probe before the cool-down ends."""
        circuit = self._circuits.get(target)
        if circuit is None or circuit.state is BreakerState.CLOSED:
            return None
        if circuit.probing:
            return Delay(target, self.probe_wait_seconds, BreakerState.HALF_OPEN)
        if circuit.state is BreakerState.HALF_OPEN or self._cooled(circuit) or early_probe:
            return None
        remaining = self.reset_seconds - (self.clock() - circuit.opened_at)
        return Delay(target, max(0.0, remaining), BreakerState.OPEN)

    def admit(self, target: str, *, early_probe: bool = False) -> Permit | Delay:
        """A permit to call ``target`` now (the probe, when the circuit is not closed), or how
        long to wait. Use the permit as a context manager."""
        waiting = self.delay(target, early_probe=early_probe)
        if waiting is not None:
            return waiting
        circuit = self._circuits.get(target)
        if circuit is None or circuit.state is BreakerState.CLOSED:
            return Permit(self, target, probe=False)
        circuit.probing = True
        self._set(target, circuit, BreakerState.HALF_OPEN)
        return Permit(self, target, probe=True)

    # -- what permits report --------------------------------------------------------------------

    def _succeeded(self, target: str) -> None:
        circuit = self._circuits.pop(target, None)  # closed circuits are not kept
        if circuit is not None and circuit.state is not BreakerState.CLOSED:
            self._notify(target, BreakerState.CLOSED)

    def _failed(self, target: str) -> None:
        circuit = self._circuits.setdefault(target, _Circuit())
        circuit.failures += 1
        circuit.probing = False
        if circuit.state is BreakerState.HALF_OPEN or circuit.failures >= self.failure_threshold:
            circuit.opened_at = self.clock()
            self._set(target, circuit, BreakerState.OPEN)

    def _released(self, target: str, *, probe: bool) -> None:
        circuit = self._circuits.get(target)
        if circuit is not None and probe:
            circuit.probing = False

    def _cooled(self, circuit: _Circuit) -> bool:
        return self.clock() - circuit.opened_at >= self.reset_seconds

    def _set(self, target: str, circuit: _Circuit, state: BreakerState) -> None:
        changed = circuit.state is not state
        circuit.state = state
        if changed or state is BreakerState.OPEN:
            self._notify(target, state)

    def _notify(self, target: str, state: BreakerState) -> None:
        for listener in self.listeners:
            listener(target, state)
