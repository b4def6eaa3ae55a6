"""JIRA settings: the named instances of ``JIRA_INSTANCES`` and their auth, read once.

Apart from the executor (``actions.jira.executor``) so that configuration errors are found and
worded in one place, without the JIRA client. Settings (``JiraSettings.from_environment``):

- ``JIRA_INSTANCES``: JSON object of named instances, e.g.
  ``{"platform": {"url": "https://jira.example.com",
  "auth": {"type": "basic", "user": "bot@example.com", "tokenRef": "env:JIRA_PLATFORM_TOKEN"}}}``.
  Auth types: ``basic`` (``user`` + API token ``tokenRef``), ``pat`` (personal access token
  ``tokenRef``, sent as a bearer token), ``oauth2`` (client credentials: ``tokenUrl``,
  ``clientId``, ``clientSecretRef``, optional ``scopes`` and ``clientAuth`` ``basic`` (default)
  or ``body``; the access token is cached until shortly before it expires). Optional per
  instance: ``deployment`` (``server`` or ``cloud``) and ``verify`` (a CA bundle path).
  Credentials are always secret references (``env:`` or ``aws-sm:``), never values.
  Deployment: the OAuth 2.0 gateway (``https://api.atlassian.com/ex/jira/{cloudId}``), a
  ``*.atlassian.net`` site and ``oauth2`` auth mean Cloud; anything else Server / Data Center.
  Refused at start-up: ``pat`` on Cloud (personal access tokens exist only on Data Center /
  Server) and ``oauth2`` against a Cloud site host (Cloud OAuth 2.0 goes through the gateway).
  The first call to an instance confirms the deployment against ``serverInfo`` and takes the
  browse links' base from its ``baseUrl`` (the gateway URL is an API, not a page).
- ``JIRA_POLL_INTERVAL``: seconds (or ``30s``/``5m``) between status polls (default 60)
- ``JIRA_TIMEOUT``: seconds per HTTP request (default 30)
- ``JIRA_FAILED_RESOLUTIONS``: comma-separated resolutions that fail the action (default
  ``Won't Do, Duplicate, Cannot Reproduce, Declined``)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from orchestrator.durations import duration_seconds
from orchestrator.editor_lines import position as text_position

AuthType = Literal["basic", "pat", "oauth2"]
AUTH_TYPES: tuple[AuthType, ...] = ("basic", "pat", "oauth2")
DEFAULT_FAILED_RESOLUTIONS = ("Won't Do", "Duplicate", "Cannot Reproduce", "Declined")
GATEWAY_HOST = "api.atlassian.com"
_GATEWAY_PATH = re.compile(r"/ex/jira/[^/]+")
REF_SCHEMES = ("env:", "aws-sm:")
LITERAL_SECRET_KEYS = ("token", "password", "clientSecret", "secret", "accessToken")


class JiraSettingsError(ValueError):
    """``JIRA_INSTANCES`` (or another JIRA setting) is malformed; the message says where."""


@dataclass(frozen=True, slots=True)
class JiraAuth:
    """How PAO signs in to one instance: references to secrets, never the secrets."""

    type: AuthType
    user: str | None = None  # basic
    token_ref: str | None = None  # basic (API token) and pat
    token_url: str | None = None  # oauth2
    client_id: str | None = None
    client_secret_ref: str | None = None
    scopes: tuple[str, ...] = ()
    client_auth: Literal["basic", "body"] = "basic"

    def described(self) -> dict[str, Any]:
        """The auth as shown in previews: the kind and the references."""
        shown: dict[str, Any] = {"type": self.type}
        if self.type == "basic":
            shown.update(user=self.user, tokenRef=self.token_ref)
        elif self.type == "pat":
            shown["tokenRef"] = self.token_ref
        else:
            shown.update(
                tokenUrl=self.token_url,
                clientId=self.client_id,
                clientSecretRef=self.client_secret_ref,
            )
            if self.scopes:
                shown["scopes"] = list(self.scopes)
        return shown


@dataclass(frozen=True, slots=True)
class JiraInstance:
    name: str
    url: str  # base URL, no trailing slash
    auth: JiraAuth
    deployment: Literal["server", "cloud"] = "server"
    verify: bool | str = True

    @property
    def gateway(self) -> bool:
        """The Atlassian OAuth 2.0 gateway (``…/ex/jira/{cloudId}``): an API, not the site."""
        return is_gateway(self.url)


def is_gateway(url: str) -> bool:
    """Whether ``url`` is the OAuth 2.0 gateway form (``https://api.atlassian.com/ex/jira/{cloudId}``,
    told by its path, so a proxy or a test double in front of it counts too)."""
    return bool(_GATEWAY_PATH.fullmatch(urlsplit(url).path.rstrip("/")))


@dataclass(frozen=True, slots=True)
class JiraSettings:
    instances: Mapping[str, JiraInstance] = field(default_factory=dict)
    poll_interval_seconds: float = 60.0
    timeout_seconds: float = 30.0
    token_expiry_margin_seconds: float = 30.0
    user_agent: str = "pao-orchestrator"
    failed_resolutions: tuple[str, ...] = DEFAULT_FAILED_RESOLUTIONS

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> JiraSettings:
        resolutions = env.get("JIRA_FAILED_RESOLUTIONS")
        return cls(
            instances=parse_instances(env.get("JIRA_INSTANCES", "")),
            poll_interval_seconds=_seconds(env, "JIRA_POLL_INTERVAL", 60.0),
            timeout_seconds=_seconds(env, "JIRA_TIMEOUT", 30.0),
            failed_resolutions=DEFAULT_FAILED_RESOLUTIONS
            if resolutions is None
            else tuple(r.strip() for r in resolutions.split(",") if r.strip()),
        )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        try:
            value = duration_seconds(raw)
        except ValueError as exc:
            raise JiraSettingsError(f"{name}: {exc}") from None
    if value <= 0:
        raise JiraSettingsError(f"{name}: {raw!r} must be a positive number of seconds")
    return value


def parse_instances(text: str) -> dict[str, JiraInstance]:
    """``JIRA_INSTANCES`` as typed instances; errors name the variable, instance and key."""
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        line, column = text_position(text, exc.pos)  # json counts lines at "\n" only
        raise JiraSettingsError(
            f"JIRA_INSTANCES: invalid JSON at line {line} column {column}: {exc.msg}"
        ) from None
    if not isinstance(document, dict):
        raise JiraSettingsError("JIRA_INSTANCES: expected a JSON object of named instances")
    return {str(name): _instance(str(name), spec) for name, spec in document.items()}


def _instance(name: str, spec: Any) -> JiraInstance:
    where = f"JIRA_INSTANCES.{name}"
    if not isinstance(spec, dict):
        raise JiraSettingsError(f"{where}: expected an object with url and auth")
    url = spec.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise JiraSettingsError(f"{where}.url: expected an http(s) URL, got {url!r}")
    if not urlsplit(url).hostname:
        raise JiraSettingsError(f"{where}.url: {url!r} has no host")
    url = url.rstrip("/")
    auth = _auth(f"{where}.auth", spec.get("auth"))
    host = urlsplit(url).hostname or ""
    site = host.endswith(".atlassian.net")
    deployment = spec.get("deployment")
    if deployment is None:
        deployment = "cloud" if site or is_gateway(url) or auth.type == "oauth2" else "server"
    if deployment not in ("server", "cloud"):
        raise JiraSettingsError(
            f"{where}.deployment: unknown deployment {deployment!r} (expected server or cloud)"
        )
    if deployment == "server" and (site or is_gateway(url)):
        raise JiraSettingsError(f"{where}.deployment: {url} is Jira Cloud, not server")
    if auth.type == "pat" and deployment == "cloud":
        raise JiraSettingsError(
            f"{where}.auth.type: personal access tokens (pat) exist only on Jira Data Center / "
            "Server; on Cloud use basic (account email + API token) or oauth2"
        )
    if auth.type == "oauth2" and deployment == "cloud" and not is_gateway(url):
        raise JiraSettingsError(
            f"{where}.url: OAuth 2.0 on Jira Cloud goes through "
            f"https://{GATEWAY_HOST}/ex/jira/{{cloudId}}, not the site host ({url})"
        )
    verify = spec.get("verify", True)
    if not isinstance(verify, (bool, str)):
        raise JiraSettingsError(f"{where}.verify: expected true or a CA bundle path")
    if verify is False:
        raise JiraSettingsError(f"{where}.verify: TLS verification cannot be turned off")
    return JiraInstance(
        name=name,
        url=url,
        auth=auth,
        deployment=cast(Literal["server", "cloud"], deployment),
        verify=verify,
    )


def _auth(where: str, spec: Any) -> JiraAuth:
    if not isinstance(spec, dict):
        raise JiraSettingsError(f"{where}: expected an object with a type")
    for key in LITERAL_SECRET_KEYS:
        if key in spec:
            raise JiraSettingsError(
                f"{where}.{key}: secrets are given as references (e.g. tokenRef "
                '"env:JIRA_TOKEN" or "aws-sm:<id>"), never as values'
            )
    kind = spec.get("type")
    if kind not in AUTH_TYPES:
        raise JiraSettingsError(
            f"{where}.type: unknown auth type {kind!r} (expected basic, pat or oauth2)"
        )

    def text(key: str, *, ref: bool = False) -> str:
        value = spec.get(key)
        if not isinstance(value, str) or not value:
            raise JiraSettingsError(f"{where}.{key}: required for {kind} auth")
        if ref and not value.startswith(REF_SCHEMES):
            raise JiraSettingsError(
                f"{where}.{key}: expected a secret reference (env:NAME or aws-sm:ID)"
            )
        return value

    if kind == "basic":
        return JiraAuth("basic", user=text("user"), token_ref=text("tokenRef", ref=True))
    if kind == "pat":
        return JiraAuth("pat", token_ref=text("tokenRef", ref=True))
    token_url = text("tokenUrl")
    if urlsplit(token_url).scheme not in ("http", "https"):
        raise JiraSettingsError(f"{where}.tokenUrl: expected an http(s) URL")
    scopes = spec.get("scopes", [])
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise JiraSettingsError(f"{where}.scopes: expected a list of strings")
    client_auth = spec.get("clientAuth", "basic")
    if client_auth not in ("basic", "body"):
        raise JiraSettingsError(f"{where}.clientAuth: expected basic or body")
    return JiraAuth(
        "oauth2",
        token_url=token_url,
        client_id=text("clientId"),
        client_secret_ref=text("clientSecretRef", ref=True),
        scopes=tuple(scopes),
        client_auth=client_auth,
    )
