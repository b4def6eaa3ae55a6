"""Secrets never shown: previews render with password fields replaced by ``****``.

Execution needs the real values; people (PR comments, API previews, logs, errors) must never
see them. So a preview is a second render with a *masked* context, where every password field
reads ``****`` and so does anything derived from it (``base64(fields.pw)`` encodes the mask,
not the password). As a second line, every remaining occurrence of a known secret value is
replaced in the output, and error messages are scrubbed the same way. An action type may
declare config values secret (``ActionTypeSpec.mask_config``, e.g. Terraform's
``sensitiveVariables``): their rendered values are masked in previews.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.action_types import mask_declared_secrets as declared_secrets_masked
from orchestrator.catalog.models import Action
from orchestrator.redaction import MASK
from orchestrator.redaction import scrub_value as mask  # the one scrubber, for structures
from orchestrator.templating.context import TemplateContext
from orchestrator.templating.engine import TemplateEngine, default_engine
from orchestrator.templating.errors import TemplateRenderError

__all__ = ["RenderedAction", "mask", "mask_declared_secrets", "masked_context", "render_preview"]


def masked_context(context: TemplateContext) -> TemplateContext:
    """The context a preview renders with: password fields read ``****``."""
    fields = context.variables.get("fields", {})
    if not any(key in fields for key in context.sensitive_fields):
        return context
    masked = {
        key: (MASK if key in context.sensitive_fields and value not in (None, "") else value)
        for key, value in fields.items()
    }
    variables = dict(context.variables)
    variables["fields"] = masked
    return TemplateContext(variables, context.runtime, context.secrets, context.sensitive_fields)


def render_preview(
    obj: Any,
    context: TemplateContext,
    *,
    engine: TemplateEngine | None = None,
    pointer: str = "",
    action_id: str | None = None,
) -> Any:
    """``obj`` rendered for display: secrets masked in the result and in any error."""
    engine = engine or default_engine()
    try:
        rendered = engine.render_value(
            obj, masked_context(context), pointer=pointer, action_id=action_id
        )
    except TemplateRenderError as exc:
        raise exc.scrubbed(context.secrets) from None
    return mask(rendered, context.secrets)


def mask_declared_secrets(action_type: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a rendered action config with the values its type declares secret masked
    (the type's ``mask_config``, e.g. Terraform's ``sensitiveVariables``)."""
    return declared_secrets_masked(action_type, config, MASK)


@dataclass(frozen=True, slots=True)
class RenderedAction:
    """An action's templated parts rendered twice: ``real`` to execute, ``preview`` to show."""

    action_id: str
    real: dict[str, Any]
    preview: dict[str, Any]


def render_action(
    action: Action,
    context: TemplateContext,
    *,
    index: int | None = None,
    engine: TemplateEngine | None = None,
    with_cleanup: bool = True,
) -> RenderedAction:
    """Render an action's config, name, description and cleanup for execution and for display.

    Errors are located at the action's JSON pointer in the item (``index`` = its position) and
    never contain secret values. The engine renders without the cleanup (``with_cleanup``
    False) when it starts the action: cleanup instructions may read the action's own outputs,
    which exist only once it completed; they are rendered when a failure needs them.
    """
    engine = engine or default_engine()
    document: dict[str, Any] = {"config": action.config}
    for key, value in (("name", action.name), ("description", action.description)):
        if value is not None:
            document[key] = value
    if action.cleanup is not None and with_cleanup:
        document["cleanup"] = {"instructions": action.cleanup.instructions}
    base = f"/fulfillment/actions/{index}" if index is not None else ""
    real = engine.render_value(document, context, pointer=base, action_id=action.id)
    preview = render_preview(document, context, engine=engine, pointer=base, action_id=action.id)
    preview["config"] = mask_declared_secrets(action.type, preview["config"])
    return RenderedAction(action.id, real, preview)
