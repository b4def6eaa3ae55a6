"""The portal's approval pages: the caller's inbox, and Approve / Reject on a request page.

The same core calls as ``api.controllers.approvals`` (``ApprovalGates.inbox`` and ``decide``,
audited with source ``portal``), the same refusals with the same status codes (403 not among
the stage's approvers or the requester approving their own request, 409 not awaiting
approval, 422 a rejection without a reason), shown on the page as an announced error. Forms
post without JavaScript (the answer is the request page, or a redirect to it after a
decision); with htmx the decision area is replaced in place.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect

from orchestrator.errors import Forbidden, InvalidState, NotFound, PaoError, ValidationFailed
from orchestrator.services import Services
from portal.gates import DONE, require_visible
from portal.identity import Viewer
from portal.pages import PORTAL_SOURCE, base_context, request_context
from portal.render import html

FormBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
INBOX_LIMIT = 50
REASON_LIMIT = 2000


class ApprovalPages(Controller):
    path = "/"
    include_in_schema = False

    @get("/approvals")
    async def inbox(
        self, request: Request[Any, Any, Any], services: Services, viewer: Viewer
    ) -> Response[str]:
        """Requests waiting for a decision the viewer may take, oldest first, each with where
        its gate stands (what the current stage still needs)."""
        gates = services.approval_gates
        entries = await gates.inbox(viewer.principal, limit=INBOX_LIMIT)
        for entry in entries:
            gate = await gates.gate(uuid.UUID(entry["request_id"]))
            stages = gate["stages"] if gate else []
            entry["current"] = next((s for s in stages if s["name"] == entry["stage"]), None)
            entry["stage_count"] = len(stages)
        return html("approvals.html", base_context(viewer, request, entries=entries))

    @post("/requests/{request_id:uuid}/approve")
    async def approve(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        viewer: Viewer,
        correlation_id: str,
        request_id: uuid.UUID,
        data: FormBody,
    ) -> Response[Any]:
        return await _decide(request, services, viewer, correlation_id, request_id, data, "approve")

    @post("/requests/{request_id:uuid}/reject")
    async def reject(
        self,
        request: Request[Any, Any, Any],
        services: Services,
        viewer: Viewer,
        correlation_id: str,
        request_id: uuid.UUID,
        data: FormBody,
    ) -> Response[Any]:
        return await _decide(request, services, viewer, correlation_id, request_id, data, "reject")


def _status_of(exc: PaoError) -> int:
    """The API's status for a refused decision (``api.controllers.approvals``)."""
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, InvalidState):
        return 409
    return 422


async def _decide(
    request: Request[Any, Any, Any],
    services: Services,
    viewer: Viewer,
    correlation_id: str,
    request_id: uuid.UUID,
    data: dict[str, Any],
    verdict: Literal["approve", "reject"],
) -> Response[Any]:
    principal = viewer.principal
    await require_visible(services, principal, request_id)  # 404 for everyone else
    given = data.get("reason" if verdict == "reject" else "comment")
    text = str(given or "").strip()[:REASON_LIMIT] or None
    htmx = bool(request.headers.get("hx-request"))
    try:
        decided = await services.approval_gates.decide(
            request_id,
            principal,
            verdict,
            correlation_id=correlation_id,
            source=PORTAL_SOURCE,
            reason=text,
        )
    except PaoError as exc:
        if isinstance(exc, NotFound):
            raise
        status = _status_of(exc)
        field_error = None
        if isinstance(exc, ValidationFailed) and exc.errors:
            field_error = str(exc.errors[0]["message"])
        context = await request_context(services, viewer, request_id)
        context |= {
            "refusal": field_error or exc.message,
            "reject_error": field_error,
            "entered_reason": text or "",
            "verdict": verdict,
        }
        if htmx:  # htmx swaps 2xx answers only: the refusal is in the replaced panel
            return html("_request_panel.html", base_context(viewer, request, **context))
        logs, _ = await services.requests.logs(request_id, after_id=0, limit=200)
        return html(
            "request.html",
            base_context(viewer, request, logs=logs, **context),
            status_code=status,
        )
    done = "repeat" if not decided.recorded else decided.outcome
    if htmx:
        context = await request_context(services, viewer, request_id)
        notice = DONE.get(done)
        return html("_request_panel.html", base_context(viewer, request, notice=notice, **context))
    return Redirect(f"/portal/requests/{request_id}?{urlencode({'done': done})}", status_code=303)
