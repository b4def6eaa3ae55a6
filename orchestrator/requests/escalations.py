"""How a request's escalation reads to people: its ticket state, attempts and last error.

Kept apart from the service so the API (``GET /requests/{id}/escalation``, the request detail)
and the bot's status comment show the same thing from the same row. The stored error was
redacted when it was recorded (``orchestrator.engine.escalation.safe_error``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.engine.states import ticket_state

SUMMARIES = {
    "pending": "escalation ticket pending",
    "created": "escalated to manual support",
    "failed": "escalation ticket failed",
    "not_configured": "escalation ticket not opened: JIRA is not configured",
    "cancelled": "escalation withdrawn",
}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def escalation_view(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The escalation of a request row, or None when it was never escalated."""
    state = ticket_state(row)
    if state is None:
        return None
    error = row.get("escalation_error")
    summary = SUMMARIES.get(state, state)
    if state == "created":
        summary += f": {row.get('escalation_ticket')}"
    elif error and state != "cancelled":
        summary += f": {error}"
    return {
        "request_id": str(row["id"]),
        "request_status": row["status"],
        "state": state,
        "summary": summary,
        "ticket": row.get("escalation_ticket"),
        "url": row.get("escalation_url"),
        "escalated_at": _iso(row.get("escalated_at")),
        "attempts": int(row.get("escalation_attempts") or 0),
        "last_error": error,
        "next_attempt_at": _iso(row.get("escalation_next_attempt_at")),
    }
