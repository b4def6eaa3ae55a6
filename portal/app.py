"""The portal mounted on the API's Litestar app: one router under ``/portal``.

Everything a browser face needs and the JSON API must not get is scoped to this router: its
own authentication (``portal.identity``: the API's middleware skips these routes, marked
``exclude_from_auth``), CSRF checks on every unsafe method (Litestar's ``CSRFMiddleware``,
token in a hidden form field or the ``X-CSRF-Token`` header htmx sends), the strict
Content-Security-Policy, HTML error pages, and the static files (htmx, vendored; no CDN).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, Router, get
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from api.auth import EXCLUDE_OPT_KEY
from api.input_guard import FORM_TYPE, InputRefused
from orchestrator.errors import Forbidden, InvalidState, NotFound, PaoError
from orchestrator.services import Services
from orchestrator.settings import Settings
from portal.approvals import ApprovalPages
from portal.identity import (
    COOKIE_PATH,
    LoginRequired,
    NoBrowserIdentity,
    Sessions,
    Viewer,
    viewer_of,
)
from portal.pages import PortalPages
from portal.render import SECURITY_HEADERS, html

STATIC = Path(__file__).parent / "static"
CSRF_COOKIE = "pao_csrf"
CSRF_HEADER = "x-csrf-token"


def portal_routes(settings: Settings) -> list[Any]:
    """What the app mounts: the portal's router, and ``/`` leading to it."""
    return [portal_router(settings), root_to_portal]


def portal_router(settings: Settings) -> Router:
    """The portal's routes, with their sessions, CSRF protection and headers."""
    sessions = Sessions.for_services(settings.cache.redis_url)

    async def provide_viewer(request: Request[Any, Any, Any], services: Services) -> Viewer:
        return await viewer_of(request, services, sessions)

    def provide_sessions() -> Sessions:
        return sessions

    csrf = CSRFConfig(
        secret=settings.api.portal_secret or secrets.token_hex(32),
        cookie_name=CSRF_COOKIE,
        cookie_path=COOKIE_PATH,
        cookie_secure=True,
        cookie_httponly=True,
        cookie_samesite="strict",
        header_name=CSRF_HEADER,
    )
    return Router(
        path="/portal",
        route_handlers=[
            ApprovalPages,
            PortalPages,
            create_static_files_router(
                path="/static", directories=[STATIC], opt={EXCLUDE_OPT_KEY: True}
            ),
        ],
        dependencies={
            "viewer": Provide(provide_viewer),
            "sessions": Provide(provide_sessions, sync_to_thread=False),
        },
        middleware=[DefineMiddleware(CSRFMiddleware, config=csrf)],
        opt={EXCLUDE_OPT_KEY: True},  # the portal authenticates its own way
        response_headers=SECURITY_HEADERS,
        exception_handlers={
            LoginRequired: _to_login,
            NoBrowserIdentity: _no_identity,
            PaoError: _pao_error,
            HTTPException: _http_error,
            InputRefused: _input_refused,
            ValidationException: _invalid_parameter,
        },
        before_request=_urlencoded_forms_only,
        include_in_schema=False,
    )


async def _urlencoded_forms_only(request: Request[Any, Any, Any]) -> None:
    """The portal's forms (and htmx) post ``application/x-www-form-urlencoded``, the encoding
    ``api.input_guard`` checks field by field; any other body (a multipart upload) is refused
    before a page reads it, so nothing unchecked reaches the core."""
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != FORM_TYPE and (media_type or await request.body()):
        raise HTTPException(
            status_code=415, detail=f"the portal's forms are sent as {FORM_TYPE}, not {media_type}"
        )


@get("/", include_in_schema=False, opt={EXCLUDE_OPT_KEY: True})
async def root_to_portal() -> Redirect:
    """``/`` is where a person types the address: the portal."""
    return Redirect("/portal/", status_code=302)


def _error_page(
    request: Request[Any, Any, Any], status: int, title: str, detail: str
) -> Response[str]:
    response = html(
        "error.html",
        {
            "viewer": None,
            "can_logout": False,
            "csrf_token": "",
            "path": request.url.path,
            "status": status,
            "title": title,
            "detail": detail,
        },
        status_code=status,
    )
    for header in SECURITY_HEADERS:
        response.headers[header.name] = str(header.value)
    return response


def _to_login(request: Request[Any, Any, Any], _: LoginRequired) -> Response[Any]:
    if request.method != "GET" or request.headers.get("hx-request"):
        return _error_page(request, 401, "Signed out", "Your session has ended: sign in again.")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/portal/login?next={quote(target, safe='/')}", status_code=303)


def _no_identity(request: Request[Any, Any, Any], exc: NoBrowserIdentity) -> Response[str]:
    return _error_page(request, 401, "No browser sign-in here", str(exc))


def _pao_error(request: Request[Any, Any, Any], exc: PaoError) -> Response[str]:
    if isinstance(exc, NotFound):
        return _error_page(request, 404, "Not found", exc.message)
    if isinstance(exc, Forbidden):
        return _error_page(request, 403, "Not allowed", exc.message)
    status = 409 if isinstance(exc, InvalidState) else 422
    return _error_page(request, status, "Not possible", exc.message)


def _input_refused(request: Request[Any, Any, Any], exc: InputRefused) -> Response[str]:
    """What ``api.input_guard`` refused before the page ran, named field by field (never the
    refused value itself), as the API's problem document names it."""
    located = "; ".join(
        f"{e.get('parameter') or e.get('pointer') or e['source']}: {e['message']}"
        for e in exc.errors
    )
    detail = f"{exc.detail} ({located})" if located else exc.detail
    return _error_page(request, exc.status, "Bad request", detail)


def _invalid_parameter(request: Request[Any, Any, Any], exc: ValidationException) -> Response[str]:
    """A query or path parameter out of its bounds (a search too long, an unknown scope): the
    parameter named with the reason, never the value sent (it may be 60 000 characters)."""
    entries = exc.extra if isinstance(exc.extra, list) else []
    located = "; ".join(
        f"{e.get('key')}: {e.get('message')}" for e in entries if isinstance(e, dict)
    )
    detail = f"a parameter cannot be accepted ({located})" if located else "a parameter is invalid"
    return _error_page(request, 400, "Bad request", detail)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[str]:
    status = exc.status_code or HTTP_500_INTERNAL_SERVER_ERROR
    titles = {
        400: "Bad request",
        403: "Not allowed",
        404: "Not found",
        405: "Not allowed",
        415: "Not a form",
    }
    detail = exc.detail if status < 500 else "Something went wrong on our side."
    return _error_page(request, status, titles.get(status, "Error"), str(detail))
