"""The one place a GitHub client is built, with its auth, timeout and retry policy.

Catalog sync, the bot and the ``github-workflow`` action all talk to GitHub through githubkit
clients made here, so the policy is stated once:

- auth: a GitHub App installation (``GITHUB_APP_ID``, ``GITHUB_APP_PRIVATE_KEY``,
  ``GITHUB_APP_INSTALLATION_ID``) when configured, otherwise a token (``GITHUB_TOKEN``);
- ``GITHUB_API_URL`` for GitHub Enterprise Server (default https://api.github.com);
- timeout ``GITHUB_TIMEOUT_SECONDS`` (default 10 s) per request;
- in-client retries are short by design: a primary or secondary rate limit is waited out once
  only when GitHub asks for at most ``max_rate_limit_wait`` seconds, and a 5xx is retried
  twice; anything longer is the caller's to schedule (the engine's backoff, the next poll), so a
  worker never sleeps for an hour inside one call.
- the HTTP cache is off: ETags are handled explicitly by the callers that need them.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from githubkit import AppInstallationAuthStrategy, GitHub, TokenAuthStrategy
from githubkit.exception import GitHubException, RateLimitExceeded, RequestFailed
from githubkit.retry import RetryOption

DEFAULT_API_URL = "https://api.github.com"


class GitHubNotConfigured(RuntimeError):
    """Neither a token nor a GitHub App is configured."""


@dataclass(frozen=True, slots=True)
class GitHubSettings:
    api_url: str = DEFAULT_API_URL
    token: str | None = None
    app_id: str | None = None
    private_key: str | None = None
    installation_id: int | None = None
    timeout_seconds: float = 10.0
    max_rate_limit_wait: float = 60.0
    server_error_retries: int = 2

    def __repr__(self) -> str:  # never print credentials
        mode = "app" if self.uses_app else ("token" if self.token else "none")
        return f"GitHubSettings(api_url={self.api_url!r}, auth={mode})"

    @property
    def uses_app(self) -> bool:
        return bool(self.app_id and self.private_key and self.installation_id)

    @property
    def configured(self) -> bool:
        return self.uses_app or bool(self.token)

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> GitHubSettings:
        installation = env.get("GITHUB_APP_INSTALLATION_ID") or None
        return cls(
            api_url=(env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
            token=env.get("GITHUB_TOKEN") or None,
            app_id=env.get("GITHUB_APP_ID") or None,
            private_key=(env.get("GITHUB_APP_PRIVATE_KEY") or "").replace("\\n", "\n") or None,
            installation_id=int(installation) if installation else None,
            timeout_seconds=float(env.get("GITHUB_TIMEOUT_SECONDS") or 10.0),
        )


class RetryPolicy:
    """githubkit retry decision: short waits only (see the module docstring)."""

    def __init__(self, max_rate_limit_wait: float, server_error_retries: int) -> None:
        self.max_rate_limit_wait = max_rate_limit_wait
        self.server_error_retries = server_error_retries

    def __call__(self, exc: GitHubException, retry_count: int) -> RetryOption:
        if isinstance(exc, RateLimitExceeded):
            wait = exc.retry_after.total_seconds()
            if retry_count < 1 and wait <= self.max_rate_limit_wait:
                return RetryOption(True, exc.retry_after)
            return RetryOption(False)
        if (
            isinstance(exc, RequestFailed)
            and exc.response.status_code >= 500
            and retry_count < self.server_error_retries
        ):
            return RetryOption(True, timedelta(seconds=0.5 * (retry_count + 1)))
        return RetryOption(False)


def github_client(settings: GitHubSettings, **overrides: Any) -> GitHub[Any]:
    """A githubkit client for ``settings`` (App installation auth preferred over a token)."""
    auth: Any
    if settings.app_id and settings.private_key and settings.installation_id:
        auth = AppInstallationAuthStrategy(
            settings.app_id, settings.private_key, settings.installation_id
        )
    elif settings.token:
        auth = TokenAuthStrategy(settings.token)
    else:
        raise GitHubNotConfigured(
            "GitHub is not configured: set GITHUB_TOKEN, or GITHUB_APP_ID, "
            "GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID"
        )
    options: dict[str, Any] = {
        "base_url": settings.api_url,
        "ssl_verify": _tls_context(),
        "timeout": settings.timeout_seconds,
        "http_cache": False,
        "auto_retry": RetryPolicy(settings.max_rate_limit_wait, settings.server_error_retries),
        "user_agent": "pao-orchestrator",
    }
    options.update(overrides)
    return GitHub(auth, **options)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every GitHub client: githubkit builds an HTTP client per call
    outside a session, and loading the CA bundle is most of what that costs."""
    return httpx.create_ssl_context()


@asynccontextmanager
async def github_session(client: GitHub[Any]) -> AsyncIterator[GitHub[Any]]:
    """Reuse one HTTP connection pool for the calls inside the block.

    Outside ``async with client`` githubkit builds a new httpx client (TLS context included)
    for every call: tens of milliseconds each. Work that makes several calls (a sync cycle, a
    webhook's handling) runs inside a session; nested sessions reuse the outer one."""
    try:
        entered: GitHub[Any] = await client.__aenter__()  # type: ignore[no-untyped-call]
    except RuntimeError:  # already inside a session in this context
        yield client
        return
    try:
        yield entered
    finally:
        await client.__aexit__()
