"""AWS IAM identities: who the caller is, learnt from AWS and never from the caller's word.

Two sources (PAO_IAM_SOURCE):

- ``gateway``: behind API Gateway (or a Lambda function URL) with IAM authorisation, the gateway
  has verified the SigV4 signature; its request context (``scope["aws.event"]``, set by the
  Lambda adapter, e.g. Mangum, not a header a client could send) names the caller's ARN.
- ``sts``: standalone. The client SigV4-signs the one request
  ``POST <PAO_STS_ENDPOINT_URL>`` with body ``Action=GetCallerIdentity&Version=2011-06-15``,
  signing the header ``x-pao-server-id: <PAO_IAM_SERVER_ID>`` (so the signature is good for this
  service only), and sends ``Authorization: Bearer pao-sts-v2.<base64url(JSON)>`` carrying only
  the signature headers (``authorization``, ``x-amz-date``, ``x-amz-security-token``).
  PAO rebuilds that request from its own settings (the URL, the action and the body are never
  the client's choice), replays it to STS and reads the ARN from the answer, as Vault's IAM auth
  does; ``caller_token`` builds the token. No AWS secret is asked for or stored. Each signature
  is accepted once across every API instance (the ``used_signatures`` table; replays are
  refused) and only within ``MAX_AGE`` of its ``X-Amz-Date``. Header signing rather than a
  presigned URL: STS accepts both, but the same request then works against moto's server
  (tests) and real STS alike.

ARNs map to principals through PAO_IAM_PRINCIPALS: JSON ``{"<arn or prefix*>": {"email": ...,
"name": ..., "teams": [...], "roles": [...]}}``. An assumed-role ARN matches its own key first
(e.g. one SSO session), then its role's ARN (IAM paths ignored, as in the assumed-role ARN);
an exact key beats a prefix, and the longest prefix wins.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import secrets
import sys
import threading
import time
import xml.etree.ElementTree as ET  # only STS's own answers, DOCTYPE refused
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from orchestrator.identity.principal import Principal
from orchestrator.store.database import Database
from orchestrator.store.queries import QUERIES

TOKEN_PREFIX = "pao-sts-v2."  # noqa: S105 (a format marker, not a secret)
SERVER_ID_HEADER = "x-pao-server-id"
NONCE_HEADER = "x-pao-nonce"  # signed too: two calls in one second still differ
STS_BODY = "Action=GetCallerIdentity&Version=2011-06-15"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
MAX_AGE = 300  # seconds either side of X-Amz-Date (AWS's own window for signed requests)
MAX_TOKEN_CHARS = 16_384  # session tokens run to a few KB; anything longer is not ours
MAX_ANSWER_BYTES = 65_536
STS_TIMEOUT = httpx.Timeout(5.0)  # the one retry/timeout policy of the STS call: no retry
# Headers PAO sends to STS: a signature may cover these and no others (PAO rebuilds them all).
SIGNABLE = frozenset(
    {"content-type", "host", "x-amz-date", "x-amz-security-token", SERVER_ID_HEADER, NONCE_HEADER}
)
CARRIED = ("authorization", "x-amz-date", "x-amz-security-token", NONCE_HEADER)
MUST_SIGN = frozenset({"host", "x-amz-date", SERVER_ID_HEADER})
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=[A-Z0-9]{16,128}/(?P<day>\d{8})/[a-z0-9-]{1,32}/sts/aws4_request,"
    r" ?SignedHeaders=(?P<signed>[a-z0-9;-]{1,512}), ?Signature=(?P<signature>[0-9a-f]{64})"
)
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_SESSION_TOKEN = re.compile(r"[A-Za-z0-9+/=]{1,8192}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_ARN = re.compile(r"arn:aws[a-z-]*:(iam|sts)::\d{12}:[A-Za-z0-9+=,.@/_-]{1,1024}")
_ERROR_CODE = re.compile(r"[A-Za-z.]{1,64}")
_THROTTLED = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded"})


class IamError(ValueError):
    """A credential that is not accepted (401); the message says why and never echoes it."""


class StsUnavailable(RuntimeError):
    """STS could not give an answer (unreachable, 5xx, throttled, unreadable): 503, not 401,
    since the caller's credential may be fine."""


