"""When the rehearsal stands in for real systems, and how ``pao serve`` starts it.

Only ``pao serve`` rehearses: on the embedded defaults (no ``DATABASE_URL``) with
``PAO_REHEARSAL=auto``, or always with ``PAO_REHEARSAL=on``; never ``pao api`` or ``pao worker``
(the simulators' state lives in one process). Within a rehearsal, a system configured for real
is left alone: JIRA with ``JIRA_INSTANCES``, Terraform Cloud with ``TFC_TOKEN_REF``, GitHub with
``GITHUB_TOKEN`` or ``GITHUB_APP_ID``, REST targets with ``PAO_TEMPLATE_ENV_ALLOWLIST``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass

from orchestrator.settings import Settings
from rehearsal.systems import SYSTEMS, CatalogFacts, CatalogFeed, Simulators

REAL_CONFIGURATION = {
    "jira": ("JIRA_INSTANCES",),
    "terraform": ("TFC_TOKEN_REF",),
    "github": ("GITHUB_TOKEN", "GITHUB_APP_ID"),
    "rest": ("PAO_TEMPLATE_ENV_ALLOWLIST",),
}


def simulated_systems(
    settings: Settings, env: Mapping[str, str], *, command: str
) -> tuple[str, ...]:
    """The systems ``command`` should simulate (empty: no rehearsal)."""
    mode = settings.rehearsal.mode
    if command != "serve" or mode == "off":
        return ()
    if mode == "auto" and settings.database.url is not None:
        return ()
    return tuple(
        system
        for system in SYSTEMS
        if not any(env.get(name, "").strip() for name in REAL_CONFIGURATION[system])
    )


@dataclass(frozen=True, slots=True)
class Rehearsal:
    """A started rehearsal: the simulators, the executors' environment and the settings with
    the simulated REST targets in the template environment."""

    simulators: Simulators
    env: dict[str, str]
    settings: Settings

    def banner(self, prog: str, base_url: str) -> str:
        mode = "move by themselves" if self.simulators.auto_progress else "wait for you"
        return (
            f"{prog}: REHEARSAL: simulated {self.simulators.describe()} (their tickets and runs "
            f"{mode}; {base_url}/rehearsal/control, `pao rehearsal list`; PAO_REHEARSAL=off "
            "to disable)"
        )


def start(
    settings: Settings, env: Mapping[str, str], systems: tuple[str, ...], stack: ExitStack
) -> Rehearsal:
    """Serve the simulators of ``systems`` until ``stack`` closes."""
    paths = [settings.catalog.local_path] if settings.catalog.local_path is not None else []
    feed = CatalogFeed(paths)  # before the scan: a change in between is read again
    simulators = Simulators(
        CatalogFacts.scan(paths),
        systems=systems,
        auto_progress=settings.rehearsal.auto_progress,
        catalog=feed,
    )
    stack.enter_context(simulators.serve())
    overlay = simulators.environment(env)
    rehearsed = dataclasses.replace(
        settings,
        template_environment=simulators.template_environment(settings.template_environment),
    )
    return Rehearsal(simulators, {**env, **overlay}, rehearsed)
