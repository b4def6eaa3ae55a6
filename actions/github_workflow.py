"""The ``github-workflow`` action: dispatch a GitHub Actions workflow and wait for its run.

GitHub's dispatch API traditionally answers 204 with no run id, so PAO correlates runs itself:
every dispatch carries an extra input, ``pao_correlation`` (the action's correlation key, stable
across redeliveries), and the workflow must declare that input and put it in its run name::

    on:
      workflow_dispatch:
        inputs:
          pao_correlation: {description: "set by PAO", required: false}
    run-name: "Create repository ${{ inputs.repo_name }} [${{ inputs.pao_correlation }}]"

``execute`` first lists the workflow's ``workflow_dispatch`` runs on the ref and looks for one
whose ``display_title`` (or ``name``) contains the key: a redelivered action finds the run it
started instead of starting a second one. Otherwise it dispatches with ``return_run_details:
true`` (GitHub's newer behaviour: 200 with ``workflow_run_id``, ``run_url``, ``html_url``). An
older server (GHES) answers 204, or 422 to the unknown key; PAO then dispatches again without
it (once per API host and process, remembered) and finds the new run by listing runs created
since the dispatch. A run that has not appeared yet is waited for (``Pending`` on a
``dispatched:<epoch>`` reference) for at most ``find_timeout_seconds``.

Because of ``pao_correlation``, an item may pass at most 24 inputs of its own (GitHub takes 25).
Input values are sent as strings (``true``/``false`` for booleans), which every workflow input
type accepts.

``poll`` reads the run: completed with ``success`` completes the action with ``run_id``,
``run_url`` and ``conclusion``; any other conclusion fails it (not retryable) naming the failed
jobs and steps and the run's URL. Rate limits (403/429 with ``retry-after`` or
``x-ratelimit-remaining: 0``), 5xx, timeouts and connection errors are retryable, with GitHub's
wait as ``retry_after``; 404 (repository or workflow missing, or invisible to the credentials),
422 (bad inputs, unknown ref, no ``workflow_dispatch`` trigger) and other 4xx are not, and carry
GitHub's message. The client, its auth and in-call retry policy come from
``orchestrator.github_client`` (settings: ``GITHUB_API_URL``, ``GITHUB_TOKEN`` or
``GITHUB_APP_ID`` / ``GITHUB_APP_PRIVATE_KEY`` / ``GITHUB_APP_INSTALLATION_ID``,
``GITHUB_TIMEOUT_SECONDS``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx
from githubkit import GitHub
from githubkit.exception import (
    GitHubException,
    RateLimitExceeded,
    RequestError,
    RequestFailed,
    RequestTimeout,
    SecondaryRateLimitExceeded,
)
from githubkit.utils import UNSET
from pydantic import ValidationError

from orchestrator.engine.executor import ActionResult, ActionRun, Completed, Failed, Pending
from orchestrator.github_client import GitHubNotConfigured, GitHubSettings, github_client
from orchestrator.redaction import scrub as _redact

if TYPE_CHECKING:
    from githubkit_schemas.latest.models import WorkflowRun

CORRELATION_INPUT = "pao_correlation"
MAX_INPUTS = 25  # GitHub's limit, pao_correlation included
DISPATCH_API_VERSION = "2022-11-28"  # the version whose dispatch body has return_run_details
DISPATCHED_PREFIX = "dispatched:"
REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
FAILED_CONCLUSIONS = frozenset({"failure", "timed_out", "startup_failure"})
MESSAGE_LIMIT = 300


class _Permanent(ValueError):
    """Not worth retrying: the config or the target must change first (``describe`` raises it
    for an invalid config)."""


@dataclass(frozen=True, slots=True)
class _Spec:
    """The validated config of one action."""

    owner: str
    repo: str
    workflow: str
    ref: str
    inputs: dict[str, str]
    poll_seconds: float | None

    @property
    def repository(self) -> str:
        return f"{self.owner}/{self.repo}"

    @property
    def workflow_path(self) -> str:
        return f"/repos/{self.owner}/{self.repo}/actions/workflows/{quote(self.workflow, safe='')}"

    def where(self) -> str:
        return f"workflow {self.workflow!r} of {self.repository}"


def _input_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise _Permanent(f"github-workflow input {name!r} must be a string, number or boolean")


def _spec(config: Mapping[str, Any], *, check_inputs: bool = True) -> _Spec:
    repository = config.get("repository")
    if not isinstance(repository, str) or not REPOSITORY.fullmatch(repository):
        raise _Permanent(f"github-workflow 'repository' must be owner/name, got {repository!r}")
    workflow = config.get("workflow")
    if isinstance(workflow, int) and not isinstance(workflow, bool):
        workflow = str(workflow)
    if not isinstance(workflow, str) or not workflow.strip():
        raise _Permanent("github-workflow 'workflow' must be a workflow file name or id")
    ref = config.get("ref", "main")
    if not isinstance(ref, str) or not ref.strip():
        raise _Permanent("github-workflow 'ref' must be a branch or tag name")
    raw_inputs = config.get("inputs") or {}
    if not isinstance(raw_inputs, Mapping):
        raise _Permanent("github-workflow 'inputs' must be an object")
    inputs: dict[str, str] = {}
    if check_inputs:
        if CORRELATION_INPUT in raw_inputs:
            raise _Permanent(f"github-workflow input {CORRELATION_INPUT!r} is reserved for PAO")
        if len(raw_inputs) >= MAX_INPUTS:
            raise _Permanent(
                f"github-workflow has {len(raw_inputs)} inputs; GitHub accepts {MAX_INPUTS} "
                f"including PAO's {CORRELATION_INPUT!r}, so at most {MAX_INPUTS - 1} may be set"
            )
        inputs = {str(k): _input_value(str(k), v) for k, v in raw_inputs.items()}
    poll = config.get("pollIntervalSeconds")
    poll_seconds = None
    if isinstance(poll, (int, float)) and not isinstance(poll, bool) and poll > 0:
        poll_seconds = float(poll)
    owner, _, repo = repository.partition("/")
    return _Spec(owner, repo, workflow.strip(), ref.strip(), inputs, poll_seconds)


class GitHubWorkflowExecutor:
    """Executor for ``github-workflow`` actions (see the module docstring)."""

    def __init__(
        self,
        settings: GitHubSettings,
        *,
        poll_interval_seconds: float = 30.0,
        find_attempts: int = 3,
        find_delay_seconds: float = 2.0,
        find_timeout_seconds: float = 600.0,
        clock: Any = time.time,
    ) -> None:
        self.settings = settings
        self.poll_interval_seconds = poll_interval_seconds
        self.find_attempts = max(1, find_attempts)
        self.find_delay_seconds = find_delay_seconds
        self.find_timeout_seconds = find_timeout_seconds
        self._clock = clock
        self._client: GitHub[Any] | None = None
        self._legacy_dispatch = False  # the host rejected return_run_details once

    def __repr__(self) -> str:
        return f"GitHubWorkflowExecutor({self.settings!r})"

    # -- protocol ------------------------------------------------------------------------------

    def target(self, action: ActionRun) -> str | None:
        return f"github:{urlsplit(self.settings.api_url).hostname or self.settings.api_url}"

    def describe(self, action: ActionRun) -> Mapping[str, Any]:
        spec = _spec(action.config)
        body = {
            "ref": spec.ref,
            "inputs": {**spec.inputs, CORRELATION_INPUT: action.correlation_key},
            "return_run_details": True,
        }
        return {
            "requests": [
                {
                    "method": "POST",
                    "url": f"{self.settings.api_url}{spec.workflow_path}/dispatches",
                    "body": body,
                }
            ],
            "repository": spec.repository,
            "workflow": spec.workflow,
            "ref": spec.ref,
        }

    async def execute(self, action: ActionRun) -> ActionResult:
        try:
            return await self._execute(action)
        except Exception as exc:  # every error becomes a located, redacted Failed
            return self._failure(exc, action)

    async def poll(self, action: ActionRun) -> ActionResult:
        try:
            return await self._poll(action)
        except Exception as exc:
            return self._failure(exc, action)

    async def cancel(self, action: ActionRun) -> None:
        """Cancel the action's run; a run already finished (409) or gone (404) is left alone.
        Raises on transient failures, so the cancel job comes back."""
        spec = _spec(action.config, check_inputs=False)
        gh = self._github()
        run_id = _run_id(action.external_ref)
        if run_id is None:
            run = await self._find_run(gh, spec, action.correlation_key)
            if run is None:
                return
            run_id = run.id
        try:
            await gh.rest.actions.async_cancel_workflow_run(spec.owner, spec.repo, run_id)
        except RequestFailed as exc:
            if exc.response.status_code not in (404, 409):
                raise

    # -- execute / poll ------------------------------------------------------------------------

    async def _execute(self, action: ActionRun) -> ActionResult:
        spec = _spec(action.config)
        gh = self._github()
        existing = await self._find_run(gh, spec, action.correlation_key)
        if existing is not None:
            return await self._settle(gh, spec, existing)
        dispatched_at = _dispatched_at(action.external_ref)
        if dispatched_at is not None and self._clock() - dispatched_at < self.find_timeout_seconds:
            # dispatched before, its run not listed yet: wait for it rather than start another
            return self._waiting(spec, action.external_ref or "")
        return await self._dispatch(gh, spec, action.correlation_key)

    async def _poll(self, action: ActionRun) -> ActionResult:
        spec = _spec(action.config, check_inputs=False)
        gh = self._github()
        run_id = _run_id(action.external_ref)
        if run_id is not None:
            response = await gh.rest.actions.async_get_workflow_run(spec.owner, spec.repo, run_id)
            return await self._settle(gh, spec, response.parsed_data)
        run = await self._find_run(gh, spec, action.correlation_key)
        if run is not None:
            return await self._settle(gh, spec, run)
        dispatched_at = _dispatched_at(action.external_ref) or self._clock()
        if self._clock() - dispatched_at >= self.find_timeout_seconds:
            raise _Permanent(
                f"{spec.where()} was dispatched but no run carrying {action.correlation_key} "
                f"appeared within {self.find_timeout_seconds:g}s: the workflow must declare the "
                f"input {CORRELATION_INPUT!r} and put it in its run-name"
            )
        return self._waiting(spec, action.external_ref or f"{DISPATCHED_PREFIX}{dispatched_at:.0f}")

    async def _dispatch(self, gh: GitHub[Any], spec: _Spec, key: str) -> ActionResult:
        body: dict[str, Any] = {"ref": spec.ref, "inputs": {**spec.inputs, CORRELATION_INPUT: key}}
        started = self._clock()
        url = f"{spec.workflow_path}/dispatches"
        headers = {"X-GitHub-Api-Version": DISPATCH_API_VERSION}
        response = None
        if not self._legacy_dispatch:
            try:
                response = await gh.arequest(
                    "POST", url, json={**body, "return_run_details": True}, headers=headers
                )
            except RequestFailed as exc:
                if exc.response.status_code != 422:
                    raise
                # an older server refusing the key (or bad inputs: the plain call says which)
        if response is None:
            response = await gh.arequest("POST", url, json=body, headers=headers)
            if response.status_code in (200, 204):
                self._legacy_dispatch = True
        details = _json(response.content) if response.status_code == 200 else None
        if isinstance(details, Mapping) and isinstance(details.get("workflow_run_id"), int):
            html_url = details.get("html_url")
            return Pending(
                external_ref=str(details["workflow_run_id"]),
                url=html_url if isinstance(html_url, str) else None,
                poll_after_seconds=self._interval(spec),
                details={"repository": spec.repository, "workflow": spec.workflow},
            )
        # 204 (no run details): the run is found by its correlation key
        since = datetime.fromtimestamp(started, UTC) - timedelta(minutes=2)
        for attempt in range(self.find_attempts):
            if attempt:
                await asyncio.sleep(self.find_delay_seconds)
            run = await self._find_run(gh, spec, key, created_since=since)
            if run is not None:
                return self._pending(spec, run)
        return self._waiting(spec, f"{DISPATCHED_PREFIX}{started:.0f}")

    async def _find_run(
        self, gh: GitHub[Any], spec: _Spec, key: str, created_since: datetime | None = None
    ) -> WorkflowRun | None:
        """The newest dispatched run on the ref whose title or name carries ``key``."""
        created = None
        if created_since is not None:
            created = ">=" + created_since.strftime("%Y-%m-%dT%H:%M:%SZ")
        response = await gh.rest.actions.async_list_workflow_runs(
            spec.owner,
            spec.repo,
            spec.workflow,
            event="workflow_dispatch",
            branch=spec.ref,
            per_page=100,
            exclude_pull_requests=True,
            created=created if created else UNSET,
        )
        for run in response.parsed_data.workflow_runs:
            if key in (run.display_title or "") or key in (run.name or ""):
                return run
        return None

    async def _settle(self, gh: GitHub[Any], spec: _Spec, run: WorkflowRun) -> ActionResult:
        if run.status != "completed":
            return self._pending(spec, run)
        if run.conclusion == "success":
            return Completed(
                outputs={"run_id": run.id, "run_url": run.html_url, "conclusion": "success"},
                details={"repository": spec.repository, "workflow": spec.workflow},
            )
        failing = await self._failing_jobs(gh, spec, run.id)
        where = f"workflow run {run.id} ({spec.where()}, ref {spec.ref})"
        message = f"{where} concluded {run.conclusion or 'without a conclusion'}"
        if failing:
            message += ": " + "; ".join(_describe_job(job) for job in failing)
        message += f"; see {run.html_url}"
        return Failed(
            message,
            retryable=False,
            details={
                "run_id": run.id,
                "run_url": run.html_url,
                "conclusion": run.conclusion,
                "failed_jobs": failing,
            },
        )

    async def _failing_jobs(
        self, gh: GitHub[Any], spec: _Spec, run_id: int
    ) -> list[dict[str, Any]]:
        """Failed jobs with their failed steps; empty when the jobs cannot be read (the run's
        outcome is known either way)."""
        try:
            response = await gh.rest.actions.async_list_jobs_for_workflow_run(
                spec.owner, spec.repo, run_id, filter_="latest", per_page=100
            )
            jobs = response.parsed_data.jobs
        except (GitHubException, ValidationError):
            return []
        failing = []
        for job in jobs:
            if job.conclusion not in FAILED_CONCLUSIONS:
                continue
            steps = [
                step.name for step in (job.steps or []) if step.conclusion in FAILED_CONCLUSIONS
            ]
            failing.append(
                {"job": job.name, "conclusion": job.conclusion, "steps": steps, "url": job.html_url}
            )
        return failing

    def _pending(self, spec: _Spec, run: WorkflowRun) -> Pending:
        return Pending(
            external_ref=str(run.id),
            url=run.html_url,
            poll_after_seconds=self._interval(spec),
            details={"status": run.status, "repository": spec.repository},
        )

    def _waiting(self, spec: _Spec, ref: str) -> Pending:
        return Pending(
            external_ref=ref,
            poll_after_seconds=min(self._interval(spec), 15.0),
            details={"status": "dispatched", "repository": spec.repository},
        )

    def _interval(self, spec: _Spec) -> float:
        return spec.poll_seconds or self.poll_interval_seconds

    def _github(self) -> GitHub[Any]:
        if self._client is None:
            self._client = github_client(self.settings)
        return self._client

    # -- failures ------------------------------------------------------------------------------

    def _failure(self, exc: Exception, action: ActionRun) -> Failed:
        try:
            where = _spec(action.config, check_inputs=False).where()
        except _Permanent:
            where = "github-workflow"
        retryable, retry_after, message = _classify(exc, where)
        status = _status_of(exc)
        return Failed(
            self._redact(message),
            retryable=retryable,
            retry_after=retry_after,
            details={"github_status": status} if status else {},
            # past a transient failure the dispatch may have gone through: the retry finds its
            # run by the same correlation input (a rate limit answered before doing anything)
            outcome_unknown=retryable and status != 429 and retry_after is None,
        )

    def _redact(self, text: str) -> str:
        return _redact(text, (self.settings.token or "", self.settings.private_key or ""))


def _classify(exc: Exception, where: str) -> tuple[bool, float | None, str]:
    """(retryable, retry_after, message) for any error of a call."""
    if isinstance(exc, _Permanent):
        return False, None, str(exc)
    if isinstance(exc, GitHubNotConfigured):
        return False, None, f"{where}: {exc}"
    if isinstance(exc, RateLimitExceeded):
        wait = max(0.0, exc.retry_after.total_seconds())
        kind = "secondary" if isinstance(exc, SecondaryRateLimitExceeded) else "primary"
        return True, wait, f"{where}: GitHub {kind} rate limit exceeded; retry in {wait:.0f}s"
    if isinstance(exc, RequestFailed):
        status = exc.response.status_code
        text = f"{where}: GitHub answered HTTP {status} to {exc.request.method} " + (
            f"{exc.request.url.path}: {_github_message(exc)}"
        )
        if status == 404:
            text += " (the repository or workflow does not exist, or the credentials cannot see it)"
        return status >= 500 or status == 429, None, text
    if isinstance(exc, RequestTimeout):
        return True, None, f"{where}: GitHub request timed out ({type(exc.exc).__name__})"
    if isinstance(exc, RequestError):
        inner = exc.exc
        if isinstance(inner, httpx.TransportError):
            return True, None, f"{where}: GitHub unreachable: {type(inner).__name__}: {inner}"
        # not the network: e.g. App auth without PyJWT installed, a malformed private key
        return False, None, f"{where}: GitHub request failed: {type(inner).__name__}: {inner}"
    if isinstance(exc, ValidationError):
        return True, None, f"{where}: unexpected GitHub response shape: {exc.error_count()} errors"
    return True, None, f"{where}: {type(exc).__name__}: {exc}"


def _status_of(exc: Exception) -> int | None:
    return exc.response.status_code if isinstance(exc, RequestFailed) else None


def _github_message(exc: RequestFailed) -> str:
    document = _json(exc.response.content)
    if isinstance(document, Mapping) and isinstance(document.get("message"), str):
        message = str(document["message"]).replace("\n\n", " ").strip()
        errors = document.get("errors")
        if isinstance(errors, list) and errors:
            message += " " + "; ".join(
                str(e.get("message", e)) if isinstance(e, Mapping) else str(e) for e in errors[:3]
            )
        return message[:MESSAGE_LIMIT]
    return exc.response.text[:MESSAGE_LIMIT] or exc.response.reason_phrase


def _describe_job(job: Mapping[str, Any]) -> str:
    steps = job.get("steps") or []
    if steps:
        return f"job {job['job']!r} failed at step " + ", ".join(repr(s) for s in steps)
    return f"job {job['job']!r} {job.get('conclusion') or 'failed'}"


def _json(content: bytes) -> Any:
    if not content.strip():
        return None
    try:
        return httpx.Response(200, content=content).json()
    except ValueError:
        return None


def _run_id(ref: str | None) -> int | None:
    return int(ref) if ref and ref.isdigit() else None


def _dispatched_at(ref: str | None) -> float | None:
    if ref and ref.startswith(DISPATCHED_PREFIX):
        try:
            return float(ref[len(DISPATCHED_PREFIX) :])
        except ValueError:
            return None
    return None


def dispatch_inputs(config: Mapping[str, Any]) -> dict[str, str]:
    """The ``inputs`` exactly as the dispatch sends them (GitHub takes strings only: booleans
    become ``"true"``/``"false"``, numbers their text), for previews; ValueError when one
    cannot be sent."""
    raw = config.get("inputs") or {}
    if not isinstance(raw, Mapping):
        raise ValueError("github-workflow 'inputs' must be an object")
    return {str(k): _input_value(str(k), v) for k, v in raw.items()}
