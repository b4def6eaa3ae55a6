"""The form preview for catalog authors (``POST /api/v1/preview/form``): an item's YAML in,
its form JSON and schema (or the validator's located issues) out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from orchestrator.forms.json_schema import build_schema
from orchestrator.forms.portal_form import form_json


def preview_form(
    source: str | Mapping[str, Any], *, name: str = "catalog-item.yaml"
) -> dict[str, Any]:
    """What ``POST /api/v1/preview/form`` answers: the form JSON, or the located errors.

    ``source`` is the item as YAML text or as already-parsed data. The answer is
    ``{"valid", "issues", "form", "schema"}``; ``issues`` use the validator's shape
    (file, line, column, code, message, pointer, severity).
    """
    from orchestrator.catalog.validator import CatalogValidator

    text = source if isinstance(source, str) else json.dumps(source, default=str)
    report = CatalogValidator().validate_texts([(name, text)])
    issues = [issue.to_dict() for issue in sorted(report.issues)]
    items = [entry.item for entry in report.items.values()]
    if not report.valid or not items:
        if not items and report.valid:
            issues.append(
                {
                    "file": name,
                    "line": 1,
                    "column": 1,
                    "code": "not-a-catalog-item",
                    "message": "the document is not a catalog item (kind: CatalogItem)",
                    "pointer": "/kind",
                    "severity": "error",
                }
            )
        return {"valid": False, "issues": issues, "form": None, "schema": None}
    item = items[0]
    return {
        "valid": True,
        "issues": issues,
        "form": form_json(item),
        "schema": build_schema(item, python=False),
    }
