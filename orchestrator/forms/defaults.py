"""Defaults: what a request's fields are once the defaults of shown fields fill the gaps.

Done before validation and templating, so every surface sees the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.catalog.models import CatalogItem
from orchestrator.forms.conditions import visibility


def apply_defaults(item: CatalogItem, fields: Any) -> Any:
    """``fields`` plus the default of every shown field it leaves out (hidden fields stay out)."""
    if not isinstance(fields, Mapping):
        return fields
    out = dict(fields)
    shown = visibility(item, out)
    for spec in item.fields():
        if spec.id not in out and spec.default is not None and shown[spec.id]:
            out[spec.id] = list(spec.default) if isinstance(spec.default, list) else spec.default
    return out