def parse_principals(text: str) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"PAO_IAM_PRINCIPALS is not JSON: {exc}") from None

    def strings(value: Any) -> bool:
        return value is None or (isinstance(value, list) and all(isinstance(v, str) for v in value))

    if not isinstance(data, dict) or not all(
        isinstance(v, dict)
        and isinstance(v.get("email"), str)
        and strings(v.get("teams"))
        and strings(v.get("roles"))
        for v in data.values()
    ):
        raise ValueError(
            'PAO_IAM_PRINCIPALS must map ARNs to {"email": "...", "teams": [...], "roles": [...]}'
        )
    return data


def role_arn(arn: str) -> str:
    """arn:aws:sts::1:assumed-role/Role/session -> arn:aws:iam::1:role/Role."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role = parts[5].split("/")[1]
        return f"arn:{parts[1]}:iam::{parts[4]}:role/{role}"
    return arn


def _without_role_path(key: str) -> str:
    """arn:aws:iam::1:role/some/path/Role -> arn:aws:iam::1:role/Role: an assumed-role ARN
    names the role without its path, so a configured role ARN is compared the same way."""
    parts = key.split(":", 5)
    if len(parts) == 6 and parts[2] == "iam" and parts[5].startswith("role/"):
        return f"{':'.join(parts[:5])}:role/{parts[5].rsplit('/', 1)[-1]}"
    return key


def principal_for(arn: str, mapping: Mapping[str, Mapping[str, Any]]) -> Principal | None:
    candidates = [arn, role_arn(arn)]
    exact = {_without_role_path(k): v for k, v in mapping.items() if not k.endswith("*")}
    entry = next((exact[c] for c in candidates if c in exact), None)
    if entry is None:
        prefixes = sorted((k for k in mapping if k.endswith("*")), key=len, reverse=True)
        key = next((k for k in prefixes if any(c.startswith(k[:-1]) for c in candidates)), None)
        entry = mapping[key] if key is not None else None
    if entry is None:
        return None
    return Principal(
        email=str(entry["email"]),
        name=entry.get("name"),
        teams=tuple(entry.get("teams") or ()),
        roles=tuple(entry.get("roles") or ()),
    )


def gateway_arn(scope: Mapping[str, Any]) -> str | None:
    """The caller ARN API Gateway verified: REST API (v1) ``requestContext.identity.userArn``,
    HTTP API / function URL (v2) ``requestContext.authorizer.iam.userArn``."""

    def child(value: Any, key: str) -> Any:
        return value.get(key) if isinstance(value, dict) else None

    context = child(scope.get("aws.event"), "requestContext")
    arn = child(child(context, "identity"), "userArn") or child(
        child(child(context, "authorizer"), "iam"), "userArn"
    )
    return arn if isinstance(arn, str) and _ARN.fullmatch(arn) else None


def caller_token(
    credentials: Any, *, server_id: str, endpoint_url: str, region: str = "us-east-1"
) -> str:
    """The bearer token for aws-iam (sts) mode: ``credentials`` (botocore's, e.g.
    ``boto3.Session().get_credentials()``) sign GetCallerIdentity; the secret stays here."""
    from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]

    request = AWSRequest(
        method="POST",
        url=endpoint_url,
        data=STS_BODY,
        headers={
            "Content-Type": FORM_CONTENT_TYPE,
            SERVER_ID_HEADER: server_id,
            NONCE_HEADER: secrets.token_urlsafe(16),
        },
    )
    SigV4Auth(credentials, "sts", region).add_auth(request)
    carried = {name: request.headers[name] for name in CARRIED if name in request.headers}
    payload = json.dumps(carried, separators=(",", ":"))
    return TOKEN_PREFIX + base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class SignedCall:
    """The signature headers of a token, checked locally and ready to replay."""

    authorization: str
    amz_date: str
    security_token: str | None
    nonce: str | None
    signature: str
    expires_at: float  # epoch seconds after which the signature fails the age check anyway


class SignatureLedger(Protocol):
    """Where the signatures already accepted are remembered, so each is accepted once."""

    async def first_use(self, signature: str, expires_at: float) -> bool:
        """True the first time ``signature`` is presented; it is then kept until ``expires_at``."""
        ...


class MemoryLedger:
    """One process's memory: enough for a single API instance (and for tests)."""

    def __init__(self, clock: Any = time.time) -> None:
        self.clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    async def first_use(self, signature: str, expires_at: float) -> bool:
        now = self.clock()
        with self._lock:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
            if signature in self._seen:
                return False
            self._seen[signature] = expires_at
            return True


