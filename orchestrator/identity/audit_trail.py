"""Reading the audit trail (``audit_logs``, written by triggers and application events) for
PAO admins: filtered, newest first, in keyset pages."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from orchestrator.store.database import Database
from orchestrator.store.queries import QUERIES


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Every filter is optional; they combine. ``request_id`` selects a request's rows and its
    actions'; ``since`` is inclusive, ``until`` exclusive (both with a time zone)."""

    table_name: str | None = None
    row_id: str | None = None
    request_id: str | None = None
    operation: str | None = None
    actor: str | None = None
    correlation_id: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditTrail:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def page(
        self, where: AuditFilter, *, before_id: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` entries older than ``before_id`` (newest first), ``created_at`` as an
        ISO 8601 string, and whether more follow."""
        rows = await self.db.fetch_all(
            None,
            QUERIES.identity_list_audit,
            {**asdict(where), "before_id": before_id, "limit": limit + 1},
        )
        entries = [{**r, "created_at": r["created_at"].isoformat()} for r in rows[:limit]]
        return entries, len(rows) > limit
