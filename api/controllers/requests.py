from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Controller, HttpMethod, Request, Response, get, post, route
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from api.auth import policy_of, require_request, stated_draft
from api.models import (
    ApprovalGate,
    Decision,
    EscalationView,
    LogPage,
    NewRequest,
    RequestPage,
    RequestStatus,
    RequestView,
    ValidationResult,
    to_model,
)
from api.problems import OptionalBodyOperation, problem_responses
from orchestrator.access import request_scope
from orchestrator.errors import NotFound
from orchestrator.identity.principal import Principal
from orchestrator.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, page
from orchestrator.requests import submission
from orchestrator.requests.events import RequestEvent, StreamTiming
from orchestrator.services import Services

Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT)]
Status = Annotated[
    str | None,
    Parameter(
        pattern="^(submitted|validating|awaiting_secret|awaiting_approval|queued|in_progress"
        "|completed|failed|aborted|escalated|rejected)$",
        description="filter by status",
    ),
]


LastEventId = Annotated[
    int | None,
    Parameter(
        header="Last-Event-ID",
        ge=0,
        description="resume after this event id (the last `log` event received)",
    ),
]
STREAM_TIMING = StreamTiming()
RETRY_MS = 2000  # how soon an EventSource reconnects after a dropped connection


async def _sse(events: AsyncIterator[RequestEvent]) -> AsyncIterator[ServerSentEventMessage]:
    try:
        async for event in events:
            if event.kind == "heartbeat":
                yield ServerSentEventMessage(data=None, comment="heartbeat")
                continue
            data = msgspec.json.encode(event.data).decode()
            yield ServerSentEventMessage(data=data, event=event.kind, id=event.id)
    except NotFound:  # deleted while followed (retention): nothing more will come
        yield ServerSentEventMessage(data='{"status": "deleted"}', event="end")


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

    @route("/", http_method=HttpMethod.OPTIONS, include_in_schema=False, sync_to_thread=False)
    def allowed_methods(self, request: Request[Any, Any, Any]) -> Response[None]:
        """``OPTIONS /api/v1/requests``, answered here: Litestar 2's automatic OPTIONS handler
        lists only the first registered handler's methods when two share a path (GET and POST
        here; litestar-org/litestar#4169, fixed in 3.0). Registered first (a controller
        registers its handlers in name order, and this name sorts before `list_requests` and
        `submit`), it keeps the automatic one from being created; renamed to sort after them,
        the automatic one wins again, which test_api_spec.py's OPTIONS check catches."""
        methods = request.app.route_handler_method_map.get(self.path, {})
        return Response(None, status_code=204, headers={"Allow": ", ".join(sorted(methods))})

    @post(
        "/validate",
        summary="Validate a request without submitting it (old path)",
        description="Deprecated alias of `POST /api/v1/validate/request`, kept for one release.",
        status_code=200,
        responses=problem_responses(413),
        deprecated=True,
    )
    async def validate_alias(
        self, services: Services, principal: Principal, data: NewRequest
    ) -> Response[ValidationResult]:
        return await validate_draft(services, data, principal)

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
    ) -> Response[RequestView]:
        outcome = await submission.submit(
            services.requests,
            stated_draft(data.draft(), principal),
            principal,
            correlation_id,
            idempotency_key=idempotency_key,
        )
        response = _created(outcome.view, data, outcome.status)
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
    ) -> RequestPage:
        items, next_cursor, total = await services.requests.list_page(
            status=status,
            catalog_item=catalog_item,
            user=user,
            cursor=cursor,
            limit=limit,
            with_total=include_total,
            visible_to=request_scope(policy_of(services), principal).params(),
        )
        return to_model(page(items, next_cursor, total, limit), RequestPage)

    @get(
        "/{request_id:uuid}", summary="A request with its actions", responses=problem_responses(404)
    )
    async def detail(
        self, services: Services, principal: Principal, request_id: uuid.UUID
    ) -> RequestView:
        await require_request(services, principal, request_id)
        view = await services.requests.detail(request_id)
        view["approval"] = await services.approval_gates.gate(request_id)
        return to_model(view, RequestView)

    @get(
        "/{request_id:uuid}/status",
        summary="Where a request stands",
        responses=problem_responses(404),
    )
    async def status(
        self, services: Services, principal: Principal, request_id: uuid.UUID
    ) -> RequestStatus:
        await require_request(services, principal, request_id)
        view = await services.requests.status(request_id)
        view["approval"] = await services.approval_gates.gate(request_id)
        return to_model(view, RequestStatus)

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
    ) -> LogPage:
        await require_request(services, principal, request_id)
        after = int(decode_cursor(cursor, "after")["after"]) if cursor else 0
        entries, has_more = await services.requests.logs(request_id, after_id=after, limit=limit)
        next_cursor = encode_cursor({"after": entries[-1]["id"]}) if has_more and entries else None
        return to_model(page(entries, next_cursor, None, limit), LogPage)

    @get(
        "/{request_id:uuid}/events",
        summary="Follow a request live (Server-Sent Events)",
        description=(
            "`text/event-stream` of the request's events, in order: `status` (where it stands, "
            "sent first and on every change), `log` (each step event, as `/logs` lists them; "
            "its `id` is the log id), then `end` when the request reaches a terminal state "
            "(`completed`, `aborted`, `escalated`), after which the stream closes. A comment "
            "line is sent as a heartbeat while nothing happens. Resume after a dropped "
            "connection with `Last-Event-ID` (EventSource sends it by itself): entries after "
            "that id follow, none twice. The same permissions as `/logs`."
        ),
        media_type="text/event-stream",
        responses=problem_responses(404),
    )
    async def events(
        self,
        services: Services,
        principal: Principal,
        request_id: uuid.UUID,
        last_event_id: LastEventId = None,
    ) -> ServerSentEvent:
        await require_request(services, principal, request_id)
        stream = services.events.follow(
            request_id, after_id=last_event_id or 0, timing=STREAM_TIMING
        )
        return ServerSentEvent(_sse(stream), retry_duration=RETRY_MS)

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
    ) -> RequestView:
        await require_request(services, principal, request_id, "retry")
        return to_model(
            await services.requests.retry(request_id, principal, correlation_id), RequestView
        )

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
    ) -> RequestView:
        await require_request(services, principal, request_id, "abort")
        reason = data.reason if data else "no reason given"
        view = await services.requests.abort(request_id, principal, reason, correlation_id)
        return to_model(view, RequestView)

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
    ) -> RequestView:
        await require_request(services, principal, request_id, "escalate")
        reason = data.reason if data else "no reason given"
        view = await services.requests.escalate(request_id, principal, reason, correlation_id)
        return to_model(view, RequestView)

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
    ) -> EscalationView:
        await require_request(services, principal, request_id)
        return to_model(await services.requests.escalation(request_id), EscalationView)


