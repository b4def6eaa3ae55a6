"""What a failed request keeps for the human who decides what to do next: the failed action,
the error, the resources the completed actions left behind (outputs masked) and their cleanup
instructions, rendered. Built from what the step read; the transition writes it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.catalog.models import CatalogItem
from orchestrator.engine.planning import catalog_action, ordered
from orchestrator.templating.context import TemplateContext
from orchestrator.templating.engine import TemplateEngine
from orchestrator.templating.errors import TemplateRenderError
from orchestrator.templating.masking import mask, render_preview


def failure_context(
    item: CatalogItem,
    rows: list[dict[str, Any]],
    row: Mapping[str, Any] | None,
    message: str,
    error: Mapping[str, Any],
    context: TemplateContext,
    engine: TemplateEngine,
) -> dict[str, Any]:
    """The ``error_context`` of a request failed at ``row`` (None: at planning)."""
    completed = [r for r in ordered(item, rows) if r["status"] == "completed"]
    cleanup: list[dict[str, Any]] = []
    for done in completed:
        action = catalog_action(item, done["action_id"])
        if action is None or action.cleanup is None:
            continue
        try:
            text = render_preview(
                action.cleanup.instructions, context, engine=engine, action_id=action.id
            )
        except TemplateRenderError as exc:
            text = f"{action.cleanup.instructions} (could not be rendered: {exc})"
        cleanup.append({"action_id": done["action_id"], "instructions": str(text)})
    secrets = context.secrets
    return {
        "failed_action": row["action_id"] if row is not None else None,
        "error": {**dict(error), "message": mask(message, secrets)},
        "partial_resources": {
            r["action_id"]: {
                "type": r["action_type"],
                "outputs": mask(dict(r["outputs"] or {}), secrets),
                "external_ref": r["external_ref"],
                "external_url": r["external_url"],
            }
            for r in completed
        },
        "cleanup": cleanup,
    }
