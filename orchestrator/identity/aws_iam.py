"""AWS IAM identities: who the caller is, learnt from AWS and never from the caller's word.

Two sources (PAO_IAM_SOURCE):

- ``gateway``: behind API Gateway with IAM authorisation, the gateway has verified the SigV4
  signature; its request context (``scope["aws.event"]``, set by the Lambda adapter, not a
  header a client could send) names the caller's ARN.
- ``sts``: standalone. The client presigns ``sts:GetCallerIdentity`` with its own credentials,
  signing the header ``x-pao-server-id`` (PAO_IAM_SERVER_ID) so the URL is good for this service
  only, and sends ``Authorization: Bearer pao-sts-v1.<base64url(url)>``. PAO replays it to the
  configured STS endpoint only (PAO_STS_ENDPOINT_URL; no other host is ever called) and reads the
  ARN from the answer, as Vault's IAM auth and aws-iam-authenticator do. No AWS secret is asked
  for or stored. Each signed URL is accepted once (replays are refused) and only while fresh.

ARNs map to principals through PAO_IAM_PRINCIPALS: JSON ``{"<arn or prefix*>": {"email": ...,
"name": ..., "teams": [...], "roles": [...]}}``; an assumed-role ARN is looked up as its role.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from orchestrator.requests.service import Principal

TOKEN_PREFIX = "pao-sts-v1."  # noqa: S105 (a format marker, not a secret)
SERVER_ID_HEADER = "x-pao-server-id"
MAX_EXPIRES = 900  # seconds a presigned URL may live (STS's own bound is the same)
CLOCK_SKEW = 300
STS_TIMEOUT = httpx.Timeout(5.0)  # the one retry/timeout policy of the STS call: no retry
_ARN = re.compile(r"<Arn>(arn:[^<]{1,2000})</Arn>")


class IamError(ValueError):
    """A credential that is not accepted; the message says why (never echoes it)."""


def parse_principals(text: str) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"PAO_IAM_PRINCIPALS is not JSON: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("email"), str) for v in data.values()
    ):
        raise ValueError('PAO_IAM_PRINCIPALS must map ARNs to {"email": ..., "teams": [...]}')
    return data


def role_arn(arn: str) -> str:
    """arn:aws:sts::1:assumed-role/Role/session -> arn:aws:iam::1:role/Role."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role = parts[5].split("/")[1]
        return f"arn:{parts[1]}:iam::{parts[4]}:role/{role}"
    return arn


def principal_for(arn: str, mapping: Mapping[str, Mapping[str, Any]]) -> Principal | None:
    key = role_arn(arn)
    entry = mapping.get(key) or next(
        (v for k, v in mapping.items() if k.endswith("*") and key.startswith(k[:-1])), None
    )
    if entry is None:
        return None
    return Principal(
        email=str(entry["email"]),
        name=entry.get("name"),
        teams=tuple(entry.get("teams") or ()),
        roles=tuple(entry.get("roles") or ()),
    )


def gateway_arn(scope: Mapping[str, Any]) -> str | None:
    """The caller ARN API Gateway verified (REST API v1 or HTTP API v2 request context)."""
    event = scope.get("aws.event")
    if not isinstance(event, dict):
        return None
    context = event.get("requestContext") or {}
    arn = (context.get("identity") or {}).get("userArn") or (
        (context.get("authorizer") or {}).get("iam") or {}
    ).get("userArn")
    return str(arn) if arn else None


class StsVerifier:
    def __init__(self, endpoint_url: str, server_id: str, clock: Any = time.time) -> None:
        self.endpoint = urlsplit(endpoint_url)
        self.server_id = server_id
        self.clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, token: str) -> str:
        """The presigned URL inside ``token`` after the local checks; raises IamError."""
        if not token.startswith(TOKEN_PREFIX):
            raise IamError("not a pao-sts-v1 token")
        encoded = token[len(TOKEN_PREFIX) :]
        try:
            url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise IamError("the token is not base64url") from None
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc, parts.path or "/") != (
            self.endpoint.scheme,
            self.endpoint.netloc,
            self.endpoint.path or "/",
        ):
            raise IamError("the signed request is not for the configured STS endpoint")
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if query.get("Action") != "GetCallerIdentity" or query.get("Version") != "2011-06-15":
            raise IamError("the signed request is not sts:GetCallerIdentity")
        if query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or "X-Amz-Signature" not in query:
            raise IamError("the request is not SigV4-presigned")
        if SERVER_ID_HEADER not in query.get("X-Amz-SignedHeaders", "").split(";"):
            raise IamError(f"the signature does not cover {SERVER_ID_HEADER}")
        try:
            signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
            expires = int(query["X-Amz-Expires"])
        except (KeyError, ValueError):
            raise IamError("X-Amz-Date / X-Amz-Expires missing or malformed") from None
        start = signed_at.replace(tzinfo=UTC).timestamp()
        now = self.clock()
        if not 0 < expires <= MAX_EXPIRES:
            raise IamError(f"X-Amz-Expires must be 1..{MAX_EXPIRES}")
        if start > now + CLOCK_SKEW or now > start + expires:
            raise IamError("the signed request has expired or is not valid yet")
        with self._lock:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
            signature = query["X-Amz-Signature"]
            if signature in self._seen:
                raise IamError("this signed request was already used")
            self._seen[signature] = start + expires + CLOCK_SKEW
        return url

    async def caller_arn(self, token: str, client: httpx.AsyncClient) -> str:
        url = self.check(token)
        try:
            response = await client.get(
                url, headers={SERVER_ID_HEADER: self.server_id}, timeout=STS_TIMEOUT
            )
        except httpx.HTTPError as exc:
            raise IamError(f"STS is unreachable: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise IamError(f"STS refused the signed request (HTTP {response.status_code})")
        # Only the one element is needed: no XML parser (and its entity attacks) involved.
        found = _ARN.search(response.text)
        if found is None:
            raise IamError("STS's answer has no Arn")
        return found.group(1)
