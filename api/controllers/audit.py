"""The audit trail for PAO admins: every state change, with who, correlation id and source."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from api.auth import admin_only
from api.models import AuditPage, to_model
from api.problems import problem_responses
from orchestrator.errors import ValidationFailed
from orchestrator.identity.audit_trail import AuditFilter
from orchestrator.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, page
from orchestrator.services import Services

Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="page size (default 50, max 200)")]
Text = Annotated[str | None, Parameter(max_length=200)]
# Parsed here, not by the framework: its lenient conversion would take "0.5" as a Unix time.
Instant = Annotated[
    str | None,
    Parameter(
        max_length=64,
        schema_extra={"format": "date-time"},
        description="RFC 3339 date-time; without an offset it is taken as UTC",
    ),
]
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:\d{2})?$"
)


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ("audit",)

    @get(
        "/",
        summary="The audit trail, newest first (admins)",
        description=(
            "Filters combine: `table` and `row_id` (one row), `request_id` (a request and its "
            "actions), `correlation_id` (everything one API call, webhook delivery, worker job "
            "chain or sync did), `actor`, `source` (api, bot, cli, worker, sync, maintenance), "
            "`operation` (INSERT, UPDATE, DELETE or an application event), `since` (inclusive) "
            "and `until` (exclusive)."
        ),
        guards=[admin_only],
        responses=problem_responses(422),
    )
    async def list_audit(
        self,
        services: Services,
        # `correlation_id` is the name of the app's dependency: the query parameter is aliased
        table: Text = None,
        row_id: Text = None,
        request_id: Text = None,
        operation: Text = None,
        actor: Text = None,
        correlation: Annotated[
            str | None, Parameter(query="correlation_id", max_length=200)
        ] = None,
        source: Text = None,
        since: Instant = None,
        until: Instant = None,
        cursor: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> AuditPage:
        before = _position(cursor) if cursor else None
        where = AuditFilter(
            table_name=table,
            row_id=row_id,
            request_id=request_id,
            operation=operation,
            actor=actor,
            correlation_id=correlation,
            source=source,
            since=_instant("since", since),
            until=_instant("until", until),
        )
        entries, more = await services.audit_trail.page(where, before_id=before, limit=limit)
        next_cursor = encode_cursor({"before": entries[-1]["id"]}) if more and entries else None
        return to_model(page(entries, next_cursor, None, limit), AuditPage)


def _instant(name: str, value: str | None) -> datetime | None:
    """The instant of a ``since``/``until`` parameter, always with an offset (a naive one would
    be read in the database session's time zone); a located 422 when it is not a date-time."""
    if value is None:
        return None
    try:
        if not _DATE_TIME.match(value):
            raise ValueError(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            f"'{name}' is not a date-time",
            [
                {
                    "pointer": f"/{name}",
                    "message": "an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z",
                }
            ],
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _position(cursor: str) -> int:
    value = decode_cursor(cursor, "before")["before"]
    if not isinstance(value, int) or not 0 < value < 2**63:
        decode_cursor("", "before")  # raises the located 422
    return int(value)
