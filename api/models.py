"""The API's named request and response models (msgspec Structs), and the OpenAPI refinements
Litestar's generator leaves out: a model's docstring as its description, ``additionalProperties:
false`` where unknown fields are refused, and deprecated aliases.

Responses are converted from the core's views with ``msgspec.convert``: a view that drifts from
its documented model fails loudly in the tests instead of silently breaking generated clients.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from litestar.openapi.spec import OpenAPI, Schema

from orchestrator.requests.service import RequestDraft

T = TypeVar("T")

ItemId = Annotated[
    str,
    msgspec.Meta(
        pattern="^[a-z0-9]+(-[a-z0-9]+)*$",
        max_length=63,
        description="`metadata.id` of the catalog item",
        examples=["database-postgresql-standard"],
    ),
]
SemVer = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?"
        r"(\+[0-9A-Za-z.-]+)?$",
        description="the item version the request was written against (a different current "
        "version is a warning)",
        examples=["1.4.0"],
    ),
]
Title = Annotated[str, msgspec.Meta(max_length=200, examples=["Orders database for checkout"])]
Justification = Annotated[
    str, msgspec.Meta(max_length=4000, examples=["The checkout service needs its own database."])
]
Fields = Annotated[
    dict[str, Any],
    msgspec.Meta(
        description="field id to value, per the item's form: each item has its own rules, "
        "published as `jsonSchema` in `GET /api/v1/catalog/items/{id}/schema`",
        examples=[{"instanceName": "orders-db", "size": "medium", "enableEncryption": False}],
    ),
]
Timestamp = Annotated[str, msgspec.Meta(examples=["2026-12-07T18:20:00.123456+00:00"])]
RequestId = Annotated[str, msgspec.Meta(examples=["5b0c8f9e-6d0a-4f5e-9a43-2f1d8c7b6a10"])]
Status = Annotated[
    Literal[
        "submitted",
        "validating",
        "awaiting_secret",
        "queued",
        "in_progress",
        "completed",
        "failed",
        "aborted",
        "escalated",
    ],
    msgspec.Meta(examples=["in_progress"]),
]
DEPRECATED_ALIASES: dict[str, str] = {
    "catalog_item": "catalogItem",
    "catalog_version": "catalogVersion",
}


class NewRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, rename="camel"):
    """A service request: the JSON form of a request file (`requests/**.yaml`), whose
    `apiVersion` and `kind` may be sent as they are. `catalog_item` and `catalog_version`
    (snake_case) are the previous spelling, accepted for one release with a `Deprecation`
    header on the response."""

    catalog_item: ItemId | None = None
    fields: Fields = msgspec.field(default_factory=dict)
    title: Title | None = None
    justification: Justification | None = None
    catalog_version: SemVer | None = None
    api_version: Literal["pao/v1"] | None = None
    kind: Literal["ServiceRequest"] | None = None
    legacy_catalog_item: ItemId | None = msgspec.field(default=None, name="catalog_item")
    legacy_catalog_version: SemVer | None = msgspec.field(default=None, name="catalog_version")

    def __post_init__(self) -> None:
        if self.catalog_item is None and self.legacy_catalog_item is None:
            raise ValueError("Object missing required field `catalogItem`")
        if self.catalog_item is not None and self.legacy_catalog_item is not None:
            raise ValueError("give `catalogItem` alone (`catalog_item` is its old spelling)")
        if self.catalog_version is not None and self.legacy_catalog_version is not None:
            raise ValueError("give `catalogVersion` alone (`catalog_version` is its old spelling)")

    @property
    def uses_old_spelling(self) -> bool:
        return self.legacy_catalog_item is not None or self.legacy_catalog_version is not None

    def draft(self, source: str = "api") -> RequestDraft:
        item = self.catalog_item or self.legacy_catalog_item
        assert item is not None  # __post_init__
        return RequestDraft(
            catalog_item=item,
            fields=self.fields,
            title=self.title,
            justification=self.justification,
            source=source,
            catalog_version=self.catalog_version or self.legacy_catalog_version,
        )


class Decision(msgspec.Struct, forbid_unknown_fields=True):
    """Why an operator aborts or escalates (kept in the audit trail)."""

    reason: Annotated[
        str,
        msgspec.Meta(min_length=1, max_length=2000, examples=["the team no longer needs it"]),
    ] = "no reason given"


class FieldError(msgspec.Struct, omit_defaults=True):
    """One broken rule, located by JSON pointer into the request."""

    pointer: Annotated[str, msgspec.Meta(examples=["/fields/instanceName"])]
    message: Annotated[str, msgspec.Meta(examples=["3-30 chars, lowercase"])]
    code: str | None = None
    field: str | None = None


class ValidationResult(msgspec.Struct):
    """Whether a request would be accepted, without submitting it."""

    valid: bool
    errors: list[dict[str, Any]]
    warnings: list[str]
    catalog_item_version: Annotated[str | None, msgspec.Meta(examples=["1.4.0"])]


class Requester(msgspec.Struct):
    """Who asked."""

    email: Annotated[str, msgspec.Meta(examples=["alice@example.com"])]
    teams: Annotated[list[str], msgspec.Meta(examples=[["payments"]])]


class ActionView(msgspec.Struct):
    """One fulfillment action of a request."""

    id: Annotated[str, msgspec.Meta(examples=["provision"])]
    type: Annotated[str, msgspec.Meta(examples=["terraform"])]
    position: int
    status: Annotated[
        Literal["pending", "in_progress", "completed", "failed", "retrying", "cancelled"],
        msgspec.Meta(examples=["completed"]),
    ]
    attempts: int
    max_attempts: int
    outputs: dict[str, Any] | None
    external_ref: str | None
    external_url: str | None
    error: str | dict[str, Any] | None
    started_at: Timestamp | None
    completed_at: Timestamp | None


class EscalationView(msgspec.Struct):
    """The escalation of a request: its ticket, or why there is none yet."""

    request_id: RequestId
    request_status: Status
    state: Annotated[
        Literal["pending", "created", "failed", "not_configured", "cancelled"],
        msgspec.Meta(examples=["created"]),
    ]
    summary: Annotated[str, msgspec.Meta(examples=["ticket created: DBA-42"])]
    ticket: Annotated[str | None, msgspec.Meta(examples=["DBA-42"])]
    url: str | None
    escalated_at: Timestamp | None
    attempts: int
    last_error: str | None
    next_attempt_at: Timestamp | None


class RequestSummary(msgspec.Struct, kw_only=True):
    """A request as lists show it."""

    id: RequestId
    catalog_item: ItemId
    catalog_item_version: Annotated[str, msgspec.Meta(examples=["1.4.0"])]
    status: Status
    title: Title | None
    requester: Requester
    source: Annotated[str, msgspec.Meta(examples=["api"])]
    correlation_id: Annotated[str, msgspec.Meta(examples=["3f2c9a7e-1b4d-4c8e-9f0a-6d5e4c3b2a19"])]
    created_at: Timestamp
    updated_at: Timestamp
    completed_at: Timestamp | None


class RequestView(RequestSummary, kw_only=True):
    """A request with its fields (secrets masked as `****`) and, when read by id, its actions."""

    fields: Fields
    justification: Justification | None
    error_context: dict[str, Any] | None
    abort_reason: str | None
    escalation_ticket: str | None
    escalation: EscalationView | None
    actions: list[ActionView] | None = None


class Pagination(msgspec.Struct, omit_defaults=True):
    """Where a page stands: pass `next_cursor` as `cursor` for the next one."""

    limit: Annotated[int, msgspec.Meta(examples=[50])]
    has_more: bool
    next_cursor: Annotated[str | None, msgspec.Meta(examples=["eyJhZnRlciI6NDJ9"])]
    total_count: int | None = None


class RequestPage(msgspec.Struct):
    """A page of requests, newest first."""

    items: list[RequestSummary]
    pagination: Pagination


class Progress(msgspec.Struct):
    completed_actions: int
    total_actions: int


class ActionStatus(msgspec.Struct):
    id: Annotated[str, msgspec.Meta(examples=["provision"])]
    status: Annotated[str, msgspec.Meta(examples=["completed"])]


class RequestStatus(msgspec.Struct):
    """Where a request stands: its state, progress and current action."""

    id: RequestId
    status: Status
    progress: Progress
    current_action: Annotated[str | None, msgspec.Meta(examples=["notify"])]
    actions: list[ActionStatus]
    updated_at: Timestamp


class LogEntry(msgspec.Struct):
    """One step event of a request."""

    id: Annotated[int, msgspec.Meta(examples=[42])]
    action_id: Annotated[str | None, msgspec.Meta(examples=["provision"])]
    level: Literal["debug", "info", "warning", "error"]
    event: Annotated[str, msgspec.Meta(examples=["action.completed"])]
    message: Annotated[str, msgspec.Meta(examples=["terraform run applied"])]
    details: dict[str, Any]
    correlation_id: str | None
    created_at: Timestamp


class LogPage(msgspec.Struct):
    """A page of a request's step events, oldest first."""

    items: list[LogEntry]
    pagination: Pagination


