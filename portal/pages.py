"""The portal's pages: browse the catalog, request an item, follow and decide on requests.

Thin handlers over the same core services the REST controllers call (catalog, requests,
form document, dry run, events) and the same permission checks (``api.auth.require_request``),
so a person sees and may do in the browser exactly what their token allows on the API. Every
page works without JavaScript; ``static/portal.js`` and htmx add live search, live form rules,
the plan preview in place and the live event stream.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie, State
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, ServerSentEvent, ServerSentEventMessage
from litestar.template.base import csrf_token

from api.auth import policy_of, require_request
from orchestrator.access import request_scope
from orchestrator.engine.dry_run import describe_plan, plan_refusals
from orchestrator.engine.executor import Registry
from orchestrator.engine.states import ALLOWED_FROM, TERMINAL, refusal
from orchestrator.errors import NotFound, PaoError
from orchestrator.form_document import form_document
from orchestrator.forms import visibility
from orchestrator.identity.principal import Principal
from orchestrator.pagination import MAX_LIMIT
from orchestrator.requests import submission
from orchestrator.requests.events import RequestEvent, StreamTiming
from orchestrator.requests.service import RequestDraft
from orchestrator.services import Services
from orchestrator.templating.playground import preview_variables
from portal.fields import input_name, read_fields, redisplayed
from portal.gates import (
    DONE,
    REJECT_REASON_MESSAGE,
    gate_context,
    remaining,
    require_visible,
    stages_of,
)
from portal.identity import COOKIE_PATH, SESSION_COOKIE, SESSION_SECONDS, Sessions, Viewer, login
from portal.render import html

FormBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
Search = Annotated[str | None, Parameter(max_length=100)]
DECISIONS = ("retry", "abort", "escalate")
STREAM_TIMING = StreamTiming()
LIST_LIMIT = 50
PORTAL_SOURCE = "portal"  # the request's and the audit trail's face (migration 0018)


def base_context(
    viewer: Viewer | None, request: Request[Any, Any, Any], **context: Any
) -> dict[str, Any]:
    """What every page's layout needs: who is there, the CSRF token, the current section."""
    return {
        "viewer": viewer.principal if viewer else None,
        "can_logout": bool(viewer and viewer.session),
        "csrf_token": csrf_token({"request": request}),
        "path": request.url.path,
        **context,
    }


def _safe_next(target: str | None) -> str:
    """Only a path of the portal itself (no scheme, no other host) is a place to go back to."""
    if target and target.startswith("/portal/") and not target.startswith("/portal//"):
        return target
    return "/portal/"


