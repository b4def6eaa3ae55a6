"""The ``terraform`` action: a run in a Terraform Cloud / Enterprise workspace (API v2, JSON:API).

``execute`` finds the workspace by name (creating it from ``workspaceTemplate`` when the item
says ``createWorkspace``), writes the item's variables into it, and queues a run whose message
carries the action's correlation key. A redelivered action lists the workspace's runs and finds
that run again instead of queuing a second one (and leaves the variables alone). ``poll``
follows the run, each status classified in ``actions.terraform_runs``: a run that stops after its
plan is applied by PAO once Terraform Cloud says it is confirmable (checks passed); a run waiting
for a person's decision (a run task or policy to override) fails the action with the run's link
and the reason, unless the item says ``onDecision: wait``; an error, a discard or a cancel fails
the action. A finished run completes with the workspace's current state outputs
(sensitive ones masked: value ``None`` and the name in ``sensitive_outputs``) plus ``run_id``,
``run_url`` and ``workspace_id`` (these three win over state outputs of the same name).

Settings (environment variables read once by ``TerraformSettings.from_environment``):

- ``TFC_ADDRESS``: Terraform Cloud / Enterprise address (default ``https://app.terraform.io``)
- ``TFC_TOKEN_REF``: secret reference of the API token (team or user token), e.g.
  ``env:TFC_TOKEN``; resolved per call through the injected ``SecretResolver``
- ``TFC_ORGANIZATION``: organization used when an item names none
- ``TFC_POLL_INTERVAL``: seconds (or a duration such as ``30s``) between polls (default 60)
- ``TFC_TIMEOUT``: seconds (or a duration) per HTTP request (default 30)
- ``TFC_VCS_OAUTH_TOKEN_ID``: the VCS connection (``ot-...``) used for workspaces created from a
  template with a ``repository``

Retry policy, kept here: 429 is retryable after ``Retry-After`` (or ``x-ratelimit-reset``);
5xx, timeouts and connection errors are retryable; 401/403/404/409/422 are not, and carry the
JSON:API ``errors[].detail``. The token never leaves the Authorization header: every error text
passes through ``_redact``.

Variables: strings are sent as they are (``hcl: false``); numbers and booleans JSON-encoded
(``hcl: false``, Terraform converts them); lists and maps JSON-encoded with ``hcl: true``, since
JSON is valid HCL expression syntax and a non-HCL string could not become a list or map.

About 620 lines: one product's call sequence (workspace, variables, configuration version,
run, apply, polling) kept in one place so a run can be followed from start to end; the run
statuses' classification is apart, in ``terraform_runs``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from actions.failures import Permanent as _Permanent
from actions.failures import Retryable as _Retryable
from actions.rest_api import SecretError, SecretResolver
from actions.terraform_runs import DECISION_REASONS, RunPhase, phase
from orchestrator.durations import duration_seconds
from orchestrator.engine.backoff import parse_retry_after
from orchestrator.engine.executor import ActionResult, ActionRun, Completed, Failed, Pending
from orchestrator.redaction import scrub as _redact

log = logging.getLogger(__name__)

DEFAULT_ADDRESS = "https://app.terraform.io"
NOT_CONFIGURED = (
    "Terraform Cloud is not configured: set TFC_TOKEN_REF to the API token's reference "
    "(e.g. env:TFC_TOKEN)"
)
JSON_API = "application/vnd.api+json"
DEFAULT_MESSAGE = "Queued by PAO"
SENSITIVE_SHOWN = "(sensitive)"
RUN_PAGE_SIZE = 100
MAX_RUN_PAGES = 10  # the run we look for is recent: 1000 runs back is far enough
DETAIL_LIMIT = 500


@dataclass(frozen=True, slots=True)
class TerraformSettings:
    address: str = DEFAULT_ADDRESS
    token_ref: str | None = None  # a secret reference (env:NAME), never the token itself
    organization: str | None = None
    poll_interval_seconds: float = 60.0
    timeout_seconds: float = 30.0
    vcs_oauth_token_id: str | None = None
    verify: bool | str = True
    user_agent: str = "pao-orchestrator"

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> TerraformSettings:
        return cls(
            address=(env.get("TFC_ADDRESS") or DEFAULT_ADDRESS).rstrip("/"),
            token_ref=env.get("TFC_TOKEN_REF") or None,
            organization=env.get("TFC_ORGANIZATION") or None,
            poll_interval_seconds=_seconds(env, "TFC_POLL_INTERVAL", 60.0),
            timeout_seconds=_seconds(env, "TFC_TIMEOUT", 30.0),
            vcs_oauth_token_id=env.get("TFC_VCS_OAUTH_TOKEN_ID") or None,
        )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return duration_seconds(text)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


class TerraformError(RuntimeError):
    """A cancel that Terraform Cloud refused (the message is redacted)."""


@dataclass(frozen=True, slots=True)
class _Target:
    """Where one action runs: the organization and workspace names, and how to reach the API."""

    organization: str
    workspace: str

    def run_url(self, address: str, run_id: str) -> str:
        return (
            f"{address}/app/{quote(self.organization, safe='')}/workspaces/"
            f"{quote(self.workspace, safe='')}/runs/{run_id}"
        )


class _Api:
    """One authenticated session against the API; every response is checked in ``_check``."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.token = token

    async def call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        allow: Iterable[int] = (),
    ) -> httpx.Response:
        content = json.dumps(body).encode() if body is not None else None
        try:
            response = await self.client.request(
                method, path, content=content, params=dict(params or {})
            )
        except httpx.TimeoutException as exc:
            raise _Retryable(f"{what}: {method} {path} timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"{what}: {method} {path} failed: {type(exc).__name__}") from None
        if response.status_code not in set(allow):
            _check(response, what, method, path)
        return response


def _check(response: httpx.Response, what: str, method: str, path: str) -> None:
    code = response.status_code
    if 200 <= code < 300:
        return
    detail = _error_detail(response)
    message = f"{what}: {method} {path} returned HTTP {code}" + (f": {detail}" if detail else "")
    if code == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is None:
            retry_after = _float(response.headers.get("x-ratelimit-reset"))
        raise _Retryable(message, retry_after, status=code)
    if code >= 500:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        raise _Retryable(message, retry_after, status=code)
    raise _Permanent(message, {"status_code": code}, status=code)


def _error_detail(response: httpx.Response) -> str:
    """The JSON:API ``errors[].detail`` (or titles), else the start of the body."""
    try:
        document = response.json()
    except ValueError:
        return response.text[:DETAIL_LIMIT].strip()
    errors = document.get("errors") if isinstance(document, Mapping) else None
    if isinstance(errors, list):
        texts = []
        for error in errors:
            if isinstance(error, Mapping):
                text = error.get("detail") or error.get("title")
                if text:
                    texts.append(str(text))
        if texts:
            return "; ".join(texts)[:DETAIL_LIMIT]
    return response.text[:DETAIL_LIMIT].strip()


def _float(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        return None


def _attributes(document: Any) -> Mapping[str, Any]:
    data = document.get("data") if isinstance(document, Mapping) else None
    attributes = data.get("attributes") if isinstance(data, Mapping) else None
    return attributes if isinstance(attributes, Mapping) else {}


def _data(document: Any) -> Mapping[str, Any]:
    data = document.get("data") if isinstance(document, Mapping) else None
    return data if isinstance(data, Mapping) else {}


def variable_payload(key: str, value: Any, sensitive: bool) -> dict[str, Any]:
    """The ``vars`` attributes for one variable (see the module docstring for encoding)."""
    if isinstance(value, str):
        text, hcl = value, False
    elif isinstance(value, (Mapping, list, tuple)):
        text, hcl = json.dumps(value, sort_keys=True), True
    else:
        text, hcl = json.dumps(value), False
    return {
        "key": key,
        "value": text,
        "category": "terraform",
        "hcl": hcl,
        "sensitive": sensitive,
    }


class TerraformExecutor:
    """Executor for ``terraform`` actions (see the module docstring)."""

    def __init__(
        self,
        secrets: SecretResolver,
        settings: TerraformSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.secrets = secrets
        self.settings = settings or TerraformSettings()
        self._transport = transport

    # -- protocol ------------------------------------------------------------------------------

    def target(self, action: ActionRun) -> str | None:
        host = urlsplit(self.settings.address).hostname
        return f"terraform:{host}" if host else None

    async def execute(self, action: ActionRun) -> ActionResult:
        return await self._guarded(action, poll=False)

    async def poll(self, action: ActionRun) -> ActionResult:
        return await self._guarded(action, poll=True)

    async def cancel(self, action: ActionRun) -> None:
        """Cancel the action's run (discard it when it waits for confirmation)."""
        token = ""
        try:
            token = self._token()
            target = self._target(action.config)
            async with self._client(token) as client:
                api = _Api(client, token)
                run_id = action.external_ref
                if run_id is None:
                    workspace = await self._find_workspace(api, target)
                    found = (
                        await self._find_run(api, workspace, action.correlation_key)
                        if workspace is not None
                        else None
                    )
                    if found is None:
                        return
                    run_id = str(found["id"])
                run = _data((await api.call("GET", f"/api/v2/runs/{run_id}", "read run")).json())
                actions = run.get("attributes", {}).get("actions") or {}
                status = run.get("attributes", {}).get("status")
                comment = {"comment": f"Cancelled by PAO for request {action.request_id}"}
                if actions.get("is-confirmable") or (
                    actions.get("is-discardable") and not actions.get("is-cancelable")
                ):
                    verb = "discard"  # paused for confirmation: nothing runs to interrupt
                elif actions.get("is-cancelable"):
                    verb = "cancel"
                else:
                    log.info("terraform run %s is %s: nothing to cancel", run_id, status)
                    return
                await api.call(
                    "POST", f"/api/v2/runs/{run_id}/actions/{verb}", f"{verb} run", body=comment
                )
                log.info("terraform run %s: %s requested (was %s)", run_id, verb, status)
        except (_Retryable, _Permanent, SecretError) as exc:
            raise TerraformError(_redact(str(exc), [token])) from None

    def describe(self, action: ActionRun) -> Mapping[str, Any]:
        """The workspace, variables and run payload ``execute`` would send (no network)."""
        config = action.config
        organization = config.get("organization") or self.settings.organization
        sensitive = {str(n) for n in config.get("sensitiveVariables") or ()}
        variables = []
        for key, value in dict(config.get("variables") or {}).items():
            attributes = variable_payload(str(key), value, str(key) in sensitive)
            if attributes["sensitive"]:
                attributes["value"] = SENSITIVE_SHOWN
            variables.append(attributes)
        workspace: dict[str, Any] = {
            "organization": organization,
            "name": config.get("workspace"),
            "create_if_missing": bool(config.get("createWorkspace", False)),
        }
        if workspace["create_if_missing"]:
            workspace["create_payload"] = self._workspace_payload(
                str(config.get("workspace")), config, check=False
            )
        described: dict[str, Any] = {
            "address": self.settings.address,
            "token": self.settings.token_ref,
            "workspace": workspace,
            "variables": variables,
            "run": self._run_payload(action, "(workspace id, looked up by name)"),
        }
        if not self.settings.token_ref:  # what execute would refuse, said before submission
            described["error"] = NOT_CONFIGURED
        return described

    # -- execute / poll ------------------------------------------------------------------------

    async def _guarded(self, action: ActionRun, *, poll: bool) -> ActionResult:
        token = ""
        try:
            token = self._token()
            target = self._target(action.config)
            async with self._client(token) as client:
                api = _Api(client, token)
                if poll and action.external_ref:
                    path = f"/api/v2/runs/{action.external_ref}"
                    run = _data((await api.call("GET", path, "read run")).json())
                    return await self._assess(api, target, action, run)
                return await self._execute(api, target, action)
        except _Retryable as exc:
            # Executing is several calls (workspace, configuration, run): past a failure other
            # than a rate limit the run may exist, and the retry must find it by its message.
            return Failed(
                _redact(str(exc), [token]),
                retryable=True,
                retry_after=exc.retry_after,
                details=exc.details,
                outcome_unknown=exc.outcome_unknown or exc.status != 429,
            )
        except _Permanent as exc:
            return Failed(_redact(str(exc), [token]), retryable=False, details=exc.details)
        except SecretError as exc:
            return Failed(str(exc), retryable=False)

    async def _execute(self, api: _Api, target: _Target, action: ActionRun) -> ActionResult:
        workspace = await self._find_workspace(api, target)
        if workspace is None:
            if not action.config.get("createWorkspace", False):
                raise _Permanent(
                    f"Terraform Cloud workspace '{target.workspace}' does not exist in "
                    f"organization '{target.organization}' (or the token cannot see it); set "
                    "createWorkspace: true with a workspaceTemplate to create it"
                )
            workspace = await self._create_workspace(api, target, action.config)
        run = await self._find_run(api, workspace, action.correlation_key)
        if run is not None:
            log.info("terraform: found run %s for %s", run.get("id"), action.correlation_key)
            return await self._assess(api, target, action, run)
        await self._set_variables(api, workspace, action.config)
        document = (
            await api.call(
                "POST",
                "/api/v2/runs",
                "create run",
                body={"data": self._run_payload(action, str(workspace["id"]))},
            )
        ).json()
        run = _data(document)
        run_id = str(run.get("id", ""))
        if not run_id:
            raise _Retryable("create run: the response carries no run id")
        log.info("terraform: queued run %s in workspace %s", run_id, target.workspace)
        url = target.run_url(self.settings.address, run_id)
        return Pending(
            external_ref=run_id,
            url=url,
            poll_after_seconds=self.settings.poll_interval_seconds,
            details={"run_id": run_id, "status": run.get("attributes", {}).get("status")},
        )

    async def _assess(
        self, api: _Api, target: _Target, action: ActionRun, run: Mapping[str, Any]
    ) -> ActionResult:
        """What a run's status means for the action (applying a run waiting to be confirmed)."""
        run_id = str(run.get("id", action.external_ref or ""))
        attributes = run.get("attributes") or {}
        status = str(attributes.get("status", ""))
        url = target.run_url(self.settings.address, run_id)
        details = {"run_id": run_id, "run_url": url, "status": status}
        pending = Pending(
            external_ref=run_id,
            url=url,
            poll_after_seconds=self.settings.poll_interval_seconds,
            details=details,
        )
        kind = phase(status)
        if kind is RunPhase.APPLIED:
            workspace_id = (
                (run.get("relationships") or {}).get("workspace", {}).get("data", {}).get("id")
            )
            if not workspace_id:
                raise _Retryable(f"run {run_id} names no workspace; cannot read its outputs")
            outputs = await self._outputs(api, str(workspace_id))
            if outputs is None:  # state outputs still being processed
                return pending
            outputs.update(run_id=run_id, run_url=url, workspace_id=str(workspace_id))
            return Completed(outputs=outputs, details=details)
        if kind is RunPhase.DECISION:
            if action.config.get("onDecision", "fail") == "wait":
                return pending  # a person decides in Terraform Cloud; the timeout bounds it
            raise _Permanent(
                f"Terraform run {run_id} needs a person's decision ({status}): "
                f"{DECISION_REASONS.get(status, 'the run waits for an override')}: {url}",
                {**details, "reason": DECISION_REASONS.get(status)},
            )
        if kind is RunPhase.FAILED:
            what = "failed its policy checks" if status.startswith("policy") else "errored"
            raise _Permanent(f"Terraform run {run_id} {what} ({status}): {url}", details)
        if kind is RunPhase.CANCELLED:
            raise _Permanent(f"Terraform run {run_id} {status.replace('_', ' ')}: {url}", details)
        actions = attributes.get("actions") or {}
        if (
            kind is RunPhase.CONFIRMABLE
            and not attributes.get("auto-apply")
            and actions.get("is-confirmable")
        ):
            response = await api.call(
                "POST",
                f"/api/v2/runs/{run_id}/actions/apply",
                "apply run",
                body={"comment": f"Applied by PAO for request {action.request_id}"},
                allow=(409,),  # applied meanwhile (another delivery): the next poll tells
            )
            if response.status_code != 409:
                log.info("terraform: applying run %s (%s)", run_id, status)
        return pending

    # -- workspace, variables, runs, outputs ---------------------------------------------------

    async def _find_workspace(self, api: _Api, target: _Target) -> Mapping[str, Any] | None:
        path = (
            f"/api/v2/organizations/{quote(target.organization, safe='')}/workspaces/"
            f"{quote(target.workspace, safe='')}"
        )
        response = await api.call("GET", path, "read workspace", allow=(404,))
        if response.status_code == 404:
            return None
        workspace = _data(response.json())
        if not workspace.get("id"):
            raise _Retryable(f"read workspace: {path} returned no workspace id")
        return workspace

    async def _create_workspace(
        self, api: _Api, target: _Target, config: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        path = f"/api/v2/organizations/{quote(target.organization, safe='')}/workspaces"
        payload = self._workspace_payload(target.workspace, config, check=True)
        response = await api.call(
            "POST", path, "create workspace", body={"data": payload}, allow=(422,)
        )
        if response.status_code == 422:  # maybe created meanwhile by another delivery
            existing = await self._find_workspace(api, target)
            if existing is not None:
                return existing
            _check(response, "create workspace", "POST", path)
        log.info("terraform: created workspace %s", target.workspace)
        return _data(response.json())

    def _workspace_payload(
        self, name: str, config: Mapping[str, Any], *, check: bool
    ) -> dict[str, Any]:
        template = dict(config.get("workspaceTemplate") or {})
        attributes: dict[str, Any] = {"name": name}
        if template.get("terraformVersion"):
            attributes["terraform-version"] = str(template["terraformVersion"])
        if template.get("workingDirectory"):
            attributes["working-directory"] = str(template["workingDirectory"])
        if template.get("repository"):
            oauth = self.settings.vcs_oauth_token_id
            if oauth is None and check:
                raise _Permanent(
                    "workspaceTemplate.repository needs a VCS connection: set "
                    "TFC_VCS_OAUTH_TOKEN_ID to the OAuth token id (ot-...) of the connection"
                )
            vcs: dict[str, Any] = {
                "identifier": str(template["repository"]),
                "oauth-token-id": oauth or "(TFC_VCS_OAUTH_TOKEN_ID)",
            }
            if template.get("branch"):
                vcs["branch"] = str(template["branch"])
            attributes["vcs-repo"] = vcs
        return {"type": "workspaces", "attributes": attributes}

    async def _set_variables(
        self, api: _Api, workspace: Mapping[str, Any], config: Mapping[str, Any]
    ) -> None:
        variables = dict(config.get("variables") or {})
        if not variables:
            return
        sensitive = {str(n) for n in config.get("sensitiveVariables") or ()}
        path = f"/api/v2/workspaces/{workspace['id']}/vars"
        listed = (await api.call("GET", path, "list variables")).json()
        items = listed.get("data") if isinstance(listed, Mapping) else None
        existing: dict[str, Mapping[str, Any]] = {}
        for item in items or ():
            attributes = item.get("attributes") or {}
            if attributes.get("category") == "terraform" and attributes.get("key"):
                existing[str(attributes["key"])] = item
        for key, value in variables.items():
            wanted = variable_payload(str(key), value, str(key) in sensitive)
            current = existing.get(str(key))
            if current is None:
                await api.call(
                    "POST",
                    path,
                    f"create variable {key}",
                    body={"data": {"type": "vars", "attributes": wanted}},
                )
                continue
            have = current.get("attributes") or {}
            if not wanted["sensitive"] and all(
                have.get(k) == wanted[k] for k in ("value", "hcl", "sensitive")
            ):
                continue  # unchanged (sensitive values cannot be read back: always written)
            await api.call(
                "PATCH",
                f"{path}/{current['id']}",
                f"update variable {key}",
                body={"data": {"type": "vars", "id": current["id"], "attributes": wanted}},
            )

    async def _find_run(
        self, api: _Api, workspace: Mapping[str, Any], key: str
    ) -> Mapping[str, Any] | None:
        """The workspace's run whose message carries the correlation key (newest first)."""
        path = f"/api/v2/workspaces/{workspace['id']}/runs"
        for page in range(1, MAX_RUN_PAGES + 1):
            params = {"page[number]": str(page), "page[size]": str(RUN_PAGE_SIZE)}
            document = (await api.call("GET", path, "list runs", params=params)).json()
            runs = document.get("data") if isinstance(document, Mapping) else None
            for run in runs or ():
                if key in str((run.get("attributes") or {}).get("message") or ""):
                    return dict(run)
            pagination = (document.get("meta") or {}).get("pagination") or {}
            if not runs or not pagination.get("next-page"):
                return None
        return None

    async def _outputs(self, api: _Api, workspace_id: str) -> dict[str, Any] | None:
        """State outputs by name (sensitive masked); None while Terraform Cloud processes them."""
        path = f"/api/v2/workspaces/{workspace_id}/current-state-version-outputs"
        response = await api.call("GET", path, "read state outputs", allow=(404, 503))
        if response.status_code == 503:
            return None
        outputs: dict[str, Any] = {}
        if response.status_code == 404:  # no state yet (a run that changed nothing)
            return outputs
        masked: list[str] = []
        for item in response.json().get("data") or ():
            attributes = item.get("attributes") or {}
            name = attributes.get("name")
            if not name:
                continue
            if attributes.get("sensitive"):
                outputs[str(name)] = None
                masked.append(str(name))
            else:
                outputs[str(name)] = attributes.get("value")
        if masked:
            outputs["sensitive_outputs"] = sorted(masked)
        return outputs

    # -- helpers -------------------------------------------------------------------------------

    def _run_payload(self, action: ActionRun, workspace_id: str) -> dict[str, Any]:
        message = str(action.config.get("message") or DEFAULT_MESSAGE)
        return {
            "type": "runs",
            "attributes": {
                "message": f"{message} [PAO request {action.request_id}, {action.correlation_key}]",
                "auto-apply": bool(action.config.get("autoApply", False)),
            },
            "relationships": {"workspace": {"data": {"type": "workspaces", "id": workspace_id}}},
        }

    def _token(self) -> str:
        if not self.settings.token_ref:
            raise _Permanent(NOT_CONFIGURED)
        return self.secrets.resolve(self.settings.token_ref)

    def _target(self, config: Mapping[str, Any]) -> _Target:
        organization = config.get("organization") or self.settings.organization
        if not organization:
            raise _Permanent(
                "terraform action names no organization and TFC_ORGANIZATION is not set"
            )
        workspace = config.get("workspace")
        if not isinstance(workspace, str) or not workspace:
            raise _Permanent("terraform action config has no workspace")
        return _Target(str(organization), workspace)

    def _client(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.settings.address,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": JSON_API,
                "Accept": JSON_API,
                "User-Agent": self.settings.user_agent,
            },
            timeout=httpx.Timeout(self.settings.timeout_seconds),
            verify=self.settings.verify,
            follow_redirects=False,
            trust_env=False,
            transport=self._transport,
        )
