"""Errors as RFC 9457 problem details, with a stable ``type`` per kind of error, and their
documentation in the OpenAPI document (including the security scheme and its refusals)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, Router
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, Operation, RequestBody, SecurityScheme
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from api.auth import WRITE_METHODS
from api.input_guard import InputRefused
from api.request_context import random_id
from orchestrator.errors import (
    Forbidden,
    InvalidState,
    ItemNotRequestable,
    NotAvailable,
    NotFound,
    PaoError,
    ValidationFailed,
)
from orchestrator.redaction import redact, redact_value
from orchestrator.settings import AuthSettings
from orchestrator.store.errors import StoreUnavailable


class ProblemDetails(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem document (documentation of every error response)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    correlation_id: str | None = None
    errors: list[dict[str, Any]] | None = None
    current_status: str | None = None
    item_id: str | None = None
    request_id: str | None = None


_DESCRIPTIONS = {
    400: "malformed request (parameters or body)",
    401: "no valid credentials (see WWW-Authenticate)",
    403: "authenticated, but not allowed",
    404: "no such resource",
    409: "the resource's state does not allow this",
    413: "request body too large",
    429: "too many write calls this minute (see Retry-After)",
    422: "the input breaks the rules; errors are located by JSON pointer",
    501: "not available in this deployment yet",
    503: "a backing service is unavailable",
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI documentation of the problem documents a handler may answer with."""
    return {status: _spec(status) for status in (400, 503, *statuses)}


SECURITY_SCHEME = "pao"


def security_components(auth: AuthSettings) -> Components:
    """The security scheme the API enforces in this auth mode (none in ``none`` mode)."""
    if auth.mode == "none":
        return Components()
    if auth.mode == "token":
        scheme = SecurityScheme(
            type="http",
            scheme="bearer",
            bearer_format="pao_ token",
            description="an API token made by `pao tokens create` (shown once)",
        )
    elif auth.iam_source == "gateway":
        scheme = SecurityScheme(
            type="apiKey",
            name="Authorization",
            security_scheme_in="header",
            description="AWS SigV4, verified by API Gateway (IAM authorisation)",
        )
    else:
        scheme = SecurityScheme(
            type="http",
            scheme="bearer",
            bearer_format="pao-sts-v2",
            description="pao-sts-v2.<...>: a SigV4-signed sts:GetCallerIdentity PAO replays to STS",
        )
    return Components(security_schemes={SECURITY_SCHEME: scheme})


def document_access(app: Litestar, auth: AuthSettings, public_paths: Sequence[str]) -> None:
    """Declare, on every operation the authentication middleware guards, the security scheme
    and its 401, plus 403 for guarded handlers, 429 for writes (the per-principal limit) and
    503 where an unreachable STS stops the check (aws-iam, standalone).

    Derived from the same ``public_paths`` the middleware excludes, so the document cannot
    drift from what is enforced. Handlers are per-app copies: each app documents its own mode.
    """
    if auth.mode == "none":
        return
    public = re.compile("|".join(public_paths))
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not isinstance(handler, HTTPRouteHandler) or not handler.resolve_include_in_schema():
                continue
            if public.findall(route.path) or handler.opt.get("exclude_from_auth"):
                continue
            added = [401]
            if handler.resolve_guards():
                added.append(403)
            if set(handler.http_methods) & WRITE_METHODS:
                added.append(429)
            if auth.mode == "aws-iam" and auth.iam_source == "sts":
                added.append(503)
            handler.security = [{SECURITY_SCHEME: []}]
            handler.responses = {
                **{status: _spec(status) for status in added},
                **(handler.responses or {}),
            }