DEPRECATION = {
    "Deprecation": "true",
    "Warning": '299 pao "catalog_item/catalog_version are deprecated: send catalogItem/catalogVersion"',
}


@post(
    "/api/v1/validate/request",
    summary="Validate a request without submitting it",
    description="The item's field rules, version and lifecycle, checked as `POST /api/v1/requests` "
    "would check them; nothing is stored.",
    status_code=200,
    tags=["requests"],
    responses=problem_responses(413),
)
async def validate_request(
    services: Services, principal: Principal, data: NewRequest
) -> Response[ValidationResult]:
    return await validate_draft(services, data, principal)


async def validate_draft(
    services: Services, data: NewRequest, principal: Principal
) -> Response[ValidationResult]:
    outcome = await services.requests.validate(stated_draft(data.draft(), principal))
    gate = None  # who must approve (the preview's "approval")
    if outcome.item is not None and outcome.valid:
        gate = await services.approval_gates.preview(outcome.item, outcome.fields, principal)
    result = ValidationResult(
        valid=outcome.valid,
        errors=outcome.errors,
        warnings=outcome.warnings,
        catalog_item_version=outcome.item.metadata.version if outcome.item else None,
        approval=to_model(gate, ApprovalGate) if gate is not None else None,
    )
    return Response(result, headers=DEPRECATION if data.uses_old_spelling else None)


def _created(view: dict[str, Any], data: NewRequest, status: int = 201) -> Response[RequestView]:
    headers = {"Location": f"/api/v1/requests/{view['id']}"}
    if data.uses_old_spelling:
        headers |= DEPRECATION
    return Response(to_model(view, RequestView), status_code=status, headers=headers)
