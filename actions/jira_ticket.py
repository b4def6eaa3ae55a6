"""The ``jira-ticket`` action: an issue in one of several configured JIRA instances.

``execute`` is idempotent on the action's correlation key (find-or-create, ``actions.jira_search``):
it looks for the issue carrying the label derived from the key (``pao-<key tail>``) and reuses
it; otherwise it creates the issue with that label added. JIRA Cloud's search is eventually
consistent (seconds to minutes), so the search passes ``reconcileIssues`` with the issues this
process created, and a search that finds nothing is completed by reading the project's issues
newer than the newest one the index knows, one by one (``GET /issue/{key}`` is consistent): an
issue created by a delivery that died before PAO recorded it is found, not opened twice. What
was created is recorded (in the process, then returned to the engine) before any other call.

With ``waitForCompletion`` (default) the action stays pending on the issue key and each ``poll``
reads the issue's status and resolution: a status of the ``done`` category (or a name in
``completion.completedStatuses``) completes the action with ``key``, ``url``, ``status`` and
``resolution``, unless the resolution is a failing one (``completion.failedResolutions``, else
``JIRA_FAILED_RESOLUTIONS``: Won't Do, Duplicate, Cannot Reproduce, Declined; in stock JIRA
these are resolutions on a done status, not statuses); a status named in
``completion.failedStatuses`` fails it too. Without it (the
escalation tickets) the action completes as soon as the issue exists. ``notify`` comments on the
ticket when the request changes state; ``cancel`` comments that the request was aborted (JIRA has
no universal cancel).

Settings (read once by ``JiraSettings.from_environment``):

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

Retry policy, kept here: the ``jira`` client's own retries are off (``max_retries=0``) so the
engine's backoff rules. 429 and 503 are retryable after ``Retry-After``; other 5xx, timeouts and
connection errors are retryable; 400/401/403/404 are not and carry JIRA's ``errorMessages`` and
``errors``. The ``jira`` client is synchronous: every call runs in a worker thread. Its
``JIRAError`` text includes request headers (the Authorization header), so it is never used as
is: messages are built here from the status and JIRA's error fields, then redacted.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast
from urllib.parse import quote, quote_plus, urlsplit

import httpx
import requests
from jira import JIRA, JIRAError

from actions import jira_search
from actions.failures import Permanent as _Permanent
from actions.failures import Retryable as _Retryable
from actions.secrets import SecretError, SecretResolver
from orchestrator.durations import duration_seconds
from orchestrator.editor_lines import position as text_position
from orchestrator.engine.backoff import parse_retry_after
from orchestrator.engine.executor import ActionResult, ActionRun, Completed, Failed, Pending
from orchestrator.redaction import scrub as _redact
from orchestrator.redaction import scrub_value as _redact_any

log = logging.getLogger(__name__)

AuthType = Literal["basic", "pat", "oauth2"]
AUTH_TYPES: tuple[AuthType, ...] = ("basic", "pat", "oauth2")
DEFAULT_FAILED_RESOLUTIONS = ("Won't Do", "Duplicate", "Cannot Reproduce", "Declined")
DONE_CATEGORY = "done"
SUMMARY_LIMIT = 255
DETAIL_LIMIT = 500
POLL_FIELDS = "status,resolution"
GATEWAY_HOST = "api.atlassian.com"
_GATEWAY_PATH = re.compile(r"/ex/jira/[^/]+")
_LABEL_SPACE = re.compile(r"\s")
REF_SCHEMES = ("env:", "aws-sm:")
LITERAL_SECRET_KEYS = ("token", "password", "clientSecret", "secret", "accessToken")

T = TypeVar("T")


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


# -- errors ------------------------------------------------------------------------------------


class JiraCallError(RuntimeError):
    """A transient failure of ``cancel`` (the engine gives the job back)."""


@dataclass(slots=True)
class _Call:
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


def correlation_label(correlation_key: str) -> str:
    """The label that finds an action's issue again: ``pao-`` and the key's tail."""
    tail = correlation_key.removeprefix("pao-")
    return "pao-" + re.sub(r"[^A-Za-z0-9_.-]", "-", tail)[: SUMMARY_LIMIT - 4]


jql_string = jira_search.jql_string


def label_problem(label: str) -> str | None:
    """Why JIRA would refuse ``label`` (it cannot contain spaces), or None."""
    if not label:
        return "a label cannot be empty"
    if _LABEL_SPACE.search(label):
        return f"label {label!r} contains a space (JIRA labels cannot contain spaces)"
    return None


@dataclass(frozen=True, slots=True)
class _ServerInfo:
    base_url: str  # serverInfo.baseUrl: where people browse issues
    deployment: str  # serverInfo.deploymentType (Cloud, Server, DataCenter)


# -- the executor ------------------------------------------------------------------------------


class JiraTicketExecutor:
    """Executor for ``jira-ticket`` actions (see the module docstring)."""

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
        self._clients: dict[str, tuple[str, JIRA]] = {}  # instance -> (credential digest, client)
        self._tokens: dict[str, _Token] = {}
        self._info: dict[str, _ServerInfo] = {}  # instance -> serverInfo, confirmed once
        # (instance, label) -> issue ids this process created: recorded the moment JIRA answers,
        # and passed as reconcileIssues so Cloud's lagging search sees them.
        self._created: dict[tuple[str, str], list[int]] = {}

    # -- protocol ------------------------------------------------------------------------------

    def target(self, action: ActionRun) -> str | None:
        instance = action.config.get("instance")
        return f"jira:{instance}" if isinstance(instance, str) and instance else None

    def describe(self, action: ActionRun) -> Mapping[str, Any]:
        config = action.config
        name = str(config.get("instance", ""))
        instance = self.settings.instances.get(name)
        label = correlation_label(action.correlation_key)
        request: dict[str, Any] = {
            "method": "POST",
            "url": f"{instance.url}/rest/api/2/issue" if instance else None,
            "auth": instance.auth.described() if instance else None,
            "body": {"fields": self._fields(config, label)},
        }
        described: dict[str, Any] = {
            "instance": name,
            "searchFirst": self._jql(config, label),
            "requests": [request],
            "waitForCompletion": bool(config.get("waitForCompletion", True)),
        }
        if instance is None:
            described["error"] = self._unknown_instance(name)
        return described

    async def execute(self, action: ActionRun) -> ActionResult:
        call = _Call(str(action.config.get("instance", "")))
        try:
            return await asyncio.to_thread(self._execute, action, call)
        except Exception as exc:  # every error becomes a redacted Failed
            return self._failure(exc, call)

    async def poll(self, action: ActionRun) -> ActionResult:
        call = _Call(str(action.config.get("instance", "")))
        try:
            return await asyncio.to_thread(self._poll, action, call)
        except Exception as exc:
            return self._failure(exc, call)

    async def notify(self, action: ActionRun, state: str, message: str) -> None:
        call = _Call(str(action.config.get("instance", "")))
        try:
            await asyncio.to_thread(self._comment, action, call, message)
        except Exception as exc:  # best effort by contract
            failure = self._failure(exc, call)
            log.warning("commenting on %s failed: %s", action.external_ref, failure.error)

    async def cancel(self, action: ActionRun) -> None:
        call = _Call(str(action.config.get("instance", "")))
        text = (
            f"PAO request {action.request_id} was aborted: the work this ticket asks for is no "
            "longer needed. Please close it (PAO cannot cancel JIRA tickets itself)."
        )
        try:
            await asyncio.to_thread(self._comment, action, call, text)
        except Exception as exc:
            failure = self._failure(exc, call)
            if failure.retryable:
                raise JiraCallError(failure.error) from None
            log.warning("commenting on %s failed: %s", action.external_ref, failure.error)

    # -- work (runs in a worker thread) --------------------------------------------------------

    def _execute(self, action: ActionRun, call: _Call) -> ActionResult:
        config = action.config
        instance = self._instance(config)
        for key in ("project", "summary"):
            if not isinstance(config.get(key), str) or not config[key]:
                raise _Permanent(f"jira-ticket config has no {key}")
        for label in config.get("labels") or []:
            problem = label_problem(str(label))
            if problem:
                raise _Permanent(f"jira-ticket config: {problem}")
        label = correlation_label(action.correlation_key)
        project = str(config["project"])
        cloud = instance.deployment == "cloud"
        record = (instance.name, label)

        def find_or_create(client: JIRA) -> tuple[str, str, bool]:
            with self._lock:
                reconcile = list(self._created.get(record, ()))
            found = jira_search.find(
                client, project=project, label=label, cloud=cloud, reconcile=reconcile
            )
            if found is not None:
                return found.key, found.id, False
            created = client.create_issue(fields=self._fields(config, label), prefetch=False)
            key, issue_id = str(created.raw["key"]), str(created.raw["id"])
            with self._lock:  # recorded before anything else can go wrong
                self._created.setdefault(record, []).append(int(issue_id))
            log.info("jira-ticket: created %s for %s", key, action.correlation_key)
            return key, issue_id, True

        key, issue_id, created = self._with_client(instance, call, find_or_create)
        url = self._browse_url(instance, key)
        outputs = {"key": key, "id": issue_id, "url": url}
        details = {"instance": instance.name, "key": key, "created": created}
        if not config.get("waitForCompletion", True):
            return Completed(outputs=outputs, details=details)
        return Pending(
            external_ref=key,
            url=url,
            poll_after_seconds=self.settings.poll_interval_seconds,
            details=details,
        )

    def _poll(self, action: ActionRun, call: _Call) -> ActionResult:
        instance = self._instance(action.config)
        key = action.external_ref
        if not key:
            raise _Permanent("poll called on a jira-ticket action without an issue key")
        raw = self._with_client(
            instance, call, lambda client: client.issue(key, fields=POLL_FIELDS).raw
        )
        fields = dict(raw.get("fields") or {})
        status = dict(fields.get("status") or {})
        name = str(status.get("name") or "")
        category = str(dict(status.get("statusCategory") or {}).get("key") or "")
        resolution = (fields.get("resolution") or {}).get("name")
        completion = dict(action.config.get("completion") or {})
        failed = {s.casefold() for s in completion.get("failedStatuses") or ()}
        failing = completion.get("failedResolutions")
        if failing is None:
            failing = self.settings.failed_resolutions
        completed = completion.get("completedStatuses")
        url = self._browse_url(instance, key)
        details = {
            "instance": instance.name,
            "key": key,
            "status": name,
            "category": category,
            "resolution": resolution,
        }
        if name.casefold() in failed:
            raise _Permanent(
                f"JIRA issue {key} was closed as '{name}'"
                + (f" (resolution {resolution})" if resolution else "")
                + f": {url}",
                details,
            )
        done = (
            name.casefold() in {s.casefold() for s in completed}
            if completed
            else category == DONE_CATEGORY
        )
        if done and resolution and str(resolution).casefold() in {r.casefold() for r in failing}:
            raise _Permanent(
                f"JIRA issue {key} was resolved as '{resolution}' (status {name}): {url}",
                details,
            )
        if done:
            return Completed(
                outputs={"key": key, "url": url, "status": name, "resolution": resolution},
                details=details,
            )
        return Pending(
            external_ref=key,
            url=url,
            poll_after_seconds=self.settings.poll_interval_seconds,
            details=details,
        )

    def _comment(self, action: ActionRun, call: _Call, text: str) -> None:
        instance = self._instance(action.config)
        key = action.external_ref
        if not key:
            return
        self._with_client(instance, call, lambda client: client.add_comment(key, text))

    # -- payloads ------------------------------------------------------------------------------

    @staticmethod
    def _fields(config: Mapping[str, Any], label: str) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "project": {"key": str(config.get("project", ""))},
            "issuetype": {"name": str(config.get("issueType") or "Task")},
            "summary": " ".join(str(config.get("summary", "")).split())[:SUMMARY_LIMIT],
        }
        if config.get("description"):
            fields["description"] = str(config["description"])
        if config.get("priority"):
            fields["priority"] = {"name": str(config["priority"])}
        labels = [str(item) for item in config.get("labels") or []]
        fields["labels"] = [*dict.fromkeys([*labels, label])]
        if config.get("components"):
            fields["components"] = [{"name": str(c)} for c in config["components"]]
        for name, value in dict(config.get("customFields") or {}).items():
            fields[str(name)] = value
        return fields

    @staticmethod
    def _jql(config: Mapping[str, Any], label: str) -> str:
        return jira_search.label_jql(str(config.get("project", "")), label)

    def _browse_url(self, instance: JiraInstance, key: str) -> str:
        """``serverInfo.baseUrl``/browse/KEY (the site, also behind the OAuth gateway)."""
        with self._lock:
            info = self._info.get(instance.name)
        return f"{info.base_url if info else instance.url}/browse/{key}"

    def _instance(self, config: Mapping[str, Any]) -> JiraInstance:
        name = str(config.get("instance", ""))
        instance = self.settings.instances.get(name)
        if instance is None:
            raise _Permanent(self._unknown_instance(name))
        return instance

    def _unknown_instance(self, name: str) -> str:
        known = ", ".join(sorted(self.settings.instances)) or "none"
        return f"unknown JIRA instance {name!r} (configured in JIRA_INSTANCES: {known})"

    # -- clients and credentials ---------------------------------------------------------------

    def _with_client(self, instance: JiraInstance, call: _Call, work: Callable[[JIRA], T]) -> T:
        """Run ``work`` with the instance's client; a rejected cached OAuth token is dropped and
        the call made once more with a fresh one (a 401 means nothing was done)."""
        client, cached_token = self._client(instance, call)
        try:
            return work(client)
        except JIRAError as exc:
            if exc.status_code != 401 or not cached_token:
                raise
            with self._lock:
                self._tokens.pop(instance.name, None)
        client, _ = self._client(instance, call)
        return work(client)

    def _client(self, instance: JiraInstance, call: _Call) -> tuple[JIRA, bool]:
        auth = instance.auth
        kwargs: dict[str, Any] = {}
        cached_token = False
        if auth.type == "basic":
            token = self._secret(str(auth.token_ref), call)
            basic = base64.b64encode(f"{auth.user}:{token}".encode()).decode()
            call.secrets.append(basic)
            kwargs["basic_auth"] = (str(auth.user), token)
            material = f"basic:{auth.user}:{token}"
        else:
            if auth.type == "pat":
                token = self._secret(str(auth.token_ref), call)
            else:
                token, cached_token = self._oauth_token(instance, call)
            kwargs["token_auth"] = token
            material = f"bearer:{token}"
        digest = hashlib.sha256(material.encode()).hexdigest()
        with self._lock:
            current = self._clients.get(instance.name)
            if current is not None and current[0] == digest:
                return current[1], cached_token
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
            **kwargs,
        )
        self._confirm(instance, client)
        with self._lock:
            previous = self._clients.get(instance.name)
            self._clients[instance.name] = (digest, client)
        if previous is not None:
            previous[1].close()  # type: ignore[no-untyped-call]
        return client, cached_token

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
            raise _Permanent(
                f"JIRA instance {instance.name!r} reports deploymentType {deployment} but "
                f"JIRA_INSTANCES implies {instance.deployment}: set its deployment (or fix its "
                "url / auth)"
            )
        base_url = str(raw.get("baseUrl") or "").rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            base_url = instance.url
        with self._lock:
            self._info[instance.name] = _ServerInfo(base_url, deployment)

    def _secret(self, ref: str, call: _Call) -> str:
        try:
            value = self.secrets.resolve(ref)
        except SecretError as exc:
            raise _Permanent(f"JIRA instance {call.instance!r}: {exc}") from None
        call.remember(value)
        return value

    def _oauth_token(self, instance: JiraInstance, call: _Call) -> tuple[str, bool]:
        """(access token, came from the cache)."""
        auth = instance.auth
        client_secret = self._secret(str(auth.client_secret_ref), call)
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
            raise _Retryable(f"OAuth token request to {token_url} timed out") from None
        except httpx.TransportError as exc:
            raise _Retryable(
                f"OAuth token request to {token_url} failed: {type(exc).__name__}"
            ) from None
        message = f"OAuth token request to {token_url} returned HTTP {response.status_code}"
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(
                message,
                parse_retry_after(response.headers.get("retry-after")),
                status=response.status_code,
            )
        if not response.is_success:
            raise _Permanent(message, {"status_code": response.status_code})
        try:
            document = response.json()
        except ValueError:
            document = None
        value = document.get("access_token") if isinstance(document, dict) else None
        if not isinstance(value, str) or not value:
            raise _Permanent(f"OAuth token response from {token_url} has no access_token")
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

    # -- failures (the retry policy) -----------------------------------------------------------

    def _failure(self, exc: Exception, call: _Call) -> Failed:
        where = f"JIRA {call.instance!r}" if call.instance else "JIRA"
        if isinstance(exc, JIRAError):
            return self._http_failure(exc, call, where)
        if isinstance(exc, _Retryable):
            return Failed(
                _redact(f"{where}: {exc}", call.secrets),
                retryable=True,
                retry_after=exc.retry_after,
                details=exc.details,
                outcome_unknown=exc.outcome_unknown,
            )
        if isinstance(exc, _Permanent):
            details = {k: _redact_any(v, call.secrets) for k, v in exc.details.items()}
            return Failed(_redact(str(exc), call.secrets), retryable=False, details=details)
        # No answer (a timeout, a lost connection) or one that made no sense: the issue may
        # exist; the retry keeps the correlation label and finds it.
        if isinstance(exc, requests.Timeout):
            return Failed(
                f"{where}: request timed out after {self.settings.timeout_seconds:g}s",
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

    def _http_failure(self, exc: JIRAError, call: _Call, where: str) -> Failed:
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
