"""The revision a decision is made on: it changes with the content, so edits reset approvals."""

from __future__ import annotations

from orchestrator.approvals.revision import request_revision


def test_the_revision_changes_with_the_content_and_not_with_key_order() -> None:
    a = request_revision({"zone": "example.com", "ttl": 300}, catalog_item_version="1.2.0")
    same = request_revision({"ttl": 300, "zone": "example.com"}, catalog_item_version="1.2.0")
    edited = request_revision({"zone": "example.io", "ttl": 300}, catalog_item_version="1.2.0")
    upgraded = request_revision({"zone": "example.com", "ttl": 300}, catalog_item_version="1.3.0")
    assert a == same
    assert len({a, edited, upgraded}) == 3
    assert a.startswith("sha256:")
