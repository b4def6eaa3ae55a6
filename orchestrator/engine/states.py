"""The request state machine: which decisions are allowed from which state.

One place for every transition's from-states, so the service's checks, the SQL guards of
``orchestrator.engine.transitions`` (their ``from_statuses`` / ``from_tickets`` parameters come
from here) and the error messages agree. It lives in the engine package, next to the
transitions that enforce it, so the engine depends on no request or approval module.

A request from GitHub whose item needs a secret for the values given (a password field shown
and required) starts in ``awaiting_secret`` instead of ``queued``: issues and pull requests are
readable by many, so the secret is supplied by the requester through the API
(``supply_secret``), which moves the request to ``queued``; it may be aborted meanwhile.

An escalated request has a second, smaller state: its manual-support ticket's. The ticket is
opened by a job after the decision commits, and that can fail (JIRA down, nothing configured),
so "escalated" alone does not say whether people have been told. Decisions on an escalated
request depend on it:

* ``abort`` is always allowed: the operator gives up on the request, ticket or not.
* ``retry`` is allowed while no ticket exists (pending, failed, not configured): the operator
  resolved the failure's cause, so the escalation is withdrawn (ticket state ``cancelled``) and
  the failed action runs again. Once a ticket exists the owning team has the request; taking
  it back behind their ticket would have two parties working on it, so retry answers 409.
* ``escalate`` again is allowed when the ticket failed or was not configured (the cause was
  fixed: a fresh ticket budget); while the ticket is pending it answers 409 saying so, and once
  the ticket exists 409 naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

RequestStatus = Literal[
    "submitted",
    "validating",
    "awaiting_secret",
    "awaiting_approval",
    "queued",
    "in_progress",
    "completed",
    "failed",
    "aborted",
    "escalated",
    "rejected",
]
TicketState = Literal["pending", "created", "failed", "not_configured", "cancelled"]

# No automation runs for these (the status endpoint shows no current action).
TERMINAL: Final = frozenset({"completed", "aborted", "escalated", "rejected"})
ACTIVE: Final = frozenset({"submitted", "validating", "queued", "in_progress"})
# Accepted, but nothing runs until the requester supplies the item's secret through the API
# (``PUT /api/v1/requests/{id}/secrets``); a request from GitHub never carries one.
# ``awaiting_approval``: an item's approval gate applies; nothing runs until its last stage
# passes (``orchestrator.approvals.lifecycle``), then ``queued`` (or ``awaiting_secret``). A
# rejection, or a stage expiring, ends the request as ``rejected`` (terminal, nothing ran).
WAITING: Final = frozenset({"awaiting_secret", "awaiting_approval"})

# decision -> request states it may be taken from
ALLOWED_FROM: Final[dict[str, frozenset[str]]] = {
    "retry": frozenset({"failed", "escalated"}),
    "abort": frozenset(
        {"submitted", "validating", "awaiting_secret", "awaiting_approval", "queued"}
        | {"in_progress", "failed"}
        | {"escalated"}
    ),
    "escalate": frozenset({"failed", "escalated"}),
    "supply_secret": frozenset({"awaiting_secret"}),  # then: queued
    # the submission's own outcome (``orchestrator.requests.service``): the request just
    # inserted (``submitted``) is queued, waits for its secret, or waits for approval
    "queue": frozenset({"submitted"}),
    "hold_for_secret": frozenset({"submitted"}),
    "hold_for_approval": frozenset({"submitted"}),
    # an approver's decision (the gate's own rules say who): the last approval queues the
    # request (or awaits its secret), a rejection or expiry ends it as ``rejected``
    "approve": frozenset({"awaiting_approval"}),
    "reject": frozenset({"awaiting_approval"}),
    "expire": frozenset({"awaiting_approval"}),
}

# decision -> ticket states of an escalated request it may be taken from
ESCALATED_ALLOWS: Final[dict[str, frozenset[str]]] = {
    "retry": frozenset({"pending", "failed", "not_configured"}),
    "abort": frozenset({"pending", "created", "failed", "not_configured"}),
    "escalate": frozenset({"failed", "not_configured"}),
}

# ticket transitions: event -> ticket states it moves from (the SQL guards' ``from_tickets``)
TICKET_FROM: Final[dict[str, frozenset[str]]] = {
    "open": frozenset({"failed", "not_configured", "cancelled"}),  # (re-)escalation: pending
    "attempt_failed": frozenset({"pending"}),  # stays pending, next attempt scheduled
    "created": frozenset({"pending"}),
    "failed": frozenset({"pending"}),
    "not_configured": frozenset({"pending"}),
    "withdrawn": frozenset({"pending", "failed", "not_configured"}),  # retry/abort: cancelled
}


def ticket_state(row: Mapping[str, Any]) -> str | None:
    """The escalation ticket's state of a request row; None when it was never escalated.

    Rows escalated before the ticket state was recorded have a ticket (``created``) or are
    treated as ``failed``, so an operator can act on them."""
    state = row.get("escalation_state")
    if state:
        return str(state)
    if row.get("escalation_ticket"):
        return "created"
    if row.get("status") == "escalated":
        return "failed"
    return None


def refusal(decision: str, row: Mapping[str, Any]) -> str | None:
    """Why ``decision`` may not be taken on the request ``row`` now, or None when it may."""
    status = str(row["status"])
    if status not in ALLOWED_FROM[decision]:
        allowed = ", ".join(sorted(ALLOWED_FROM[decision]))
        return f"cannot {decision} a request that is '{status}' (allowed from: {allowed})"
    if status != "escalated":
        return None
    ticket = ticket_state(row)
    if ticket in ESCALATED_ALLOWS[decision]:
        return None
    if ticket == "pending":
        error = row.get("escalation_error")
        return (
            f"cannot {decision}: the escalation ticket is pending "
            f"({row.get('escalation_attempts') or 0} failed attempts so far"
            + (f"; last error: {error}" if error else "")
            + "); it is retried automatically, or abort the request"
        )
    key = row.get("escalation_ticket")
    return (
        f"cannot {decision}: the request is escalated to ticket {key}, which the owning team "
        "handles; abort the request if it is no longer needed"
    )


def allowed(decision: str, row: Mapping[str, Any]) -> bool:
    return refusal(decision, row) is None
