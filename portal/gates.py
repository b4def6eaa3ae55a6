"""Approval gates as the portal shows them: who may see a request, where its gate stands, and
whether the person on the page may decide it.

The rules are the core's (``services.approval_gates``: ``gate``, ``may_decide``, ``decide``)
and the API's (``api.auth.require_request``); this module only gathers their answers for the
templates, and reads the same way the REST approvals controller does: an approver of another
team may open a request they may decide, without reading anything else of that team.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from api.auth import require_request
from orchestrator.approvals.policy import describe_approvers
from orchestrator.catalog.models import CatalogItem
from orchestrator.errors import NotFound
from orchestrator.identity.principal import Principal
from orchestrator.services import Services

# The core's words for a rejection without a reason (``ApprovalGates.decide``): the page
# checks it before posting, with the same message (a test holds the two together).
REJECT_REASON_MESSAGE = "say why the request is rejected"

# The outcome of a decision, as the page says it (``?done=`` after a post without JavaScript).
DONE = {
    "approved": "Approved: the last stage passed, the request goes ahead.",
    "pending": "Your approval is recorded; the request waits for the next approval.",
    "rejected": "Rejected: nothing will be provisioned.",
    "expired": "The approval expired before your decision: nothing will be provisioned.",
    "repeat": "You had already approved this request; nothing changed.",
}


async def require_visible(services: Services, principal: Principal, request_id: uuid.UUID) -> None:
    """Raise ``NotFound`` unless ``principal`` may read the request or decide its gate."""
    try:
        await require_request(services, principal, request_id)
    except NotFound:
        if not await services.approval_gates.may_decide(request_id, principal):
            raise


async def gate_context(
    services: Services, principal: Principal, request_id: uuid.UUID, row: Mapping[str, Any]
) -> dict[str, Any]:
    """The gate of the request page: ``gate`` (``preview.describe``, None without a gate),
    ``may_approve`` (the Approve / Reject forms), ``own_request`` (a note that someone else
    must approve) and ``current`` (the stage waiting now)."""
    gate = await services.approval_gates.gate(request_id)
    if gate is None:
        return {"gate": None, "may_approve": False, "own_request": False, "current": None}
    waiting = row["status"] == "awaiting_approval"
    may = waiting and await services.approval_gates.may_decide(request_id, principal)
    current = next((s for s in gate["stages"] if s["name"] == gate["current_stage"]), None)
    own = (
        waiting
        and str(row["requester_email"]).lower() == principal.email.lower()
        and current is not None
        and not current["allow_requester"]
    )
    return {"gate": gate, "may_approve": may, "own_request": own, "current": current}


def remaining(stage: Mapping[str, Any]) -> int:
    """How many more approvals a stage needs."""
    return max(0, int(stage["count"]) - len(stage["approved_by"]))


def stages_of(item: CatalogItem) -> list[dict[str, Any]]:
    """An item's gate before any field is filled in (the form page): each stage with who may
    approve and when it applies; the plan preview then says which stages this request needs."""
    return [
        {
            "name": stage.name,
            "description": stage.description,
            "who": describe_approvers(stage),
            "count": stage.count,
            "when": stage.when,
            "allow_requester": stage.allow_requester,
            "expires_after": stage.expires_after,
        }
        for stage in item.approvals
    ]
