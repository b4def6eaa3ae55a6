"""The JSON Schema (2020-12) of a request's ``fields`` object, built from an item's form.

Self-contained so any portal can validate with it: conditional fields become if/then/else,
calendar dates and date bounds become patterns. Two variants: the published one (ECMA-262
patterns) and the one Python validators compile (``python=True``: ``$`` as ECMA-262 reads it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestrator.catalog.models import CatalogItem, Conditional, FormField
from orchestrator.forms.rules import (
    DATE_PATTERN,
    is_number,
    is_step_multiple,
    python_pattern,
    required_now,
)

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _date_bound(bound: str, *, lower: bool) -> str:
    """A regex true for YYYY-MM-DD strings >= bound (lower) or <= bound: fixed-width digit
    strings compare like their dates, so the first differing digit decides."""
    alternatives = [bound]
    for index, char in enumerate(bound):
        if not char.isdigit():
            continue
        digit = int(char)
        if lower and digit < 9:
            alternatives.append(f"{bound[:index]}[{digit + 1}-9]")
        if not lower and digit > 0:
            alternatives.append(f"{bound[:index]}[0-{digit - 1}]")
    return "^(?:" + "|".join(alternatives) + ")"


def _enum_type(options: Iterable[Any]) -> str | list[str]:
    kinds = sorted({"number" if is_number(o) else "string" for o in options})
    return kinds[0] if len(kinds) == 1 else kinds


def _property(spec: FormField, python: bool) -> dict[str, Any]:
    rules = spec.validation
    prop: dict[str, Any] = {"title": spec.name}
    description = spec.help_text or spec.description
    if description:
        prop["description"] = description
    if spec.default is not None:
        prop["default"] = spec.default
    kind = spec.type
    if kind in ("string", "textarea", "password"):
        prop["type"] = "string"
        low = rules.min_length if rules and rules.min_length is not None else None
        if spec.required:
            low = max(low or 0, 1)
        if low is not None:
            prop["minLength"] = low
        if rules and rules.max_length is not None:
            prop["maxLength"] = rules.max_length
        if rules and rules.pattern is not None:
            prop["pattern"] = python_pattern(rules.pattern) if python else rules.pattern
            if rules.message:
                prop["errorMessage"] = {"pattern": rules.message}
        if kind == "password":
            prop["writeOnly"] = True
    elif kind == "number":
        prop["type"] = "number"
        if rules and rules.min is not None:
            prop["minimum"] = rules.min
        if rules and rules.max is not None:
            prop["maximum"] = rules.max
        if rules and rules.step is not None:
            base = rules.min if rules.min is not None else 0
            if is_step_multiple(base, rules.step, 0):
                prop["multipleOf"] = rules.step
            else:
                prop["x-pao-step"] = {"step": rules.step, "base": base}
    elif kind == "boolean":
        prop["type"] = "boolean"
    elif kind == "select":
        prop["type"] = _enum_type(spec.enum or ())
        prop["enum"] = list(spec.enum or ())
    elif kind == "multiselect":
        prop["type"] = "array"
        prop["items"] = {"type": _enum_type(spec.enum or ()), "enum": list(spec.enum or ())}
        prop["uniqueItems"] = True
        low = rules.min_items if rules and rules.min_items is not None else None
        if spec.required:
            low = max(low or 0, 1)
        if low is not None:
            prop["minItems"] = low
        if rules and rules.max_items is not None:
            prop["maxItems"] = rules.max_items
    elif kind == "date":
        prop["type"] = "string"
        prop["format"] = "date"
        prop["pattern"] = python_pattern(DATE_PATTERN) if python else DATE_PATTERN
        bounds = []
        if rules and rules.min_date:
            bounds.append({"pattern": _date_bound(rules.min_date, lower=True)})
        if rules and rules.max_date:
            bounds.append({"pattern": _date_bound(rules.max_date, lower=False)})
        if bounds:
            prop["allOf"] = bounds
    return prop


def _holds_schema(cond: Conditional, controller: FormField) -> dict[str, Any]:
    """Schema of the fields object for 'the condition holds on the controller's value'."""
    values = list(cond.value) if cond.condition in ("in", "notIn") else [cond.value]
    if controller.type == "multiselect":
        hit: dict[str, Any] = {
            "contains": {"const": values[0]} if len(values) == 1 else {"enum": values}
        }
    else:
        hit = {"const": values[0]} if len(values) == 1 else {"enum": values}
    test = hit if cond.condition in ("equals", "in") else {"not": hit}
    present = {"required": [controller.id], "properties": {controller.id: test}}
    if cond.holds(controller.default):
        return {"anyOf": [present, {"not": {"required": [controller.id]}}]}
    return present


def _visible_schema(spec: FormField, by_id: dict[str, FormField]) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    current: FormField | None = spec
    seen: set[str] = set()
    while current is not None and current.conditional is not None and current.id not in seen:
        seen.add(current.id)
        controller = by_id.get(current.conditional.depends_on)
        if controller is None:
            return {"not": {}}
        parts.append(_holds_schema(current.conditional, controller))
        current = controller
    return parts[0] if len(parts) == 1 else {"allOf": parts}


def build_schema(item: CatalogItem, *, python: bool) -> dict[str, Any]:
    """The schema of ``item``'s request fields; ``python`` for the variant Python compiles."""
    specs = item.fields()
    by_id = {f.id: f for f in specs}
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"https://schemas.pao.dev/v1/items/{item.id}/{item.metadata.version}/fields.schema.json",
        "title": f"{item.metadata.name}: request fields",
        "description": (
            f"Fields of a request for catalog item '{item.id}' version {item.metadata.version}."
        ),
        "type": "object",
        "properties": {f.id: _property(f, python) for f in specs},
        "additionalProperties": False,
    }
    required = [f.id for f in specs if f.conditional is None and required_now(f)]
    if required:
        schema["required"] = required
    rules = []
    for spec in specs:
        if spec.conditional is None:
            continue
        rule: dict[str, Any] = {"if": _visible_schema(spec, by_id)}
        if required_now(spec):
            rule["then"] = {"required": [spec.id]}
        rule["else"] = {"not": {"required": [spec.id]}}
        rules.append(rule)
    if rules:
        schema["allOf"] = rules
    return schema
