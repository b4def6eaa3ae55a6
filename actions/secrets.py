"""Secret references: how executors get credentials without the catalog ever carrying them.

A reference names where a secret lives, never the secret:

- ``env:NAME``: ``NAME`` in the mapping handed over at start-up (the worker's environment,
  passed in once; this module never reads ``os.environ``).
- ``aws-sm:<secret id or ARN>[#json-key]``: an AWS Secrets Manager secret (its ``SecretString``);
  with ``#json-key`` the secret string is a JSON object and the value is that key's.

Settings (read once by ``SecretSettings.from_environment``):

- ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``): region of the Secrets Manager client
- ``AWS_ENDPOINT_URL_SECRETSMANAGER``: endpoint override (LocalStack, moto, VPC endpoints)
- ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``: explicit
  credentials when present in the mapping; otherwise boto3's default chain (instance role,
  profile ...)
- ``PAO_SECRET_CACHE_SECONDS``: how long a resolved ``aws-sm`` value is reused (default 60):
  short enough that a rotation is picked up soon, long enough that a chain of actions does
  not call Secrets Manager once per HTTP request

Error texts name the reference, never the value. ``resolve`` is synchronous (boto3 is); async
callers use ``resolve_async``, which runs an ``aws-sm`` lookup in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_CACHE_SECONDS = 60.0
AWS_SM_TIMEOUT_SECONDS = 10.0


class SecretError(LookupError):
    """A secret reference that cannot be resolved (never carries the secret itself)."""


@dataclass(frozen=True, slots=True)
class SecretSettings:
    """Where ``aws-sm`` references are looked up (credentials never shown in the repr)."""

    aws_region: str | None = None
    aws_endpoint_url: str | None = None
    aws_access_key_id: str | None = field(default=None, repr=False)
    aws_secret_access_key: str | None = field(default=None, repr=False)
    aws_session_token: str | None = field(default=None, repr=False)
    cache_seconds: float = DEFAULT_CACHE_SECONDS

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> SecretSettings:
        raw_cache = env.get("PAO_SECRET_CACHE_SECONDS", "").strip()
        try:
            cache = float(raw_cache) if raw_cache else DEFAULT_CACHE_SECONDS
        except ValueError:
            raise ValueError(
                f"PAO_SECRET_CACHE_SECONDS: {raw_cache!r} is not a number of seconds"
            ) from None
        if cache < 0:
            raise ValueError(f"PAO_SECRET_CACHE_SECONDS: {raw_cache!r} must not be negative")
        return cls(
            aws_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            aws_endpoint_url=env.get("AWS_ENDPOINT_URL_SECRETSMANAGER") or None,
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
            cache_seconds=cache,
        )


ClientFactory = Callable[[SecretSettings], Any]


def _secretsmanager_client(settings: SecretSettings) -> Any:
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]

    session = boto3.session.Session(
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        aws_session_token=settings.aws_session_token,
        region_name=settings.aws_region,
    )
    config = Config(
        connect_timeout=AWS_SM_TIMEOUT_SECONDS,
        read_timeout=AWS_SM_TIMEOUT_SECONDS,
        retries={"max_attempts": 2, "mode": "standard"},
    )
    return session.client("secretsmanager", endpoint_url=settings.aws_endpoint_url, config=config)


@dataclass(slots=True)
class _Cached:
    value: str
    expires_at: float


class SecretResolver:
    """Resolves ``env:`` and ``aws-sm:`` references (see the module docstring)."""

    def __init__(
        self,
        environment: Mapping[str, str],
        settings: SecretSettings | None = None,
        *,
        client_factory: ClientFactory = _secretsmanager_client,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._environment = dict(environment)
        self.settings = settings or SecretSettings()
        self._client_factory = client_factory
        self._clock = clock
        self._client: Any = None
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SecretResolver(env names={len(self._environment)}, settings={self.settings!r})"

    def resolve(self, ref: str) -> str:
        scheme, _, name = ref.partition(":")
        if scheme == "env" and name:
            value = self._environment.get(name)
            if value is None or value == "":
                raise SecretError(f"secret reference {ref!r} is not set")
            return value
        if scheme == "aws-sm" and name:
            return self._aws(ref, name)
        raise SecretError(f"invalid secret reference {ref!r} (expected env:NAME or aws-sm:ID)")

    async def resolve_async(self, ref: str) -> str:
        """``resolve`` without blocking the event loop on a Secrets Manager call."""
        if ref.startswith("aws-sm:"):
            return await asyncio.to_thread(self.resolve, ref)
        return self.resolve(ref)

    def _aws(self, ref: str, name: str) -> str:
        secret_id, _, json_key = name.partition("#")
        if not secret_id:
            raise SecretError(f"invalid secret reference {ref!r}: no secret id")
        now = self._clock()
        with self._lock:
            cached = self._cache.get(secret_id)
            if cached is not None and cached.expires_at > now:
                text = cached.value
            else:
                text = self._fetch(ref, secret_id)
                self._cache[secret_id] = _Cached(text, now + self.settings.cache_seconds)
        if not json_key:
            return text
        try:
            document = json.loads(text)
        except ValueError:
            raise SecretError(
                f"secret reference {ref!r}: the secret is not a JSON object, "
                f"so it has no key {json_key!r}"
            ) from None
        value = document.get(json_key) if isinstance(document, dict) else None
        if value is None or value == "":
            raise SecretError(f"secret reference {ref!r}: the secret has no key {json_key!r}")
        return value if isinstance(value, str) else json.dumps(value)

    def _fetch(self, ref: str, secret_id: str) -> str:
        from botocore.exceptions import (  # type: ignore[import-untyped]
            BotoCoreError,
            ClientError,
        )

        try:
            if self._client is None:
                self._client = self._client_factory(self.settings)
            response = self._client.get_secret_value(SecretId=secret_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise SecretError(f"secret reference {ref!r}: Secrets Manager said {code}") from None
        except BotoCoreError as exc:
            raise SecretError(
                f"secret reference {ref!r}: Secrets Manager unreachable ({type(exc).__name__})"
            ) from None
        text = response.get("SecretString")
        if not isinstance(text, str) or not text:
            raise SecretError(f"secret reference {ref!r}: the secret has no string value")
        return text
