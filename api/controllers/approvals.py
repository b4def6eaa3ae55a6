"""Approval gates over REST (issue 21): approve or reject a request's current stage, and the
caller's inbox of requests awaiting their decision.

Who may decide is the core's rule (``orchestrator.approvals.policy``), applied with the teams of
the caller's token or IAM mapping: 403 names the stage and who may approve (or that the
requester may not approve their own request). A request the caller may neither read nor decide
is 404, as elsewhere (its existence is not revealed): ``require_request`` applies the core's one
rule, in which the approvers of any stage are readers.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import get, post
from litestar.params import Parameter

from api.auth import require_request
from api.models import (
    ApprovalInbox,
    Approve,
    GateDecisionView,
    Reject,
    to_model,
)
from api.problems import OptionalBodyOperation, problem_responses
from orchestrator.approvals.readers import inbox_entries
from orchestrator.identity.principal import Principal
from orchestrator.pagination import MAX_LIMIT
from orchestrator.services import Services

Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT)]


@post(
    "/api/v1/requests/{request_id:uuid}/approve",
    summary="Approve the request's current approval stage",
    description=(
        "For a request in `awaiting_approval`, by one of the current stage's approvers (its "
        "teams, people or the item's CODEOWNERS; never the requester unless the stage allows "
        "it). The last stage passing queues the request and enqueues its first job. "
        "A repeat of your own approval answers `recorded: false`. 403 names the stage and who "
        "may approve; 409 when the request is not awaiting approval."
    ),
    status_code=200,
    tags=["approvals"],
    responses=problem_responses(403, 404, 409, 413),
    operation_class=OptionalBodyOperation,
)
async def approve(
    services: Services,
    principal: Principal,
    correlation_id: str,
    request_id: uuid.UUID,
    data: Approve | None = None,
) -> GateDecisionView:
    return await _decide(
        services, principal, correlation_id, request_id, "approve", data.comment if data else None
    )


@post(
    "/api/v1/requests/{request_id:uuid}/reject",
    summary="Reject the request (a reason is required)",
    description=(
        "By one of the current stage's approvers; the request becomes `rejected` (terminal: "
        "nothing is provisioned) with the reason in `error_context`. 422 without a reason."
    ),
    status_code=200,
    tags=["approvals"],
    responses=problem_responses(403, 404, 409, 413, 422),
    operation_class=OptionalBodyOperation,  # documented as optional: 422 names the reason
)
async def reject(
    services: Services,
    principal: Principal,
    correlation_id: str,
    request_id: uuid.UUID,
    data: Reject | None = None,
) -> GateDecisionView:
    return await _decide(
        services, principal, correlation_id, request_id, "reject", data.reason if data else None
    )


@get(
    "/api/v1/approvals",
    summary="Requests awaiting your decision",
    description=(
        "Requests in `awaiting_approval` whose current stage you may decide (by your teams or "
        "e-mail), that you did not request (unless the stage allows it) and have not decided "
        "yet; oldest waiting first. Each entry carries the request's fields (secrets masked)."
    ),
    tags=["approvals"],
    responses=problem_responses(422),
)
async def inbox(services: Services, principal: Principal, limit: Limit = 50) -> ApprovalInbox:
    entries = await inbox_entries(services.approval_gates, principal, limit=limit)
    return to_model({"items": entries}, ApprovalInbox)


async def _decide(
    services: Services,
    principal: Principal,
    correlation_id: str,
    request_id: uuid.UUID,
    verdict: Literal["approve", "reject"],
    reason: str | None,
) -> GateDecisionView:
    """One decision through the core, for a caller who may see the request (404 otherwise)."""
    await require_request(services, principal, request_id)
    decided = await services.approval_gates.decide(
        request_id, principal, verdict, correlation_id=correlation_id, source="api", reason=reason
    )
    return to_model(
        {
            "request": decided.request,
            "approval": decided.gate,
            "recorded": decided.recorded,
            "outcome": decided.outcome,
        },
        GateDecisionView,
    )
