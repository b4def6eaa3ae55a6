"""The gate's operations for the lifecycle and the faces: start a round, read where it stands,
decide. Policy from ``policy``, storage from ``store``; the request's state (``awaiting_approval``
and the move to ``queued``) stays with the request lifecycle, which calls these inside its own
transaction and acts on the returned outcome.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.approvals.policy import (
    Accepted,
    Approver,
    Decision,
    GateStatus,
    RequestFacts,
    Verdict,
    check_decision,
    evaluate,
)
from orchestrator.approvals.store import ApprovalStore, InboxEntry, Round
from orchestrator.catalog.approval_stages import ApprovalStage
from orchestrator.store.database import Connection, Database


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """What a decision did: the gate after it, the decision stored (``recorded`` false when it
    was already there, from a repeat or a concurrent twin), or why it was refused."""

    status: GateStatus
    decision: Decision | None = None
    recorded: bool = False
    refusal_code: str | None = None
    refusal: str | None = None

    @property
    def accepted(self) -> bool:
        return self.refusal is None


class ApprovalService:
    """Approval rounds over one ``Database``; every method runs on the caller's connection."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.store = ApprovalStore(db)

    async def _status(
        self,
        conn: Connection | None,
        request_id: str,
        stages: Sequence[ApprovalStage],
        facts: RequestFacts,
        round_: Round,
        now: dt.datetime | None,
    ) -> GateStatus:
        facts = dataclasses.replace(facts, started_at=round_.started_at)
        decisions = await self.store.decisions(conn, request_id)
        return evaluate(stages, facts, decisions, now=now)

    async def start(
        self,
        conn: Connection,
        request_id: str,
        stages: Sequence[ApprovalStage],
        facts: RequestFacts,
        *,
        now: dt.datetime,
    ) -> GateStatus:
        """Open (or, for a new revision, restart) the request's round and return where it
        stands: ``outcome`` "approved" when no stage applies (queue the request right away),
        "pending" when someone must decide (``awaiting_approval``)."""
        round_ = await self.store.open_round(conn, request_id, facts.revision, started_at=now)
        status = await self._status(conn, request_id, stages, facts, round_, now)
        await self.store.save_status(conn, request_id, status)
        return status

    async def status(
        self,
        conn: Connection | None,
        request_id: str,
        stages: Sequence[ApprovalStage],
        facts: RequestFacts,
        *,
        now: dt.datetime | None,
    ) -> GateStatus | None:
        """Where the gate stands, or None when no round was started for the request."""
        round_ = await self.store.get_round(conn, request_id)
        if round_ is None:
            return None
        return await self._status(conn, request_id, stages, facts, round_, now)

    async def decide(
        self,
        conn: Connection,
        request_id: str,
        stages: Sequence[ApprovalStage],
        facts: RequestFacts,
        approver: Approver,
        verdict: Verdict,
        *,
        now: dt.datetime,
        reason: str | None = None,
    ) -> DecisionResult:
        """Approve or reject the current stage as ``approver``. Decisions on one request are
        serialised by the round's row lock, so each is checked against all before it; the
        unique key still makes a concurrent twin count once."""
        await self.store.open_round(conn, request_id, facts.revision, started_at=now)
        round_ = await self.store.lock_round(conn, request_id)
        assert round_ is not None  # opened just above, in this transaction
        before = await self._status(conn, request_id, stages, facts, round_, now)
        facts = dataclasses.replace(facts, started_at=round_.started_at)
        checked = check_decision(before, approver, verdict, facts=facts, now=now, reason=reason)
        if not isinstance(checked, Accepted):
            current = before.current
            mine = [
                d for d in (current.approvals if current else ()) if d.approver == approver.identity
            ]
            if checked.code == "already-decided" and mine and verdict == "approve":
                return DecisionResult(before, mine[0], recorded=False)  # a repeat: idempotent
            await self.store.save_status(conn, request_id, before)
            return DecisionResult(before, refusal_code=checked.code, refusal=checked.message)
        stored, recorded = await self.store.record(conn, request_id, checked.decision)
        after = await self._status(conn, request_id, stages, facts, round_, now)
        await self.store.save_status(conn, request_id, after)
        return DecisionResult(after, stored, recorded)

    async def inbox(
        self, conn: Connection | None, approver: Approver, *, limit: int = 50
    ) -> list[InboxEntry]:
        """Requests awaiting a decision ``approver`` may take (``GET /approvals``)."""
        return await self.store.inbox(conn, approver, limit=limit)
