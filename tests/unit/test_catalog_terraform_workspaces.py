"""Catalog validation refuses terraform workspaces PAO would create with nothing to run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.catalog.validator import check_document

ITEM = (
    Path(__file__).resolve().parents[2]
    / "examples/catalog/databases/database-postgresql-standard.yaml"
)


def item_with(change: dict[str, Any], drop: tuple[str, ...] = ()) -> tuple[str, int]:
    """The example item with its terraform action's config changed; (text, action index)."""
    data = yaml.safe_load(ITEM.read_text())
    actions = data["fulfillment"]["actions"]
    index = next(i for i, a in enumerate(actions) if a["type"] == "terraform")
    config = actions[index]["config"]
    for key in drop:
        config.pop(key, None)
    config.update(change)
    return yaml.safe_dump(data, sort_keys=False), index


def codes(text: str) -> dict[str, str]:
    return {i.code: i.pointer for i in check_document("item.yaml", text).issues}


def test_the_example_item_creates_its_workspace_from_a_repository() -> None:
    text, _ = item_with({})
    assert not [c for c in codes(text) if c.startswith("terraform-")]


@pytest.mark.parametrize(
    ("template", "where"),
    [
        (None, "createWorkspace"),
        ({}, "workspaceTemplate"),
        ({"workingDirectory": "stacks/instance", "branch": "main"}, "workspaceTemplate"),
    ],
)
def test_created_workspace_without_repository_is_refused_where_it_is(
    template: dict[str, str] | None, where: str
) -> None:
    change: dict[str, Any] = {"createWorkspace": True}
    if template is not None:
        change["workspaceTemplate"] = template
    text, index = item_with(change, drop=("workspaceTemplate",))
    result = check_document("item.yaml", text)
    (issue,) = [i for i in result.issues if i.code == "terraform-template-without-repository"]
    assert issue.pointer == f"/fulfillment/actions/{index}/config/{where}"
    assert "workspaceTemplate.repository" in issue.message
    assert text.splitlines()[issue.line - 1].strip().startswith(f"{where}:")  # the key's line


def test_template_without_create_workspace_is_refused() -> None:
    text, index = item_with({"createWorkspace": False})
    assert codes(text)["terraform-template-unused"] == (
        f"/fulfillment/actions/{index}/config/workspaceTemplate"
    )


def test_existing_workspace_needs_no_template() -> None:
    text, _ = item_with({"createWorkspace": False}, drop=("workspaceTemplate",))
    assert not [c for c in codes(text) if c.startswith("terraform-")]
