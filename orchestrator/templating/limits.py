"""Resource bounds for one render: output size, loop iterations, wall time, value size.

A template comes from a catalog author, who is not trusted to run code, nor to make the
orchestrator spin or allocate without bound. Every loop step, function call and output chunk
checks the per-render state; the clock is injectable so tests prove the time bound without
measuring time.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.templating.errors import TemplateLimitError


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    """Bounds for one render call (one string, or one whole structure for render_value)."""

    max_output_chars: int = 1_000_000
    max_iterations: int = 100_000
    max_seconds: float = 2.0
    max_value_chars: int = 1_000_000


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_uuid() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Runtime:
    """Where render-time values come from; fixed in tests for reproducible output."""

    now: Callable[[], dt.datetime] = _utcnow
    new_uuid: Callable[[], str] = _new_uuid
    clock: Callable[[], float] = time.monotonic


@dataclass(slots=True)
class RenderState:
    """Mutable counters of one render; created per call, never shared between renders."""

    limits: TemplateLimits
    runtime: Runtime = field(default_factory=Runtime)
    deadline: float = 0.0
    iterations: int = 0
    output: int = 0

    def __post_init__(self) -> None:
        self.deadline = self.runtime.clock() + self.limits.max_seconds

    def tick(self) -> None:
        if self.runtime.clock() > self.deadline:
            raise TemplateLimitError(
                f"rendering took longer than {self.limits.max_seconds:g} s and was stopped"
            )

    def step(self) -> None:
        """One loop iteration."""
        self.iterations += 1
        if self.iterations > self.limits.max_iterations:
            raise TemplateLimitError(
                f"loops ran more than {self.limits.max_iterations} iterations in one render"
            )
        self.tick()

    def emit(self, size: int) -> None:
        """``size`` more characters of output."""
        self.output += size
        if self.output > self.limits.max_output_chars:
            raise TemplateLimitError(
                f"rendered output exceeds {self.limits.max_output_chars} characters"
            )

    def value_size(self, size: int, what: str) -> None:
        """Refuse to build a value (string or list) of ``size`` items; checked *before* building."""
        if size > self.limits.max_value_chars:
            raise TemplateLimitError(
                f"{what} would produce {size} characters or items "
                f"(limit {self.limits.max_value_chars})"
            )
