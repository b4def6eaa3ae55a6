"""The request state machine's decisions on escalated requests, by ticket state."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.engine.escalation import safe_error
from orchestrator.engine.states import allowed, refusal, ticket_state
from orchestrator.requests.escalations import escalation_view


def escalated(state: str | None, ticket: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "r-1",
        "status": "escalated",
        "escalation_state": state,
        "escalation_ticket": ticket,
        **extra,
    }


@pytest.mark.parametrize(
    ("state", "ticket", "retry", "abort", "escalate"),
    [
        ("pending", None, True, True, False),
        ("failed", None, True, True, True),
        ("not_configured", None, True, True, True),
        ("created", "OPS-1", False, True, False),
        (None, "OPS-1", False, True, False),  # escalated before ticket states were recorded
        (None, None, True, True, True),  # ... and its ticket never opened: treated as failed
    ],
)
def test_decisions_on_an_escalated_request_follow_its_ticket(
    state: str | None, ticket: str | None, retry: bool, abort: bool, escalate: bool
) -> None:
    row = escalated(state, ticket)
    assert (allowed("retry", row), allowed("abort", row), allowed("escalate", row)) == (
        retry,
        abort,
        escalate,
    )


def test_refusals_say_why() -> None:
    pending = escalated("pending", escalation_attempts=2, escalation_error="HTTP 503")
    message = refusal("escalate", pending)
    assert message is not None
    assert "ticket is pending" in message
    assert "HTTP 503" in message
    assert "2 failed" in message
    created = refusal("retry", escalated("created", "OPS-7"))
    assert created is not None
    assert "OPS-7" in created
    completed = refusal("abort", {"status": "completed"})
    assert completed is not None
    assert "'completed'" in completed


def test_ticket_state_of_a_request_never_escalated_is_none() -> None:
    assert ticket_state({"status": "failed", "escalation_state": None}) is None
    assert escalation_view({"id": "r-1", "status": "failed"}) is None


def test_stored_errors_are_redacted_and_bounded() -> None:
    text = safe_error(
        "GET https://bot:hunter22@jira.example.com failed: Bearer abc.def " + "x" * 900
    )
    assert "hunter22" not in text
    assert "abc.def" not in text
    assert len(text) <= 500
