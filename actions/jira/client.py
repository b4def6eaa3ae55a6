"""JIRA clients, one per instance and credential, and how their failures become ``Failed``.

Apart from the executor so that the executor reads as the action's behaviour (find-or-create,
poll, comment) while this module owns the ``jira`` library: building a client (its own retries
off, ``max_retries=0``, so the engine's backoff rules), confirming the deployment against
``serverInfo`` once per instance, retrying once with a fresh OAuth token after a 401, and the
retry policy: 429 and 503 are retryable after ``Retry-After``; other 5xx, timeouts and
connection errors are retryable; 400/401/403/404 are not and carry JIRA's ``errorMessages`` and
``errors``. The client's ``JIRAError`` text includes request headers (the Authorization
header), so it is never used as is: messages are built here from the status and JIRA's error
fields, then redacted.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from jira import JIRA, JIRAError

from actions.failures import Permanent, Retryable
from actions.jira.auth import CallSecrets, Credentials
from actions.jira.settings import JiraInstance, JiraSettings
from orchestrator.engine.backoff import parse_retry_after
from orchestrator.engine.executor import Failed
from orchestrator.redaction import scrub as _redact
from orchestrator.redaction import scrub_value as _redact_any

DETAIL_LIMIT = 500

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _ServerInfo:
    base_url: str  # serverInfo.baseUrl: where people browse issues
    deployment: str  # serverInfo.deploymentType (Cloud, Server, DataCenter)


class JiraClients:
    """A client per instance, rebuilt when its credential changes."""

    def __init__(self, settings: JiraSettings, credentials: Credentials) -> None:
        self.settings = settings
        self.credentials = credentials
        self._lock = threading.Lock()
        self._clients: dict[str, tuple[str, JIRA]] = {}  # instance -> (credential digest, client)
        self._info: dict[str, _ServerInfo] = {}  # instance -> serverInfo, confirmed once

    def run(self, instance: JiraInstance, call: CallSecrets, work: Callable[[JIRA], T]) -> T:
        """Run ``work`` with the instance's client; a rejected cached OAuth token is dropped and
        the call made once more with a fresh one (a 401 means nothing was done)."""
        client, cached_token = self._client(instance, call)
        try:
            return work(client)
        except JIRAError as exc:
            if exc.status_code != 401 or not cached_token:
                raise
            self.credentials.forget_token(instance)
        client, _ = self._client(instance, call)
        return work(client)

    def browse_url(self, instance: JiraInstance, key: str) -> str:
        """``serverInfo.baseUrl``/browse/KEY (the site, also behind the OAuth gateway)."""
        with self._lock:
            info = self._info.get(instance.name)
        return f"{info.base_url if info else instance.url}/browse/{key}"

    def _client(self, instance: JiraInstance, call: CallSecrets) -> tuple[JIRA, bool]:
        sign_in = self.credentials.sign_in(instance, call)
        digest = hashlib.sha256(sign_in.material.encode()).hexdigest()
        with self._lock:
            current = self._clients.get(instance.name)
            if current is not None and current[0] == digest:
                return current[1], sign_in.cached_token
        client = JIRA(
            server=instance.url,
            options={
                "verify": instance.verify,
                "headers": {"User-Agent": self.settings.user_agent},
            },
            # Cloud needs the deployment type (search moved to /search/jql); Server does not.
            get_server_info=instance.deployment == "cloud",
            max_retries=0,  # the engine's backoff decides, not ResilientSession
            timeout=self.settings.timeout_seconds,
            **sign_in.client_kwargs,
        )
        self._confirm(instance, client)
        with self._lock:
            previous = self._clients.get(instance.name)
            self._clients[instance.name] = (digest, client)
        if previous is not None:
            previous[1].close()  # type: ignore[no-untyped-call]
        return client, sign_in.cached_token

    def _confirm(self, instance: JiraInstance, client: JIRA) -> None:
        """Read ``serverInfo`` once per instance: the deployment the settings imply must be the
        one JIRA reports, and ``baseUrl`` is where browse links point."""
        with self._lock:
            if instance.name in self._info:
                return
        raw = client.server_info()
        deployment = str(raw.get("deploymentType") or "Server")
        if (deployment == "Cloud") != (instance.deployment == "cloud"):
            client.close()  # type: ignore[no-untyped-call]
            raise Permanent(
                f"JIRA instance {instance.name!r} reports deploymentType {deployment} but "
                f"JIRA_INSTANCES implies {instance.deployment}: set its deployment (or fix its "
                "url / auth)"
            )
        base_url = str(raw.get("baseUrl") or "").rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            base_url = instance.url
        with self._lock:
            self._info[instance.name] = _ServerInfo(base_url, deployment)


def failure(exc: Exception, call: CallSecrets, timeout_seconds: float) -> Failed:
    """Any exception of a call as a redacted ``Failed`` (the retry policy above)."""
    where = f"JIRA {call.instance!r}" if call.instance else "JIRA"
    if isinstance(exc, JIRAError):
        return _http_failure(exc, call, where)
    if isinstance(exc, Retryable):
        return Failed(
            _redact(f"{where}: {exc}", call.secrets),
            retryable=True,
            retry_after=exc.retry_after,
            details=exc.details,
            outcome_unknown=exc.outcome_unknown,
        )
    if isinstance(exc, Permanent):
        details = {k: _redact_any(v, call.secrets) for k, v in exc.details.items()}
        return Failed(_redact(str(exc), call.secrets), retryable=False, details=details)
    # No answer (a timeout, a lost connection) or one that made no sense: the issue may
    # exist; the retry keeps the correlation label and finds it.
    if isinstance(exc, requests.Timeout):
        return Failed(
            f"{where}: request timed out after {timeout_seconds:g}s",
            retryable=True,
            outcome_unknown=True,
        )
    if isinstance(exc, requests.RequestException):
        return Failed(
            _redact(f"{where}: connection failed ({type(exc).__name__})", call.secrets),
            retryable=True,
            outcome_unknown=True,
        )
    return Failed(
        _redact(f"{where}: {type(exc).__name__}: {exc}", call.secrets),
        retryable=True,
        outcome_unknown=True,
    )


def _http_failure(exc: JIRAError, call: CallSecrets, where: str) -> Failed:
    status = exc.status_code
    response = exc.response
    method = getattr(getattr(response, "request", None), "method", None) or ""
    path = urlsplit(str(exc.url or "")).path
    problems = _jira_errors(response) or ([exc.text] if exc.text else [])
    text = "; ".join(problems)[:DETAIL_LIMIT]
    message = f"{where}: {method} {path} returned HTTP {status}".replace("  ", " ")
    if text:
        message += f": {text}"
    message = _redact(message, call.secrets)
    details = {"status_code": status}
    # A 5xx (or no status) may come after the issue was made: the retry keeps the label.
    if status in (429, 503):
        headers = getattr(response, "headers", None) or {}
        return Failed(
            message,
            retryable=True,
            retry_after=parse_retry_after(headers.get("Retry-After")),
            details=details,
            outcome_unknown=status == 503,
        )
    if status is None or status >= 500:
        return Failed(message, retryable=True, details=details, outcome_unknown=True)
    return Failed(message, retryable=False, details=details)


def _jira_errors(response: Any) -> list[str]:
    """JIRA's ``errorMessages`` and ``errors`` (field -> message) of an error response."""
    if response is None:
        return []
    try:
        document = response.json()
    except ValueError:
        body = str(getattr(response, "text", "") or "").strip()
        return [body[:DETAIL_LIMIT]] if body else []
    if not isinstance(document, dict):
        return []
    problems = [str(m) for m in document.get("errorMessages") or []]
    errors = document.get("errors")
    if isinstance(errors, dict):
        problems += [f"{name}: {text}" for name, text in errors.items()]
    if not problems and document.get("message"):
        problems.append(str(document["message"]))
    return problems
