"""What catalog authors call to see their templates work before any request runs them.

``test_variables`` backs ``POST /api/v1/test/variables``: templates plus sample field values
in, the rendered output (masked) and the table of every variable the templates read out, or
located errors. Outputs of actions that have not run are filled with visible placeholders
(``<outputs.provision.db_endpoint>``) unless samples are given, so a whole chain previews.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.catalog.models import CatalogItem
from orchestrator.catalog.yaml_loader import join_pointer
from orchestrator.forms import apply_defaults, validate_request_fields
from orchestrator.template_syntax.references import SCOPES, scan
from orchestrator.template_syntax.translate import Path
from orchestrator.templating.analysis import check_templates, template_sites
from orchestrator.templating.context import RequestInfo, TemplateContext, UserInfo, build_context
from orchestrator.templating.engine import TemplateEngine, default_engine, failing_depth
from orchestrator.templating.errors import MASK, TemplateRenderError
from orchestrator.templating.limits import Runtime
from orchestrator.templating.masking import mask, masked_context, render_preview

SAMPLE_REQUEST = RequestInfo(
    id="req-00000000-sample",
    correlation_id="corr-00000000-sample",
    timestamp="2026-01-01T00:00:00Z",
    title="Sample request",
    source="api",
    user=UserInfo(email="requester@example.com", name="Sample Requester", teams=("platform",)),
)


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node] if "{{" in node or "}}" in node else []
    if isinstance(node, Mapping):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list | tuple):
        return [s for value in node for s in _strings(value)]
    return []


def placeholder_outputs(
    templates: Any, given: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """``given`` outputs, plus a ``<outputs.a.k>`` placeholder for every other output read."""
    outputs = {k: dict(v) for k, v in (given or {}).items()}
    for text in _strings(templates):
        try:
            refs = scan(text)
        except ValueError:
            continue
        for ref in refs.variables:
            if ref.scope != "outputs" or len(ref.path) < 2:
                continue
            action, key = str(ref.path[0]), ref.path[1]
            if isinstance(key, str):
                outputs.setdefault(action, {}).setdefault(key, f"<outputs.{action}.{key}>")
    return outputs


def item_templates(item: CatalogItem) -> dict[str, Any]:
    """Every template of an item, grouped as ``{"actions": {id: {...}}, "manual": {...}}``."""
    actions: dict[str, Any] = {}
    for action in item.fulfillment.actions:
        document: dict[str, Any] = {"config": action.config}
        if action.name is not None:
            document["name"] = action.name
        if action.description is not None:
            document["description"] = action.description
        if action.cleanup is not None:
            document["cleanup"] = {"instructions": action.cleanup.instructions}
        actions[action.id] = document
    out: dict[str, Any] = {"actions": actions}
    if item.fulfillment.manual is not None:
        out["manual"] = item.fulfillment.manual.model_dump(by_alias=True, exclude_none=True)
    return out


def variable_table(templates: Any, context: TemplateContext) -> list[dict[str, Any]]:
    """Each variable path the templates read (once), with its value in ``context`` (masked)."""
    masked = masked_context(context)
    rows: dict[str, dict[str, Any]] = {}
    for text in _strings(templates):
        try:
            refs = scan(text)
        except ValueError:
            continue
        for ref in refs.variables:
            if ref.text in rows or ref.scope not in SCOPES:
                continue
            path = Path(ref.scope, ref.path, 0)
            depth, value, _ = failing_depth(path, masked.variables)
            sensitive = (
                ref.scope == "fields"
                and bool(ref.path)
                and (ref.path[0] in context.sensitive_fields)
            )
            row: dict[str, Any] = {"path": ref.text, "scope": ref.scope, "resolved": depth < 0}
            if depth < 0:
                row["value"] = MASK if sensitive else mask(value, context.secrets)
            row["sensitive"] = sensitive
            rows[ref.text] = row
    return list(rows.values())


def preview_variables(
    item: CatalogItem,
    sample_fields: Mapping[str, Any],
    templates: Any = None,
    *,
    request: RequestInfo | Mapping[str, Any] | None = None,
    outputs: Mapping[str, Mapping[str, Any]] | None = None,
    environment: Mapping[str, str] | None = None,
    runtime: Runtime | None = None,
    engine: TemplateEngine | None = None,
) -> dict[str, Any]:
    """Render ``templates`` (a string or a dict/list of them; default: all of the item's) with
    sample values, for ``POST /api/v1/test/variables``.

    ``environment`` gives sample values of environment variables (never the server's own).
    Returns ``{"valid", "rendered", "variables", "errors", "fieldErrors", "problems"}``:
    ``rendered`` is masked (password fields read ``****``), ``errors`` are render errors with
    pointer and path, ``fieldErrors`` the sample fields' problems, ``problems`` the static
    problems of the item's templates.
    """
    engine = engine or default_engine()
    if templates is None:
        templates = item_templates(item)
    fields = apply_defaults(item, dict(sample_fields))
    field_errors = [e.to_dict() for e in validate_request_fields(item, fields)]
    problems = [p.to_dict() for p in check_templates(item)]
    context = build_context(
        item,
        fields,
        request=request if request is not None else SAMPLE_REQUEST,
        outputs=placeholder_outputs(templates, outputs),
        allowed_environment=list(environment or {}),
        environ=dict(environment or {}),
        runtime=runtime,
        hostname="pao-preview",
    )
    errors: list[dict[str, Any]] = []
    rendered = _render_each(templates, context, engine, "", errors)
    return {
        "valid": not errors and not field_errors and not problems,
        "rendered": rendered,
        "variables": variable_table(templates, context),
        "errors": errors,
        "fieldErrors": field_errors,
        "problems": problems,
    }


def _render_each(
    node: Any, context: TemplateContext, engine: TemplateEngine, pointer: str, errors: list[Any]
) -> Any:
    """Render every string on its own, so one broken template does not hide the others."""
    if isinstance(node, str):
        try:
            return render_preview(node, context, engine=engine, pointer=pointer)
        except TemplateRenderError as exc:
            errors.append(exc.to_dict())
            return None
    if isinstance(node, Mapping):
        return {
            k: _render_each(v, context, engine, join_pointer(pointer, str(k)), errors)
            for k, v in node.items()
        }
    if isinstance(node, list | tuple):
        return [
            _render_each(v, context, engine, join_pointer(pointer, i), errors)
            for i, v in enumerate(node)
        ]
    return node


test_variables = preview_variables
"""The API's name for ``preview_variables`` (``POST /api/v1/test/variables``)."""
test_variables.__test__ = False  # type: ignore[attr-defined]  # not a pytest test

__all__ = [
    "SAMPLE_REQUEST",
    "item_templates",
    "placeholder_outputs",
    "preview_variables",
    "template_sites",
    "test_variables",
    "variable_table",
]
