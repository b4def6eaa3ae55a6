from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import Parameter

from api.auth import policy_of, require_request
from api.problems import OptionalBodyOperation, problem_responses
from orchestrator.access import request_scope
from orchestrator.pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from orchestrator.requests.idempotency import submit_once
from orchestrator.requests.service import Principal, RequestDraft
from orchestrator.services import Services

Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT)]
Status = Annotated[
    str | None,
    Parameter(
        pattern="^(submitted|validating|queued|in_progress|completed|failed|aborted|escalated)$",
        description="filter by status",
    ),
]


class NewRequest(msgspec.Struct, forbid_unknown_fields=True):
    catalog_item: Annotated[str, msgspec.Meta(pattern="^[a-z0-9]+(-[a-z0-9]+)*$", max_length=63)]
    fields: dict[str, Any] = msgspec.field(default_factory=dict)
    title: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    justification: Annotated[str, msgspec.Meta(max_length=4000)] | None = None
    catalog_version: str | None = None

    def draft(self, source: str = "api") -> RequestDraft:
        return RequestDraft(
            catalog_item=self.catalog_item,
            fields=self.fields,
            title=self.title,
            justification=self.justification,
            source=source,
            catalog_version=self.catalog_version,
        )


class Decision(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)] = "no reason given"


IdempotencyKey = Annotated[
    str | None,
    Parameter(
        header="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="repeat-safe submission key: the same key and body within 24 h answer "
        "with the first response; the same key while that submission runs is 409, with "
        "another body 422",
    ),
]


class RequestsController(Controller):
    path = "/api/v1/requests"
    tags = ("requests",)

    @post(
        "/validate",
        summary="Validate a request without submitting it",
        status_code=200,
        responses=problem_responses(413),
    )
    async def validate(self, services: Services, data: NewRequest) -> dict[str, Any]:
        outcome = await services.requests.validate(data.draft())
        return {
            "valid": outcome.valid,
            "errors": outcome.errors,
            "warnings": outcome.warnings,
            "catalog_item_version": outcome.item.metadata.version if outcome.item else None,
        }

    @post(
        "/",
        summary="Submit a request",
        status_code=201,
        responses=problem_responses(404, 409, 413, 422),
    )
    async def submit(
        self,
        services: Services,
        principal: Principal,
        correlation_id: str,
        data: NewRequest,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[dict[str, Any]]:
        if idempotency_key is None:
            return _created(await services.requests.submit(data.draft(), principal, correlation_id))
        outcome = await submit_once(
            services.requests, data.draft(), principal, correlation_id, idempotency_key
        )
        response = _created(outcome.view, outcome.status)
        if outcome.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    @get("/", summary="List requests", responses=problem_responses(422))
    async def list_requests(
        self,
        services: Services,
        principal: Principal,
        status: Status = None,
        catalog_item: str | None = None,
        user: str | None = Parameter(default=None, description="requester email"),
        cursor: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
        include_total: bool = False,
    ) -> dict[str, Any]:
        items, next_cursor, total = await services.requests.list_page(
            status=status,
            catalog_item=catalog_item,
            user=user,
            cursor=cursor,
            limit=limit,
            with_total=include_total,
            visible_to=request_scope(policy_of(services), principal).params(),
        )
        return page(items, next_cursor, total, limit)

    @get(
        "/{request_id:uuid}", summary="A request with its actions", responses=problem_responses(404)
    )
    async def detail(
        self, services: Services, principal: Principal, request_id: uuid.UUID
    ) -> dict[str, Any]:
        await require_request(services, principal, request_id)
        return await services.requests.detail(request_id)

    @get(
        "/{request_id:uuid}/status",
        summary="Where a request stands",
        responses=problem_responses(404),
    )
    async def status(
        self, services: Services, principal: Principal, request_id: uuid.UUID
    ) -> dict[str, Any]:
        await require_request(services, principal, request_id)
        return await services.requests.status(request_id)

    @get(
        "/{request_id:uuid}/logs",
        summary="The request's step events, in order",
        responses=problem_responses(404, 422),
    )
    async def logs(
        self,
        services: Services,
        principal: Principal,
        request_id: uuid.UUID,
        cursor: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> dict[str, Any]:
        await require_request(services, principal, request_id)
        from orchestrator.pagination import decode_cursor, encode_cursor

        after = int(decode_cursor(cursor, "after")["after"]) if cursor else 0
        entries, has_more = await services.requests.logs(request_id, after_id=after, limit=limit)
        next_cursor = encode_cursor({"after": entries[-1]["id"]}) if has_more and entries else None
        return page(entries, next_cursor, None, limit)

    @post(
        "/{request_id:uuid}/retry",
        summary="Retry the failed action",
        description=(
            "From `failed`, or from `escalated` while no ticket exists (the escalation is "
            "withdrawn: the operator resolved the cause). 409 once the ticket exists."
        ),
        status_code=202,
        responses=problem_responses(403, 404, 409, 501),
    )
    async def retry(
        self, services: Services, principal: Principal, correlation_id: str, request_id: uuid.UUID
    ) -> dict[str, Any]:
        await require_request(services, principal, request_id, "retry")
        return await services.requests.retry(request_id, principal, correlation_id)

    @post(
        "/{request_id:uuid}/abort",
        summary="Abort the request",
        status_code=200,
        responses=problem_responses(403, 404, 409, 413),
        operation_class=OptionalBodyOperation,
    )
    async def abort(
        self,
        services: Services,
        principal: Principal,
        correlation_id: str,
        request_id: uuid.UUID,
        data: Decision | None = None,
    ) -> dict[str, Any]:
        await require_request(services, principal, request_id, "abort")
        reason = data.reason if data else "no reason given"
        return await services.requests.abort(request_id, principal, reason, correlation_id)

    @post(
        "/{request_id:uuid}/escalate",
        summary="Escalate to manual handling",
        description=(
            "From `failed`, or again from `escalated` when the ticket failed or JIRA was not "
            "configured. 409 while the ticket is pending (it is retried automatically) or "
            "once it exists."
        ),
        status_code=202,
        responses=problem_responses(403, 404, 409, 413, 501),
        operation_class=OptionalBodyOperation,
    )
    async def escalate(
        self,
        services: Services,
        principal: Principal,
        correlation_id: str,
        request_id: uuid.UUID,
        data: Decision | None = None,
    ) -> dict[str, Any]:
        await require_request(services, principal, request_id, "escalate")
        reason = data.reason if data else "no reason given"
        return await services.requests.escalate(request_id, principal, reason, correlation_id)

    @get(
        "/{request_id:uuid}/escalation",
        summary="The escalation of a request: its ticket, or why there is none yet",
        description=(
            "`state` is `pending` (the ticket is being opened and retried with backoff; "
            "`attempts`, `last_error` and `next_attempt_at` say how it goes), `created` "
            "(`ticket` and `url`), `failed` or `not_configured` (escalate again once the cause "
            "is fixed, retry or abort), or `cancelled` (withdrawn by a retry or an abort). "
            "404 when the request was never escalated."
        ),
        responses=problem_responses(404),
    )
    async def escalation(
        self, services: Services, principal: Principal, request_id: uuid.UUID
    ) -> dict[str, Any]:
        await require_request(services, principal, request_id)
        return await services.requests.escalation(request_id)


def _created(view: dict[str, Any], status: int = 201) -> Response[dict[str, Any]]:
    return Response(
        view, status_code=status, headers={"Location": f"/api/v1/requests/{view['id']}"}
    )