class PortalPages(Controller):
    path = "/"
    include_in_schema = False

    # -- identity ---------------------------------------------------------------------------

    @get("/login", name="portal:login")
    async def login_page(
        self, request: Request[Any, Any, Any], next: str | None = None
    ) -> Response[str]:
        return html("login.html", base_context(None, request, next=_safe_next(next), error=None))

    @post("/login", status_code=303)
    async def login(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        sessions: Sessions,
        data: FormBody,
    ) -> Response[Any]:
        token = str(data.get("token", "")).strip()
        target = _safe_next(str(data.get("next", "")))
        session_id = await login(services, sessions, token) if token else None
        if session_id is None:
            return html(
                "login.html",
                base_context(
                    None, request, next=target, error="That token is unknown, expired or revoked."
                ),
                status_code=401,
            )
        response: Response[Any] = Redirect(target, status_code=303)
        response.set_cookie(
            Cookie(
                key=SESSION_COOKIE,
                value=session_id,
                path=COOKIE_PATH,
                max_age=SESSION_SECONDS,
                secure=True,
                httponly=True,
                samesite="strict",
            )
        )
        return response

    @post("/logout", status_code=303)
    async def logout(self, request: Request[Any, Any, Any], sessions: Sessions) -> Response[Any]:
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            await sessions.close(session_id)
        response: Response[Any] = Redirect("/portal/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
        return response

    # -- catalog ----------------------------------------------------------------------------

    @get("/")
    async def catalog(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        viewer: Viewer,
        q: Search = None,
        category: Annotated[str | None, Parameter(max_length=100)] = None,
    ) -> Response[str]:
        search = (q or "").strip() or None
        chosen = category or None
        everything, _, _ = await services.catalog.list_page(
            category=None, owner=None, search=None, after=None, limit=MAX_LIMIT, with_total=False
        )
        items, _, _ = await services.catalog.list_page(
            category=chosen,
            owner=None,
            search=search,
            after=None,
            limit=MAX_LIMIT,
            with_total=False,
        )
        categories = sorted({entry["category"] for entry in everything if entry["category"]})
        context = base_context(
            viewer, request, items=items, categories=categories, q=search or "", category=chosen
        )
        if request.headers.get("hx-request") and request.headers.get("hx-target") == "results":
            return html("_catalog_results.html", context)
        return html("catalog.html", context)

    @get("/items/{item_id:str}")
    async def item(
        self, request: Request[Any, Any, Any], services: Services, viewer: Viewer, item_id: str
    ) -> Response[str]:
        item, _ = await services.catalog.current(item_id)
        versions = await services.catalog_history.item_versions(item_id)
        return html("item.html", base_context(viewer, request, item=item, versions=versions))

    # -- the request form -------------------------------------------------------------------

    @get("/items/{item_id:str}/request")
    async def request_form(
        self, request: Request[Any, Any, Any], services: Services, viewer: Viewer, item_id: str
    ) -> Response[str]:
        item, _ = await services.catalog.current(item_id)
        return _form_page(request, viewer, item, values=None, errors=[])

    @post("/items/{item_id:str}/preview")
    async def preview(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        viewer: Viewer,
        state: State,
        item_id: str,
    ) -> Response[str]:
        """Validate the filled form and show what each action would do (a dry run)."""
        item, _ = await services.catalog.current(item_id)
        form = await request.form()
        fields = read_fields(item, form)
        outcome = await services.requests.validate(_draft(item_id, fields, form))
        plan: dict[str, Any] = {}
        refusals: list[dict[str, str]] = []
        rendered: dict[str, Any] = {}
        approval: dict[str, Any] | None = None  # who must approve, as POST /validate/request says
        if outcome.valid:
            approval = await services.approval_gates.preview(item, outcome.fields, viewer.principal)
            preview = preview_variables(
                item,
                outcome.fields,
                request={
                    "id": "(assigned on submit)",
                    "user": {
                        "email": viewer.principal.email,
                        "teams": list(viewer.principal.teams),
                    },
                },
            )
            rendered = preview.get("rendered", {}).get("actions", {})
            executors: Registry | None = state.get("executors")
            if executors is not None:
                plan = describe_plan(executors, item, rendered)
                refusals = plan_refusals(plan)
        context = base_context(
            viewer,
            request,
            item=item,
            errors=outcome.errors,
            warnings=outcome.warnings,
            plan=plan,
            refusals=refusals,
            rendered=rendered,
            approval=approval,
        )
        if request.headers.get("hx-request"):  # a fragment, placed under the form
            return html("_preview.html", context)
        if not outcome.valid:
            return _form_page(
                request, viewer, item, values=fields, errors=outcome.errors, status=422, form=form
            )
        return html("preview.html", context)

    @post("/items/{item_id:str}/request")
    async def submit(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        viewer: Viewer,
        correlation_id: str,
        item_id: str,
    ) -> Response[Any]:
        item, _ = await services.catalog.current(item_id)
        form = await request.form()
        fields = read_fields(item, form)
        draft = _draft(item_id, fields, form)
        outcome = await services.requests.validate(draft)
        if not outcome.valid:
            return _form_page(
                request, viewer, item, values=fields, errors=outcome.errors, status=422, form=form
            )
        key = str(form.get("submission_key") or "")[:200] or None
        try:
            submitted = await submission.submit(
                services.requests, draft, viewer.principal, correlation_id, idempotency_key=key
            )
        except PaoError as exc:
            errors = getattr(exc, "errors", None) or [{"field": None, "message": exc.message}]
            return _form_page(
                request, viewer, item, values=fields, errors=errors, status=422, form=form
            )
        return Redirect(f"/portal/requests/{submitted.view['id']}", status_code=303)

    # -- requests ---------------------------------------------------------------------------

    @get("/requests")
    async def requests(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        viewer: Viewer,
        which: Annotated[str, Parameter(query="scope", pattern="^(mine|team)$")] = "mine",
    ) -> Response[str]:
        principal = viewer.principal
        items, _, _ = await services.requests.list_page(
            status=None,
            catalog_item=None,
            user=principal.email if which == "mine" else None,
            cursor=None,
            limit=LIST_LIMIT,
            with_total=False,
            visible_to=request_scope(policy_of(services), principal).params(),
        )
        return html("requests.html", base_context(viewer, request, items=items, scope=which))

    @get("/requests/{request_id:uuid}")
    async def request_page(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        viewer: Viewer,
        request_id: uuid.UUID,
        done: Annotated[str | None, Parameter(max_length=20)] = None,
    ) -> Response[str]:
        context = await request_context(services, viewer, request_id)
        logs, _ = await services.requests.logs(request_id, after_id=0, limit=200)
        notice = DONE.get(done or "")
        return html(
            "request.html", base_context(viewer, request, logs=logs, notice=notice, **context)
        )

    @get("/requests/{request_id:uuid}/panel")
    async def request_panel(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        viewer: Viewer,
        request_id: uuid.UUID,
    ) -> Response[str]:
        """The status, actions and decisions part of the request page, refreshed in place when
        the event stream says the request moved."""
        context = await request_context(services, viewer, request_id)
        return html("_request_panel.html", base_context(viewer, request, **context))

    @get("/requests/{request_id:uuid}/events")
    async def request_events(
        self,
        services: Services,
        viewer: Viewer,
        request_id: uuid.UUID,
        last_event_id: Annotated[int | None, Parameter(header="Last-Event-ID", ge=0)] = None,
    ) -> ServerSentEvent:
        """The API's live events of the request (``orchestrator.requests.events``), for the
        page's EventSource, authenticated by the portal session."""
        await require_visible(services, viewer.principal, request_id)
        stream = services.events.follow(
            request_id, after_id=last_event_id or 0, timing=STREAM_TIMING
        )
        return ServerSentEvent(_sse(stream), retry_duration=2000)

    @post("/requests/{request_id:uuid}/{decision:str}")
    async def decide(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        viewer: Viewer,
        correlation_id: str,
        request_id: uuid.UUID,
        decision: str,
        data: FormBody,
    ) -> Response[Any]:
        """Retry, abort or escalate, through the same service calls as the REST API."""
        if decision not in DECISIONS:
            raise NotFound(f"there is no decision '{decision}'")
        principal = viewer.principal
        await require_request(services, principal, request_id, decision)
        reason = str(data.get("reason") or "").strip()[:2000] or "no reason given"
        notice = f"{decision.capitalize()} accepted."
        try:
            if decision == "retry":
                await services.requests.retry(request_id, principal, correlation_id)
            elif decision == "abort":
                await services.requests.abort(request_id, principal, reason, correlation_id)
            else:
                await services.requests.escalate(request_id, principal, reason, correlation_id)
        except PaoError as exc:
            if isinstance(exc, NotFound):
                raise
            notice = f"Not done: {exc.message}"
        if request.headers.get("hx-request"):
            context = await request_context(services, viewer, request_id)
            return html(
                "_request_panel.html", base_context(viewer, request, notice=notice, **context)
            )
        query = urlencode({"notice": notice})
        return Redirect(f"/portal/requests/{request_id}?{query}", status_code=303)


def _draft(item_id: str, fields: dict[str, Any], form: Any) -> RequestDraft:
    title = str(form.get("title") or "").strip()[:200] or None
    justification = str(form.get("justification") or "").strip()[:4000] or None
    return RequestDraft(
        catalog_item=item_id,
        fields=fields,
        title=title,
        justification=justification,
        source=PORTAL_SOURCE,
    )


def _form_page(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    item: Any,
    *,
    values: dict[str, Any] | None,
    errors: list[dict[str, Any]],
    status: int = 200,
    form: Any = None,
) -> Response[str]:
    """The request form: defaults (or the values sent, secrets left out), the fields the values
    hide marked hidden, and the server's errors next to their fields."""
    document = form_document(item)
    shown_values = redisplayed(item, values) if values is not None else None
    current = (
        values
        if values is not None
        else {f.id: f.default for f in item.fields() if f.default is not None}
    )
    shown = visibility(item, current)
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for error in errors:
        field_id = error.get("field")
        if field_id and field_id in shown:
            by_field.setdefault(field_id, []).append(str(error["message"]))
        else:
            general.append(str(error["message"]))
    context = base_context(
        viewer,
        request,
        item=item,
        document=document,
        values=shown_values,
        shown=shown,
        field_errors=by_field,
        general_errors=general,
        error_count=len(errors),
        input_name=input_name,
        approval_stages=stages_of(item),
        submission_key=str(uuid.uuid4()),
        title=str(form.get("title") or "") if form is not None else "",
        justification=str(form.get("justification") or "") if form is not None else "",
    )
    return html("form.html", context, status_code=status)


async def request_context(
    services: Services, viewer: Viewer, request_id: uuid.UUID
) -> dict[str, Any]:
    """What the request page and its panel show: the request, its gate, and the decisions the
    viewer may take (an approver of another team sees the gate's decisions only)."""
    principal = viewer.principal
    readable = await _may_read(services, principal, request_id)
    if not readable:
        await require_visible(services, principal, request_id)  # its approvers, or NotFound
    view = await services.requests.detail(request_id)
    row = await services.requests.get_row(request_id)
    decisions = []
    if readable:
        decisions = [
            {"name": name, "refusal": refusal(name, row)}
            for name in DECISIONS
            if row["status"] in ALLOWED_FROM[name]
        ]
    gate = await gate_context(services, principal, request_id, row)
    return {
        "req": view,
        "decisions": decisions,
        "terminal": row["status"] in TERMINAL,
        "reject_reason_message": REJECT_REASON_MESSAGE,
        "remaining": remaining,
        **gate,
    }


async def _may_read(services: Services, principal: Principal, request_id: uuid.UUID) -> bool:
    try:
        await require_request(services, principal, request_id)
    except NotFound:
        return False
    return True


async def _sse(events: AsyncIterator[RequestEvent]) -> AsyncIterator[ServerSentEventMessage]:
    try:
        async for event in events:
            if event.kind == "heartbeat":
                yield ServerSentEventMessage(data=None, comment="heartbeat")
                continue
            data = msgspec.json.encode(event.data).decode()
            yield ServerSentEventMessage(data=data, event=event.kind, id=event.id)
    except NotFound:
        yield ServerSentEventMessage(data='{"status": "deleted"}', event="end")
