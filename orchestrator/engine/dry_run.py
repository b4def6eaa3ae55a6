"""Dry runs: what each action of a plan would send, without sending anything.

The preview surfaces (``POST /api/v1/test/variables``, the bot's plan comment) render an
item's actions with masked values, then ask each action type's executor to ``describe`` the
call it would make (``DescribableExecutor``): no network, secret references left unresolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.catalog.models import CatalogItem
from orchestrator.engine.executor import (
    ActionRun,
    DescribableExecutor,
    Registry,
    UnknownActionType,
    correlation_key,
)

PREVIEW_REQUEST_ID = "00000000-0000-0000-0000-000000000000"


def describe_plan(
    registry: Registry,
    item: CatalogItem,
    rendered_actions: Mapping[str, Any],
    *,
    request_id: str = PREVIEW_REQUEST_ID,
) -> dict[str, Any]:
    """``{action id: description}`` for each action whose executor can describe itself;
    ``rendered_actions`` is ``{action id: {"config": masked rendered config, ...}}``."""
    plan: dict[str, Any] = {}
    for action in item.fulfillment.actions:
        rendered = rendered_actions.get(action.id)
        if not isinstance(rendered, Mapping) or not isinstance(rendered.get("config"), Mapping):
            continue  # the config did not render: the preview's errors say why
        try:
            executor = registry.get(action.type)
        except UnknownActionType:
            plan[action.id] = {"type": action.type, "error": "no executor for this action type"}
            continue
        if not isinstance(executor, DescribableExecutor):
            continue
        run = ActionRun(
            request_id=request_id,
            action_id=action.id,
            action_type=action.type,
            config=dict(rendered["config"]),
            correlation_key=correlation_key(request_id, action.id),
            attempt=1,
        )
        try:
            plan[action.id] = {"type": action.type, **dict(executor.describe(run))}
        except Exception as exc:  # a describe bug must not break the preview
            plan[action.id] = {"type": action.type, "error": f"{type(exc).__name__}: {exc}"}
    return plan


def plan_refusals(plan: Mapping[str, Any]) -> list[dict[str, str]]:
    """What the executors said they would refuse (their description's ``error``: an SSRF guard,
    an unknown JIRA instance, a system not configured ...), each naming the setting or field
    that changes it: the dry run reports these before anything is submitted."""
    return [
        {"action": action_id, "type": str(described.get("type", "")), "message": str(error)}
        for action_id, described in plan.items()
        if isinstance(described, Mapping) and (error := described.get("error"))
    ]
