"""Opaque cursors: base64url-encoded JSON of the last row's sort key. Clients never parse them."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from orchestrator.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str, *keys: str) -> dict[str, Any]:
    """The position in ``token``; a located 422 when it is not a cursor of this list."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(data, dict) or any(k not in data for k in keys):
            raise ValueError("missing keys")
        return data
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed(
            "invalid cursor",
            [
                {
                    "pointer": "/cursor",
                    "message": "not a cursor returned by this list; start again without it",
                }
            ],
        ) from None


def page(
    items: list[Any], next_cursor: str | None, total: int | None, limit: int
) -> dict[str, Any]:
    """The spec's page envelope."""
    body: dict[str, Any] = {
        "items": items,
        "pagination": {
            "limit": limit,
            "has_more": next_cursor is not None,
            "next_cursor": next_cursor,
        },
    }
    if total is not None:
        body["pagination"]["total_count"] = total
    return body
