"""Signing in to a JIRA instance: secrets resolved per call, OAuth 2.0 tokens fetched and cached.

Apart from the executor so that everything that touches a credential is in one place: each
secret used by a call is remembered (``CallSecrets``) so that every message about the call is
redacted, and an OAuth access token is reused until shortly before it expires
(``JiraSettings.token_expiry_margin_seconds``).
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

from actions.failures import Permanent, Retryable
from actions.jira.settings import JiraInstance, JiraSettings
from actions.secrets import SecretError, SecretResolver
from orchestrator.engine.backoff import parse_retry_after


@dataclass(slots=True)
class CallSecrets:
    """One executor call: which instance, and the secrets it used (for redaction)."""

    instance: str
    secrets: list[str] = field(default_factory=list)

    def remember(self, *values: str) -> None:
        for value in values:
            self.secrets.extend((value, quote(value, safe=""), quote_plus(value)))


@dataclass(slots=True)
class _Token:
    value: str
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class SignIn:
    """What a JIRA client is built with: its auth keyword arguments, a text that changes when
    the credential does (the client cache's key), and whether the token came from the cache
    (a 401 then means "drop it and try once more")."""

    client_kwargs: dict[str, Any]
    material: str
    cached_token: bool


class Credentials:
    """The credentials of every configured instance, resolved when a call needs them."""

    def __init__(
        self,
        settings: JiraSettings,
        secrets: SecretResolver,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.secrets = secrets
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}

    def sign_in(self, instance: JiraInstance, call: CallSecrets) -> SignIn:
        """The instance's credential for this call (basic, a personal access token or an
        OAuth 2.0 access token), every secret remembered for redaction."""
        auth = instance.auth
        if auth.type == "basic":
            token = self.secret(str(auth.token_ref), call)
            basic = base64.b64encode(f"{auth.user}:{token}".encode()).decode()
            call.secrets.append(basic)
            return SignIn(
                {"basic_auth": (str(auth.user), token)}, f"basic:{auth.user}:{token}", False
            )
        cached_token = False
        if auth.type == "pat":
            token = self.secret(str(auth.token_ref), call)
        else:
            token, cached_token = self._oauth_token(instance, call)
        return SignIn({"token_auth": token}, f"bearer:{token}", cached_token)

    def forget_token(self, instance: JiraInstance) -> None:
        """Drop the cached OAuth token (JIRA rejected it)."""
        with self._lock:
            self._tokens.pop(instance.name, None)

    def secret(self, ref: str, call: CallSecrets) -> str:
        try:
            value = self.secrets.resolve(ref)
        except SecretError as exc:
            raise Permanent(f"JIRA instance {call.instance!r}: {exc}") from None
        call.remember(value)
        return value

    def _oauth_token(self, instance: JiraInstance, call: CallSecrets) -> tuple[str, bool]:
        """(access token, came from the cache)."""
        auth = instance.auth
        client_secret = self.secret(str(auth.client_secret_ref), call)
        with self._lock:
            cached = self._tokens.get(instance.name)
        if cached is not None and (cached.expires_at is None or cached.expires_at > self._clock()):
            call.remember(cached.value)
            return cached.value, True
        token_url = str(auth.token_url)
        form = {"grant_type": "client_credentials"}
        if auth.scopes:
            form["scope"] = " ".join(auth.scopes)
        headers = {"Accept": "application/json", "User-Agent": self.settings.user_agent}
        if auth.client_auth == "basic":
            basic = base64.b64encode(f"{auth.client_id}:{client_secret}".encode()).decode()
            call.secrets.append(basic)
            headers["Authorization"] = f"Basic {basic}"
        else:
            form.update(client_id=str(auth.client_id), client_secret=client_secret)
        try:
            with httpx.Client(
                timeout=self.settings.timeout_seconds,
                verify=instance.verify,
                trust_env=False,
                follow_redirects=False,
            ) as http:
                response = http.post(token_url, data=form, headers=headers)
        except httpx.TimeoutException:
            raise Retryable(f"OAuth token request to {token_url} timed out") from None
        except httpx.TransportError as exc:
            raise Retryable(
                f"OAuth token request to {token_url} failed: {type(exc).__name__}"
            ) from None
        message = f"OAuth token request to {token_url} returned HTTP {response.status_code}"
        if response.status_code == 429 or response.status_code >= 500:
            raise Retryable(
                message,
                parse_retry_after(response.headers.get("retry-after")),
                status=response.status_code,
            )
        if not response.is_success:
            raise Permanent(message, {"status_code": response.status_code})
        try:
            document = response.json()
        except ValueError:
            document = None
        value = document.get("access_token") if isinstance(document, dict) else None
        if not isinstance(value, str) or not value:
            raise Permanent(f"OAuth token response from {token_url} has no access_token")
        call.remember(value)
        expires_in = document.get("expires_in") if isinstance(document, dict) else None
        expires_at = None
        if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool):
            expires_at = (
                self._clock() + float(expires_in) - self.settings.token_expiry_margin_seconds
            )
        with self._lock:
            self._tokens[instance.name] = _Token(value, expires_at)
        return value, False
