"""Action types are plugins: the registry, the schema composed from it, and a core that names
no type."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from orchestrator.action_types import (
    ActionTypes,
    ActionTypeSpec,
    ConfigProblem,
    installed_action_types,
    mask_declared_secrets,
    sends_trace_headers,
)
from orchestrator.catalog.schema_compose import compose, render
from orchestrator.catalog.validator import CatalogValidator
from rehearsal.samples import item_document

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "catalog-schema" / "catalog-item.schema.json"
BUILT_IN = ("jira-ticket", "rest-api", "terraform", "github-workflow")


def test_the_built_in_types_come_from_the_entry_point_in_their_order() -> None:
    assert installed_action_types().names()[:4] == list(BUILT_IN)


def test_the_published_schema_is_generated_from_the_installed_types() -> None:
    text = PUBLISHED.read_text("utf-8")
    regenerated = render(compose(json.loads(text), installed_action_types()))
    assert regenerated == text, (
        "catalog-schema/catalog-item.schema.json is not current: "
        "python3 -m orchestrator.catalog.schema_compose"
    )


def test_the_core_names_no_action_type() -> None:
    """Type names as string literals in orchestrator/ (comments aside): the
    engine's manual fallback is the one known exception (it opens JIRA tickets by design)."""
    literal = re.compile("[\"']({})[\"']".format("|".join(BUILT_IN)))
    found = set()
    for path in sorted((ROOT / "orchestrator").rglob("*.py")):
        for line in path.read_text("utf-8").splitlines():
            code = line.split("#", 1)[0]
            if literal.search(code):
                found.add(str(path.relative_to(ROOT)))
    assert found <= {"orchestrator/engine/manual.py"}


def _spec(name: str, **kwargs: Any) -> ActionTypeSpec:
    schema = {"type": "object", "required": ["size"], "properties": {"size": {"maximum": 3}}}
    return ActionTypeSpec(name=name, schema_name=f"{name}Config", config_schema=schema, **kwargs)


def test_a_type_is_declared_once_with_a_name_the_database_accepts() -> None:
    types = ActionTypes([_spec("box")])
    with pytest.raises(ValueError, match="declared twice"):
        types.add(_spec("box"))
    with pytest.raises(ValueError, match="lower-case words"):
        types.add(_spec("Box_Type"))
    with pytest.raises(LookupError, match="installed: box"):
        types.require("crate")


def test_composition_adds_a_type_to_the_enum_the_branches_and_the_defs() -> None:
    base = json.loads(PUBLISHED.read_text("utf-8"))
    composed = compose(base, ActionTypes([*installed_action_types(), _spec("box")]))
    action = composed["$defs"]["action"]
    assert action["properties"]["type"]["enum"] == [*BUILT_IN, "box"]
    assert action["allOf"][-1]["then"]["properties"]["config"] == {"$ref": "#/$defs/boxConfig"}
    assert composed["$defs"]["boxConfig"]["required"] == ["size"]
    assert base["$defs"]["action"]["properties"]["type"]["enum"] == list(BUILT_IN)  # a copy


def test_outputs_masking_and_trace_headers_come_from_the_specs() -> None:
    types = installed_action_types()
    rest = types.require("rest-api")
    assert rest.output_names({"outputs": {"db_id": "body.id"}}) == frozenset(
        {"status_code", "db_id"}
    )
    assert types.require("terraform").output_names({}) is None  # whatever the workspace says
    masked = mask_declared_secrets(
        "terraform",
        {"variables": {"password": "hunter2", "size": 2}, "sensitiveVariables": ["password"]},
        "****",
    )
    assert masked["variables"] == {"password": "****", "size": 2}
    assert mask_declared_secrets("no-such-type", {"a": 1}, "****") == {"a": 1}
    assert sends_trace_headers("rest-api")
    assert not sends_trace_headers("jira-ticket")


def test_a_types_own_check_is_located_in_the_item() -> None:
    """The validator runs each type's ``check_config`` on schema-valid configs (here the
    built-in JIRA label check through the registry)."""
    action = {
        "id": "ticket",
        "type": "jira-ticket",
        "config": {"instance": "main", "project": "OPS", "summary": "x", "labels": ["a b"]},
    }
    text = json.dumps(item_document("labelled", [action]))
    [issue] = CatalogValidator().validate_texts([("labelled.yaml", text)]).issues
    assert (issue.pointer, issue.code) == (
        "/fulfillment/actions/0/config/labels/0",
        "jira-label-space",
    )


def _problems(config: Mapping[str, Any], pointer: str, action_id: str) -> Iterable[ConfigProblem]:
    yield ConfigProblem(f"{pointer}/size", "too-big", f"{action_id}: too big", at_key=True)


def test_a_check_yields_located_problems() -> None:
    spec = _spec("box", check_config=_problems)
    [problem] = spec.check_config({"size": 9}, "/fulfillment/actions/2/config", "pack")
    assert problem == ConfigProblem(
        "/fulfillment/actions/2/config/size", "too-big", "pack: too big", True
    )
