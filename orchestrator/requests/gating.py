"""What the request service asks of a gate while it creates a request (issue 21).

The approval lifecycle (``orchestrator.approvals.lifecycle.ApprovalGates``) implements it; the
request service only knows this protocol, so ``requests`` does not import ``approvals`` (which
builds on it). Wired in ``orchestrator.services``; without a gate, every request is queued.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from orchestrator.catalog.models import CatalogItem
from orchestrator.store.database import Connection


class SubmissionGate(Protocol):
    async def hold(
        self,
        conn: Connection,
        row: Mapping[str, Any],
        item: CatalogItem,
        *,
        correlation_id: str,
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Inside the submission's transaction, for the just-inserted (``submitted``) request:
        (the row, moved to ``awaiting_approval``, and the gate as JSON) when someone must
        approve first, so the caller enqueues no job; None to queue it as usual."""
        ...
