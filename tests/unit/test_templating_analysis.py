"""Static analysis: references checked against the item, dependency graph, cycles, forward refs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.catalog.models import CatalogItem
from orchestrator.catalog.validator import CatalogValidator
from orchestrator.templating.analysis import (
    TemplateAnalysisError,
    action_dependencies,
    check_templates,
    execution_order,
    find_cycle,
    template_sites,
)
from tests.unit.test_templating_engine import example_catalog, example_item


def item_document(
    actions: list[dict[str, Any]],
    fields: list[dict[str, Any]] | None = None,
    manual: dict[str, Any] | None = None,
) -> dict[str, Any]:
    fulfillment: dict[str, Any] = {"actions": actions}
    if manual is not None:
        fulfillment["manual"] = manual
    return {
        "apiVersion": "pao/v1",
        "kind": "CatalogItem",
        "metadata": {
            "id": "test-item",
            "name": "Test item",
            "description": "An item for tests.",
            "version": "1.0.0",
            "category": "testing",
            "owner": {"team": "platform", "contact": "platform@example.com"},
        },
        "presentation": {
            "form": {
                "groups": [
                    {
                        "id": "main",
                        "name": "Main",
                        "fields": fields
                        or [
                            {"id": "instanceName", "name": "Instance", "type": "string"},
                            {"id": "size", "name": "Size", "type": "select", "enum": ["s", "m"]},
                        ],
                    }
                ]
            }
        },
        "fulfillment": fulfillment,
    }


def make_item(actions: list[dict[str, Any]], **kwargs: Any) -> CatalogItem:
    return CatalogItem.model_validate(item_document(actions, **kwargs))


def rest(action_id: str, url: str, **config: Any) -> dict[str, Any]:
    return {"id": action_id, "type": "rest-api", "config": {"url": url, **config}}


def jira(action_id: str, summary: str) -> dict[str, Any]:
    return {
        "id": action_id,
        "type": "jira-ticket",
        "config": {"instance": "platform", "project": "PLAT", "summary": summary},
    }


def test_example_items_have_no_template_problems() -> None:
    for entry in example_catalog().items.values():
        assert check_templates(entry.item) == [], entry.item.id


def test_dependencies_and_order_of_an_example_chain() -> None:
    item = example_item("kafka-topic")
    assert action_dependencies(item) == {
        "create_topic": set(),
        "grant_acls": {"create_topic"},
        "register_schema": {"create_topic"},
    }
    assert execution_order(item) == ["create_topic", "grant_acls", "register_schema"]


def test_template_sites_cover_config_name_cleanup_and_manual() -> None:
    item = example_item("database-postgresql-standard")
    pointers = {site.pointer for site in template_sites(item)}
    assert "/fulfillment/actions/0/config/workspace" in pointers
    assert "/fulfillment/actions/0/config/variables/tags/owner-email" in pointers
    assert "/fulfillment/actions/0/cleanup/instructions" in pointers
    assert "/fulfillment/manual/jira/summary" in pointers
    manual = [s for s in template_sites(item) if s.pointer.startswith("/fulfillment/manual")]
    assert all(site.action_id is None for site in manual)


def test_forward_reference_is_rejected_with_location() -> None:
    item = make_item(
        [
            rest("notify", "https://x/{{outputs.ticket.key}}"),
            jira("ticket", "for {{fields.instanceName}}"),
        ]
    )
    with pytest.raises(TemplateAnalysisError) as caught:
        execution_order(item)
    [problem] = caught.value.problems
    assert problem.code == "forward-reference"
    assert problem.action_id == "notify"
    assert problem.pointer == "/fulfillment/actions/0/config/url"
    assert problem.path == "outputs.ticket.key"
    assert "runs after 'notify'" in problem.message


def test_cycle_is_rejected_naming_the_loop() -> None:
    item = make_item(
        [
            rest("first", "https://x/{{outputs.second.status_code}}"),
            rest("second", "https://x/{{outputs.first.status_code}}"),
        ]
    )
    assert find_cycle(action_dependencies(item)) == ["first", "second", "first"]
    with pytest.raises(TemplateAnalysisError) as caught:
        execution_order(item)
    codes = {p.code for p in caught.value.problems}
    assert codes == {"cyclic-reference"}
    assert "first -> second -> first" in caught.value.problems[0].message


def test_an_action_reading_its_own_outputs_is_a_cycle() -> None:
    item = make_item([jira("ticket", "Follow-up of {{outputs.ticket.key}}")])
    [problem] = check_templates(item)
    assert problem.code == "cyclic-reference"
    assert "ticket -> ticket" in problem.message


def test_cleanup_may_read_its_own_actions_outputs() -> None:
    """Cleanup instructions render after the action completed, when its outputs exist."""
    action = jira("ticket", "x")
    action["cleanup"] = {"instructions": "Close {{outputs.ticket.key}}"}
    item = make_item([action])
    assert check_templates(item) == []
    assert execution_order(item) == ["ticket"]
    action["cleanup"] = {"instructions": "Close {{outputs.ticket.nope}}"}
    [problem] = check_templates(make_item([action]))
    assert problem.code == "unknown-output"


@pytest.mark.parametrize(
    ("template", "code", "suggestion"),
    [
        ("{{fields.instanceNme}}", "unknown-reference", "fields.instanceName"),
        ("{{metadata.owner.teem}}", "unknown-reference", "metadata.owner.team"),
        ("{{request.user.emial}}", "unknown-reference", "request.user.email"),
        ("{{system.hostnme}}", "unknown-reference", "system.hostname"),
        ("{{outputs.tiket.key}}", "unknown-reference", "outputs.ticket"),
        ("{{outputs.ticket.keys}}", "unknown-output", "outputs.ticket.key"),
        ("{{outputs.call.inventoryId}}", "unknown-output", "outputs.call.inventory_id"),
        ("{{environment.INVENTRY_URL}}", "unknown-reference", "environment.INVENTORY_URL"),
        ("{{#if fields.instanceName}}", "template-syntax", None),
        ("{{fields.instanceName.__class__}}", "template-syntax", None),
    ],
)
def test_unresolvable_references_are_located_with_a_guess(
    template: str, code: str, suggestion: str | None
) -> None:
    item = make_item(
        [
            jira("ticket", "x"),
            rest("call", "https://x", outputs={"inventory_id": "id"}),
            rest("use", "https://x", body={"value": template}),
        ]
    )
    [problem] = check_templates(item, environment_names=["INVENTORY_URL"])
    assert problem.code == code
    assert problem.pointer == "/fulfillment/actions/2/config/body/value"
    assert problem.action_id == "use"
    assert problem.suggestion == suggestion
    if suggestion:
        assert f"(did you mean '{suggestion}'?)" in problem.message


def test_declared_rest_outputs_and_any_terraform_output_are_known() -> None:
    item = make_item(
        [
            {"id": "tf", "type": "terraform", "config": {"workspace": "w"}},
            rest("call", "https://x", outputs={"inventory_id": "id"}),
            rest("use", "{{outputs.tf.anything}}/{{outputs.call.inventory_id}}"),
        ]
    )
    assert check_templates(item) == []
    assert execution_order(item) == ["tf", "call", "use"]


def test_outputs_are_not_available_to_the_manual_fallback() -> None:
    item = make_item(
        [jira("ticket", "x")],
        manual={
            "jira": {"instance": "platform", "project": "PLAT", "issueType": "Task"},
            "instructions": "see {{outputs.ticket.key}}",
        },
    )
    [problem] = check_templates(item)
    assert problem.code == "unknown-reference"
    assert problem.pointer == "/fulfillment/manual/instructions"
    assert problem.action_id is None


def test_same_verdicts_as_the_catalog_validator() -> None:
    """The engine's analysis and `pao catalog validate` agree on codes and pointers."""
    document = item_document(
        [
            rest("a", "https://x/{{outputs.b.status_code}}/{{fields.instanceNme}}"),
            rest("b", "https://x/{{outputs.a.status_code}}"),
            jira("c", "{{outputs.a.nope}} {{request.user.emial}} {{outputs.d.key}}"),
            jira("d", "{{metadata.idd}}"),
        ]
    )
    report = CatalogValidator().validate_texts([("item.yaml", json.dumps(document))])
    from_validator = sorted((i.code, i.pointer) for i in report.issues)
    problems = check_templates(make_item(document["fulfillment"]["actions"]))
    from_analysis = sorted((p.code, p.pointer) for p in problems)
    assert from_validator == from_analysis
    # a -> b is the cycle (b reading a, which runs first, is fine); c reads d ahead of time.
    assert [code for code, _ in from_analysis].count("cyclic-reference") == 1
    assert len(from_analysis) == 6
