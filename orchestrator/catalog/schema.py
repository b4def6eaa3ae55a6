"""The published JSON Schemas, compiled once, and their errors turned into located issues."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import fastjsonschema

from orchestrator.action_types import installed_action_types
from orchestrator.catalog.issues import Issue
from orchestrator.catalog.schema_compose import compose
from orchestrator.catalog.semantics import suggest
from orchestrator.catalog.yaml_loader import LoadedDocument, join_pointer

if TYPE_CHECKING:  # jsonschema is imported only to explain a failure: it is slow to import
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

CATALOG_ITEM_SCHEMA = "catalog-item.schema.json"
SERVICE_REQUEST_SCHEMA = "service-request.schema.json"

_TYPE_NAMES = {
    dict: "a mapping",
    list: "a list",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def _schema_text(name: str) -> str:
    return resources.files("orchestrator.catalog").joinpath("schemas", name).read_text("utf-8")


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The named schema; the catalog item's with the installed action types composed in."""
    schema: dict[str, Any] = json.loads(_schema_text(name))
    if name == CATALOG_ITEM_SCHEMA:
        return compose(schema, installed_action_types())
    return schema


@cache
def validator_for(name: str) -> Draft202012Validator:
    """The reference validator, with ECMA-262 ``pattern`` semantics.

    jsonschema searches patterns with Python's ``re``, where ``$`` also matches before a final
    newline, so ``"orders-db\\n"`` passed ``^[a-z0-9-]+$`` while fastjsonschema (and JSON
    Schema) reject it: both validators must give the same verdict (test_schema_parity.py).
    """
    from jsonschema import Draft202012Validator, ValidationError, validators

    from orchestrator.ecma_regex import python_pattern

    def pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Any:
        if validator.is_type(instance, "string") and not _ecma_regex(patrn).search(instance):
            yield ValidationError(f"{instance!r} does not match {patrn!r}")

    @cache
    def _ecma_regex(patrn: str) -> re.Pattern[str]:
        return re.compile(python_pattern(patrn))

    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    ecma = validators.extend(Draft202012Validator, {"pattern": pattern})  # type: ignore[no-untyped-call]
    checker: Draft202012Validator = ecma(schema)
    return checker


@cache
def fast_check_for(name: str) -> Any:
    """A compiled (generated-code) validator for the hot path, where documents are valid.

    fastjsonschema supports every keyword these schemas use; jsonschema stays the reference and
    produces the messages whenever the fast path says no (tests/unit/test_schema_parity.py
    checks that both always agree). The code is generated and compiled in memory, once per
    process (~0.1 s for the catalog item schema): code read back from a disk cache would be
    code anyone able to write that cache could make PAO run.
    """
    return fastjsonschema.compile(load_schema(name))


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _describe(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _leaf_errors(error: ValidationError) -> list[ValidationError]:
    """For anyOf/oneOf without a message of their own, the errors of the closest branch."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator in ("anyOf", "oneOf") and error.context and "x-message" not in schema:
        by_branch: dict[object, list[ValidationError]] = {}
        for sub in error.context:
            branch = sub.schema_path[0] if sub.schema_path else 0
            by_branch.setdefault(branch, []).append(sub)
        best = max(
            by_branch.values(),
            key=lambda errs: (max(len(e.absolute_path) for e in errs), -len(errs)),
        )
        return [leaf for sub in best for leaf in _leaf_errors(sub)]
    return [error]


def _message(error: ValidationError) -> tuple[str, str, bool]:
    """(pointer, message, point at key) for one jsonschema error."""
    pointer = "".join(join_pointer("", p) for p in error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    custom = schema.get("x-message")
    where = f" in {pointer}" if pointer else ""
    if custom:
        return pointer, str(custom), False
    keyword = error.validator
    instance = error.instance
    if keyword == "additionalProperties" and isinstance(instance, dict):
        allowed = list(schema.get("properties", {}))
        extras = [k for k in instance if k not in allowed]
        first = extras[0] if extras else ""
        listing = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return (
            join_pointer(pointer, first),
            f"unknown key '{first}'{where}{suggest(first, allowed)}{listing}",
            True,
        )
    if keyword == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return pointer, f"missing required key '{missing}'{where}", False
    if keyword == "enum":
        options = [str(o) for o in _as_list(error.validator_value)]
        near = suggest(str(instance), options)
        return pointer, f"{_short(instance)} is not one of: {', '.join(options)}{near}", False
    if keyword == "const":
        return pointer, f"expected {error.validator_value!r}, got {_short(instance)}", False
    if keyword == "type":
        expected = error.validator_value
        names = [str(n) for n in _as_list(expected)]
        hint = ""
        if "string" in names and isinstance(instance, int | float | bool):
            hint = f' (quote it: "{instance}")'
        return pointer, f"expected {' or '.join(names)}, got {_describe(instance)}{hint}", False
    if keyword == "pattern":
        description = schema.get("description")
        detail = f": {description}" if description else f" (pattern {error.validator_value})"
        return pointer, f"{_short(instance)} is not valid here{detail}", False
    return (
        pointer,
        f"{error.message}{where}" if pointer and "'" not in error.message else error.message,
        False,
    )


def schema_issues(doc: LoadedDocument, schema_name: str) -> list[Issue]:
    """Located issues for every schema violation of the document, in source order."""
    try:
        fast_check_for(schema_name)(doc.data)
    except fastjsonschema.JsonSchemaValueException as fast_error:
        fallback = fast_error
    else:
        return []
    issues: list[Issue] = []
    seen: set[tuple[str, str]] = set()
    for error in validator_for(schema_name).iter_errors(doc.data):
        for leaf in _leaf_errors(error):
            pointer, message, at_key = _message(leaf)
            if (pointer, message) in seen:
                continue
            seen.add((pointer, message))
            issues.append(doc.issue(pointer, "schema", message, key=at_key))
    if not issues:  # the validators disagree: keep the fast one's verdict, never pass silently
        pointer = "".join(join_pointer("", p) for p in (fallback.path or [])[1:])
        issues.append(doc.issue(pointer, "schema", str(fallback.message)))
    issues.sort()
    return issues
