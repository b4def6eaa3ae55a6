"""Platform-team tools: validate a catalog item, preview its form, test template variables."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, post
from litestar.datastructures import State

from api.auth import catalog_owners
from api.models import CatalogItemValidation, FormPreview, VariablesPreview, to_model
from api.problems import problem_responses
from orchestrator.catalog.governance import change_permission
from orchestrator.catalog.validator import CatalogValidator
from orchestrator.engine.dry_run import describe_plan, plan_refusals
from orchestrator.engine.executor import Registry
from orchestrator.errors import ValidationFailed
from orchestrator.forms import preview_form
from orchestrator.identity.principal import Principal
from orchestrator.services import Services
from orchestrator.templating.playground import preview_variables


class CatalogItemSource(msgspec.Struct, forbid_unknown_fields=True):
    """A catalog item as YAML (or JSON) text, as it would be committed."""

    content: Annotated[str, msgspec.Meta(min_length=1, max_length=1_000_000)]
    path: Annotated[str, msgspec.Meta(max_length=500)] = "catalog-item.yaml"


class VariablesTest(msgspec.Struct, forbid_unknown_fields=True):
    """Sample values to render templates with: an item from the catalog or given as text."""

    fields: dict[str, Any] = msgspec.field(default_factory=dict)
    catalog_item: str | None = None
    content: Annotated[str, msgspec.Meta(max_length=1_000_000)] | None = None
    templates: Any = None
    outputs: dict[str, dict[str, Any]] | None = None
    environment: dict[str, str] | None = None


class ToolsController(Controller):
    tags = ("platform tools",)
    guards = (catalog_owners,)

    @post(
        "/api/v1/validate/catalog-item",
        summary="Validate a catalog item",
        status_code=200,
        responses=problem_responses(413),
    )
    async def validate_item(
        self, services: Services, principal: Principal, data: CatalogItemSource
    ) -> CatalogItemValidation:
        result = CatalogValidator().validate_texts([(data.path, data.content)]).to_dict()
        result["permission"] = await change_permission(
            services.catalog_sync, services.settings.catalog, principal, data.path
        )
        return to_model(result, CatalogItemValidation)

    @post(
        "/api/v1/preview/form",
        summary="Preview the form of a catalog item",
        status_code=200,
        responses=problem_responses(413),
    )
    async def preview(self, data: CatalogItemSource) -> FormPreview:
        return to_model(preview_form(data.content, name=data.path), FormPreview)

    @post(
        "/api/v1/test/variables",
        summary="Render templates with sample values (secrets masked)",
        status_code=200,
        responses=problem_responses(404, 413, 422),
    )
    async def test_variables(
        self, services: Services, state: State, data: VariablesTest
    ) -> VariablesPreview:
        if (data.catalog_item is None) == (data.content is None):
            raise ValidationFailed(
                "give exactly one of catalog_item and content",
                [
                    {
                        "pointer": "/catalog_item",
                        "message": "name a catalog item, or send its YAML as content",
                    }
                ],
            )
        if data.content is not None:
            report = CatalogValidator().validate_texts([("catalog-item.yaml", data.content)])
            if not report.valid or not report.items:
                issues = [i.to_dict() for i in sorted(report.issues)]
                return to_model({"valid": False, "issues": issues}, VariablesPreview)
            item = next(iter(report.items.values())).item
        else:
            item, _ = await services.catalog.current(str(data.catalog_item))
        result = preview_variables(
            item, data.fields, data.templates, outputs=data.outputs, environment=data.environment
        )
        executors: Registry | None = state.get("executors")
        if data.templates is None and executors is not None:
            # What each action would send (dry run): the executors describe their calls.
            result["plan"] = describe_plan(executors, item, result["rendered"].get("actions", {}))
            result["refusals"] = plan_refusals(result["plan"])
        return to_model(result, VariablesPreview)
