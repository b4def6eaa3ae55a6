"""Sample inputs shared by the tests and the benchmarks: one valid request of the example
catalog, and a minimal valid catalog item built in code.

They live in the rehearsal package (which both tests/ and bench/ may import) so that bench/
stands alone, without importing tests/.
"""

from __future__ import annotations

from typing import Any

ITEM = "database-postgresql-standard"
FIELDS: dict[str, Any] = {
    "instanceName": "orders-db",
    "environment": "prod",
    "size": "medium",
    "storageGb": 200,
    "backupRetentionDays": 14,
    "multiAz": True,
    "credentialMode": "generated",
}


def item_document(
    item_id: str,
    actions: list[dict[str, Any]],
    *,
    fields: list[dict[str, Any]] | None = None,
    manual: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A minimal valid catalog item with one form group (``instanceName`` by default)."""
    fulfillment: dict[str, Any] = {"actions": actions}
    if manual is not None:
        fulfillment["manual"] = manual
    return {
        "apiVersion": "pao/v1",
        "kind": "CatalogItem",
        "metadata": {
            "id": item_id,
            "name": f"Test item {item_id}",
            "description": "An item built by an engine test.",
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
                        or [{"id": "instanceName", "name": "Instance", "type": "string"}],
                    }
                ]
            }
        },
        "fulfillment": fulfillment,
        "lifecycle": {"status": "active"},
    }
