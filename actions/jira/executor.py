"""The ``jira-ticket`` action: an issue in one of several configured JIRA instances.

``execute`` is idempotent on the action's correlation key (find-or-create, ``actions.jira.search``):
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

Settings and instances are in ``actions.jira.settings``, credentials in ``actions.jira.auth``,
the ``jira`` client and the retry policy in ``actions.jira.client``, the search side of
find-or-create in ``actions.jira.search``. The ``jira`` client is synchronous: every call runs
in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from jira import JIRA

from actions.failures import Permanent
from actions.jira import search as jira_search
from actions.jira.auth import CallSecrets, Credentials
from actions.jira.client import JiraClients, failure
from actions.jira.settings import JiraInstance, JiraSettings
from actions.secrets import SecretResolver
from orchestrator.engine.executor import ActionResult, ActionRun, Completed, Failed, Pending

log = logging.getLogger(__name__)

DONE_CATEGORY = "done"
SUMMARY_LIMIT = 255
POLL_FIELDS = "status,resolution"
_LABEL_SPACE = re.compile(r"\s")


class JiraCallError(RuntimeError):
    """A transient failure of ``cancel`` (the engine gives the job back)."""


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
        self._lock = threading.Lock()
        self._clients = JiraClients(settings, Credentials(settings, secrets, clock=clock))
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
        call = CallSecrets(str(action.config.get("instance", "")))
        try:
            return await asyncio.to_thread(self._execute, action, call)
        except Exception as exc:  # every error becomes a redacted Failed
            return self._failure(exc, call)

    async def poll(self, action: ActionRun) -> ActionResult:
        call = CallSecrets(str(action.config.get("instance", "")))
        try:
            return await asyncio.to_thread(self._poll, action, call)
        except Exception as exc:
            return self._failure(exc, call)

    async def notify(self, action: ActionRun, state: str, message: str) -> None:
        call = CallSecrets(str(action.config.get("instance", "")))
        try:
            await asyncio.to_thread(self._comment, action, call, message)
        except Exception as exc:  # best effort by contract
            failure = self._failure(exc, call)
            log.warning("commenting on %s failed: %s", action.external_ref, failure.error)

    async def cancel(self, action: ActionRun) -> None:
        call = CallSecrets(str(action.config.get("instance", "")))
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

    def _execute(self, action: ActionRun, call: CallSecrets) -> ActionResult:
        config = action.config
        instance = self._instance(config)
        for key in ("project", "summary"):
            if not isinstance(config.get(key), str) or not config[key]:
                raise Permanent(f"jira-ticket config has no {key}")
        for label in config.get("labels") or []:
            problem = label_problem(str(label))
            if problem:
                raise Permanent(f"jira-ticket config: {problem}")
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

        key, issue_id, created = self._clients.run(instance, call, find_or_create)
        url = self._clients.browse_url(instance, key)
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

    def _poll(self, action: ActionRun, call: CallSecrets) -> ActionResult:
        instance = self._instance(action.config)
        key = action.external_ref
        if not key:
            raise Permanent("poll called on a jira-ticket action without an issue key")
        raw = self._clients.run(
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
        url = self._clients.browse_url(instance, key)
        details = {
            "instance": instance.name,
            "key": key,
            "status": name,
            "category": category,
            "resolution": resolution,
        }
        if name.casefold() in failed:
            raise Permanent(
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
            raise Permanent(
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

    def _comment(self, action: ActionRun, call: CallSecrets, text: str) -> None:
        instance = self._instance(action.config)
        key = action.external_ref
        if not key:
            return
        self._clients.run(instance, call, lambda client: client.add_comment(key, text))

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

    def _instance(self, config: Mapping[str, Any]) -> JiraInstance:
        name = str(config.get("instance", ""))
        instance = self.settings.instances.get(name)
        if instance is None:
            raise Permanent(self._unknown_instance(name))
        return instance

    def _unknown_instance(self, name: str) -> str:
        known = ", ".join(sorted(self.settings.instances)) or "none"
        return f"unknown JIRA instance {name!r} (configured in JIRA_INSTANCES: {known})"

    def _failure(self, exc: Exception, call: CallSecrets) -> Failed:
        return failure(exc, call, self.settings.timeout_seconds)
