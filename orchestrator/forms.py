"""One form definition, every surface: form JSON, request JSON Schema, GitHub issue forms.

From a catalog item's ``presentation.form`` this module derives

* the form JSON a portal renders (groups, fields, component per type, validation, options,
  conditional logic) -- ``form_json``;
* a JSON Schema (2020-12) of a request's ``fields`` object, self-contained (conditional fields
  via if/then/else, calendar dates and date ranges via patterns) so any portal can validate
  with it -- ``request_json_schema``; compiled once per item version and used for every
  request -- ``validate_request_fields``;
* a GitHub issue form per item -- ``issue_form_yaml`` / ``write_issue_forms``.

Request validation has two independent implementations on purpose: the compiled schema (the
fast verdict) and ``check_fields``, a rule-by-rule reading of the catalog contract that also
produces the located messages. A property test keeps their verdicts equal.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
import yaml
from jsonschema.protocols import Validator

from orchestrator.catalog.models import CatalogItem, Conditional, FormField, json_equal
from orchestrator.catalog.yaml_loader import escape_pointer_token

MASK = "****"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

COMPONENTS: dict[str, str] = {
    "string": "text-input",
    "number": "number-input",
    "boolean": "checkbox",
    "select": "dropdown",
    "multiselect": "multi-select",
    "date": "date-picker",
    "textarea": "textarea",
    "password": "password-input",
}

# A calendar date YYYY-MM-DD (years 0001-9999, leap years included) as an ECMA-262 regex.
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
DATE_PATTERN = (
    r"^(?!0000)(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    rf"|{_LEAP_YEAR}-02-29)$"
)


# -- shared rules ------------------------------------------------------------------------------


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


def apply_defaults(item: CatalogItem, fields: Any) -> Any:
    """``fields`` plus the default of every shown field it leaves out (hidden fields stay out)."""
    if not isinstance(fields, Mapping):
        return fields
    out = dict(fields)
    shown = visibility(item, out)
    for spec in item.fields():
        if spec.id not in out and spec.default is not None and shown[spec.id]:
            out[spec.id] = list(spec.default) if isinstance(spec.default, list) else spec.default
    return out


def python_pattern(pattern: str) -> str:
    """The catalog pattern with ECMA-262's ``$`` (end of input, not before a final newline).

    Python's ``$`` also matches before a trailing newline, so ``"orders-db\\n"`` would pass
    ``^[a-z-]+$``; every validator here uses this form instead. Inside a class ``$`` is literal.
    """
    multiline = bool(re.compile(pattern).flags & re.MULTILINE)
    out: list[str] = []
    index = 0
    in_class = False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
            out.append("\\$" if char == "$" else char)
            index += 1
            continue
        if char == "[":
            out.append(char)
            index += 1
            if pattern[index : index + 1] == "^":
                out.append("^")
                index += 1
            if pattern[index : index + 1] == "]":
                out.append("]")
                index += 1
            in_class = True
            continue
        if char == "$":
            out.append(r"(?=\n|\Z)" if multiline else r"\Z")
        else:
            out.append(char)
        index += 1
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(python_pattern(pattern))


def _decimal(value: float | int) -> Decimal:
    return Decimal(repr(value))


def is_step_multiple(value: float | int, step: float | int, base: float | int) -> bool:
    """Exact decimal check of ``(value - base) / step`` being whole (0.3 is 3 steps of 0.1)."""
    try:
        quotient = (_decimal(value) - _decimal(base)) / _decimal(step)
    except (InvalidOperation, ArithmeticError):
        return False
    return quotient == quotient.to_integral_value()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _required_now(spec: FormField) -> bool:
    return spec.required and spec.default is None


# -- (a) form JSON -----------------------------------------------------------------------------


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def field_json(spec: FormField) -> dict[str, Any]:
    """One field of the form JSON."""
    validation = (
        spec.validation.model_dump(by_alias=True, exclude_none=True) if spec.validation else None
    )
    options = None
    if spec.enum is not None:
        labels = spec.enum_labels or {}
        options = [{"value": v, "label": labels.get(str(v), str(v))} for v in spec.enum]
    conditional = (
        {
            "dependsOn": spec.conditional.depends_on,
            "condition": spec.conditional.condition,
            "value": spec.conditional.value,
        }
        if spec.conditional
        else None
    )
    return _drop_none(
        {
            "id": spec.id,
            "name": spec.name,
            "type": spec.type,
            "component": COMPONENTS[spec.type],
            "required": spec.required,
            "sensitive": spec.sensitive,
            "default": spec.default,
            "placeholder": spec.placeholder,
            "helpText": spec.help_text,
            "description": spec.description,
            "validation": validation or None,
            "options": options,
            "conditional": conditional,
        }
    )


def form_json(item: CatalogItem) -> dict[str, Any]:
    """The form a portal renders for ``item`` (the Form Generation API response body)."""
    meta = item.metadata
    groups = item.presentation.form.groups if item.presentation.form else ()
    return _drop_none(
        {
            "itemId": meta.id,
            "name": meta.name,
            "version": meta.version,
            "description": meta.description,
            "category": meta.category,
            "intro": item.presentation.intro,
            "lifecycle": item.lifecycle.model_dump(by_alias=True, exclude_none=True),
            "groups": [
                _drop_none(
                    {
                        "id": group.id,
                        "name": group.name,
                        "description": group.description,
                        "fields": [field_json(f) for f in group.fields],
                    }
                )
                for group in groups
            ],
        }
    )


# -- (b) JSON Schema ---------------------------------------------------------------------------


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
    kinds = sorted({"number" if _is_number(o) else "string" for o in options})
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


def _schema(item: CatalogItem, *, python: bool) -> dict[str, Any]:
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
    required = [f.id for f in specs if f.conditional is None and _required_now(f)]
    if required:
        schema["required"] = required
    rules = []
    for spec in specs:
        if spec.conditional is None:
            continue
        rule: dict[str, Any] = {"if": _visible_schema(spec, by_id)}
        if _required_now(spec):
            rule["then"] = {"required": [spec.id]}
        rule["else"] = {"not": {"required": [spec.id]}}
        rules.append(rule)
    if rules:
        schema["allOf"] = rules
    return schema


def request_json_schema(item: CatalogItem) -> dict[str, Any]:
    """The JSON Schema (2020-12) of a request's ``fields`` for ``item``, for any consumer.

    Everything is plain JSON Schema except a step that is not a multiple counted from zero
    (``min: 1, step: 2``), published as ``x-pao-step``; ``errorMessage.pattern`` carries the
    catalog's message (ajv-errors reads it).
    """
    return compiled_schema(item).schema


def _multiple_of(
    validator: Any, step: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterable[jsonschema.ValidationError]:
    if _is_number(instance) and not is_step_multiple(instance, step, 0):
        yield jsonschema.ValidationError(f"is not a multiple of {step}")


def _pao_step(
    validator: Any, rule: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterable[jsonschema.ValidationError]:
    if _is_number(instance) and not is_step_multiple(instance, rule["step"], rule["base"]):
        yield jsonschema.ValidationError(f"is not {rule['base']} plus a multiple of {rule['step']}")


# jsonschema with exact decimal steps (its float multipleOf says 0.3 is no multiple of 0.1).
ExactValidator: Any = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft202012Validator, {"multipleOf": _multiple_of, "x-pao-step": _pao_step}
)


def _fast_schema(python_schema: dict[str, Any]) -> dict[str, Any]:
    """The schema for fastjsonschema: draft-07 (it has no 2020-12; no keyword used needs it)
    and no ``multipleOf`` (its float arithmetic differs; steps are checked exactly after)."""
    schema = dict(python_schema, properties=dict(python_schema["properties"]))
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    for name, rule in schema["properties"].items():
        schema["properties"][name] = {k: v for k, v in rule.items() if k != "multipleOf"}
    return schema


@dataclass(slots=True)
class CompiledSchema:
    """The compiled forms of one item version's request schema."""

    item: CatalogItem
    schema: dict[str, Any]
    python_schema: dict[str, Any]
    fast: Callable[[Any], Any]
    steps: tuple[tuple[str, float, float], ...]
    _checker: Validator | None = field(default=None)

    def is_valid(self, fields: Any) -> bool:
        """The fast verdict: compiled schema, then exact decimal steps."""
        try:
            self.fast(fields)
        except fastjsonschema.JsonSchemaException:
            return False
        for field_id, step, base in self.steps:
            value = fields.get(field_id)
            if value is not None and not is_step_multiple(value, step, base):
                return False
        return True

    @property
    def validator(self) -> Validator:
        """A jsonschema validator of the same schema (slower; for error messages and tests)."""
        if self._checker is None:
            self._checker = ExactValidator(self.python_schema)
        return self._checker


