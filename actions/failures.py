"""The two ways an executor's call fails inside the executor, before it becomes a ``Failed``.

Raised deep in an executor's HTTP handling and turned into one ``Failed`` result at its edge,
so every action type classifies failures the same way: ``Retryable`` (the engine tries again,
``retry_after`` from the target wins over backoff) or ``Permanent`` (the config or the
target must change first). Whether a failure's outcome is unknown decides whether the retry
keeps the correlation key (``orchestrator.engine.executor.Failed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Retryable(Exception):
    """``status``: the target's HTTP status when it answered. ``outcome_unknown``: the request
    may have taken effect (a timeout, a connection lost after sending): the engine's retry then
    keeps the correlation key instead of starting over with a new one."""

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        *,
        status: int | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status
        self.outcome_unknown = outcome_unknown

    @property
    def details(self) -> dict[str, int]:
        """The ``Failed.details`` this failure contributes (the status, when there is one)."""
        return {"status_code": self.status} if self.status is not None else {}


class Permanent(Exception):
    def __init__(
        self, message: str, details: Mapping[str, Any] | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.details = dict(details or {})
        self.status = status
