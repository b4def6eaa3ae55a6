"""Issue-form bodies back into fields through the item's generated form."""

from __future__ import annotations

from typing import Any

from bot.issue_forms import fields_from_body, item_id_of, parse_sections
from orchestrator.catalog.models import CatalogItem


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
    fields, unknown = fields_from_body(item(), BODY)
    assert fields["name"] == "orders"
    assert fields["size"] == "m"
    assert fields["zones"] == ["a", "c"]
    assert fields["public"] is True
    assert fields["ha"] is False
    assert fields["replicas"] == 3
    assert "### not a heading" in fields["notes"]
    assert "secret" not in fields  # not asked for in the form: a pasted secret is not taken
    assert unknown == ["Secret"]


def test_empty_answers_are_left_out() -> None:
    body = "### Name\n\n_No response_\n\n### Size\n\nNone\n\n### Public\n\n- [ ] Public\n"
    fields, _ = fields_from_body(item(), body)
    assert fields == {"public": False}


def test_sections_keep_code_blocks_whole() -> None:
    sections = parse_sections("intro\n### A\n\n~~~\n### B\n~~~\n### C\nc\r\n")
    assert sections == {"A": "~~~\n### B\n~~~", "C": "c"}


def test_item_comes_from_the_label_or_the_title() -> None:
    assert item_id_of({"pao-request", "catalog:db-small"}, "whatever") == "db-small"
    assert item_id_of({"pao-request"}, "[db-large] Orders") == "db-large"
    assert item_id_of({"pao-request"}, "Orders database") is None
