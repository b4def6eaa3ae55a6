"""A draft request checked against one catalog item: the verdict every face shares.

Pure (no database, no network): the API's validate, preview and submit, the bot's pull-request
check and ``pao catalog validate`` (offline, items from a catalog directory) call the same
``check_draft``, so a request file the command passes is one the API accepts, and the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.catalog.models import CatalogItem
from orchestrator.forms import apply_defaults, validate_request_fields
from orchestrator.requests import secrets as secrets_policy


@dataclass(frozen=True, slots=True)
class RequestDraft:
    catalog_item: str
    fields: dict[str, Any]
    title: str | None = None
    justification: str | None = None
    source: str = "api"
    catalog_version: str | None = None


@dataclass(slots=True)
class Validation:
    """The outcome of validating a draft: the item, normalised fields and the problems."""

    item: CatalogItem | None
    version_id: int | None
    fields: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # secret fields a request from GitHub needs and must not carry: supplied through the API
    pending_secrets: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors


def unknown_item(draft: RequestDraft) -> Validation:
    """The outcome for a draft naming no item of the catalog."""
    message = f"catalog item '{draft.catalog_item}' does not exist"
    return Validation(
        None, None, errors=[{"pointer": "/catalog_item", "field": None, "message": message}]
    )


def check_draft(item: CatalogItem, version_id: int | None, draft: RequestDraft) -> Validation:
    """Check ``draft`` against ``item`` (its lifecycle, the version the draft was written for,
    and its fields: required, types, bounds, patterns, conditions, unknown fields). A draft from
    GitHub (an issue or a request file) must not carry secrets and may leave required ones out."""
    outcome = Validation(item, version_id)
    if item.lifecycle.status == "retired":
        outcome.errors.append(
            {
                "pointer": "/catalog_item",
                "field": None,
                "message": f"catalog item '{item.id}' is retired and can no longer be requested",
            }
        )
        return outcome
    if item.lifecycle.status == "deprecated":
        outcome.warnings.append(
            f"'{item.id}' is deprecated; use '{item.lifecycle.replacement}' instead"
            + (f" (sunset {item.lifecycle.sunset_date})" if item.lifecycle.sunset_date else "")
        )
    if draft.catalog_version and draft.catalog_version != item.metadata.version:
        outcome.warnings.append(
            f"request written for version {draft.catalog_version}; the current version is "
            f"{item.metadata.version}"
        )
    fields = apply_defaults(item, draft.fields)
    if draft.source in secrets_policy.GITHUB_SOURCES:
        for field_id in secrets_policy.given_secrets(item, fields):
            outcome.errors.append(secrets_policy.secret_in_github_error(item, field_id))
        problems = secrets_policy.issue_form_errors(item, fields)
        outcome.pending_secrets = secrets_policy.pending_secrets(item, fields)
    else:
        problems = validate_request_fields(item, fields)
    for problem in problems:
        outcome.errors.append(
            {"pointer": problem.pointer, "field": problem.field_id, "message": problem.message}
        )
    outcome.fields = fields
    return outcome