_CACHE: OrderedDict[tuple[str, str], CompiledSchema] = OrderedDict()
_CACHE_LOCK = threading.Lock()
CACHE_SIZE = 1024


def compiled_schema(item: CatalogItem) -> CompiledSchema:
    """The compiled schema of ``item``, built once per (item id, version) and then reused.

    A different item under the same id and version (a preview of an edited file) replaces the
    cached one instead of being validated with stale rules.
    """
    key = (item.id, item.metadata.version)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None and (cached.item is item or cached.item == item):
            _CACHE.move_to_end(key)
            cached.item = item
            return cached
    compiled = _compile(item)
    with _CACHE_LOCK:
        _CACHE[key] = compiled
        _CACHE.move_to_end(key)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return compiled


def _compile(item: CatalogItem) -> CompiledSchema:
    python_schema = _schema(item, python=True)
    fast_schema = _fast_schema(python_schema)
    steps = tuple(
        (
            f.id,
            f.validation.step,
            f.validation.min if f.validation.min is not None else 0,
        )
        for f in item.fields()
        if f.type == "number" and f.validation is not None and f.validation.step is not None
    )
    return CompiledSchema(
        item=item,
        schema=_schema(item, python=False),
        python_schema=python_schema,
        fast=fastjsonschema.compile(fast_schema, use_formats=False, use_default=False),
        steps=steps,
    )


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with a request's fields; never contains a password value."""

    field_id: str | None
    pointer: str
    message: str
    code: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field_id,
            "pointer": self.pointer,
            "message": self.message,
            "code": self.code,
        }


