"""The audit trail for PAO admins: every state change, with who, correlation id and source."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get
from litestar.params import Parameter

from api.auth import admin_only
from api.problems import problem_responses
from orchestrator.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, page
from orchestrator.services import Services
from orchestrator.store.queries import QUERIES

Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="page size (default 50, max 200)")]
Text = Annotated[str | None, Parameter(max_length=200)]


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ("audit",)

    @get(
        "/",
        summary="The audit trail, newest first (admins)",
        guards=[admin_only],
        responses=problem_responses(401, 403, 422),
    )
    async def list_audit(
        self,
        services: Services,
        # `correlation_id` is the name of the app's dependency: the query parameter is aliased
        table: Text = None,
        row_id: Text = None,
        actor: Text = None,
        correlation: Annotated[
            str | None, Parameter(query="correlation_id", max_length=200)
        ] = None,
        source: Text = None,
        cursor: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> dict[str, Any]:
        before = _position(cursor) if cursor else None
        async with services.db.connection() as conn:
            cur = await conn.execute(
                QUERIES.identity_list_audit,
                {
                    "table_name": table,
                    "row_id": row_id,
                    "actor": actor,
                    "correlation_id": correlation,
                    "source": source,
                    "before_id": before,
                    "limit": limit + 1,
                },
            )
            rows = await cur.fetchall()
        entries = [{**r, "created_at": r["created_at"].isoformat()} for r in rows[:limit]]
        more = len(rows) > limit
        next_cursor = encode_cursor({"before": entries[-1]["id"]}) if more and entries else None
        return page(entries, next_cursor, None, limit)


def _position(cursor: str) -> int:
    value = decode_cursor(cursor, "before")["before"]
    if not isinstance(value, int) or not 0 < value < 2**63:
        decode_cursor("", "before")  # raises the located 422
    return int(value)