class FieldRules(msgspec.Struct, omit_defaults=True, rename="camel"):
    """A field's validation rules, as the catalog item states them."""

    pattern: Annotated[str | None, msgspec.Meta(examples=["^[a-z][a-z0-9-]{2,28}[a-z0-9]$"])] = None
    message: Annotated[str | None, msgspec.Meta(examples=["3-30 chars, lowercase"])] = None
    min_length: int | None = None
    max_length: int | None = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    min_items: int | None = None
    max_items: int | None = None
    min_date: str | None = None
    max_date: str | None = None


class FieldOption(msgspec.Struct):
    """One choice of a select or multiselect field."""

    value: Annotated[str | int | float | bool, msgspec.Meta(examples=["medium"])]
    label: Annotated[str, msgspec.Meta(examples=["Medium (2 vCPU, 8 GiB)"])]


class FieldCondition(msgspec.Struct, rename="camel"):
    """When the field is shown: the value of another field."""

    depends_on: Annotated[str, msgspec.Meta(examples=["enableEncryption"])]
    condition: Literal["equals", "notEquals", "in", "notIn"]
    value: Any


class FormFieldView(msgspec.Struct, omit_defaults=True, kw_only=True, rename="camel"):
    """One field of the form and the component that renders it."""

    id: Annotated[str, msgspec.Meta(examples=["instanceName"])]
    name: Annotated[str, msgspec.Meta(examples=["Instance Name"])]
    type: Literal[
        "string", "number", "boolean", "select", "multiselect", "date", "textarea", "password"
    ]
    component: Literal[
        "text-input",
        "number-input",
        "checkbox",
        "dropdown",
        "multi-select",
        "date-picker",
        "textarea",
        "password-input",
    ]
    required: bool
    sensitive: bool = False
    default: Any = None
    placeholder: Annotated[str | None, msgspec.Meta(examples=["orders-db"])] = None
    help_text: str | None = None
    description: str | None = None
    validation: FieldRules | None = None
    options: list[FieldOption] | None = None
    conditional: FieldCondition | None = None