def document_input_checks(app: Litestar) -> None:
    """Declare what ``api.input_guard`` may answer on every operation: 400 (a parameter, or a
    body nested too deep), and on writes 413 (body size) and 422 (a value that cannot be
    stored, located by JSON pointer). Handlers are per-app copies, like ``document_access``."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not isinstance(handler, HTTPRouteHandler) or not handler.resolve_include_in_schema():
                continue
            added = [400]
            if set(handler.http_methods) & WRITE_METHODS:
                added += [413, 422]
            handler.responses = {
                **{status: _spec(status) for status in added},
                **(handler.responses or {}),
            }


def docs_router(path: str) -> Router:
    """The router Litestar serves the OpenAPI document and its UI from, answering a path under
    it that serves nothing with a problem document (Litestar's own answer is an HTML page)."""
    return Router(path, route_handlers=[], guards=[_no_such_document], include_in_schema=False)


def _no_such_document(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    if any("{path:" in path for path in handler.paths):  # Litestar's catch-all of the docs
        raise NotFoundException(f"no such path: {connection.url.path}")


@dataclass
class OptionalBodyOperation(Operation):
    """Operation whose request body may be left out (``data: X | None = None``): Litestar marks
    every body required, which would document a call the API accepts as invalid."""

    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody):
            self.request_body.required = False


def _spec(status: int) -> ResponseSpec:
    return ResponseSpec(
        data_container=ProblemDetails, description=_DESCRIPTIONS[status], media_type=MEDIA_TYPE
    )


PROBLEM_BASE = "https://pao.dev/problems/"
MEDIA_TYPE = "application/problem+json"
log = logging.getLogger(__name__)

_STATUS: dict[type[PaoError], int] = {
    NotFound: 404,
    Forbidden: 403,
    InvalidState: 409,
    ValidationFailed: 422,
    ItemNotRequestable: 409,
    NotAvailable: 501,
}


def problem(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    title: str,
    detail: str,
    **extra: Any,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": redact(detail),  # exception texts may quote a secret: never answer it
        "instance": request.url.path,
    }
    state = request.scope.setdefault("state", {})
    correlation_id = state.get("correlation_id")
    headers: dict[str, str] = {}
    if not correlation_id:
        # no route matched (unknown path, a path parameter of the wrong type): the context
        # middleware, which runs per route, never saw this call; give it an id here
        correlation_id = state["correlation_id"] = random_id()
        headers[_correlation_header(request)] = correlation_id
    body["correlation_id"] = correlation_id
    body.update({k: redact_value(v) for k, v in extra.items() if v is not None})
    return Response(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _correlation_header(request: Request[Any, Any, Any]) -> str:
    settings = request.app.state.get("settings")
    header = getattr(getattr(settings, "api", None), "correlation_id_header", None)
    return str(header or "X-Correlation-ID")


def pao_error(request: Request[Any, Any, Any], exc: PaoError) -> Response[dict[str, Any]]:
    status = next((s for kind, s in _STATUS.items() if isinstance(exc, kind)), 400)
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationFailed):
        extra["errors"] = exc.errors
    for key in ("status", "item_id", "request_id"):
        if key in exc.details and key != "status":
            extra[key] = exc.details[key]
    if isinstance(exc, InvalidState) and "status" in exc.details:
        extra["current_status"] = exc.details["status"]
    return problem(request, status, exc.code, type(exc).__name__, exc.message, **extra)


def validation_error(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for entry in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(entry, dict):
            errors.append(_located(entry))
    status = 400
    return problem(request, status, "bad-request", "Bad Request", exc.detail, errors=errors or None)


_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]*)`")
_MISSING_FIELD = re.compile(r"missing required field `([^`]*)`")
_AT = re.compile(r" - at `\$((?:\.[^`.\[]+|\[\d+\])*)`$")


def _located(entry: dict[str, Any]) -> dict[str, Any]:
    """One refused input, located by JSON pointer (body) or parameter name, in the API's own
    words: never Litestar's internals (``ParamType.QUERY``, the handler's ``data`` argument)."""
    raw_source = entry.get("source")
    source = str(getattr(raw_source, "value", raw_source) or "body")
    key = str(entry.get("key") or "")
    message = str(entry.get("message"))
    if source != "body":
        if source == "header":  # the handler's argument name, as the header is spelled
            key = key.replace("_", "-")
        return {"source": source, "parameter": key, "message": message}
    path = ""
    located = _AT.search(message)
    if located:  # msgspec names where in the document: `$.fields.size` or `$[0]`
        message = message[: located.start()]
        path = located.group(1)
    unknown = _UNKNOWN_FIELD.search(message) or _MISSING_FIELD.search(message)
    if unknown:
        path += "." + unknown.group(1)
    elif key and key != "data" and not located:
        path = "." + key
    segments = [s for s in re.split(r"\.|\[(\d+)\]", path) if s]
    pointer = "".join("/" + s.replace("~", "~0").replace("/", "~1") for s in segments)
    return {"source": "body", "pointer": pointer, "message": message}


def input_refused(request: Request[Any, Any, Any], exc: InputRefused) -> Response[dict[str, Any]]:
    """Input ``api.input_guard`` refused before any handler ran, located per parameter or by
    JSON pointer (never echoing the refused value)."""
    return problem(
        request, exc.status, exc.code, _title(exc.status), exc.detail, errors=exc.errors or None
    )


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    codes = {
        NotFoundException: "not-found",
        NotAuthorizedException: "unauthorized",
        PermissionDeniedException: "forbidden",
    }
    code = next((c for kind, c in codes.items() if isinstance(exc, kind)), _slug(exc.status_code))
    response = problem(request, exc.status_code, code, _title(exc.status_code), exc.detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def store_unavailable(
    request: Request[Any, Any, Any], exc: StoreUnavailable
) -> Response[dict[str, Any]]:
    log.error("database unavailable: %s", exc)
    response = problem(
        request,
        503,
        "service-unavailable",
        "Service Unavailable",
        "the database is not reachable; try again shortly",
    )
    response.headers["Retry-After"] = "5"
    return response


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal-error",
        "Internal Server Error",
        "an unexpected error occurred; the correlation id identifies it in the logs",
    )


def _slug(status: int) -> str:
    """The problem code of an HTTP error: its reason phrase, kebab-cased (``bad-request``,
    ``method-not-allowed``, ``payload-too-large``, ``too-many-requests``)."""
    if status == 413:
        return "payload-too-large"  # the phrase is "Request Entity Too Large" in http.HTTPStatus
    return re.sub(r"[^a-z0-9]+", "-", _title(status).lower()).strip("-") or "error"


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    PaoError: pao_error,
    ValidationException: validation_error,
    InputRefused: input_refused,
    HTTPException: http_error,
    StoreUnavailable: store_unavailable,
    Exception: internal_error,
}
