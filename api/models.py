"""The API's named request and response models (msgspec Structs), and the OpenAPI refinements
Litestar's generator leaves out: a model's docstring as its description, ``additionalProperties:
false`` where unknown fields are refused, and deprecated aliases.

Responses are converted from the core's views with ``msgspec.convert``: a view that drifts from
its documented model fails loudly in the tests instead of silently breaking generated clients.

About 980 lines: every typed schema of the REST API in one module, so the OpenAPI document's
components have one home and a drift between a view and its model is found in one place.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from litestar.openapi.spec import OpenAPI, Schema

from orchestrator.engine.states import RequestStatus as StatusName
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
    StatusName,  # the state machine's own list: one place for the states
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
    approval: Annotated[
        ApprovalGate | None,
        msgspec.Meta(description="who must approve before anything is provisioned (issue 21)"),
    ] = None


class StageApprovers(msgspec.Struct):
    """Who may decide a stage: teams, people (e-mail or `@login`), the item's CODEOWNERS."""

    teams: Annotated[list[str], msgspec.Meta(examples=[["security"]])]
    users: Annotated[list[str], msgspec.Meta(examples=[["alice@example.com", "@bob"]])]
    codeowners: Annotated[
        list[str] | None,
        msgspec.Meta(description="the owners of the item's file; null when not a CODEOWNERS stage"),
    ]


class ApprovedBy(msgspec.Struct):
    """One counted approval."""

    approver: Annotated[str, msgspec.Meta(examples=["sam@example.com"])]
    name: str | None
    via: Annotated[str, msgspec.Meta(examples=["team:security"])]
    at: Timestamp


class RejectedBy(msgspec.Struct):
    """The rejection that ended the gate."""

    approver: Annotated[str, msgspec.Meta(examples=["sam@example.com"])]
    name: str | None
    reason: Annotated[str | None, msgspec.Meta(examples=["no production access for contractors"])]
    at: Timestamp


class ApprovalStageView(msgspec.Struct):
    """One stage of an approval gate and where it stands."""

    name: Annotated[str, msgspec.Meta(examples=["security"])]
    description: str | None
    state: Annotated[
        Literal["skipped", "approved", "rejected", "expired", "pending", "waiting"],
        msgspec.Meta(examples=["pending"]),
    ]
    reason: Annotated[str | None, msgspec.Meta(examples=["0 of 1 approvals"])]
    approvers: StageApprovers
    count: Annotated[int, msgspec.Meta(ge=1, examples=[1])]
    approved_by: list[ApprovedBy]
    rejected_by: RejectedBy | None
    condition: Annotated[str | None, msgspec.Meta(examples=["fields.accessLevel != 'read-only'"])]
    allow_requester: bool
    expires_after: Annotated[str | None, msgspec.Meta(examples=["3d"])]
    expires_at: Timestamp | None


class ApprovalGate(msgspec.Struct):
    """An item's approval gate for one request: who must approve, who did, and the outcome.
    Stages run in order; a stage whose condition is false is `skipped`."""

    required: Annotated[bool, msgspec.Meta(description="whether anyone must approve")]
    outcome: Annotated[
        Literal["approved", "pending", "rejected", "expired"], msgspec.Meta(examples=["pending"])
    ]
    reason: str | None
    revision: Annotated[
        str,
        msgspec.Meta(
            description="digest of what is approved; a changed request starts over",
            examples=["sha256:1f0c2a9b3d4e5f60"],
        ),
    ]
    current_stage: Annotated[str | None, msgspec.Meta(examples=["security"])]
    stages: list[ApprovalStageView]


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
    approval: Annotated[
        ApprovalGate | None,
        msgspec.Meta(description="the approval gate, for an item that has one"),
    ] = None


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
    approval: ApprovalGate | None = None


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


# -- catalog ------------------------------------------------------------------------------------

Lifecycle = Annotated[Literal["active", "deprecated", "retired"], msgspec.Meta(examples=["active"])]