class FormGroup(msgspec.Struct, omit_defaults=True):
    """A titled group of fields."""

    id: Annotated[str, msgspec.Meta(examples=["basic"])]
    name: Annotated[str, msgspec.Meta(examples=["Basic Configuration"])]
    fields: list[FormFieldView]
    description: str | None = None


class Form(msgspec.Struct):
    """The form's groups, in display order."""

    groups: list[FormGroup]


class FormValidation(msgspec.Struct):
    """Where a filled form is checked before it is submitted."""

    endpoint: Literal["/api/v1/validate/request"]
    method: Literal["POST"]


class FormDocument(msgspec.Struct, omit_defaults=True, kw_only=True, rename="camel"):
    """The dynamic form of a catalog item, and the JSON Schema of its request fields."""

    catalog_item_id: ItemId
    version: Annotated[str, msgspec.Meta(examples=["2.3.0"])]
    name: Annotated[str, msgspec.Meta(examples=["PostgreSQL Database"])]
    description: Annotated[str, msgspec.Meta(examples=["Managed PostgreSQL instance with backups"])]
    form: Form
    validation: FormValidation
    json_schema: Annotated[
        dict[str, Any],
        msgspec.Meta(description="JSON Schema (2020-12) of the request's `fields`"),
    ]
    intro: str | None = None


