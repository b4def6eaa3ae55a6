"""Conditional fields: which fields a set of values shows, and a condition in words.

A field with ``conditional`` is shown while its condition holds on the controlling field's value
and the controlling field is shown itself; a hidden field must be left out of a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.catalog.models import CatalogItem, Conditional, FormField


def visibility(item: CatalogItem, fields: Mapping[str, Any]) -> dict[str, bool]:
    """Which fields are shown for these values: a conditional field is shown while its
    condition holds on the controlling field's value (its default when absent) and the
    controlling field is shown itself."""
    by_id = {f.id: f for f in item.fields()}
    shown: dict[str, bool] = {}

    def visible(field_id: str, depth: int) -> bool:
        if field_id in shown:
            return shown[field_id]
        spec = by_id[field_id]
        cond = spec.conditional
        if cond is None:
            result = True
        elif cond.depends_on not in by_id or depth > len(by_id):
            result = False
        else:
            controller = by_id[cond.depends_on]
            value = fields.get(controller.id, controller.default)
            result = visible(controller.id, depth + 1) and cond.holds(value)
        shown[field_id] = result
        return result

    for field_id in by_id:
        visible(field_id, 0)
    return shown


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe_condition(cond: Conditional, by_id: Mapping[str, FormField]) -> str:
    """The condition as a person reads it: "'Environment' is prod or staging"."""
    controller = by_id.get(cond.depends_on)
    name = f"'{controller.name}'" if controller else f"'{cond.depends_on}'"
    values = [_json_text(v) for v in (cond.value if isinstance(cond.value, list) else [cond.value])]
    negated = cond.condition in ("notEquals", "notIn")
    if controller is not None and controller.type == "multiselect":
        verb = "includes none of" if negated and len(values) > 1 else "includes"
        verb = "does not include" if negated and len(values) == 1 else verb
    else:
        verb = "is none of" if negated and len(values) > 1 else "is"
        verb = "is not" if negated and len(values) == 1 else verb
    listed = ", ".join(values) if negated else " or ".join(values)
    return f"{name} {verb} {listed}"
