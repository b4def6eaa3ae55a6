"""The request state machine: which decisions are allowed from which state."""

from __future__ import annotations

from typing import Final, Literal

RequestStatus = Literal[
    "submitted",
    "validating",
    "queued",
    "in_progress",
    "completed",
    "failed",
    "aborted",
    "escalated",
]
TERMINAL: Final = frozenset({"completed", "aborted", "escalated"})
ACTIVE: Final = frozenset({"submitted", "validating", "queued", "in_progress"})

# decision -> states it may be taken from
ALLOWED_FROM: Final[dict[str, frozenset[str]]] = {
    "retry": frozenset({"failed"}),
    "abort": frozenset({"submitted", "validating", "queued", "in_progress", "failed"}),
    "escalate": frozenset({"failed"}),
}


def allowed(decision: str, status: str) -> bool:
    return status in ALLOWED_FROM[decision]