# The spec's example of the dynamic form schema response (with the JSON Schema PAO adds).
FORM_DOCUMENT_EXAMPLE: dict[str, Any] = {
    "catalogItemId": "database-postgresql-standard",
    "version": "1.4.0",
    "name": "PostgreSQL Database",
    "description": "Managed PostgreSQL instance with backups",
    "form": {
        "groups": [
            {
                "id": "basic",
                "name": "Basic Configuration",
                "fields": [
                    {
                        "id": "instanceName",
                        "name": "Instance Name",
                        "type": "string",
                        "component": "text-input",
                        "required": True,
                        "validation": {
                            "pattern": "^[a-z][a-z0-9-]{2,28}[a-z0-9]$",
                            "message": "3-30 chars, lowercase",
                        },
                        "placeholder": "orders-db",
                    },
                    {
                        "id": "size",
                        "name": "Size",
                        "type": "select",
                        "component": "dropdown",
                        "required": False,
                        "default": "small",
                        "options": [
                            {"value": "small", "label": "small"},
                            {"value": "medium", "label": "medium"},
                            {"value": "large", "label": "large"},
                        ],
                    },
                ],
            }
        ]
    },
    "validation": {"endpoint": "/api/v1/validate/request", "method": "POST"},
    "jsonSchema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "instanceName": {"type": "string", "pattern": "^[a-z][a-z0-9-]{2,28}[a-z0-9]$"},
            "size": {"enum": ["small", "medium", "large"], "default": "small"},
        },
        "required": ["instanceName"],
        "additionalProperties": False,
    },
}


MODELS: tuple[type[msgspec.Struct], ...] = (
    NewRequest,
    Decision,
    ValidationResult,
    Requester,
    ActionView,
    EscalationView,
    RequestSummary,
    RequestView,
    Pagination,
    RequestPage,
    Progress,
    ActionStatus,
    RequestStatus,
    LogEntry,
    LogPage,
    FieldRules,
    FieldOption,
    FieldCondition,
    FormFieldView,
    FormGroup,
    Form,
    FormValidation,
    FormDocument,
)
_REFINED: list[type[msgspec.Struct]] = list(MODELS)


def documented(*models: type[msgspec.Struct]) -> None:
    """Register more models (another module's) for ``refine_openapi``."""
    _REFINED.extend(m for m in models if m not in _REFINED)


def to_model(view: Any, model: type[T]) -> T:
    """A core view as its documented model (raises when they have drifted apart)."""
    return msgspec.convert(view, model, str_keys=True)


def refine_openapi(document: OpenAPI) -> OpenAPI:
    """Add to Litestar's generated schemas what it leaves out of msgspec Structs."""
    schemas = document.components.schemas if document.components else None
    if not schemas:
        return document
    for model in _REFINED:
        schema = schemas.get(model.__name__)
        if not isinstance(schema, Schema):
            continue
        doc = inspect.getdoc(model)
        if doc and doc != inspect.getdoc(msgspec.Struct):
            schema.description = " ".join(doc.split("\n\n")[0].split())
        if model.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False
        if model is NewRequest and schema.properties:
            for old, new in DEPRECATED_ALIASES.items():
                prop = schema.properties.get(old)
                if isinstance(prop, Schema):
                    prop.deprecated = True
                    prop.description = f"deprecated spelling of `{new}` (for one release)"
            # exactly one of the two spellings is required (the old one while it is accepted)
            schema.one_of = [
                Schema(required=["catalogItem"]),
                Schema(required=["catalog_item"]),
            ]
    return document