class CatalogItemSummary(msgspec.Struct, kw_only=True):
    """A catalog item as the catalog list shows it."""

    id: ItemId
    name: Annotated[str, msgspec.Meta(examples=["PostgreSQL Database"])]
    description: Annotated[str, msgspec.Meta(examples=["Managed PostgreSQL instance with backups"])]
    category: Annotated[str, msgspec.Meta(examples=["databases"])]
    owner_team: Annotated[str, msgspec.Meta(examples=["platform-data"])]
    tags: Annotated[list[str], msgspec.Meta(examples=[["postgresql", "database"]])]
    version: Annotated[str, msgspec.Meta(examples=["1.4.0"])]
    lifecycle: Lifecycle


class CatalogItemDetail(CatalogItemSummary, kw_only=True):
    """A catalog item with where it came from and its full definition (the YAML as JSON)."""

    source_path: Annotated[str, msgspec.Meta(examples=["catalog/databases/postgresql.yaml"])]
    git_sha: Annotated[
        str | None, msgspec.Meta(examples=["9fceb02d0ae598e95dc970b74767f19372d61af8"])
    ]
    updated_at: Timestamp
    definition: Annotated[
        dict[str, Any],
        msgspec.Meta(
            description="the catalog item document (`apiVersion`, `kind`, `metadata`, `form`, "
            "`fulfillment`, ...), as the catalog schema defines it",
            examples=[
                {
                    "apiVersion": "pao/v1",
                    "kind": "CatalogItem",
                    "metadata": {"id": "database-postgresql-standard", "version": "1.4.0"},
                }
            ],
        ),
    ]


class CatalogPage(msgspec.Struct):
    """A page of active catalog items, ordered by id."""

    items: list[CatalogItemSummary]
    pagination: Pagination


class CatalogIssue(msgspec.Struct, omit_defaults=True):
    """A problem in a catalog file, located by line, column and JSON pointer."""

    file: Annotated[str, msgspec.Meta(examples=["catalog/databases/postgresql.yaml"])]
    line: Annotated[int, msgspec.Meta(examples=[12])]
    column: Annotated[int, msgspec.Meta(examples=[7])]
    code: Annotated[str, msgspec.Meta(examples=["schema"])]
    message: Annotated[str, msgspec.Meta(examples=["'size' is not one of the options"])]
    pointer: Annotated[str, msgspec.Meta(examples=["/form/groups/0/fields/1/default"])]
    severity: Literal["error", "warning"]
    extra: Annotated[
        dict[str, Any] | msgspec.UnsetType,
        msgspec.Meta(description="more about the problem, when there is more"),
    ] = msgspec.UNSET


class CatalogSyncResult(msgspec.Struct):
    """What a sync of the local catalog directory stored, left and deactivated."""

    files: Annotated[int, msgspec.Meta(examples=[12])]
    stored: Annotated[list[str], msgspec.Meta(examples=[["database-postgresql-standard"]])]
    unchanged: Annotated[list[str], msgspec.Meta(examples=[["cache-redis-standard"]])]
    deactivated: list[str]
    errors: list[CatalogIssue]


class GitHubSyncReport(msgspec.Struct, omit_defaults=True):
    """What one sync of the GitHub catalog repository did."""

    source: Annotated[str, msgspec.Meta(examples=["acme/service-catalog@main"])]
    changed: bool
    commit_sha: Annotated[
        str | None, msgspec.Meta(examples=["9fceb02d0ae598e95dc970b74767f19372d61af8"])
    ]
    fetched: list[str]
    deleted: list[str]
    github_requests: Annotated[int, msgspec.Meta(examples=[3])]
    deferred_seconds: float | None
    error: str | None
    result: CatalogSyncResult | None = None


