"""One validation layer in front of every route: input the core cannot store is a located 4xx.

PostgreSQL refuses NUL (U+0000) in ``text`` and in ``jsonb`` strings and keys, a Python string
holding a lone surrogate cannot be encoded for it, and a JSON document nested some thousands
deep makes a recursive decoder raise ``RecursionError``. Left to the handlers, each of these is
a 500. This ASGI middleware checks, before any handler (or decoder) runs:

- header values, query parameters and path parameters: no NUL (400, naming the parameter);
- the body, when it is JSON: a nesting limit counted on the raw bytes without recursion, so a
  100 000-deep ``[[[[`` is refused before any decoder sees it (400); a size limit while reading
  (413); then every string and object key: no NUL or lone surrogate, at most
  ``max_string_chars`` characters (422, with the JSON pointer of each offending value);
- the body, when it is an HTML form (``application/x-www-form-urlencoded``, the portal's
  posts): every field name and value must be UTF-8 text without NUL or lone surrogate, at
  most ``max_string_chars`` characters (400, naming each offending field).

The body is read once and handed on unchanged. Any other body (not JSON, not a form) is left
to the route (which answers 400 itself if it wanted JSON); signatures over raw bytes (the
GitHub webhook) still see exactly the bytes that were sent.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import msgspec
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import (
    ASGIApp,
    HTTPDisconnectEvent,
    HTTPRequestEvent,
    Receive,
    ReceiveMessage,
    Scope,
    Send,
)

from orchestrator.storable import refused_text, sanitized, unstorable

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
MAX_ERRORS = 20
FORM_TYPE = "application/x-www-form-urlencoded"


class InputRefused(Exception):
    """Input refused before it reached a handler; rendered by ``api.problems`` as RFC 9457."""

    def __init__(self, status: int, code: str, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors


def nesting_depth(body: bytes, limit: int) -> int:
    """The nesting depth of the JSON text ``body`` (brackets inside strings do not count),
    counted without recursion; stops early and returns ``limit + 1`` once past ``limit``."""
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        else:
            depth -= 1
    return deepest


def body_errors(document: Any, max_chars: int) -> list[dict[str, Any]]:
    """Located problems of the strings and keys of a decoded JSON ``document``."""
    return [
        {"source": "body", "pointer": found.pointer, "message": found.message}
        for found in unstorable(document, max_chars=max_chars, limit=MAX_ERRORS)
    ]


class InputGuardMiddleware:
    """See the module docstring. Placed after authentication: without credentials, 401 first."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, max_json_depth: int, max_string_chars: int
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth
        self.max_string_chars = max_string_chars

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        self._check_parameters(scope)
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        body, disconnected = await self._read_body(scope, receive)
        if not disconnected:
            if _content_type(scope) == FORM_TYPE:
                self._check_form(body)
            else:
                self._check_body(body)
        replayed = False

        async def replay() -> ReceiveMessage:
            nonlocal replayed
            if not replayed:
                replayed = True
                if disconnected:
                    return HTTPDisconnectEvent(type="http.disconnect")
                return HTTPRequestEvent(type="http.request", body=body, more_body=False)
            return await receive()

        await self.app(scope, replay, send)

    def _check_parameters(self, scope: Scope) -> None:
        errors: list[dict[str, Any]] = []
        for header, raw in scope.get("headers", ()):
            if b"\x00" in raw:
                errors.append(_parameter("header", header.decode("latin-1"), "contains NUL"))
        query = scope.get("query_string", b"")
        if query:
            text = query.decode("latin-1")
            for name, value in parse_qsl(text, keep_blank_values=True, errors="replace"):
                for part in (name, value):
                    reason = refused_text(part, self.max_string_chars)
                    if reason is not None:
                        errors.append(_parameter("query", sanitized(name), reason))
                        break
        for name, value in (scope.get("path_params") or {}).items():
            if isinstance(value, str):
                reason = refused_text(value, self.max_string_chars)
                if reason is not None:
                    errors.append(_parameter("path", str(name), reason))
        if "\x00" in scope.get("path", "") and not errors:
            errors.append(_parameter("path", "path", "contains NUL"))
        if errors:
            raise InputRefused(400, "bad-request", "a parameter cannot be accepted", errors)

    async def _read_body(self, scope: Scope, receive: Receive) -> tuple[bytes, bool]:
        """The whole body (refusing more than the limit with 413), and whether the client left."""
        for header, raw in scope.get("headers", ()):
            if header == b"content-length" and raw.isdigit() and int(raw) > self.max_body_bytes:
                raise HTTPException(status_code=413, detail=self._too_large())
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks), True
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise HTTPException(status_code=413, detail=self._too_large())
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False

    def _too_large(self) -> str:
        return f"the request body is larger than {self.max_body_bytes} bytes"

    def _check_form(self, body: bytes) -> None:
        errors = form_errors(body, self.max_string_chars)
        if errors:
            raise InputRefused(400, "bad-request", "a form field cannot be accepted", errors)

    def _check_body(self, body: bytes) -> None:
        start = body.lstrip()[:1]
        if not start or start not in b'[{"':
            return  # not a JSON document (or a number/literal): nothing to refuse here
        if nesting_depth(body, self.max_json_depth) > self.max_json_depth:
            raise InputRefused(
                400,
                "bad-request",
                f"the JSON body is nested deeper than {self.max_json_depth} levels",
                [
                    {
                        "source": "body",
                        "pointer": "",
                        "message": f"at most {self.max_json_depth} nested arrays/objects",
                    }
                ],
            )
        try:
            document = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return  # malformed JSON: the route's own decoding answers 400 with its message
        errors = body_errors(document, self.max_string_chars)
        if errors:
            raise InputRefused(
                422,
                "validation-failed",
                "the JSON body holds values that cannot be accepted",
                errors,
            )


def form_errors(body: bytes, max_chars: int) -> list[dict[str, Any]]:
    """Located problems of the field names and values of a urlencoded form ``body``: each
    must decode as UTF-8 (a form parser would otherwise guess or replace) and be storable."""
    errors: list[dict[str, Any]] = []
    for pair in body.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name = _form_text(raw_name)
        shown = name if isinstance(name, str) else name.decode("utf-8", "replace")
        for part in (name, _form_text(raw_value)):
            if isinstance(part, bytes):
                reason: str | None = "is not UTF-8 text"
            else:
                reason = refused_text(part, max_chars)
            if reason is not None:
                errors.append(_parameter("form", sanitized(shown), reason))
                break
        if len(errors) >= MAX_ERRORS:
            break
    return errors


def _form_text(raw: bytes) -> str | bytes:
    """One urlencoded token as text, or its bytes when they are not UTF-8."""
    decoded = unquote_to_bytes(raw.replace(b"+", b" "))
    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError:
        return decoded


def _content_type(scope: Scope) -> str:
    for header, raw in scope.get("headers", ()):
        if header == b"content-type":
            return raw.decode("latin-1").split(";", 1)[0].strip().lower()
    return ""


def _parameter(source: str, name: str, message: str) -> dict[str, Any]:
    return {"source": source, "parameter": name, "message": message}
