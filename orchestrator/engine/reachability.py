"""Whether a dependency of the engine (SQS, PostgreSQL) answers, as seen by this process.

Every loop that calls the dependency (the workers' receives, heartbeats, the outbox relay, the
dead-letter drain, the reconciler) reports each call's outcome to one shared ``Reachability``.
It writes one log line when the dependency becomes unreachable (naming the error, without a
traceback) and one when it answers again, however many loops fail in between; it hands out
the delay before the next try (exponential, capped: ``Backoff``); and readiness reads its
state. While unreachable, further failures are logged at DEBUG only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from orchestrator.engine.backoff import Backoff

__all__ = [
    "OUTAGE_BACKOFF",
    "Outages",
    "Reachability",
    "ReachabilityState",
    "run_periodically",
]

log = logging.getLogger(__name__)

# From 0.5 s doubling to 10 s between tries while a dependency stays unreachable: a loop
# notices the end of an outage at most 10 s after it.
OUTAGE_BACKOFF = Backoff(base_seconds=0.5, cap_seconds=10.0, jitter=0.2)


@dataclass(frozen=True, slots=True)
class ReachabilityState:
    """A snapshot for readiness: ``reachable``, since when (clock time), the last error."""

    name: str
    reachable: bool
    since: float
    last_error: str | None
    failures: int


class Reachability:
    """One dependency's reachability in this process (see the module docstring)."""

    def __init__(
        self,
        name: str,
        *,
        backoff: Backoff = OUTAGE_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
    ) -> None:
        self.name = name
        self.backoff = backoff
        self._clock = clock
        self._log = logger or log
        self._reachable = True
        self._since = clock()
        self._failures = 0  # consecutive failures
        self._last_error: str | None = None
        self._last_exception: BaseException | None = None

    @property
    def reachable(self) -> bool:
        return self._reachable

    def state(self) -> ReachabilityState:
        return ReachabilityState(
            self.name, self._reachable, self._since, self._last_error, self._failures
        )

    def failed(self, error: BaseException | str, *, during: str = "") -> float:
        """A call failed because the dependency did not answer; the seconds to wait before
        the next try. Logged once when the dependency turns unreachable."""
        if error is self._last_exception:  # the same failure, reported by caller and callee
            return self.retry_delay()
        self._last_exception = None if isinstance(error, str) else error
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self._failures += 1
        self._last_error = text
        if self._reachable:
            self._reachable = False
            self._since = self._clock()
            where = f" ({during})" if during else ""
            self._log.warning(
                "%s unreachable%s: %s; retrying with backoff, next notice when it answers again",
                self.name,
                where,
                text,
            )
        else:
            self._log.debug("%s still unreachable (%s): %s", self.name, during or "call", text)
        return self.retry_delay()

    def retry_delay(self) -> float:
        """The wait before the next try after the failures so far (0 when reachable)."""
        return self.backoff.delay(self._failures) if self._failures else 0.0

    def succeeded(self) -> None:
        """A call got an answer; logged once when the dependency was unreachable."""
        if not self._reachable:
            down = self._clock() - self._since
            self._log.warning(
                "%s reachable again after %.1fs and %d failed calls",
                self.name,
                down,
                self._failures,
            )
            self._reachable = True
            self._since = self._clock()
        self._failures = 0
        self._last_error = None
        self._last_exception = None


class Outages:
    """The process's dependencies by the error type that says one did not answer: ``route``
    finds whose outage an exception is (None: not an outage, e.g. a bug)."""

    def __init__(self, *routes: tuple[type[BaseException], Reachability]) -> None:
        self.routes = routes

    def route(self, exc: BaseException) -> Reachability | None:
        for error_type, reachability in self.routes:
            if isinstance(exc, error_type):
                return reachability
        return None

    def succeeded(self) -> None:
        """A round trip through every dependency worked (a claim that got an answer)."""
        for _, reachability in self.routes:
            reachability.succeeded()

    def get(self, name: str) -> Reachability | None:
        return next((r for _, r in self.routes if r.name == name), None)


async def run_periodically(
    step: Callable[[], Awaitable[object]],
    stop: asyncio.Event,
    *,
    interval_seconds: float,
    what: str,
    outages: Outages,
    touched: Sequence[Reachability] = (),
    logger: logging.Logger | None = None,
) -> None:
    """Run ``step`` every ``interval_seconds`` until ``stop`` is set. A step that fails because
    a dependency did not answer is reported to it (one line per change) and the loop waits its
    backoff; any other failure is logged with its traceback once per run of failures, then at
    DEBUG, with the same backoff. A step that works marks ``touched`` reachable."""
    logger = logger or log
    unexpected = 0
    while not stop.is_set():
        delay = interval_seconds
        try:
            await step()
        except Exception as exc:
            reachability = outages.route(exc)
            if reachability is not None:
                delay = max(delay, reachability.failed(exc, during=what))
            else:
                unexpected += 1
                if unexpected == 1:
                    logger.warning("%s failed; retrying with backoff", what, exc_info=True)
                else:
                    logger.debug("%s failed again: %s", what, exc)
                delay = max(delay, OUTAGE_BACKOFF.delay(unexpected))
        else:
            if unexpected:
                logger.warning("%s works again after %d failures", what, unexpected)
            unexpected = 0
            for dependency in touched:
                dependency.succeeded()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
