"""The registry a worker process dispatches through: action type name -> executor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from actions.github_workflow import GitHubWorkflowExecutor
from actions.jira.executor import JiraTicketExecutor
from actions.jira.settings import JiraSettings
from actions.rest_api import RestApiExecutor, RestApiSettings, SecretResolver
from actions.secrets import SecretSettings
from actions.terraform import TerraformExecutor, TerraformSettings
from orchestrator.durations import duration_seconds
from orchestrator.engine.executor import Registry
from orchestrator.github_client import GitHubSettings


@dataclass(frozen=True, slots=True)
class ActionDeps:
    """What the executors need from the process: the secrets environment (a mapping given at
    start-up, e.g. ``dict(os.environ)`` in the worker's main, never read deep in the code) and
    per-type settings."""

    secret_environment: Mapping[str, str] = field(default_factory=dict)
    secrets: SecretSettings = field(default_factory=SecretSettings)  # aws-sm lookups
    jira: JiraSettings = field(default_factory=JiraSettings)
    rest_api: RestApiSettings = field(default_factory=RestApiSettings)
    terraform: TerraformSettings = field(default_factory=TerraformSettings)
    github: GitHubSettings = field(default_factory=GitHubSettings)
    github_poll_seconds: float = 30.0  # GITHUB_POLL_INTERVAL


def default_registry(deps: ActionDeps) -> Registry:
    """Every implemented action type (``rest-api`` so far; jira-ticket, terraform and
    github-workflow register here when they exist)."""
    secrets = SecretResolver(deps.secret_environment, deps.secrets)
    registry = Registry()
    registry.register("rest-api", RestApiExecutor(secrets, deps.rest_api))
    registry.register("jira-ticket", JiraTicketExecutor(deps.jira, secrets))
    registry.register("terraform", TerraformExecutor(secrets, deps.terraform))
    registry.register(
        "github-workflow",
        GitHubWorkflowExecutor(deps.github, poll_interval_seconds=deps.github_poll_seconds),
    )
    return registry


def _hosts(value: str | None) -> frozenset[str]:
    return frozenset(h.strip().lower() for h in (value or "").split(",") if h.strip())


def _poll_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = duration_seconds(raw) if not raw.replace(".", "", 1).isdigit() else float(raw)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    if value <= 0:
        raise ValueError(f"{name}: {raw!r} must be a positive number of seconds")
    return value


def deps_from_environment(env: Mapping[str, str]) -> ActionDeps:
    """Every action type's settings from the process environment (read once, at start-up)."""
    return ActionDeps(
        secret_environment=env,
        secrets=SecretSettings.from_environment(env),
        jira=JiraSettings.from_environment(env),
        terraform=TerraformSettings.from_environment(env),
        github=GitHubSettings.from_environment(env),
        github_poll_seconds=_poll_seconds(env, "GITHUB_POLL_INTERVAL", 30.0),
        rest_api=RestApiSettings(
            allowed_hosts=_hosts(env.get("REST_API_ALLOWED_HOSTS")),
            denied_hosts=_hosts(env.get("REST_API_DENIED_HOSTS")),
            allow_private=env.get("REST_API_ALLOW_PRIVATE", "").lower() in ("1", "true", "yes"),
        ),
    )


def registry_from_environment(env: Mapping[str, str]) -> Registry:
    """The ``pao.executors`` entry point (see orchestrator/engine/process.py)."""
    return default_registry(deps_from_environment(env))
