"""Validate requests and responses against the vendors' published API descriptions (trimmed
copies in ``specs/``, sources noted in each file's ``info.x-pao-source``) with openapi-core.

Path mapping: JIRA's ``/rest/api/2`` is checked against the description's ``/rest/api/3``
(the same operations; see ../shared/specs/README.md), the OAuth 2.0 gateway prefix
``/ex/jira/{cloudId}`` is dropped; Terraform's ``/api/v2`` prefix is the description's server.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

SPECS = Path(__file__).resolve().parent / "specs"
_GATEWAY = re.compile(r"^/ex/jira/[^/]+")


@dataclass(frozen=True, slots=True)
class Exchange:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int
    response: bytes
    content_type: str


class ContractError(AssertionError):
    """A request or response that does not match the vendor's description."""


@cache
def _openapi(name: str) -> OpenAPI:
    return OpenAPI.from_dict(json.loads((SPECS / name).read_text()))


def _jira_path(path: str) -> str:
    return _GATEWAY.sub("", path).replace("/rest/api/2/", "/rest/api/3/", 1)


def _args(query: dict[str, list[str]]) -> dict[str, Any]:
    return {k: v if len(v) > 1 else v[0] for k, v in query.items()}


def check(product: str, exchange: Exchange, *, response: bool = True) -> None:
    """Raise ``ContractError`` naming the call when it drifts from the description."""
    if product == "jira":
        openapi, host, path = (
            _openapi("jira-cloud.json"),
            "https://your-domain.atlassian.net",
            _jira_path(exchange.path),
        )
    else:
        openapi, host, path = (
            _openapi("hcp-terraform.json"),
            "https://app.terraform.io",
            exchange.path.removeprefix("/api/v2"),
        )
    content_type = exchange.headers.get("content-type", "application/json").split(";")[0]
    request = MockRequest(
        host,
        exchange.method.lower(),
        path,
        args=_args(exchange.query),
        headers=exchange.headers,
        data=exchange.body or None,
        content_type=content_type,
    )
    where = f"{product}: {exchange.method} {exchange.path}"
    try:
        openapi.validate_request(request)
    except Exception as exc:
        raise ContractError(f"{where}: request: {_reason(exc)}") from exc
    if not response:
        return
    if exchange.status in (202, 204) and not exchange.response:
        # "202 Accepted, no body" as the Runs API reference documents the run actions (the
        # description's schema for it, a string "null", describes no real response).
        return
    reply = MockResponse(
        exchange.response,
        status_code=exchange.status,
        content_type=exchange.content_type.split(";")[0],
    )
    try:
        openapi.validate_response(request, reply)
    except Exception as exc:
        raise ContractError(f"{where} -> {exchange.status}: response: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    causes = [str(exc)]
    inner = exc.__cause__
    while inner is not None:
        causes.append(str(inner))
        for error in getattr(inner, "schema_errors", ()) or ():
            causes.append(str(getattr(error, "message", error)))
        inner = inner.__cause__
    return "; ".join(causes)[:2000]
