"""A request's revision for the gate: a digest of what people approve.

Approvals are for a content, not for a request id: when the fields (or the item version the
request resolves to) change, the digest changes and the decisions made on the old one stop
counting. The digest is over the stored fields (secrets are masked there), in canonical JSON,
so the API and the bot compute the same revision for the same content.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def request_revision(fields: Mapping[str, Any], *, catalog_item_version: str) -> str:
    """``sha256:<first 16 hex>`` of the fields and item version, key order ignored."""
    canonical = json.dumps(
        {"fields": fields, "version": catalog_item_version},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
