"""Who may read a request, approvers included: the one rule every face applies before showing
a request (the API's ``require_request``, so ``GET /requests/{id}`` and its status, logs and
events).

The access policy (``orchestrator.access.can_read_request``) lets the requester, their teams,
the item's owning team, operators and admins read a request. An approver of a gated item is
often none of these (security reviews every team's databases), yet must see what they decide:
so a qualified approver of any of the request's stages reads it too. Anyone else gets the same
answer as for a request that does not exist (its existence is not revealed). Their inbox
carries each request's (masked) fields, what the decision is about.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from orchestrator.access import AccessPolicy, can_read_request
from orchestrator.approvals.lifecycle import ApprovalGates
from orchestrator.identity.access_facts import AccessFacts
from orchestrator.identity.principal import Principal
from orchestrator.store.queries import QUERIES


async def readable_request(
    facts: AccessFacts,
    gates: ApprovalGates,
    policy: AccessPolicy,
    principals: Sequence[Principal],
    request_id: uuid.UUID,
) -> dict[str, Any] | None:
    """The request's access facts (``AccessFacts.request``) when one of ``principals`` (a
    caller, and the credential acting for them) may read it, as a reader or as an approver of
    any of its stages; None when none may, or when it does not exist. The approver check (the
    gate's rule, ``ApprovalGates.may_decide``) runs only for callers the policy does not
    already let read, so the common path costs one query."""
    row = await facts.request(request_id)
    if row is None:
        return None
    owner = row["owner_team"]
    if any(can_read_request(policy, p, row, owner) for p in principals):
        return row
    for principal in principals:
        if await gates.may_decide(request_id, principal):
            return row
    return None


async def inbox_entries(
    gates: ApprovalGates, principal: Principal, *, limit: int = 50
) -> list[dict[str, Any]]:
    """``ApprovalGates.inbox`` with each request's fields (``fields``, masked as stored: the
    approvers read them anyway, the inbox spares a call per entry)."""
    entries = await gates.inbox(principal, limit=limit)
    if not entries:
        return entries
    rows = await gates.db.fetch_all(
        None, QUERIES.approvals_inbox_fields, {"ids": [e["request_id"] for e in entries]}
    )
    fields = {str(row["id"]): dict(row["fields"] or {}) for row in rows}
    return [{**entry, "fields": fields.get(str(entry["request_id"]), {})} for entry in entries]