class StoredValidationError(msgspec.Struct):
    """A problem the last sync found in a catalog file (the file keeps its last valid version)."""

    source_path: Annotated[str, msgspec.Meta(examples=["catalog/databases/postgresql.yaml"])]
    line: Annotated[int, msgspec.Meta(examples=[12])]
    column: Annotated[int, msgspec.Meta(examples=[7])]
    code: Annotated[str, msgspec.Meta(examples=["schema"])]
    message: Annotated[str, msgspec.Meta(examples=["'size' is not one of the options"])]
    pointer: Annotated[str, msgspec.Meta(examples=["/form/groups/0/fields/1/default"])]
    severity: Literal["error", "warning"]
    git_sha: str | None
    created_at: Timestamp


class ValidationErrorList(msgspec.Struct):
    """Every problem the last sync found, by file and position."""

    items: list[StoredValidationError]
    count: Annotated[int, msgspec.Meta(examples=[1])]


# -- system -------------------------------------------------------------------------------------


class Liveness(msgspec.Struct):
    """The process answers."""

    status: Literal["ok"]


class DatabaseCheck(msgspec.Struct):
    """PostgreSQL: without it nothing is served."""

    status: Literal["ok", "down"]


class CacheCheck(msgspec.Struct):
    """The cache: when it is down, reads are served from PostgreSQL."""

    status: Literal["ok", "degraded"]
    backend: Annotated[str, msgspec.Meta(examples=["redis"])]
    detail: str | None


class QueueCheck(msgspec.Struct, omit_defaults=True):
    """The job queue: while SQS is down, jobs wait in the outbox."""

    status: Literal["ok", "degraded", "down"]
    backend: Annotated[str, msgspec.Meta(examples=["postgres"])]
    detail: str | None = None


class ReadinessChecks(msgspec.Struct):
    database: DatabaseCheck
    cache: CacheCheck
    queue: QueueCheck


class Readiness(msgspec.Struct):
    """Whether this instance serves: `ready`, `degraded` (still serving) or `not-ready`."""

    status: Literal["ready", "degraded", "not-ready"]
    checks: ReadinessChecks


class VersionInfo(msgspec.Struct):
    """Which PAO answers, and its API version."""

    name: Literal["pao"]
    version: Annotated[str, msgspec.Meta(examples=["0.9.0"])]
    api: Literal["v1"]


# -- audit --------------------------------------------------------------------------------------


class AuditEntry(msgspec.Struct):
    """One state change: which row, what changed, who did it, from where."""

    id: Annotated[int, msgspec.Meta(examples=[1042])]
    table_name: Annotated[str, msgspec.Meta(examples=["requests"])]
    row_id: RequestId
    operation: Annotated[str, msgspec.Meta(examples=["UPDATE"])]
    actor: Annotated[str | None, msgspec.Meta(examples=["alice@example.com"])]
    agent: Annotated[
        str | None,
        msgspec.Meta(
            description="the bot credential that acted on the actor's behalf (X-PAO-On-Behalf-Of)",
            examples=["pao-bot@example.com"],
        ),
    ]
    correlation_id: Annotated[
        str | None, msgspec.Meta(examples=["3f2c9a7e-1b4d-4c8e-9f0a-6d5e4c3b2a19"])
    ]
    source: Annotated[str | None, msgspec.Meta(examples=["api"])]
    old_data: Annotated[dict[str, Any] | None, msgspec.Meta(examples=[{"status": "failed"}])]
    new_data: Annotated[dict[str, Any] | None, msgspec.Meta(examples=[{"status": "aborted"}])]
    created_at: Timestamp


class AuditPage(msgspec.Struct):
    """A page of the audit trail, newest first."""

    items: list[AuditEntry]
    pagination: Pagination


# -- platform tools -----------------------------------------------------------------------------


class ValidationSummary(msgspec.Struct):
    files: Annotated[int, msgspec.Meta(examples=[1])]
    items: Annotated[int, msgspec.Meta(examples=[1])]
    requests: int
    errors: int
    warnings: int


class ChangePermission(msgspec.Struct):
    """Whether the caller may change the file at this path (CODEOWNERS, protected paths)."""

    path: Annotated[str, msgspec.Meta(examples=["catalog/databases/postgresql.yaml"])]
    owners: Annotated[list[str], msgspec.Meta(examples=[["@acme/platform-data"]])]
    may_change: bool | None
    reason: Annotated[str, msgspec.Meta(examples=["a code owner of this path"])]


