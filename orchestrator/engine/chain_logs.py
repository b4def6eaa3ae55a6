"""The log rows a chain's step writes with its transition (``transitions.step`` inserts them in
order, in the same statement): built here, with every value that could carry a secret masked."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from orchestrator.engine.executor import Completed
from orchestrator.engine.planning import Start
from orchestrator.templating.masking import mask


def log_entry(
    event: str,
    message: str,
    *,
    action_id: str | None,
    details: Mapping[str, Any],
    level: str = "info",
) -> dict[str, Any]:
    """A ``request_logs`` row written by ``transitions.step``; ``details`` already masked."""
    return {
        "action_id": action_id,
        "level": level,
        "event": event,
        "message": message,
        "details": dict(details),
    }


def started_log(start: Start) -> dict[str, Any]:
    """The ``action_started`` log row of ``start`` (its config masked)."""
    row = start.row
    return log_entry(
        "action_started",
        f"{row['action_id']} attempt {start.attempt}" + (" (resumed)" if start.resumed else ""),
        action_id=row["action_id"],
        details={
            "type": row["action_type"],
            "attempt": start.attempt,
            "max_attempts": row["max_attempts"],
            "resumed": start.resumed,
            "config": start.preview,
        },
    )


def completed_log(
    action_id: str,
    attempt: int,
    duration_ms: float,
    result: Completed,
    outputs: Mapping[str, Any],
    secrets: Collection[str],
) -> dict[str, Any]:
    """The ``action_completed`` log row of an action (outputs and response masked)."""
    return log_entry(
        "action_completed",
        f"{action_id} completed",
        action_id=action_id,
        details={
            "attempt": attempt,
            "duration_ms": duration_ms,
            "outputs": mask(outputs, secrets),
            "response": mask(dict(result.details), secrets),
        },
    )


REQUEST_COMPLETED = log_entry(
    "request_completed", "all actions completed", action_id=None, details={}
)
