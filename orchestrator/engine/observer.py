"""What the engine reports for metrics, without knowing who collects it.

The process that runs a worker passes an observer (``orchestrator.metrics.Metrics`` implements
this protocol); tests and tools run with the null observer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class EngineObserver(Protocol):
    def action_attempt(self, action_type: str, outcome: str, duration_seconds: float) -> None:
        """One executor call ended: ``completed``, ``pending`` or ``failed``."""

    def request_finished(
        self,
        catalog_item: str,
        status: str,
        duration_seconds: float,
        action_types: Sequence[str],
    ) -> None:
        """A request reached ``completed`` or ``failed`` after ``duration_seconds``."""


class NullObserver:
    def action_attempt(self, action_type: str, outcome: str, duration_seconds: float) -> None:
        return None

    def request_finished(
        self,
        catalog_item: str,
        status: str,
        duration_seconds: float,
        action_types: Sequence[str],
    ) -> None:
        return None
