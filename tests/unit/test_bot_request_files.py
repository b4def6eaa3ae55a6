"""Request files: which paths count, and problems located at their lines."""

from __future__ import annotations

from bot.plan import action_plan
from bot.request_files import (
    annotations_for,
    is_request_path,
    parse_request_file,
    validation_issues,
)
from orchestrator.catalog.models import CatalogItem
from orchestrator.requests.service import Validation
from tests.unit.test_templating_analysis import item_document

GLOBS = ("requests/**.yaml", "requests/**.yml")


def test_request_paths() -> None:
    assert is_request_path("requests/a.yaml", GLOBS)
    assert is_request_path("requests/team/sub/a.yml", GLOBS)
    assert not is_request_path("requests/a.json", GLOBS)
    assert not is_request_path("docs/requests/a.yaml", GLOBS)
    assert not is_request_path("requestsX/a.yaml", GLOBS)
    assert is_request_path("teams/x/req.yaml", ("teams/*/*.yaml",))
    assert not is_request_path("teams/x/y/req.yaml", ("teams/*/*.yaml",))


def test_valid_file_becomes_a_draft() -> None:
    text = "apiVersion: pao/v1\nkind: ServiceRequest\ncatalogItem: db\ncatalogVersion: 1.2.0\nfields: {a: 1}\n"
    parsed = parse_request_file("requests/x.yaml", text)
    assert parsed.issues == []
    assert parsed.valid
    assert parsed.draft is not None
    assert (parsed.draft.catalog_item, parsed.draft.fields) == ("db", {"a": 1})
    assert parsed.draft.catalog_version == "1.2.0"
    assert parsed.draft.source == "github-pr"


def test_schema_problems_are_located() -> None:
    text = (
        "apiVersion: pao/v1\nkind: ServiceRequest\ncatalogItem: Not_Valid\nfields: {}\nextra: 1\n"
    )
    parsed = parse_request_file("requests/x.yaml", text)
    assert not parsed.valid
    assert parsed.draft is not None  # the item's own checks still run in the preview
    lines = sorted((i.line, i.pointer) for i in parsed.issues)
    assert lines == [(3, "/catalogItem"), (5, "/extra")]
    [first, second] = annotations_for(parsed.issues)
    assert first["start_line"] == 3
    assert first["annotation_level"] == "failure"
    assert second["path"] == "requests/x.yaml"


def test_yaml_errors_and_missing_keys() -> None:
    broken = parse_request_file("requests/x.yaml", "a: [1,\n")
    assert broken.draft is None
    assert broken.issues[0].code == "yaml-syntax"
    missing = parse_request_file("requests/x.yaml", "apiVersion: pao/v1\nkind: ServiceRequest\n")
    assert missing.draft is None
    assert any("catalogItem" in i.message for i in missing.issues)


def test_a_missing_field_is_annotated_at_fields() -> None:
    text = (
        "apiVersion: pao/v1\nkind: ServiceRequest\ncatalogItem: db\nfields:\n"
        "  size: medium\n  zone: a\n"
    )
    parsed = parse_request_file("requests/x.yaml", text)
    outcome = Validation(
        None,
        None,
        errors=[
            {"pointer": "/fields/instanceName", "field": "instanceName", "message": "required"},
            {"pointer": "/fields/size", "field": "size", "message": "bad size"},
        ],
    )
    located = {i.pointer: i.line for i in validation_issues(parsed, outcome)}
    assert located == {"/fields/instanceName": 4, "/fields/size": 5}  # `fields:`, `size:`


def test_the_preview_renders_every_request_value_and_sends_inputs_as_strings() -> None:
    item = CatalogItem.model_validate(
        item_document(
            [
                {
                    "id": "dispatch",
                    "type": "github-workflow",
                    "config": {
                        "repository": "acme/infra",
                        "workflow": "create.yml",
                        "ref": "main",
                        "inputs": {
                            "public": "{{fields.public}}",
                            "size": "{{fields.size}}",
                            "who": "{{request.user.name}} {{request.correlation_id}}",
                        },
                    },
                },
                {
                    "id": "ticket",
                    "type": "jira-ticket",
                    "config": {
                        "project": "OPS",
                        "summary": "{{request.title}} by {{request.user.name}}",
                        "description": "at {{request.timestamp}} ({{request.source}})",
                    },
                },
            ],
            fields=[
                {"id": "public", "name": "Public", "type": "boolean", "default": False},
                {"id": "size", "name": "Size", "type": "number", "default": 3},
            ],
        )
    )
    plan = action_plan(
        item,
        {"public": False, "size": 3},
        requester="octocat@users.noreply.github.com",
        login="octocat",
        source="github-issue",
    )
    assert [p.problem for p in plan] == [None, None]
    assert plan[0].rendered is not None
    assert plan[0].rendered["config"]["inputs"] == {
        "public": "false",
        "size": "3",
        "who": "octocat <correlation id>",
    }
    assert plan[1].rendered is not None
    assert plan[1].rendered["config"]["summary"] == "<title> by octocat"
