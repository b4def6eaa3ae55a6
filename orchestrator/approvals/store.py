"""Approval rounds and decisions in PostgreSQL, through the named queries of ``approvals.sql``.

A round is one revision of a request waiting for approval (``approval_rounds``, one row per
request, restarted when the request changes); decisions are kept for every revision (the
audit trail), but only the current revision's count. Every method takes the caller's
connection, so the lifecycle can record a decision and change the request's state in one
transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.approvals.policy import (
    Approver,
    Decision,
    GateStatus,
    approver_teams,
    approver_users,
)
from orchestrator.store.database import Connection, Database
from orchestrator.store.queries import QUERIES


@dataclass(frozen=True, slots=True)
class Round:
    """A request's approval round: the revision being approved and when it began waiting."""

    request_id: str
    revision: str
    started_at: dt.datetime
    outcome: str
    stage: str | None
    reset: bool = False  # this call started a new revision's round over an older one

    @classmethod
    def from_row(cls, row: Mapping[str, Any], *, reset: bool = False) -> Round:
        return cls(
            str(row["request_id"]),
            row["revision"],
            row["started_at"],
            row["outcome"],
            row["stage"],
            reset,
        )


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """A request waiting for a decision the caller may take."""

    request_id: str
    catalog_item_id: str
    title: str | None
    requester_email: str
    requester_name: str | None
    stage: str
    revision: str
    waiting_since: dt.datetime | None
    expires_at: dt.datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "catalog_item_id": self.catalog_item_id,
            "title": self.title,
            "requester": {"email": self.requester_email, "name": self.requester_name},
            "stage": self.stage,
            "revision": self.revision,
            "waiting_since": self.waiting_since.isoformat() if self.waiting_since else None,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


def decision_from_row(row: Mapping[str, Any]) -> Decision:
    return Decision(
        stage=row["stage"],
        approver=row["approver"],
        verdict=row["decision"],
        revision=row["revision"],
        decided_at=row["created_at"],
        via=row["via"],
        reason=row["reason"],
        approver_name=row["approver_name"],
    )


def team_keys(teams: tuple[str, ...] | list[str]) -> list[str]:
    """Teams as the inbox matches them: lower-case slugs without the org."""
    return sorted({t.rsplit("/", 1)[-1].lower() for t in teams})


def user_keys(approver: Approver) -> list[str]:
    """An approver as the inbox matches them: their e-mail and, if known, ``@login``."""
    keys = [approver.identity]
    if approver.login:
        keys.append(f"@{approver.login.lower()}")
    return keys


class ApprovalStore:
    """Reads and writes rounds and decisions; no policy (that is ``policy``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def open_round(
        self, conn: Connection, request_id: str, revision: str, *, started_at: dt.datetime
    ) -> Round:
        """The request's round for ``revision``: created, restarted (a new revision: earlier
        decisions stop counting, ``reset`` is true) or the existing one, unchanged."""
        params = {"request_id": request_id, "revision": revision, "started_at": started_at}
        row = await self.db.fetch_one(conn, QUERIES.approvals_open_round, params)
        if row is not None:
            return Round.from_row(row, reset=row["previous_revision"] is not None)
        existing = await self.db.fetch_one(conn, QUERIES.approvals_get_round, params)
        if existing is None:  # pragma: no cover - the insert above either wrote or conflicted
            raise LookupError(f"no approval round for request {request_id}")
        return Round.from_row(existing)

    async def lock_round(self, conn: Connection, request_id: str) -> Round | None:
        """The round, locked for the rest of ``conn``'s transaction."""
        row = await self.db.fetch_one(
            conn, QUERIES.approvals_lock_round, {"request_id": request_id}
        )
        return Round.from_row(row) if row is not None else None

    async def get_round(self, conn: Connection | None, request_id: str) -> Round | None:
        row = await self.db.fetch_one(conn, QUERIES.approvals_get_round, {"request_id": request_id})
        return Round.from_row(row) if row is not None else None

    async def decisions(self, conn: Connection | None, request_id: str) -> list[Decision]:
        """Every decision on the request (all revisions), oldest first."""
        rows = await self.db.fetch_all(
            conn, QUERIES.approvals_list_decisions, {"request_id": request_id}
        )
        return [decision_from_row(row) for row in rows]

    async def record(
        self, conn: Connection | None, request_id: str, decision: Decision
    ) -> tuple[Decision, bool]:
        """Record ``decision`` once: (the stored decision, whether this call stored it). A
        person's second decision on a stage and revision returns their first, unchanged."""
        params = {
            "request_id": request_id,
            "stage": decision.stage,
            "approver": decision.approver,
            "approver_name": decision.approver_name,
            "via": decision.via,
            "decision": decision.verdict,
            "reason": decision.reason,
            "revision": decision.revision,
            "created_at": decision.decided_at,
        }
        row = await self.db.fetch_one(conn, QUERIES.approvals_record_decision, params)
        if row is not None:
            return decision_from_row(row), True
        existing = await self.db.fetch_one(conn, QUERIES.approvals_get_decision, params)
        if existing is None:  # pragma: no cover - the insert conflicted with this very row
            raise LookupError("the conflicting decision disappeared")
        return decision_from_row(existing), False

    async def save_status(
        self, conn: Connection | None, request_id: str, status: GateStatus
    ) -> None:
        """Keep the round's snapshot (current stage, who may decide it, outcome, expiry) in
        step with ``status``, for the inbox and the expiry sweeper."""
        current = status.current if status.outcome == "pending" else None
        stage = current.stage if current is not None else None
        owners = current.codeowners if current is not None else ()
        params = {
            "request_id": request_id,
            "revision": status.revision,
            "stage": stage.name if stage is not None else None,
            "stage_started_at": current.started_at if current is not None else None,
            "approver_teams": team_keys(approver_teams(stage, owners)) if stage else [],
            "approver_users": (
                sorted({u.lower() for u in approver_users(stage, owners)}) if stage else []
            ),
            "allow_requester": bool(stage and stage.allow_requester),
            "outcome": status.outcome,
            "expires_at": current.expires_at if current is not None else None,
        }
        await self.db.fetch_one(conn, QUERIES.approvals_update_round, params)

    async def inbox(
        self, conn: Connection | None, approver: Approver, *, limit: int = 50
    ) -> list[InboxEntry]:
        """Requests awaiting a decision ``approver`` may take, oldest waiting first. Teams are
        matched by slug (``org/security`` and ``security`` alike); the decision itself is
        checked exactly by ``policy.check_decision``."""
        params = {
            "teams": team_keys(approver.teams),
            "users": user_keys(approver),
            "email": approver.identity,
            "limit": limit,
        }
        rows = await self.db.fetch_all(conn, QUERIES.approvals_inbox, params)
        return [
            InboxEntry(
                str(row["request_id"]),
                row["catalog_item_id"],
                row["title"],
                row["requester_email"],
                row["requester_name"],
                row["stage"],
                row["revision"],
                row["stage_started_at"],
                row["expires_at"],
            )
            for row in rows
        ]

    async def expired_rounds(
        self, conn: Connection | None, *, now: dt.datetime, limit: int = 100
    ) -> list[tuple[str, str]]:
        """(request id, revision) of rounds whose current stage expired before ``now``."""
        rows = await self.db.fetch_all(
            conn, QUERIES.approvals_expired_rounds, {"now": now, "limit": limit}
        )
        return [(str(row["request_id"]), row["revision"]) for row in rows]
