"""Typed catalog items for the rest of the code, built from documents the schema accepted."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestrator.action_types import installed_action_types
from orchestrator.catalog.approval_stages import ApprovalStage
from orchestrator.durations import duration_seconds

FieldType = Literal[
    "string", "number", "boolean", "select", "multiselect", "date", "textarea", "password"
]
Condition = Literal["equals", "notEquals", "in", "notIn"]
LifecycleStatus = Literal["active", "deprecated", "retired"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")


class Owner(_Model):
    team: str
    contact: str
    jira_project: str | None = Field(default=None, alias="jiraProject")
    slack: str | None = None


class Sla(_Model):
    response_time: str | None = Field(default=None, alias="responseTime")
    fulfillment_time: str | None = Field(default=None, alias="fulfillmentTime")


class Metadata(_Model):
    id: str
    name: str
    description: str
    version: str
    category: str
    owner: Owner
    tags: tuple[str, ...] = ()
    sla: Sla | None = None
    documentation: str | None = None


class FieldValidation(_Model):
    pattern: str | None = None
    message: str | None = None
    min_length: int | None = Field(default=None, alias="minLength")
    max_length: int | None = Field(default=None, alias="maxLength")
    min: float | None = None
    max: float | None = None
    step: float | None = None
    min_items: int | None = Field(default=None, alias="minItems")
    max_items: int | None = Field(default=None, alias="maxItems")
    min_date: str | None = Field(default=None, alias="minDate")
    max_date: str | None = Field(default=None, alias="maxDate")


class Conditional(_Model):
    depends_on: str = Field(alias="dependsOn")
    condition: Condition
    value: Any

    def holds(self, actual: Any) -> bool:
        """Whether the field is shown (and may be required) given its controlling value.

        Compared as JSON values (``true`` is not ``1``). A list (a multiselect) matches
        ``equals``/``notEquals`` when it contains / does not contain the value, and
        ``in``/``notIn`` when it shares / shares no entry with the values.
        """
        expected = self.value if self.condition in ("in", "notIn") else [self.value]
        entries = actual if isinstance(actual, list | tuple) else [actual]
        hit = any(json_equal(a, e) for a in entries for e in expected)
        return hit if self.condition in ("equals", "in") else not hit


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: booleans are not numbers, 1 equals 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


class FormField(_Model):
    id: str
    name: str
    type: FieldType
    description: str | None = None
    help_text: str | None = Field(default=None, alias="helpText")
    placeholder: str | None = None
    required: bool = False
    default: Any = None
    enum: tuple[str | int | float, ...] | None = None
    enum_labels: dict[str, str] | None = Field(default=None, alias="enumLabels")
    validation: FieldValidation | None = None
    conditional: Conditional | None = None

    @property
    def sensitive(self) -> bool:
        return self.type == "password"


class FieldGroup(_Model):
    id: str
    name: str
    fields: tuple[FormField, ...]
    description: str | None = None


class Form(_Model):
    groups: tuple[FieldGroup, ...]


class Presentation(_Model):
    intro: str | None = None
    form: Form | None = None


class RetryPolicy(_Model):
    """``retry`` of an action: how many attempts, and the backoff between them (durations such
    as ``30s`` or ``5m``; the engine's defaults where absent)."""

    max_attempts: int = Field(default=3, alias="maxAttempts")
    initial_delay: str | None = Field(default=None, alias="initialDelay")
    max_delay: str | None = Field(default=None, alias="maxDelay")

    @field_validator("initial_delay", "max_delay")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            duration_seconds(value)  # ValueError names the accepted forms
        return value

    @property
    def initial_delay_seconds(self) -> float | None:
        return duration_seconds(self.initial_delay) if self.initial_delay else None

    @property
    def max_delay_seconds(self) -> float | None:
        return duration_seconds(self.max_delay) if self.max_delay else None


class Cleanup(_Model):
    instructions: str


class Action(_Model):
    """One step of the chain; ``type`` names an installed action type (``action_types``)."""

    id: str
    type: str
    config: dict[str, Any]
    name: str | None = None
    description: str | None = None
    cleanup: Cleanup | None = None
    retry: RetryPolicy = RetryPolicy()
    timeout: str | None = None

    @field_validator("type")
    @classmethod
    def _installed(cls, value: str) -> str:
        if value not in installed_action_types():
            raise ValueError(f"{value!r} is not an installed action type")
        return value


class ManualJira(_Model):
    instance: str
    project: str
    issue_type: str = Field(alias="issueType")
    priority: str | None = None
    summary: str | None = None
    description: str | None = None
    labels: tuple[str, ...] = ()


class Manual(_Model):
    jira: ManualJira
    instructions: str | None = None


class Fulfillment(_Model):
    actions: tuple[Action, ...] = ()
    manual: Manual | None = None


class Lifecycle(_Model):
    status: LifecycleStatus = "active"
    replacement: str | None = None
    sunset_date: str | None = Field(default=None, alias="sunsetDate")
    message: str | None = None


class HealthCheck(_Model):
    url: str
    interval: str | None = None
    timeout: str | None = None
    expected_status: int | None = Field(default=None, alias="expectedStatus")


class Monitoring(_Model):
    health_check: HealthCheck | None = Field(default=None, alias="healthCheck")


class CatalogItem(_Model):
    api_version: Literal["pao/v1"] = Field(alias="apiVersion")
    kind: Literal["CatalogItem"]
    metadata: Metadata
    fulfillment: Fulfillment
    presentation: Presentation = Presentation()
    lifecycle: Lifecycle = Lifecycle()
    monitoring: Monitoring | None = None
    approvals: tuple[ApprovalStage, ...] = ()
    schema_hint: str | None = Field(default=None, alias="$schema")

    @property
    def id(self) -> str:
        return self.metadata.id

    def fields(self) -> list[FormField]:
        form = self.presentation.form
        return [f for group in form.groups for f in group.fields] if form else []


class ServiceRequestFile(_Model):
    api_version: Literal["pao/v1"] = Field(alias="apiVersion")
    kind: Literal["ServiceRequest"]
    catalog_item: str = Field(alias="catalogItem")
    fields: dict[str, Any]
    catalog_version: str | None = Field(default=None, alias="catalogVersion")
    title: str | None = None
    justification: str | None = None
    schema_hint: str | None = Field(default=None, alias="$schema")
