"""The rendered action plan a preview shows, the way Atlantis shows a plan.

Each action's config is rendered with the request's fields (secrets masked, declared secret
config masked) exactly as the engine will render it and with values typed as the executor sends
them (workflow inputs are strings), except what only exists at run time: outputs of earlier
actions, environment values not supplied here and request values known at submission show as
``<outputs.x.y>``-style placeholders. No executor is called and nothing leaves the process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from actions.github_workflow import dispatch_inputs
from orchestrator.catalog.models import CatalogItem
from orchestrator.template_syntax.references import TemplateSyntaxError, scan
from orchestrator.templating.analysis import template_sites
from orchestrator.templating.context import RequestInfo, UserInfo, build_context
from orchestrator.templating.errors import TemplateRenderError
from orchestrator.templating.masking import render_action


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


def preview_request(
    requester: str, *, login: str | None = None, title: str | None = None, source: str
) -> RequestInfo:
    """``request.*`` as a preview shows it: every key a template may use has a value (the ones
    known only at submission as ``<...>`` placeholders), so no step fails to render here that
    renders at run time."""
    return RequestInfo(
        id="<request id>",
        user=UserInfo(email=requester, name=login or requester.split("@", 1)[0], teams=()),
        correlation_id="<correlation id>",
        timestamp="<submitted at>",
        title=title or "<title>",
        source=source,
    )


def as_sent(action_type: str, rendered: dict[str, Any]) -> dict[str, Any]:
    """The rendered config with values typed as the executor sends them."""
    config = rendered.get("config")
    if action_type == "github-workflow" and isinstance(config, Mapping) and "inputs" in config:
        try:
            return {**rendered, "config": {**config, "inputs": dispatch_inputs(config)}}
        except ValueError:
            return rendered  # the run reports it; the preview shows what was rendered
    return rendered


def action_plan(
    item: CatalogItem,
    fields: Mapping[str, Any],
    *,
    requester: str,
    environment: Mapping[str, str] | None = None,
    login: str | None = None,
    title: str | None = None,
    source: str = "preview",
) -> list[PlannedAction]:
    outputs, env, allowed = _placeholders(item, environment or {})
    context = build_context(
        item,
        fields,
        request=preview_request(requester, login=login, title=title, source=source),
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
        plan.append(
            PlannedAction(action.id, action.type, action.name, as_sent(action.type, rendered))
        )
    return plan
