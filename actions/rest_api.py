"""The ``rest-api`` action: one HTTP call (optionally followed by polling a status URL).

The runner hands over the config already rendered (URL, headers, query and body templated).
This module adds what the catalog never carries: secrets (resolved from ``env:NAME`` references
through an injected mapping), the ``Idempotency-Key`` header (the action's correlation key, unless
the catalog item sets one itself), and the safety rails:

- SSRF guard: the host is resolved first and every address checked. Link-local addresses
  (169.254.0.0/16, fe80::/10) and cloud metadata addresses are refused, and so is any address
  that is not globally routable (private, loopback, CGNAT, reserved ...) unless
  ``allow_private``. A host in ``allowed_hosts`` skips these checks (tests allow ``127.0.0.1``);
  a host in ``denied_hosts`` is always refused. Redirects are not followed (a redirect could
  point anywhere). Known limit: httpx resolves the name again when connecting, so a hostile DNS
  server could answer differently the second time (DNS rebinding); pinning the resolved address
  needs a custom transport.
- TLS verification on (``verify`` may name a CA bundle, never be turned off per item).
- A per-request timeout (the action's ``timeout`` when the runner passes it, else 30 s).
- A response size cap (1 MiB by default): a larger body is a non-retryable failure.

Results: an expected status (default any 2xx) completes with the configured ``outputs``
(extracted from the JSON body: grammar in ``orchestrator.expressions``, evaluation in
``actions.extract``) plus ``status_code``. 429 and 5xx are retryable (Retry-After honoured),
other statuses are not; connection errors and timeouts are retryable. With ``async``, the call returns ``Pending`` on the status URL, and each poll GETs it
until ``failureWhen`` (checked first) or ``successWhen`` is truthy; outputs are then extracted
from the final status document.

Secret values never appear in ``Failed.error`` or in ``details``: every text that leaves this
module passes through ``_redact`` with the secrets used for the call.

About 620 lines: the call, its asynchronous polling, the outputs' extraction and the
redaction share one call's state (URL, secrets used, attempt); split, each part would need it
passed around.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus, urljoin, urlsplit

import httpx

from actions.extract import evaluate, truthy
from actions.failures import Permanent as _Permanent
from actions.failures import Retryable as _Retryable

# Re-exported: SecretResolver lived here before actions.secrets existed.
from actions.secrets import SecretError as SecretError
from actions.secrets import SecretResolver as SecretResolver
from orchestrator.engine.backoff import parse_retry_after
from orchestrator.engine.executor import ActionResult, ActionRun, Completed, Failed, Pending
from orchestrator.expressions import ExpressionError, compile_expression
from orchestrator.redaction import scrub as _redact
from orchestrator.redaction import scrub_value as _redact_any

MiB = 1024 * 1024
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
# Cloud metadata endpoints that are not link-local (AWS IPv6, Alibaba, Oracle legacy ...).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
BODY_EXCERPT = 500


@dataclass(frozen=True, slots=True)
class RestApiSettings:
    allowed_hosts: frozenset[str] = frozenset()  # exact host names/IPs exempt from the SSRF guard
    denied_hosts: frozenset[str] = frozenset()
    allow_private: bool = False  # allow non-global addresses (never link-local or metadata)
    default_timeout_seconds: float = 30.0
    max_response_bytes: int = MiB
    verify: bool | str = True  # True or a CA bundle path
    default_poll_seconds: float = 30.0
    token_expiry_margin_seconds: float = 30.0
    user_agent: str = "pao-orchestrator"


class Refused(Exception):
    """The SSRF guard refused a URL (non-retryable)."""


@dataclass(slots=True)
class _Response:
    status_code: int
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        if not self.body.strip():
            return None
        try:
            return httpx.Response(200, content=self.body).json()
        except ValueError:
            return None

    def excerpt(self) -> str:
        return self.body[:BODY_EXCERPT].decode("utf-8", errors="replace")


@dataclass(slots=True)
class _Token:
    value: str
    expires_at: float | None


@dataclass(slots=True)
class _Call:
    """Everything one execute/poll needs, with the secrets it used (for redaction)."""

    secrets: list[str] = field(default_factory=list)


async def _resolve_host(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def parse_duration(text: str | None, default: float) -> float:
    if not text:
        return default
    unit = DURATION_UNITS.get(text[-1])
    if unit is None or not text[:-1].isdigit():
        return default
    return float(int(text[:-1]) * unit)


class RestApiExecutor:
    """Executor for ``rest-api`` actions (see the module docstring)."""

    def __init__(
        self,
        secrets: SecretResolver,
        settings: RestApiSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Callable[[str, int], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secrets = secrets
        self.settings = settings or RestApiSettings()
        self._transport = transport
        self._resolver = resolver or _resolve_host
        self._clock = clock
        self._tokens: dict[tuple[str, str, tuple[str, ...]], _Token] = {}
        self._token_locks: dict[tuple[str, str, tuple[str, ...]], asyncio.Lock] = {}
        self._clients: dict[int, httpx.AsyncClient] = {}

    def _client(self) -> httpx.AsyncClient:
        """One pooled client per event loop: building a client (its TLS context above all)
        costs far more than the call to an instant target."""
        loop = id(asyncio.get_running_loop())
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            client = httpx.AsyncClient(
                verify=self.settings.verify,
                follow_redirects=False,
                timeout=httpx.Timeout(self.settings.default_timeout_seconds),
                transport=self._transport,
                trust_env=False,  # no proxies or netrc credentials from the process
            )
            self._clients[loop] = client
        return client

    # -- protocol ------------------------------------------------------------------------------

    def target(self, action: ActionRun) -> str | None:
        """The breaker key: the endpoint (scheme, host, port, path; no query), not the host, so
        one failing endpoint of a service does not stop calls to its healthy ones."""
        url = action.config.get("url")
        if not isinstance(url, str):
            return None
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return None
        if not parts.hostname:
            return None
        return f"{parts.scheme}://{parts.hostname}:{port}{parts.path or '/'}"

    def describe(self, action: ActionRun) -> Mapping[str, Any]:
        """The call(s) ``execute`` would make; auth as its kind and secret references only."""
        config = action.config
        method = str(config.get("method", "POST")).upper()
        url = str(config.get("url", ""))
        headers = {str(k): str(v) for k, v in dict(config.get("headers") or {}).items()}
        if not any(k.lower() == "idempotency-key" for k in headers):
            headers["Idempotency-Key"] = action.correlation_key
        headers.setdefault("User-Agent", self.settings.user_agent)
        request: dict[str, Any] = {
            "method": method,
            "url": url,
            "headers": headers,
            "query": {str(k): _query_value(v) for k, v in dict(config.get("query") or {}).items()},
        }
        if config.get("body") is not None and method != "GET":
            request["body"] = config.get("body")
            request["bodyType"] = config.get("bodyType", "json")
        auth = dict(config.get("auth") or {"type": "none"})
        request["auth"] = {
            k: v
            for k, v in auth.items()
            if k in ("type", "username", "name", "in", "tokenUrl", "clientId", "scopes")
            or k.endswith("Ref")
        }
        requests = [request]
        async_config = config.get("async")
        if isinstance(async_config, Mapping):
            requests.append(
                {
                    "method": "GET",
                    "url": urljoin(url, str(async_config.get("statusUrl", ""))),
                    "repeat": "until successWhen or failureWhen holds",
                }
            )
        described: dict[str, Any] = {"requests": requests}
        urls = [url, str(auth.get("tokenUrl", ""))] if auth.get("tokenUrl") else [url]
        refusals = [r for r in (self.refusal(u) for u in urls) if r]
        if refusals:  # what the SSRF guard would refuse, said before submission
            described["error"] = "; ".join(refusals)
        return described

    async def execute(self, action: ActionRun) -> ActionResult:
        call = _Call()
        try:
            return await self._execute(action, call)
        except Exception as exc:  # every error becomes a redacted Failed
            return self._failure(exc, call)

    async def poll(self, action: ActionRun) -> ActionResult:
        call = _Call()
        try:
            return await self._poll(action, call)
        except Exception as exc:
            return self._failure(exc, call)

    # -- execute / poll ------------------------------------------------------------------------

    async def _execute(self, action: ActionRun, call: _Call) -> ActionResult:
        config = action.config
        method = str(config.get("method", "POST")).upper()
        if method not in METHODS:
            raise _Permanent(f"unsupported method {method!r}")
        url = config.get("url")
        if not isinstance(url, str) or not url:
            raise _Permanent("rest-api config has no url")
        async_config = config.get("async")
        if async_config is not None and not isinstance(async_config, Mapping):
            raise _Permanent("rest-api 'async' must be an object")
        expressions = self._expressions(config, async_config)
        response = await self._send(action, call, method, url, with_body=True)
        self._check_status(response, config.get("expectedStatus"), method, url)
        if async_config is not None:
            status_url = urljoin(url, str(async_config.get("statusUrl", "")))
            return Pending(
                external_ref=status_url,
                url=status_url,
                poll_after_seconds=self._interval(async_config),
                details={"status_code": response.status_code, "method": method, "url": url},
            )
        document = response.json()
        outputs = {name: evaluate(expr, document) for name, expr in expressions["outputs"].items()}
        outputs["status_code"] = response.status_code
        return Completed(
            outputs=outputs,
            details={"status_code": response.status_code, "method": method, "url": url},
        )

    async def _poll(self, action: ActionRun, call: _Call) -> ActionResult:
        config = action.config
        async_config = config.get("async")
        if not isinstance(async_config, Mapping):
            raise _Permanent("poll called on a rest-api action without 'async'")
        expressions = self._expressions(config, async_config)
        status_url = action.external_ref or urljoin(
            str(config.get("url", "")), str(async_config.get("statusUrl", ""))
        )
        response = await self._send(action, call, "GET", status_url, with_body=False)
        self._check_status(response, None, "GET", status_url)
        document = response.json()
        details = {"status_code": response.status_code, "method": "GET", "url": status_url}
        failure = expressions.get("failure")
        if failure is not None and truthy(failure, document):
            raise _Permanent(
                f"async status reports failure ({async_config.get('failureWhen')}) at "
                f"{status_url}: {response.excerpt()}",
                details,
            )
        if truthy(expressions["success"], document):
            outputs = {
                name: evaluate(expr, document) for name, expr in expressions["outputs"].items()
            }
            outputs["status_code"] = response.status_code
            return Completed(outputs=outputs, details=details)
        return Pending(
            external_ref=status_url,
            url=status_url,
            poll_after_seconds=self._interval(async_config),
            details=details,
        )

    def _interval(self, async_config: Mapping[str, Any]) -> float:
        interval = async_config.get("interval")
        return parse_duration(
            interval if isinstance(interval, str) else None, self.settings.default_poll_seconds
        )

    @staticmethod
    def _expressions(config: Mapping[str, Any], async_config: Any) -> dict[str, Any]:
        """Compile every expression up front: a bad one fails before anything is sent."""
        try:
            outputs = {
                str(name): compile_expression(str(expr))
                for name, expr in dict(config.get("outputs") or {}).items()
            }
            compiled: dict[str, Any] = {"outputs": outputs}
            if isinstance(async_config, Mapping):
                compiled["success"] = compile_expression(str(async_config.get("successWhen", "")))
                if async_config.get("failureWhen"):
                    compiled["failure"] = compile_expression(str(async_config["failureWhen"]))
            return compiled
        except ExpressionError as exc:
            raise _Permanent(str(exc)) from None

    # -- one HTTP call -------------------------------------------------------------------------

    async def _send(
        self, action: ActionRun, call: _Call, method: str, url: str, *, with_body: bool
    ) -> _Response:
        config = action.config
        await self._guard(url)
        headers = {str(k): str(v) for k, v in dict(config.get("headers") or {}).items()}
        if not any(k.lower() == "idempotency-key" for k in headers):
            headers["Idempotency-Key"] = action.correlation_key
        headers.setdefault("User-Agent", self.settings.user_agent)
        params: dict[str, str] = {
            str(k): _query_value(v) for k, v in dict(config.get("query") or {}).items()
        }
        await self._authenticate(
            dict(config.get("auth") or {"type": "none"}), headers, params, call
        )
        kwargs: dict[str, Any] = {}
        body = config.get("body")
        if with_body and body is not None and method != "GET":
            if config.get("bodyType", "json") == "form":
                if not isinstance(body, Mapping):
                    raise _Permanent("a form body must be an object")
                kwargs["data"] = {str(k): _query_value(v) for k, v in body.items()}
            else:
                kwargs["json"] = body
        timeout = action.timeout_seconds or self.settings.default_timeout_seconds
        return await self._request(
            method, url, headers=headers, params=params, timeout=timeout, **kwargs
        )

    async def _request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        timeout: float,
        **kwargs: Any,
    ) -> _Response:
        try:
            async with self._client().stream(
                method,
                url,
                headers=dict(headers),
                params=dict(params) if params else None,  # {} would still rebuild the URL
                timeout=_timeout(timeout),
                **kwargs,
            ) as response:
                body = await self._read_capped(response)
                return _Response(response.status_code, response.headers, body)
        except httpx.TimeoutException as exc:
            raise _Retryable(
                f"{method} {url} timed out after {timeout:g}s ({type(exc).__name__})",
                outcome_unknown=not isinstance(exc, httpx.ConnectTimeout),  # sent: maybe done
            ) from None
        except httpx.TransportError as exc:
            raise _Retryable(
                f"{method} {url} failed: {type(exc).__name__}: {exc}",
                outcome_unknown=not isinstance(exc, httpx.ConnectError),  # lost after sending
            ) from None

    async def _read_capped(self, response: httpx.Response) -> bytes:
        cap = self.settings.max_response_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise _Permanent(
                f"response body of {declared} bytes exceeds the {cap}-byte cap",
                {"status_code": response.status_code},
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise _Permanent(
                    f"response body exceeds the {cap}-byte cap",
                    {"status_code": response.status_code},
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _check_status(self, response: _Response, expected: Any, method: str, url: str) -> None:
        code = response.status_code
        if isinstance(expected, list) and expected:
            ok = code in {int(c) for c in expected}
        else:
            ok = 200 <= code < 300
        if ok:
            return
        message = f"{method} {url} returned HTTP {code}: {response.excerpt()}".rstrip(": ")
        if code == 429 or code >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise _Retryable(message, retry_after, status=code)
        raise _Permanent(message, {"status_code": code})

    # -- SSRF guard ----------------------------------------------------------------------------

    async def _guard(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise Refused(f"refusing malformed URL {url!r}") from None
        if parts.scheme not in ("http", "https"):
            raise Refused(f"refusing URL scheme {parts.scheme!r} (only http and https)")
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise Refused(f"refusing URL without a host: {url!r}")
        if host in self.settings.denied_hosts:
            raise Refused(f"refusing denied host {host} (listed in REST_API_DENIED_HOSTS)")
        if host in self.settings.allowed_hosts:
            return
        if host in METADATA_HOSTS:
            raise Refused(f"refusing metadata host {host}")
        try:
            literal = ipaddress.ip_address(host)
            addresses = [str(literal)]
        except ValueError:
            try:
                addresses = list(
                    await self._resolver(host, port or (443 if parts.scheme == "https" else 80))
                )
            except OSError as exc:
                raise _Retryable(f"cannot resolve host {host}: {exc}") from None
        for text in addresses:
            self._check_address(host, text)

    def _check_address(self, host: str, text: str) -> None:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address in METADATA_ADDRESSES:
            raise Refused(f"refusing {host}: {address} is a cloud metadata address")
        if address.is_link_local:
            raise Refused(f"refusing {host}: {address} is link-local")
        if not address.is_global and not self.settings.allow_private:
            raise Refused(
                f"refusing {host}: {address} is not a public address (SSRF guard); to call it, "
                f"add {host} to REST_API_ALLOWED_HOSTS (comma-separated), or set "
                "REST_API_ALLOW_PRIVATE=true for every private address"
            )

    def refusal(self, url: str) -> str | None:
        """What the SSRF guard would refuse ``url`` for, judged without DNS (literal addresses,
        ``localhost``, denied and metadata hosts): for dry runs."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower().rstrip(".")
            if parts.scheme not in ("http", "https") or not host:
                return None  # not rendered yet (a preview's sample values): the guard decides
            if host in self.settings.denied_hosts:
                raise Refused(f"refusing denied host {host} (listed in REST_API_DENIED_HOSTS)")
            if host in self.settings.allowed_hosts:
                return None
            if host in METADATA_HOSTS:
                raise Refused(f"refusing metadata host {host}")
            if host == "localhost":
                self._check_address(host, "127.0.0.1")
            else:
                with contextlib.suppress(ValueError):
                    self._check_address(host, str(ipaddress.ip_address(host)))
        except Refused as exc:
            return str(exc)
        except ValueError:
            return f"refusing malformed URL {url!r}"
        return None

    # -- authentication ------------------------------------------------------------------------

    async def _authenticate(
        self,
        auth: Mapping[str, Any],
        headers: dict[str, str],
        params: dict[str, str],
        call: _Call,
    ) -> None:
        kind = auth.get("type", "none")
        if kind == "none":
            return
        if kind == "bearer":
            token = self._secret(str(auth.get("tokenRef", "")), call)
            headers["Authorization"] = f"Bearer {token}"
        elif kind == "basic":
            password = self._secret(str(auth.get("passwordRef", "")), call)
            pair = f"{auth.get('username', '')}:{password}".encode()
            encoded = base64.b64encode(pair).decode()
            call.secrets.append(encoded)
            headers["Authorization"] = f"Basic {encoded}"
        elif kind == "api-key":
            value = self._secret(str(auth.get("valueRef", "")), call)
            name = str(auth.get("name", ""))
            if not name:
                raise _Permanent("api-key auth needs a name")
            if auth.get("in", "header") == "query":
                params[name] = value
            else:
                headers[name] = value
        elif kind == "oauth2-client-credentials":
            token = await self._oauth_token(auth, call)
            call.secrets.append(token)
            headers["Authorization"] = f"Bearer {token}"
        else:
            raise _Permanent(f"unsupported auth type {kind!r}")

    def _secret(self, ref: str, call: _Call) -> str:
        try:
            value = self.secrets.resolve(ref)
        except SecretError as exc:
            raise _Permanent(str(exc)) from None
        call.secrets.extend((value, quote(value, safe=""), quote_plus(value)))
        return value

    async def _oauth_token(self, auth: Mapping[str, Any], call: _Call) -> str:
        token_url = str(auth.get("tokenUrl", ""))
        client_id = str(auth.get("clientId", ""))
        scopes = tuple(str(s) for s in auth.get("scopes") or ())
        client_secret = self._secret(str(auth.get("clientSecretRef", "")), call)
        key = (token_url, client_id, scopes)
        lock = self._token_locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached is not None and (
                cached.expires_at is None or cached.expires_at > self._clock()
            ):
                return cached.value
            await self._guard(token_url)
            form = {"grant_type": "client_credentials"}
            if scopes:
                form["scope"] = " ".join(scopes)
            basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
            call.secrets.append(basic)
            response = await self._request(
                "POST",
                token_url,
                headers={
                    "Authorization": f"Basic {basic}",
                    "Accept": "application/json",
                    "User-Agent": self.settings.user_agent,
                },
                timeout=self.settings.default_timeout_seconds,
                data=form,
            )
            if not 200 <= response.status_code < 300:
                message = f"OAuth token request to {token_url} returned HTTP {response.status_code}"
                if response.status_code == 429 or response.status_code >= 500:
                    raise _Retryable(
                        message,
                        parse_retry_after(response.headers.get("retry-after")),
                        status=response.status_code,
                    )
                raise _Permanent(message, {"status_code": response.status_code})
            document = response.json()
            value = document.get("access_token") if isinstance(document, Mapping) else None
            if not isinstance(value, str) or not value:
                raise _Permanent(f"OAuth token response from {token_url} has no access_token")
            expires_in = document.get("expires_in")
            expires_at = None
            if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool):
                expires_at = (
                    self._clock() + float(expires_in) - self.settings.token_expiry_margin_seconds
                )
            self._tokens[key] = _Token(value, expires_at)
            return value

    # -- failures ------------------------------------------------------------------------------

    def _failure(self, exc: Exception, call: _Call) -> Failed:
        if isinstance(exc, _Retryable):
            return Failed(
                _redact(str(exc), call.secrets),
                retryable=True,
                retry_after=exc.retry_after,
                details=exc.details,
                outcome_unknown=exc.outcome_unknown,
            )
        if isinstance(exc, Refused):
            return Failed(_redact(str(exc), call.secrets), retryable=False, details={"ssrf": True})
        if isinstance(exc, _Permanent):
            details = {k: _redact_any(v, call.secrets) for k, v in exc.details.items()}
            return Failed(_redact(str(exc), call.secrets), retryable=False, details=details)
        message = f"{type(exc).__name__}: {exc}"  # e.g. a 2xx whose body is not JSON: maybe done
        return Failed(_redact(message, call.secrets), retryable=True, outcome_unknown=True)


@lru_cache(maxsize=64)
def _timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
