"""Secret (password) fields never travel in an issue or a pull request.

Issues, pull requests and their comments are readable by everyone with access to the
repository, and their history keeps whatever was ever written. So the generated issue form never
asks for a password field, and a request file must not contain one. A request from GitHub whose
item needs a secret for the values given is accepted without it and waits in the
``awaiting_secret`` state; the requester supplies the secret through the authenticated API
(``PUT /api/v1/requests/{id}/secrets``), which validates it, stores it with the request (masked
everywhere it is shown) and queues the request.

An item that needs no secret from people declares it through its own choices (for example
``credentialMode: generated``: PAO's action generates the password and keeps it in AWS Secrets
Manager); such a submission has no pending secret and is queued directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.catalog.models import CatalogItem, FormField
from orchestrator.forms import FieldError, validate_request_fields, visibility

GITHUB_SOURCES = frozenset({"github-issue", "github-pr", "github-actions"})


def secret_fields(item: CatalogItem) -> list[FormField]:
    return [spec for spec in item.fields() if spec.sensitive]


def pending_secrets(item: CatalogItem, fields: Mapping[str, Any]) -> list[str]:
    """Ids of the secret fields the request still needs: shown for these values, required and
    not given (an optional secret left out stays out)."""
    shown = visibility(item, fields)
    return [
        spec.id
        for spec in secret_fields(item)
        if shown.get(spec.id, False) and spec.required and spec.id not in fields
    ]


def given_secrets(item: CatalogItem, fields: Mapping[str, Any]) -> list[str]:
    """Ids of secret fields present in ``fields`` (refused when they come from GitHub)."""
    return [spec.id for spec in secret_fields(item) if spec.id in fields]


def issue_form_errors(item: CatalogItem, fields: Mapping[str, Any]) -> list[FieldError]:
    """``validate_request_fields`` for a request from GitHub: a missing secret is not an error
    (it is supplied later through the API), every other problem is."""
    pending = set(pending_secrets(item, fields))
    return [
        error
        for error in validate_request_fields(item, fields)
        if not (error.field_id in pending and error.code == "required")
    ]


def secret_in_github_error(item: CatalogItem, field_id: str) -> dict[str, Any]:
    """The refusal of a secret written in an issue or a request file."""
    spec = next(f for f in item.fields() if f.id == field_id)
    return {
        "pointer": f"/fields/{field_id}",
        "field": field_id,
        "message": (
            f"'{spec.name}' is a secret and must not be written in a pull request or an issue: "
            "everyone who can read the repository can read it, and its history keeps it. Remove "
            "it (and rotate it: it is exposed); once the request is opened, supply it with "
            "PUT /api/v1/requests/{id}/secrets"
        ),
    }


def supplied_secret_errors(
    item: CatalogItem,
    fields: Mapping[str, Any],
    values: Mapping[str, Any],
    pending: list[str],
) -> list[dict[str, Any]]:
    """Problems with secrets supplied through the API for a request waiting for ``pending``."""
    errors: list[dict[str, Any]] = []
    for field_id in values:
        if field_id not in pending:
            errors.append(
                {
                    "pointer": f"/fields/{field_id}",
                    "field": field_id,
                    "message": f"'{field_id}' is not a secret this request waits for "
                    f"(waiting for: {', '.join(pending) or 'nothing'})",
                }
            )
    for field_id in pending:
        if field_id not in values:
            errors.append(
                {
                    "pointer": f"/fields/{field_id}",
                    "field": field_id,
                    "message": f"'{field_id}' is required",
                }
            )
    if errors:
        return errors
    combined = {**fields, **values}
    return [
        {"pointer": e.pointer, "field": e.field_id, "message": e.message}
        for e in validate_request_fields(item, combined)
        if e.field_id in values
    ]
