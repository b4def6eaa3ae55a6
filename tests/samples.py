"""Sample inputs shared by tests and benchmarks: one valid request of the example catalog."""

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
