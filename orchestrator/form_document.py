"""The spec's dynamic form schema: the document a portal renders a catalog item's form from.

Shaped as the spec's example (``catalogItemId``, ``form.groups[].fields[]`` with ``component``,
``required``, ``validation``, ``placeholder``, options, and a ``validation`` block naming the
endpoint that checks a filled form), with the item's request JSON Schema beside it
(``jsonSchema``) for clients that validate locally. Built from ``orchestrator.forms``, so the
form JSON, the JSON Schema and the issue form cannot disagree.
"""

from __future__ import annotations

from typing import Any

from orchestrator.catalog.models import CatalogItem
from orchestrator.forms import field_json, request_json_schema

VALIDATE_ENDPOINT = "/api/v1/validate/request"


def form_document(item: CatalogItem) -> dict[str, Any]:
    """The form document of ``item`` (the body of ``GET /api/v1/catalog/items/{id}/schema``)."""
    meta = item.metadata
    groups = item.presentation.form.groups if item.presentation.form else ()
    document: dict[str, Any] = {
        "catalogItemId": meta.id,
        "version": meta.version,
        "name": meta.name,
        "description": meta.description,
        "form": {
            "groups": [
                {
                    "id": group.id,
                    "name": group.name,
                    **({"description": group.description} if group.description else {}),
                    "fields": [field_json(spec) for spec in group.fields],
                }
                for group in groups
            ]
        },
        "validation": {"endpoint": VALIDATE_ENDPOINT, "method": "POST"},
        "jsonSchema": request_json_schema(item),
    }
    if item.presentation.intro:
        document["intro"] = item.presentation.intro
    return document
