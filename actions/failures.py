"""The two ways an executor's call fails inside the executor, before it becomes a ``Failed``.

Raised deep in an executor's HTTP handling and turned into one ``Failed`` result at its edge,
so every action type classifies failures the same way: ``Retryable`` (the engine tries again,
``retry_after`` from the target wins over backoff) or ``Permanent`` (the config or the
target must change first).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Permanent(Exception):
    def __init__(
        self, message: str, details: Mapping[str, Any] | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.details = dict(details or {})
        self.status = status
