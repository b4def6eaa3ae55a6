"""The rendered action plan a preview shows, the way Atlantis shows a plan.

Each action's config is rendered with the request's fields (secrets masked, declared secret
config masked) exactly as the engine will render it, except what only exists at run time:
outputs of earlier actions and environment values not supplied here show as ``<outputs.x.y>``
placeholders. No executor is called and nothing leaves the process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.catalog.models import CatalogItem
from orchestrator.templating.analysis import template_sites
from orchestrator.templating.context import RequestInfo, UserInfo, build_context
from orchestrator.templating.errors import TemplateRenderError
from orchestrator.templating.masking import render_action
from orchestrator.templating.references import TemplateSyntaxError, scan


@dataclass(frozen=True, slots=True)
class PlannedAction:
    id: str
    type: str
    name: str | None
    rendered: dict[str, Any] | None
    problem: str | None = None


def _placeholders(
    item: CatalogItem, environment: Mapping[str, str]
) -> tuple[dict[str, dict[str, Any]], dict[str, str], list[str]]:
    outputs: dict[str, dict[str, Any]] = {}
    env = dict(environment)
    for site in template_sites(item):
        try:
            refs = scan(site.text)
        except TemplateSyntaxError:
            continue
        for ref in refs.variables:
            if ref.scope == "outputs" and len(ref.path) >= 2:
                action, key = str(ref.path[0]), str(ref.path[1])
                outputs.setdefault(action, {})[key] = f"<outputs.{action}.{key}>"
            elif ref.scope == "environment" and ref.path:
                env.setdefault(str(ref.path[0]), f"<environment.{ref.path[0]}>")
    return outputs, env, sorted(env)


def action_plan(
    item: CatalogItem,
    fields: Mapping[str, Any],
    *,
    requester: str,
    environment: Mapping[str, str] | None = None,
) -> list[PlannedAction]:
    outputs, env, allowed = _placeholders(item, environment or {})
    context = build_context(
        item,
        fields,
        request=RequestInfo(id="<request id>", user=UserInfo(email=requester), source="preview"),
        outputs=outputs,
        allowed_environment=allowed,
        environ=env,
    )
    plan: list[PlannedAction] = []
    for index, action in enumerate(item.fulfillment.actions):
        try:
            rendered = render_action(action, context, index=index).preview
        except TemplateRenderError as exc:
            plan.append(PlannedAction(action.id, action.type, action.name, None, str(exc)))
            continue
        plan.append(PlannedAction(action.id, action.type, action.name, rendered))
    return plan