def _pointer(field_id: str, *rest: str | int) -> str:
    tokens = ["fields", field_id, *rest]
    return "/" + "/".join(escape_pointer_token(t) for t in tokens)


def _suggest(word: str, candidates: Iterable[Any]) -> str:
    matches = difflib.get_close_matches(word, [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def _shown(value: Any, spec: FormField) -> str:
    if spec.sensitive:
        return "the value"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _parse_date(value: str) -> dt.date | None:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return None
    try:
        return dt.date(int(value[:4]), int(value[5:7]), int(value[8:10]))
    except ValueError:
        return None


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _describe_condition(cond: Conditional, by_id: Mapping[str, FormField]) -> str:
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


def check_fields(item: CatalogItem, fields: Any) -> list[FieldError]:
    """Every problem with a request's ``fields``, rule by rule from the catalog contract.

    Independent of the JSON Schema on purpose (see the module docstring). Messages use the
    catalog's ``validation.message`` for pattern failures and never echo password values.
    """
    if not isinstance(fields, Mapping):
        return [FieldError(None, "/fields", "fields must be a map of field id to value", "type")]
    specs = item.fields()
    by_id = {f.id: f for f in specs}
    errors: list[FieldError] = []
    for key in fields:
        if key not in by_id:
            errors.append(
                FieldError(
                    None,
                    _pointer(str(key)),
                    f"'{key}' is not a field of this item{_suggest(str(key), by_id)}",
                    "unknown-field",
                )
            )
    shown = visibility(item, fields)
    for spec in specs:
        present = spec.id in fields
        if not shown[spec.id]:
            if present:
                assert spec.conditional is not None
                errors.append(
                    FieldError(
                        spec.id,
                        _pointer(spec.id),
                        f"'{spec.name}' must be left out: it only applies when "
                        f"{_describe_condition(spec.conditional, by_id)}",
                        "hidden-field",
                    )
                )
            continue
        if not present:
            if _required_now(spec):
                errors.append(
                    FieldError(spec.id, _pointer(spec.id), f"'{spec.name}' is required", "required")
                )
            continue
        errors.extend(_value_errors(spec, fields[spec.id]))
    return errors


def _value_errors(spec: FormField, value: Any) -> list[FieldError]:
    def error(message: str, code: str, *rest: str | int) -> list[FieldError]:
        return [FieldError(spec.id, _pointer(spec.id, *rest), f"'{spec.name}' {message}", code)]

    rules = spec.validation
    kind = spec.type
    if kind in ("string", "textarea", "password"):
        if not isinstance(value, str):
            return error("must be text", "type")
        if spec.required and value == "":
            return error("is required and must not be empty", "required")
        if rules is None:
            return []
        if rules.min_length is not None and len(value) < rules.min_length:
            return error(f"must be at least {rules.min_length} characters long", "minLength")
        if rules.max_length is not None and len(value) > rules.max_length:
            return error(f"must be at most {rules.max_length} characters long", "maxLength")
        if rules.pattern is not None and not _regex(rules.pattern).search(value):
            detail = rules.message or (
                "does not have the required format"
                if spec.sensitive
                else f"must match the pattern {rules.pattern}"
            )
            return error(detail if not rules.message else f"is invalid: {detail}", "pattern")
        return []
    if kind == "number":
        if not _is_number(value):
            return error("must be a number", "type")
        if rules is None:
            return []
        if rules.min is not None and value < rules.min:
            return error(f"must be at least {rules.min:g}", "minimum")
        if rules.max is not None and value > rules.max:
            return error(f"must be at most {rules.max:g}", "maximum")
        if rules.step is not None:
            base = rules.min if rules.min is not None else 0
            if not is_step_multiple(value, rules.step, base):
                return error(f"must be {base:g} plus a multiple of {rules.step:g}", "step")
        return []
    if kind == "boolean":
        return [] if isinstance(value, bool) else error("must be true or false", "type")
    options = list(spec.enum or ())
    if kind == "select":
        if any(json_equal(value, o) for o in options):
            return []
        names = ", ".join(str(o) for o in options)
        return error(
            f"must be one of: {names}; got {_shown(value, spec)}{_suggest(str(value), options)}",
            "enum",
        )
    if kind == "multiselect":
        if not isinstance(value, list):
            return error("must be a list of options", "type")
        for index, entry in enumerate(value):
            if not any(json_equal(entry, o) for o in options):
                names = ", ".join(str(o) for o in options)
                return error(f"has {entry!r}, which is not one of: {names}", "enum", index)
            if any(json_equal(entry, other) for other in value[:index]):
                return error(f"lists {entry!r} twice", "uniqueItems", index)
        low = rules.min_items if rules and rules.min_items is not None else 0
        if spec.required:
            low = max(low, 1)
        if len(value) < low:
            return error(f"needs at least {low} option(s)", "minItems")
        if rules and rules.max_items is not None and len(value) > rules.max_items:
            return error(f"allows at most {rules.max_items} option(s)", "maxItems")
        return []
    # date
    parsed = _parse_date(value) if isinstance(value, str) else None
    if parsed is None:
        return error("must be a date written YYYY-MM-DD", "type")
    if rules and rules.min_date and parsed < dt.date.fromisoformat(rules.min_date):
        return error(f"must be on or after {rules.min_date}", "minDate")
    if rules and rules.max_date and parsed > dt.date.fromisoformat(rules.max_date):
        return error(f"must be on or before {rules.max_date}", "maxDate")
    return []


def validate_request_fields(item: CatalogItem, fields: Any) -> list[FieldError]:
    """Problems with a request's ``fields`` ([] when valid); call after ``apply_defaults``.

    The compiled schema gives the verdict fast; only an invalid request pays for the
    rule-by-rule pass that explains it.
    """
    compiled = compiled_schema(item)
    if isinstance(fields, Mapping) and compiled.is_valid(fields):
        return []
    errors = check_fields(item, fields)
    if errors:
        return errors
    # The two implementations disagree (a bug): report the schema's reasons, masked.
    sensitive = {f.id for f in item.fields() if f.sensitive}
    out = []
    for problem in compiled.validator.iter_errors(fields):
        where = [str(p) for p in problem.absolute_path]
        field_id = where[0] if where else None
        message = problem.message if field_id not in sensitive else "is not acceptable"
        pointer = _pointer(*where) if where else "/fields"
        out.append(FieldError(field_id, pointer, message, str(problem.validator)))
    return out or [FieldError(None, "/fields", "the fields do not match the item's form", "schema")]


# -- (c) GitHub issue forms --------------------------------------------------------------------

ISSUE_LABEL = "pao-request"
CATALOG_LABEL_PREFIX = "catalog:"
LABEL_LIMIT = 50  # GitHub refuses longer label names


def catalog_label(item_id: str) -> str:
    """The ``catalog:<id>`` label of an item, within GitHub's 50 characters: a longer id is cut
    and ends in ``~`` and 8 hex digits of its SHA-256, the same for the same id everywhere."""
    label = CATALOG_LABEL_PREFIX + item_id
    if len(label) <= LABEL_LIMIT:
        return label
    digest = hashlib.sha256(item_id.encode()).hexdigest()[:8]
    keep = LABEL_LIMIT - len(CATALOG_LABEL_PREFIX) - len(digest) - 1
    return f"{CATALOG_LABEL_PREFIX}{item_id[:keep]}~{digest}"


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _field_notes(spec: FormField, by_id: Mapping[str, FormField]) -> list[str]:
    notes: list[str] = []
    for text in (spec.description, spec.help_text):
        if text:
            notes.append(text.strip())
    rules = spec.validation
    if spec.type == "number" and rules:
        bounds = []
        if rules.min is not None:
            bounds.append(f"at least {rules.min:g}")
        if rules.max is not None:
            bounds.append(f"at most {rules.max:g}")
        if rules.step is not None:
            bounds.append(f"in steps of {rules.step:g}")
        if bounds:
            notes.append("A number " + ", ".join(bounds) + ".")
    if spec.type == "date":
        span = "A date written YYYY-MM-DD"
        if rules and rules.min_date:
            span += f", on or after {rules.min_date}"
        if rules and rules.max_date:
            span += f", on or before {rules.max_date}"
        notes.append(span + ".")
    if spec.type in ("string", "textarea") and rules and rules.message:
        notes.append(rules.message)
    if spec.type == "multiselect" and rules and (rules.min_items or rules.max_items):
        notes.append(
            f"Pick {rules.min_items or 0} to {rules.max_items or len(spec.enum or ())} options."
        )
    if spec.conditional is not None:
        notes.append(
            f"Only when {_describe_condition(spec.conditional, by_id)}; leave empty otherwise."
        )
    if spec.default is not None:
        if isinstance(spec.default, list):
            shown = ", ".join(_option_label(spec, v) for v in spec.default) or "none"
        elif spec.type == "boolean":
            shown = "yes" if spec.default else "no"
        else:
            shown = _option_label(spec, spec.default)
        notes.append(f"Default when left empty: {shown}.")
    return notes


def _option_label(spec: FormField, option: Any) -> str:
    labels = spec.enum_labels or {}
    return labels.get(str(option), str(option))


def _issue_element(spec: FormField, label: str, by_id: Mapping[str, FormField]) -> dict[str, Any]:
    """One body element. A conditional field gets no pre-filled value: issue forms cannot hide
    it, and a pre-filled answer to a hidden field would make the request invalid."""
    attributes: dict[str, Any] = {"label": label}
    notes = _field_notes(spec, by_id)
    prefill = spec.conditional is None
    if notes:
        attributes["description"] = " ".join(notes)
    element: dict[str, Any]
    if spec.type in ("select", "multiselect"):
        options = [_option_label(spec, o) for o in spec.enum or ()]
        attributes["options"] = options
        if spec.type == "multiselect":
            attributes["multiple"] = True
        defaults = spec.default if isinstance(spec.default, list) else [spec.default]
        if prefill and len(defaults) == 1 and defaults[0] in (spec.enum or ()):
            attributes["default"] = list(spec.enum or ()).index(defaults[0])
        element = {"type": "dropdown", "id": spec.id, "attributes": attributes}
    elif spec.type == "boolean" and spec.default is True:
        # A checkbox cannot start ticked, so a 'yes by default' answer is a Yes/No dropdown.
        attributes["options"] = ["Yes", "No"]
        if prefill:
            attributes["default"] = 0
        element = {"type": "dropdown", "id": spec.id, "attributes": attributes}
    elif spec.type == "boolean":
        attributes["options"] = [{"label": spec.name, "required": False}]
        element = {"type": "checkboxes", "id": spec.id, "attributes": attributes}
    else:
        kind = "textarea" if spec.type == "textarea" else "input"
        placeholder = spec.placeholder or ("YYYY-MM-DD" if spec.type == "date" else None)
        if placeholder:
            attributes["placeholder"] = placeholder
        if prefill and spec.default is not None and str(spec.default):
            attributes["value"] = str(spec.default)
        element = {"type": kind, "id": spec.id, "attributes": attributes}
    required = _required_now(spec) and spec.conditional is None and spec.type != "boolean"
    if element["type"] != "checkboxes" and required:
        element["validations"] = {"required": True}
    return element


def _intro(item: CatalogItem) -> str:
    meta = item.metadata
    owner = meta.owner
    contact = [f"[{owner.contact}](mailto:{owner.contact})"]
    if owner.slack:
        contact.append(f"Slack {owner.slack}")
    lines = [
        f"## {meta.name}",
        "",
        meta.description.strip(),
        "",
        f"- **Owner:** team `{owner.team}` ({', '.join(contact)})",
    ]
    if meta.sla and (meta.sla.response_time or meta.sla.fulfillment_time):
        sla = []
        if meta.sla.response_time:
            sla.append(f"response within {meta.sla.response_time}")
        if meta.sla.fulfillment_time:
            sla.append(f"fulfilled within {meta.sla.fulfillment_time}")
        lines.append(f"- **SLA:** {', '.join(sla)}")
    lines.append(f"- **Catalog item:** `{meta.id}` version {meta.version}")
    if meta.documentation:
        lines.append(f"- **Documentation:** {meta.documentation}")
    if item.lifecycle.status == "deprecated":
        lines += [
            "",
            f"> [!WARNING]\n> This item is deprecated; use `{item.lifecycle.replacement}` instead."
            + (f" {item.lifecycle.message}" if item.lifecycle.message else ""),
        ]
    if item.presentation.intro:
        lines += ["", item.presentation.intro.strip()]
    return "\n".join(lines)


def issue_form(item: CatalogItem) -> dict[str, Any]:
    """The GitHub issue form (as data) for requesting ``item``.

    Password fields are not part of it: issues are public. A note says how to supply them.
    """
    body: list[dict[str, Any]] = [{"type": "markdown", "attributes": {"value": _intro(item)}}]
    labels_used: set[str] = set()
    by_id = {f.id: f for f in item.fields()}
    groups = item.presentation.form.groups if item.presentation.form else ()
    for group in groups:
        heading = f"### {group.name}"
        if group.description:
            heading += f"\n\n{group.description.strip()}"
        body.append({"type": "markdown", "attributes": {"value": heading}})
        for spec in group.fields:
            if spec.sensitive:
                body.append(
                    {
                        "type": "markdown",
                        "attributes": {
                            "value": (
                                f"**{spec.name}** is a secret and is not asked for here, because "
                                "issues are public. Never paste it into this issue: PAO asks for "
                                "it through the PAO API or portal once the request is opened, or "
                                f"contact {item.metadata.owner.contact}."
                            )
                        },
                    }
                )
                continue
            name = spec.name.strip()  # GitHub shows the label trimmed; the parser compares so
            label = name if name not in labels_used else f"{name} ({spec.id})"
            labels_used.add(label)
            body.append(_issue_element(spec, label, by_id))
    if not item.fields():
        body.append(
            {
                "type": "markdown",
                "attributes": {
                    "value": "This item takes no input: submit the issue to request it."
                },
            }
        )
    return {
        "name": item.metadata.name,
        "description": _one_line(item.metadata.description),
        "title": f"[{item.id}] ",
        "labels": [ISSUE_LABEL, catalog_label(item.id)],
        "body": body,
    }


def issue_form_yaml(item: CatalogItem) -> str:
    """``issue_form`` as the YAML file GitHub reads from ``.github/ISSUE_TEMPLATE/``."""
    header = (
        f"# Generated by `pao catalog issue-forms` from catalog item {item.id} "
        f"{item.metadata.version}. Do not edit: change the catalog item instead.\n"
    )
    return header + yaml.dump(
        issue_form(item), Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100
    )


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (the Markdown) as literal blocks, readable in review."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)


def issue_forms_config() -> dict[str, Any]:
    """The template chooser config: requests only through the generated forms."""
    return {"blank_issues_enabled": False}


def write_issue_forms(items: Iterable[CatalogItem], out_dir: Path) -> list[Path]:
    """Write ``<id>.yml`` for every requestable item plus ``config.yml``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for item in sorted(items, key=lambda i: i.id):
        if item.lifecycle.status == "retired":
            continue
        path = out_dir / f"{item.id}.yml"
        path.write_text(issue_form_yaml(item), encoding="utf-8")
        written.append(path)
    config = out_dir / "config.yml"
    config.write_text(yaml.safe_dump(issue_forms_config(), sort_keys=False), encoding="utf-8")
    written.append(config)
    return written


# -- preview for catalog authors ---------------------------------------------------------------


def preview_form(
    source: str | Mapping[str, Any], *, name: str = "catalog-item.yaml"
) -> dict[str, Any]:
    """What ``POST /api/v1/preview/form`` answers: the form JSON, or the located errors.

    ``source`` is the item as YAML text or as already-parsed data. The answer is
    ``{"valid", "issues", "form", "schema"}``; ``issues`` use the validator's shape
    (file, line, column, code, message, pointer, severity).
    """
    import json

    from orchestrator.catalog.validator import CatalogValidator

    text = source if isinstance(source, str) else json.dumps(source, default=str)
    report = CatalogValidator().validate_texts([(name, text)])
    issues = [issue.to_dict() for issue in sorted(report.issues)]
    items = [entry.item for entry in report.items.values()]
    if not report.valid or not items:
        if not items and report.valid:
            issues.append(
                {
                    "file": name,
                    "line": 1,
                    "column": 1,
                    "code": "not-a-catalog-item",
                    "message": "the document is not a catalog item (kind: CatalogItem)",
                    "pointer": "/kind",
                    "severity": "error",
                }
            )
        return {"valid": False, "issues": issues, "form": None, "schema": None}
    item = items[0]
    return {
        "valid": True,
        "issues": issues,
        "form": form_json(item),
        "schema": _schema(item, python=False),
    }
