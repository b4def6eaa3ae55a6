"""Validating a request's fields against its item's form, with located messages.

Two independent implementations on purpose: the compiled schema (the fast verdict,
``orchestrator.forms.compiled``) and ``check_fields``, a rule-by-rule reading of the catalog
contract that also produces the messages. A property test keeps their verdicts equal;
``validate_request_fields`` asks the first and explains with the second.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.catalog.models import CatalogItem, FormField, json_equal
from orchestrator.catalog.yaml_loader import escape_pointer_token
from orchestrator.forms.compiled import compiled_schema
from orchestrator.forms.conditions import describe_condition, visibility
from orchestrator.forms.rules import is_number, is_step_multiple, parse_date, regex, required_now


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
                        f"{describe_condition(spec.conditional, by_id)}",
                        "hidden-field",
                    )
                )
            continue
        if not present:
            if required_now(spec):
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
        if rules.pattern is not None and not regex(rules.pattern).search(value):
            detail = rules.message or (
                "does not have the required format"
                if spec.sensitive
                else f"must match the pattern {rules.pattern}"
            )
            return error(detail if not rules.message else f"is invalid: {detail}", "pattern")
        return []
    if kind == "number":
        if not is_number(value):
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
    parsed = parse_date(value) if isinstance(value, str) else None
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
