"""Pages from Jinja templates, and the headers every portal answer carries.

The portal's templates are ours (not catalog authors'), so a plain autoescaping Jinja
environment is right here; catalog text reaches them only as escaped values. The Content
Security Policy allows scripts, styles and connections from this origin only: no inline script
or style, no CDN, no framing.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import Response
from litestar.datastructures import ResponseHeader

from orchestrator.requests.failure_text import failure_text

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    ResponseHeader(name="Content-Security-Policy", value=CSP),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="same-origin"),
    ResponseHeader(name="X-Frame-Options", value="DENY"),
    ResponseHeader(name="Cache-Control", value="no-store"),
]


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("portal", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["failure"] = failure_text  # "Why it stopped": error_context as a sentence
    return env


def _when(iso: str | None) -> str:
    """An ISO timestamp as people read it (UTC, to the second)."""
    if not iso:
        return ""
    return iso.replace("T", " ")[:19] + " UTC"


def html(template: str, context: dict[str, Any], status_code: int = 200) -> Response[str]:
    body = environment().get_template(template).render(**context)
    return Response(body, status_code=status_code, media_type="text/html; charset=utf-8")
