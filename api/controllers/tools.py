"""Platform-team tools: validate a catalog item, preview its form, test template variables."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, post

from api.problems import problem_responses
from orchestrator.catalog.validator import CatalogValidator
from orchestrator.forms import form_json


class CatalogItemSource(msgspec.Struct, forbid_unknown_fields=True):
    """A catalog item as YAML (or JSON) text, as it would be committed."""

    content: Annotated[str, msgspec.Meta(min_length=1, max_length=1_000_000)]
    path: Annotated[str, msgspec.Meta(max_length=500)] = "catalog-item.yaml"


def _validate(source: CatalogItemSource) -> tuple[dict[str, Any], Any]:
    report = CatalogValidator().validate_texts([(source.path, source.content)])
    body = report.to_dict()
    item = next(iter(report.items.values())).item if report.valid and report.items else None
    return body, item


class ToolsController(Controller):
    tags = ("platform tools",)

    @post(
        "/api/v1/validate/catalog-item",
        summary="Validate a catalog item",
        status_code=200,
        responses=problem_responses(413),
    )
    async def validate_item(self, data: CatalogItemSource) -> dict[str, Any]:
        body, _ = _validate(data)
        return body

    @post(
        "/api/v1/preview/form",
        summary="Preview the form of a catalog item",
        status_code=200,
        responses=problem_responses(413),
    )
    async def preview_form(self, data: CatalogItemSource) -> dict[str, Any]:
        body, item = _validate(data)
        if item is None:
            return {"valid": False, "issues": body["issues"], "form": None}
        return {"valid": True, "issues": body["issues"], "form": form_json(item)}
