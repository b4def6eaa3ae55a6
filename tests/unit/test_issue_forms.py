"""The one issue-form parser: bodies back into fields through the item's generated form."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.catalog.models import CatalogItem
from orchestrator.forms import catalog_label
from orchestrator.issue_forms import item_id_of, parse_issue_form, parse_number, sections


def item(**extra: Any) -> CatalogItem:
    fields = [
        {"id": "name", "name": "Name", "type": "string", "required": True},
        {
            "id": "size",
            "name": "Size",
            "type": "select",
            "enum": ["s", "m"],
            "enumLabels": {"s": "Small", "m": "Medium, 4 vCPU"},
        },
        {
            "id": "zones",
            "name": "Zones",
            "type": "multiselect",
            "enum": ["a", "b", "c"],
            "enumLabels": {"a": "Zone A, primary", "b": "Zone B", "c": "Zone C"},
        },
        {"id": "public", "name": "Public", "type": "boolean"},
        {"id": "ha", "name": "High availability", "type": "boolean", "default": True},
        {"id": "replicas", "name": "Replicas", "type": "number"},
        {"id": "notes", "name": "Notes", "type": "textarea"},
        {"id": "secret", "name": "Secret", "type": "password"},
    ]
    return CatalogItem.model_validate(
        {
            "apiVersion": "pao/v1",
            "kind": "CatalogItem",
            "metadata": {
                "id": "thing", "name": "Thing", "description": "d", "version": "1.0.0",
                "category": "c", "owner": {"team": "t", "contact": "t@example.com"},
            },
            "presentation": {"form": {"groups": [{"id": "g", "name": "G", "fields": fields}]}},
            "fulfillment": {"actions": []},
            **extra,
        }
    )  # fmt: skip


BODY = """### Name

orders

### Size

Medium, 4 vCPU

### Zones

Zone A, primary, Zone C

### Public

- [X] Public

### High availability

No

### Replicas

3

### Notes

Run this:

```sh
### not a heading
make db
```

### Secret

hunter2
"""


def test_answers_map_back_to_field_ids() -> None:
    parsed = parse_issue_form(item(), BODY)
    fields = parsed.fields
    assert fields["name"] == "orders"
    assert fields["size"] == "m"
    assert fields["zones"] == ["a", "c"]
    assert fields["public"] is True
    assert fields["ha"] is False
    assert fields["replicas"] == 3
    assert "### not a heading" in fields["notes"]
    assert "secret" not in fields  # not asked for in the form: a pasted secret is not taken
    assert parsed.missing == []


def test_empty_answers_are_left_out() -> None:
    body = "### Name\n\n_No response_\n\n### Size\n\nNone\n\n### Public\n\n- [ ] Public\n"
    parsed = parse_issue_form(item(), body)
    assert parsed.fields == {"public": False}
    assert parsed.missing == ["Zones", "High availability", "Replicas", "Notes"]


def test_none_is_an_answer_for_a_text_input() -> None:
    assert parse_issue_form(item(), "### Name\n\nNone\n").fields == {"name": "None"}


def test_a_heading_line_in_an_answer_neither_cuts_it_nor_overwrites_an_earlier_answer() -> None:
    body = (
        "### Name\n\norders\n\n### Replicas\n\n2\n\n### Notes\n\nfirst\n\n### Name\n\n"
        "evil\n\n### Unknown\n\nlast line"
    )
    parsed = parse_issue_form(item(), body)
    assert parsed.fields["name"] == "orders"
    assert parsed.fields["replicas"] == 2
    assert parsed.fields["notes"] == "first\n\n### Name\n\nevil\n\n### Unknown\n\nlast line"


def test_inline_and_unclosed_fences_do_not_swallow_later_answers() -> None:
    body = (
        "### Name\n\nuse ``` and ~~~ inline\n\n### Replicas\n\n_No response_\n\n"
        "### Notes\n\n```\nunclosed\n### Replicas\n\n7"
    )
    parsed = parse_issue_form(item(), body)
    assert parsed.fields == {
        "name": "use ``` and ~~~ inline",
        "notes": "```\nunclosed\n### Replicas\n\n7",
    }


def two_textareas() -> CatalogItem:
    doc = item().model_dump(by_alias=True, exclude_none=True)
    doc["presentation"]["form"]["groups"][0]["fields"] = [
        {"id": "first", "name": "First", "type": "textarea"},
        {"id": "second", "name": "Second", "type": "textarea"},
    ]
    return CatalogItem.model_validate(doc)


def test_a_fenced_heading_of_the_next_question_is_part_of_the_answer() -> None:
    body = "### First\r\n\r\n~~~\r\n### Second\r\n~~~\r\n\r\n### Second\r\n\r\nc\r\n"
    answers, missing = sections(two_textareas(), body)
    assert answers == {"first": "~~~\n### Second\n~~~", "second": "c"}
    assert missing == []


def test_an_unfenced_heading_of_the_next_question_is_read_as_that_question() -> None:
    """The one ambiguity GitHub's rendering leaves: documented, and resolved the same way."""
    body = "### First\n\na\n\n### Second\n\nb\n\n### Second\n\nc"
    answers, _ = sections(two_textareas(), body)
    assert answers == {"first": "a", "second": "b\n\n### Second\n\nc"}


