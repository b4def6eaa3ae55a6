"""Errors as RFC 9457 problem details, with a stable ``type`` per kind of error."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from orchestrator.errors import (
    InvalidState,
    ItemNotRequestable,
    NotAvailable,
    NotFound,
    PaoError,
    ValidationFailed,
)
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
    422: "the input breaks the rules; errors are located by JSON pointer",
    501: "not available in this deployment yet",
    503: "a backing service is unavailable",
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI documentation of the problem documents a handler may answer with."""
    return {
        status: ResponseSpec(
            data_container=ProblemDetails,
            description=_DESCRIPTIONS[status],
            media_type=MEDIA_TYPE,
        )
        for status in (400, 503, *statuses)
    }


PROBLEM_BASE = "https://pao.dev/problems/"
MEDIA_TYPE = "application/problem+json"
log = logging.getLogger(__name__)

_STATUS: dict[type[PaoError], int] = {
    NotFound: 404,
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
        "detail": detail,
        "instance": request.url.path,
    }
    correlation_id = request.scope.get("state", {}).get("correlation_id")
    if correlation_id:
        body["correlation_id"] = correlation_id
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(body, status_code=status, media_type=MEDIA_TYPE)


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
            key = str(entry.get("key") or "")
            source = str(entry.get("source") or "body")
            pointer = "/" + key.replace(".", "/") if key else ""
            errors.append(
                {"source": source, "pointer": pointer, "message": str(entry.get("message"))}
            )
    status = 400
    return problem(request, status, "bad-request", "Bad Request", exc.detail, errors=errors or None)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    codes = {
        NotFoundException: "not-found",
        NotAuthorizedException: "unauthorized",
        PermissionDeniedException: "forbidden",
    }
    code = next(
        (c for kind, c in codes.items() if isinstance(exc, kind)), f"http-{exc.status_code}"
    )
    if exc.status_code == 413:
        code = "payload-too-large"
    elif exc.status_code == 405:
        code = "method-not-allowed"
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


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    PaoError: pao_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    StoreUnavailable: store_unavailable,
    Exception: internal_error,
}
