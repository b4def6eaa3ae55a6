"""The fast validator (fastjsonschema, the hot path) and jsonschema (the reference, which writes
the messages) agree on valid/invalid for catalog-item-like and request-like documents.

Documents start from the example catalog (and request files built from its items) and are
mutated the ways authors get them wrong: wrong types, missing required keys, unknown keys,
strings that break patterns. A disagreement would let a bad file pass the fast path silently,
or fail it with no message from the reference.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orchestrator.catalog.schema import (
    CATALOG_ITEM_SCHEMA,
    SERVICE_REQUEST_SCHEMA,
    fast_check_for,
    validator_for,
)

ROOT = Path(__file__).resolve().parents[2]
ITEMS = [
    yaml.safe_load(path.read_text("utf-8"))
    for path in sorted((ROOT / "examples" / "catalog").rglob("*.yaml"))
]
REQUESTS = [
    {
        "apiVersion": "pao/v1",
        "kind": "ServiceRequest",
        "catalogItem": item["metadata"]["id"],
        "catalogVersion": item["metadata"]["version"],
        "title": f"a {item['metadata']['name']}",
        "justification": "needed for the parity test",
        "fields": {"instanceName": "orders-db", "size": "medium", "count": 3},
    }
    for item in ITEMS
]
ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    1.0,
    2.5,
    "",
    "x",
    "orders-db\n",
    "Orders DB",
    "1.0.0",
    "1.0.0\n",
    "pao/v1",
    "CatalogItem",
    "ServiceRequest",
    "env:TOKEN",
    "https://example.com",
    "4h",
    "2026-02-30",
    "a@b.c",
    "ABC",
    [],
    ["x"],
    ["x", "x"],
    [1, 1.0],
    {},
    {"x": 1},
]


def _containers(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a mapping or list inside ``doc`` (the document itself included)."""
    found: list[tuple[Any, ...]] = []
    if isinstance(doc, dict):
        found.append(path)
        for key, value in doc.items():
            found += _containers(value, (*path, key))
    elif isinstance(doc, list):
        found.append(path)
        for index, value in enumerate(doc):
            found += _containers(value, (*path, index))
    return found


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for token in path:
        doc = doc[token]
    return doc


@st.composite
def mutated(draw: st.DrawFn, bases: list[dict[str, Any]]) -> dict[str, Any]:
    """A base document with up to three mutations at random places."""
    doc: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(0, 3))):
        paths = _containers(doc)
        target = _at(doc, draw(st.sampled_from(paths)))
        action = draw(st.sampled_from(["replace", "delete", "add", "append"]))
        if isinstance(target, dict) and target:
            key = draw(st.sampled_from(sorted(target, key=str)))
            if action == "delete":
                del target[key]
            elif action == "add":
                target[draw(st.sampled_from(["extra", "x-note", "Id", key + "s"]))] = 1
            else:
                target[key] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))
        elif isinstance(target, list) and target:
            index = draw(st.integers(0, len(target) - 1))
            if action == "delete":
                del target[index]
            elif action == "append":
                target.append(copy.deepcopy(target[index]))
            else:
                target[index] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))
    return doc


def _agree(schema_name: str, doc: Any) -> None:
    fast = fast_check_for(schema_name)
    try:
        fast(copy.deepcopy(doc))  # fastjsonschema fills in defaults: keep doc untouched
    except Exception as exc:  # JsonSchemaValueException
        fast_error: str | None = str(exc)
    else:
        fast_error = None
    reference = [e.message for e in validator_for(schema_name).iter_errors(copy.deepcopy(doc))]
    assert (fast_error is None) == (not reference), (fast_error, reference[:3], doc)


def test_the_examples_are_valid_for_both() -> None:
    assert ITEMS
    for item in ITEMS:
        _agree(CATALOG_ITEM_SCHEMA, item)
        assert not list(validator_for(CATALOG_ITEM_SCHEMA).iter_errors(copy.deepcopy(item)))


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated(ITEMS))
@example({**ITEMS[0], "apiVersion": "pao/v1\n"})
@example({**ITEMS[0], "metadata": {**ITEMS[0]["metadata"], "version": 1.0}})
@example({**ITEMS[0], "metadata": {**ITEMS[0]["metadata"], "tags": [1, 1.0]}})
def test_catalog_items_agree(doc: dict[str, Any]) -> None:
    _agree(CATALOG_ITEM_SCHEMA, doc)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated(REQUESTS))
@example({**REQUESTS[0], "catalogItem": "orders-db\n"})
@example({**REQUESTS[0], "catalogVersion": "1.0.0\n"})
def test_requests_agree(doc: dict[str, Any]) -> None:
    _agree(SERVICE_REQUEST_SCHEMA, doc)


@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_every_odd_value_at_the_top_agrees(value: Any) -> None:
    for name, base in ((CATALOG_ITEM_SCHEMA, ITEMS[0]), (SERVICE_REQUEST_SCHEMA, REQUESTS[0])):
        for key in base:
            _agree(name, {**base, key: value})
