"""Request schemas compiled once per item version, and the published schema read from them.

Validating a request costs a compiled function call (fastjsonschema) plus exact decimal steps;
a jsonschema validator of the same schema, slower, is built only when its messages are needed.
The cache is bounded and keyed by (item id, version), and an edited item under the same key
replaces the cached one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import fastjsonschema
import jsonschema
from jsonschema.protocols import Validator

from orchestrator.catalog.models import CatalogItem
from orchestrator.forms.json_schema import build_schema
from orchestrator.forms.rules import is_number, is_step_multiple


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
    if is_number(instance) and not is_step_multiple(instance, step, 0):
        yield jsonschema.ValidationError(f"is not a multiple of {step}")


def _pao_step(
    validator: Any, rule: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterable[jsonschema.ValidationError]:
    if is_number(instance) and not is_step_multiple(instance, rule["step"], rule["base"]):
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
    python_schema = build_schema(item, python=True)
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
        schema=build_schema(item, python=False),
        python_schema=python_schema,
        fast=fastjsonschema.compile(fast_schema, use_formats=False, use_default=False),
        steps=steps,
    )