def test_an_edited_body_with_a_typo_still_finds_every_question() -> None:
    parsed = parse_issue_form(item(), "### Name\rorders\r### Size\r\nSmall\u2028x")
    assert parsed.fields == {"name": "orders", "size": "Small\u2028x"}  # validation says why


def test_labels_are_compared_trimmed() -> None:
    spaced = item()
    doc = spaced.model_dump(by_alias=True, exclude_none=True)
    doc["presentation"]["form"]["groups"][0]["fields"][0]["name"] = " Name "
    spaced = CatalogItem.model_validate(doc)
    assert parse_issue_form(spaced, "###  Name \n\norders\n").fields == {"name": "orders"}
    assert parse_issue_form(spaced, "### Name\n\norders\n").fields == {"name": "orders"}


@pytest.mark.parametrize(
    ("text", "number"),
    [("3", 3), ("-0.5", -0.5), ("1e3", 1000.0), (" 12 ", 12), ("nan", None), ("inf", None),
     ("-Infinity", None), ("1e999", None), ("1_000", None), ("0x10", None), ("", None)],
)  # fmt: skip
def test_numbers_are_finite_decimals_only(text: str, number: float | None) -> None:
    assert parse_number(text) == number


def test_a_number_that_is_not_one_stays_text_for_validation_to_report() -> None:
    assert parse_issue_form(item(), "### Replicas\n\nNaN\n").fields == {"replicas": "NaN"}


def test_item_comes_from_the_label_or_the_title() -> None:
    assert item_id_of({"pao-request", "catalog:db-small"}, "whatever") == "db-small"
    assert item_id_of({"pao-request"}, "[db-large] Orders") == "db-large"
    assert item_id_of({"pao-request"}, "Orders database") is None


def test_long_item_ids_get_a_short_deterministic_label_that_still_names_the_item() -> None:
    long_id = "database-postgresql-high-availability-cluster-with-replicas"
    label = catalog_label(long_id)
    assert len(label) == 50
    assert label == catalog_label(long_id)  # the same everywhere, every time
    assert label != catalog_label(long_id + "-2")
    assert label.startswith("catalog:database-postgresql-high-avail")
    assert catalog_label("db-small") == "catalog:db-small"
    assert item_id_of({"pao-request", label}, f"[{long_id}] Orders") == long_id
    assert item_id_of({"pao-request", label}, "[other-item] Orders") is None


def test_a_body_of_look_alike_headings_is_read_without_exploding() -> None:
    """65,536 characters of ``### `` lines of every question: the search is bounded."""
    labels = ["Name", "Size", "Zones", "Public", "High availability", "Replicas", "Notes"]
    noise = "".join(f"### {labels[i % len(labels)]}\n\nx\n\n" for i in range(4000))[:65_000]
    parsed = parse_issue_form(item(), "### Name\n\norders\n\n### Notes\n\n" + noise)
    assert parsed.fields["name"].startswith("orders")  # some reading, found in bounded time