class CatalogItemValidation(msgspec.Struct):
    """The validator's verdict on a catalog item, and who may commit it."""

    valid: bool
    summary: ValidationSummary
    issues: list[CatalogIssue]
    permission: ChangePermission


class FormPreview(msgspec.Struct):
    """The form a catalog item would render and the JSON Schema of its fields, or its issues."""

    valid: bool
    issues: list[CatalogIssue]
    form: Annotated[
        dict[str, Any] | None,
        msgspec.Meta(
            description="the form JSON (`itemId`, `name`, `version`, `groups[].fields[]`)",
            examples=[{"itemId": "database-postgresql-standard", "name": "PostgreSQL Database"}],
        ),
    ]
    schema: Annotated[
        dict[str, Any] | None,
        msgspec.Meta(description="JSON Schema (2020-12) of the request's `fields`"),
    ]


class TemplateError(msgspec.Struct, rename="camel"):
    """A template that does not render with the sample values."""

    code: Annotated[str, msgspec.Meta(examples=["undefined-variable"])]
    message: Annotated[str, msgspec.Meta(examples=["fields.instanceNme is not defined"])]
    path: str | None
    suggestion: Annotated[str | None, msgspec.Meta(examples=["fields.instanceName"])]
    pointer: Annotated[str | None, msgspec.Meta(examples=["/actions/provision/config/name"])]
    action_id: Annotated[str | None, msgspec.Meta(examples=["provision"])]
    offset: int | None


class TemplateProblem(msgspec.Struct, rename="camel"):
    """A static problem of the item's templates (an unknown reference, a cycle, ...)."""

    code: Annotated[str, msgspec.Meta(examples=["unknown-reference"])]
    message: Annotated[str, msgspec.Meta(examples=["fields.instanceNme is not a field"])]
    pointer: Annotated[str, msgspec.Meta(examples=["/fulfillment/actions/0/config/name"])]
    action_id: Annotated[str | None, msgspec.Meta(examples=["provision"])]
    path: str | None
    suggestion: Annotated[str | None, msgspec.Meta(examples=["fields.instanceName"])]


class VariableRow(msgspec.Struct, omit_defaults=True):
    """A variable the templates use, and its sample value (masked when sensitive)."""

    path: Annotated[str, msgspec.Meta(examples=["fields.instanceName"])]
    scope: Annotated[str, msgspec.Meta(examples=["fields"])]
    resolved: bool
    sensitive: bool
    value: Annotated[Any, msgspec.Meta(examples=["orders-db"])] = msgspec.UNSET


class PlanRefusal(msgspec.Struct):
    """An action the dry run says would be refused, and the setting that decides it."""

    action: Annotated[str, msgspec.Meta(examples=["provision"])]
    type: Annotated[str, msgspec.Meta(examples=["terraform"])]
    message: Annotated[str, msgspec.Meta(examples=["TFC_TOKEN is not set"])]


class VariablesPreview(msgspec.Struct, omit_defaults=True, kw_only=True):
    """Templates rendered with sample values (secrets masked), what each action would send,
    and every problem found; only `valid` and `issues` when the item itself is invalid."""

    valid: bool
    issues: list[CatalogIssue] | msgspec.UnsetType = msgspec.UNSET
    rendered: Annotated[
        Any,
        msgspec.Meta(
            description="the templates, rendered (a failing template reads null)",
            examples=[{"actions": {"provision": {"config": {"name": "orders-db"}}}}],
        ),
    ] = msgspec.UNSET
    variables: list[VariableRow] | msgspec.UnsetType = msgspec.UNSET
    errors: list[TemplateError] | msgspec.UnsetType = msgspec.UNSET
    field_errors: list[FieldError] | msgspec.UnsetType = msgspec.field(
        default=msgspec.UNSET, name="fieldErrors"
    )
    problems: list[TemplateProblem] | msgspec.UnsetType = msgspec.UNSET
    plan: Annotated[
        dict[str, dict[str, Any]] | msgspec.UnsetType,
        msgspec.Meta(
            description="action id to what its executor would send (dry run)",
            examples=[{"provision": {"type": "terraform", "workspace": "orders-db"}}],
        ),
    ] = msgspec.UNSET
    refusals: list[PlanRefusal] | msgspec.UnsetType = msgspec.UNSET


