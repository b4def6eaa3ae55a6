"""Catalog validation refuses jira-ticket labels JIRA would refuse (spaces), with the line."""

from __future__ import annotations

from pathlib import Path

import yaml

from orchestrator.catalog.validator import check_document

ITEM = (
    Path(__file__).resolve().parents[2]
    / "examples/catalog/databases/database-postgresql-standard.yaml"
)


def with_ticket(labels: list[str]) -> str:
    data = yaml.safe_load(ITEM.read_text())
    data["fulfillment"]["actions"].append(
        {
            "id": "ticket",
            "type": "jira-ticket",
            "config": {
                "instance": "platform",
                "project": "DBA",
                "summary": "Database {{fields.instanceName}}",
                "labels": labels,
            },
        }
    )
    return yaml.safe_dump(data, sort_keys=False)


def test_label_with_a_space_is_refused_where_it_is() -> None:
    text = with_ticket(["pao", "team payments"])
    result = check_document("item.yaml", text)

    (issue,) = [i for i in result.issues if i.code == "jira-label-space"]
    index = len(yaml.safe_load(text)["fulfillment"]["actions"]) - 1
    assert issue.pointer == f"/fulfillment/actions/{index}/config/labels/1"
    assert issue.line == next(
        n for n, line in enumerate(text.splitlines(), 1) if "team payments" in line
    )
    assert "contains a space" in issue.message


def test_template_labels_are_checked_outside_their_expressions() -> None:
    ok = check_document("item.yaml", with_ticket(["db-{{ fields.instanceName }}", "pao"]))
    assert not [i for i in ok.issues if i.code == "jira-label-space"]
    bad = check_document("item.yaml", with_ticket(["db {{fields.instanceName}}"]))
    assert [i for i in bad.issues if i.code == "jira-label-space"]
