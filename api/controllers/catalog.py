from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Parameter
from litestar.response.base import ASGIResponse

from api.auth import admin_only, catalog_owners
from api.models import (
    FORM_DOCUMENT_EXAMPLE,
    CatalogItemDetail,
    CatalogPage,
    CatalogSyncResult,
    FormDocument,
    GitHubSyncReport,
    ValidationErrorList,
    to_model,
)
from api.problems import problem_responses
from orchestrator.catalog.service import SyncResult
from orchestrator.errors import NotAvailable
from orchestrator.form_document import form_document
from orchestrator.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, page
from orchestrator.services import Services

Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="page size (default 50, max 200)")]


class CatalogController(Controller):
    path = "/api/v1/catalog"
    tags = ("catalog",)

    @get("/", summary="List catalog items", responses=problem_responses(422))
    async def list_items(
        self,
        services: Services,
        category: str | None = None,
        owner: str | None = Parameter(default=None, description="owning team"),
        search: str | None = Parameter(default=None, max_length=100),
        cursor: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
        include_total: bool = False,
    ) -> CatalogPage:
        after = decode_cursor(cursor, "after")["after"] if cursor else None
        items, has_more, total = await services.catalog.list_page(
            category=category,
            owner=owner,
            search=search,
            after=str(after) if after is not None else None,
            limit=limit,
            with_total=include_total,
        )
        next_cursor = encode_cursor({"after": items[-1]["id"]}) if has_more and items else None
        return to_model(page(items, next_cursor, total, limit), CatalogPage)

    @get(
        "/items/{item_id:str}",
        summary="A catalog item with its full definition",
        responses={
            200: ResponseSpec(CatalogItemDetail, description="The catalog item"),
            **problem_responses(404),
        },
    )
    async def get_item(self, request: Request[Any, Any, Any], item_id: str) -> ASGIResponse:
        # the hottest read: the services come straight from app state (resolving the
        # `services` dependency costs more than the cached lookup), and the cached document's
        # bytes go out as a ready ASGI response (no Response-to-ASGI conversion); the tests
        # check those bytes against `CatalogItemDetail`
        services: Services = request.app.state.services
        body = await services.catalog.item_json(item_id)
        return ASGIResponse(body=body, media_type="application/json")

    @get(
        "/items/{item_id:str}/schema",
        summary="The item's dynamic form, and the JSON Schema of its request fields",
        description="What a portal renders the request form from: groups of fields with their "
        "component, rules and options, the endpoint that validates a filled form, and "
        "`jsonSchema` (2020-12) of the request's `fields` for clients that check locally.",
        responses={
            200: ResponseSpec(
                FormDocument,
                description="The form document",
                examples=[Example(summary="PostgreSQL database", value=FORM_DOCUMENT_EXAMPLE)],
            ),
            **problem_responses(404),
        },
    )
    async def get_item_schema(self, services: Services, item_id: str) -> FormDocument:
        item, _ = await services.catalog.current(item_id)
        return to_model(form_document(item), FormDocument)

    @post(
        "/refresh",
        summary="Sync the catalog now",
        status_code=200,
        guards=[admin_only],
        responses=problem_responses(501),
    )
    async def refresh(self, services: Services) -> GitHubSyncReport | CatalogSyncResult:
        """A GitHub catalog answers its sync report; a local directory, what its sync stored."""
        if services.catalog_sync is not None:  # GitHub: a full read, not a conditional poll
            report = await services.catalog_sync.sync(force=True)
            return to_model(report.to_dict(), GitHubSyncReport)
        local = services.settings.catalog.local_path
        if local is None:
            raise NotAvailable("no catalog source is configured")
        result: SyncResult = await services.catalog.sync_directory(local)
        return to_model(result.to_dict(), CatalogSyncResult)

    @get(
        "/validation-errors",
        summary="Problems found in the catalog by the last sync",
        guards=[catalog_owners],
        responses=problem_responses(),
    )
    async def validation_errors(self, services: Services) -> ValidationErrorList:
        errors = await services.catalog.validation_errors()
        return to_model({"items": errors, "count": len(errors)}, ValidationErrorList)