# -- GitHub -------------------------------------------------------------------------------------


class WebhookAck(msgspec.Struct, omit_defaults=True):
    """What became of a webhook delivery (the work itself happens after the answer)."""

    status: Literal["accepted", "pong", "ignored", "duplicate"]
    delivery: Annotated[str, msgspec.Meta(examples=["72d3162e-cc78-11e3-81ab-4c9367dc0958"])]
    event: Annotated[str | None, msgspec.Meta(examples=["watch"])] = None


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
    CatalogItemSummary,
    CatalogItemDetail,
    CatalogPage,
    CatalogIssue,
    CatalogSyncResult,
    GitHubSyncReport,
    StoredValidationError,
    ValidationErrorList,
    Liveness,
    DatabaseCheck,
    CacheCheck,
    QueueCheck,
    ReadinessChecks,
    Readiness,
    VersionInfo,
    AuditEntry,
    AuditPage,
    ValidationSummary,
    ChangePermission,
    CatalogItemValidation,
    FormPreview,
    TemplateError,
    TemplateProblem,
    VariableRow,
    PlanRefusal,
    VariablesPreview,
    WebhookAck,
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
            # exactly one of the two spellings is required (the old one while it is accepted),
            # said with if/then/else rather than oneOf: a client generator reads a oneOf
            # beside `properties` as an untyped union, and the body of a submit loses its type
            schema.schema_if = Schema(required=["catalog_item"])
            schema.then = Schema(schema_not=Schema(required=["catalogItem"]))
            schema.schema_else = Schema(required=["catalogItem"])
    return document


# -- approvals ----------------------------------------------------------------------------------


class Approve(msgspec.Struct, forbid_unknown_fields=True):
    """An approval of the request's current stage (the comment is kept with the decision)."""

    comment: (
        Annotated[str, msgspec.Meta(max_length=2000, examples=["scope and period look right"])]
        | None
    ) = None


class Reject(msgspec.Struct, forbid_unknown_fields=True):
    """A rejection; the reason is required (422 without one) and shown to the requester."""

    reason: (
        Annotated[
            str,
            msgspec.Meta(max_length=2000, examples=["no production write access for contractors"]),
        ]
        | None
    ) = None


class GateDecisionView(msgspec.Struct):
    """What an approval or rejection did: the request after it, its gate, and whether this
    call recorded a decision (false for a repeat of the same person's approval)."""

    request: RequestView
    approval: ApprovalGate
    recorded: bool
    outcome: Annotated[
        Literal["approved", "pending", "rejected", "expired"],
        msgspec.Meta(
            description="approved: the request is queued (or awaits its secret); pending: "
            "more approvals are needed; rejected / expired: the request is `rejected`",
            examples=["approved"],
        ),
    ]


class InboxRequester(msgspec.Struct):
    email: Annotated[str, msgspec.Meta(examples=["jdoe@example.com"])]
    name: str | None


class InboxEntryView(msgspec.Struct):
    """A request waiting for a decision the caller may take."""

    request_id: RequestId
    catalog_item_id: ItemId
    title: Title | None
    requester: InboxRequester
    stage: Annotated[str, msgspec.Meta(examples=["security"])]
    revision: Annotated[str, msgspec.Meta(examples=["sha256:1f0c2a9b3d4e5f60"])]
    waiting_since: Timestamp | None
    expires_at: Timestamp | None
    fields: Fields = msgspec.field(default_factory=dict)  # what is decided (secrets masked)


class ApprovalInbox(msgspec.Struct):
    """Requests awaiting the caller's decision, oldest waiting first."""

    items: list[InboxEntryView]