class DatabaseLedger:
    """The ``used_signatures`` table: a replay is refused by every instance sharing the
    database. Expired rows go at most once a minute, here and in ``pao maintenance``."""

    PRUNE_SECONDS = 60.0

    def __init__(self, db: Database, clock: Any = time.monotonic) -> None:
        self.db = db
        self.clock = clock
        self._pruned = float("-inf")

    async def first_use(self, signature: str, expires_at: float) -> bool:
        if self.clock() - self._pruned > self.PRUNE_SECONDS:
            self._pruned = self.clock()
            await self.db.execute(None, QUERIES.identity_prune_signatures, {})
        row = await self.db.fetch_one(
            None,
            QUERIES.identity_use_signature,
            {"signature": signature, "expires_at": expires_at},
        )
        return row is not None


class StsVerifier:
    def __init__(
        self,
        endpoint_url: str,
        server_id: str,
        clock: Any = time.time,
        ledger: SignatureLedger | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.server_id = server_id
        self.clock = clock
        self.ledger: SignatureLedger = ledger if ledger is not None else MemoryLedger(clock)

    def check(self, token: str) -> SignedCall:
        """The token's signature headers after the local checks (the single-use check is the
        ledger's, in ``caller_arn``); raises IamError."""
        if not token.startswith(TOKEN_PREFIX):
            raise IamError("not a pao-sts-v2 token")
        if len(token) > MAX_TOKEN_CHARS:
            raise IamError("the token is too long")
        encoded = token[len(TOKEN_PREFIX) :]
        try:
            data = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        except (binascii.Error, ValueError):
            raise IamError("the token is not base64url JSON") from None
        if (
            not isinstance(data, dict)
            or not set(data) <= set(CARRIED)
            or not all(isinstance(v, str) for v in data.values())
        ):
            raise IamError("the token carries something other than the signature headers")
        authorization = _AUTHORIZATION.fullmatch(data.get("authorization", ""))
        if authorization is None:
            raise IamError("the token's authorization is not a SigV4 signature for STS")
        signed = set(authorization["signed"].split(";"))
        if not signed >= MUST_SIGN or not signed <= SIGNABLE:
            raise IamError(
                f"the signature must cover host, x-amz-date and {SERVER_ID_HEADER} and no other "
                "header than content-type and x-amz-security-token"
            )
        amz_date = data.get("x-amz-date", "")
        security_token = data.get("x-amz-security-token")
        if not _AMZ_DATE.fullmatch(amz_date) or amz_date[:8] != authorization["day"]:
            raise IamError("x-amz-date is missing, malformed or not the credential's day")
        if security_token is not None and not _SESSION_TOKEN.fullmatch(security_token):
            raise IamError("x-amz-security-token is malformed")
        nonce = data.get(NONCE_HEADER)
        if nonce is not None and not _NONCE.fullmatch(nonce):
            raise IamError(f"{NONCE_HEADER} is malformed")
        if ("x-amz-security-token" in signed) != (security_token is not None) or (
            NONCE_HEADER in signed
        ) != (nonce is not None):
            raise IamError("the carried headers and the signed headers disagree")
        try:
            signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise IamError("x-amz-date is malformed") from None
        now = self.clock()
        if abs(now - signed_at.timestamp()) > MAX_AGE:
            raise IamError(f"the signature is older than {MAX_AGE} s (or from the future)")
        return SignedCall(
            authorization.group(0),
            amz_date,
            security_token,
            nonce,
            signature=authorization["signature"],
            expires_at=signed_at.timestamp() + MAX_AGE + 1,
        )

    def request_headers(self, call: SignedCall) -> dict[str, str]:
        """Every header of the replayed request, from PAO's settings but for the signature."""
        headers = {  # Host comes from the URL, as botocore signed it
            "Content-Type": FORM_CONTENT_TYPE,
            "Accept": "application/json",
            SERVER_ID_HEADER: self.server_id,
            "X-Amz-Date": call.amz_date,
            "Authorization": call.authorization,
        }
        if call.security_token is not None:
            headers["X-Amz-Security-Token"] = call.security_token
        if call.nonce is not None:
            headers[NONCE_HEADER] = call.nonce
        return headers

    async def caller_arn(self, token: str, client: httpx.AsyncClient) -> str:
        """The ARN STS names for the token's signature; IamError (401) or StsUnavailable (503)."""
        call = self.check(token)
        if not await self.ledger.first_use(call.signature, call.expires_at):
            raise IamError("this signature was already used")
        try:
            response = await client.post(
                self.endpoint_url,
                content=STS_BODY.encode(),
                headers=self.request_headers(call),
                timeout=STS_TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise StsUnavailable(f"STS is unreachable ({type(exc).__name__})") from None
        body = response.content[:MAX_ANSWER_BYTES]
        if response.status_code != 200:
            code = _error_code(body)
            if response.status_code >= 500 or response.status_code == 429 or code in _THROTTLED:
                raise StsUnavailable(f"STS answered HTTP {response.status_code} {code or ''}")
            raise IamError(f"STS refused the signature (HTTP {response.status_code} {code or ''})")
        arn = _answer_arn(body, response.headers.get("content-type", ""))
        if arn is None:
            raise StsUnavailable("STS's answer names no caller ARN (is PAO_STS_ENDPOINT_URL STS?)")
        return arn


def _xml(body: bytes) -> ET.Element | None:
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        return None
    try:
        return ET.fromstring(body)  # noqa: S314 (no DOCTYPE: no entities)
    except ET.ParseError:
        return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _answer_arn(body: bytes, content_type: str) -> str | None:
    """Arn of GetCallerIdentityResult, from STS's JSON (asked for) or XML (its default)."""
    arn: Any = None
    if "json" in content_type:
        try:
            data = json.loads(body)
            arn = data["GetCallerIdentityResponse"]["GetCallerIdentityResult"]["Arn"]
        except (ValueError, KeyError, TypeError):
            return None
    else:
        root = _xml(body)
        if root is None or _local(root.tag) != "GetCallerIdentityResponse":
            return None
        for result in root:
            if _local(result.tag) == "GetCallerIdentityResult":
                arn = next((e.text for e in result if _local(e.tag) == "Arn"), None)
    return arn if isinstance(arn, str) and _ARN.fullmatch(arn) else None


def _error_code(body: bytes) -> str | None:
    """STS's error code (e.g. SignatureDoesNotMatch), JSON or XML; nothing else of the body."""
    code: Any = None
    try:
        code = json.loads(body)["Error"]["Code"]
    except (ValueError, KeyError, TypeError):
        root = _xml(body)
        if root is not None:
            code = next((e.text for e in root.iter() if _local(e.tag) == "Code"), None)
    return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else None


def main(argv: Sequence[str] | None = None) -> int:
    """Print a token for ``Authorization: Bearer …`` from boto3's default credentials."""
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator.identity.aws_iam",
        description="Sign sts:GetCallerIdentity for PAO (PAO_AUTH_MODE=aws-iam, source sts).",
    )
    parser.add_argument("--server-id", default="pao", help="PAO's PAO_IAM_SERVER_ID")
    parser.add_argument("--sts-url", default="https://sts.amazonaws.com", help="PAO's STS URL")
    parser.add_argument("--region", default="us-east-1", help="the STS endpoint's region")
    parser.add_argument("--profile", help="AWS profile (default: boto3's default chain)")
    args = parser.parse_args(argv)
    import boto3  # type: ignore[import-untyped]

    credentials = boto3.Session(profile_name=args.profile).get_credentials()
    if credentials is None:
        print("no AWS credentials found", file=sys.stderr)
        return 1
    print(
        caller_token(
            credentials.get_frozen_credentials(),
            server_id=args.server_id,
            endpoint_url=args.sts_url,
            region=args.region,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
