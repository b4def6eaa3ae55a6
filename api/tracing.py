"""The API's part of a trace: one server span per HTTP call (``orchestrator.tracing``).

Registered only when tracing is on. It continues a caller's W3C ``traceparent``, is the current
span while the handler runs (so a job enqueued by the call carries it into the worker), and is
named after the route template. It records the correlation id, the call's request id and the
user once authentication has bound them; never a query string, a header value or a body.
"""

from __future__ import annotations

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry.trace import SpanKind, Status, StatusCode

from orchestrator import tracing
from orchestrator.observability import current_context

_PROPAGATED = (b"traceparent", b"tracestate")


class TracingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if str(scope["type"]) != "http" or not tracing.enabled():
            await self.app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _PROPAGATED
        }
        method = str(scope.get("method", ""))
        attributes = {"http.request.method": method, "url.path": str(scope.get("path", ""))}
        correlation_id = scope.get("state", {}).get("correlation_id")
        if correlation_id:
            attributes["pao.correlation_id"] = str(correlation_id)
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with tracing.tracer().start_as_current_span(
            method,
            context=tracing.extract_context(carrier),
            kind=SpanKind.SERVER,
            attributes=attributes,
        ) as span:
            try:
                await self.app(scope, receive, send_status)
            finally:
                route = scope.get("path_template")
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", str(route))
                span.set_attribute("http.response.status_code", status)
                bound = current_context()  # what authentication bound for this call
                if bound.get("request_id"):
                    span.set_attribute("pao.http_request_id", bound["request_id"])
                if bound.get("user"):
                    span.set_attribute("enduser.id", bound["user"])
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
