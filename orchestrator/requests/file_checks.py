"""Request files (``kind: ServiceRequest``) checked against their catalog item, every problem
located in the file (line and JSON pointer).

Shared by the bot's pull-request check (the item from the synced catalog) and
``pao catalog validate`` (offline: the item from the catalog directories given), so both give
the verdict the API gives (``check_draft``), at the same places.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.catalog.issues import Issue
from orchestrator.catalog.validator import CatalogReport
from orchestrator.catalog.yaml_loader import LoadedDocument
from orchestrator.requests.drafts import RequestDraft, Validation, check_draft

# A request file is submitted through a pull request: secrets are refused, as the bot does.
REQUEST_FILE_SOURCE = "github-pr"

# The service names the item ``catalog_item`` (the API's body); the file says ``catalogItem``.
_POINTER_ALIASES = {"/catalog_item": "/catalogItem"}


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def draft_from_data(data: Any, *, source: str = REQUEST_FILE_SOURCE) -> RequestDraft | None:
    """The draft a request file's data asks for, or None when it names no item or no fields."""
    if not (
        isinstance(data, dict)
        and isinstance(data.get("catalogItem"), str)
        and isinstance(data.get("fields"), dict)
    ):
        return None
    return RequestDraft(
        catalog_item=str(data["catalogItem"]),
        fields=dict(data["fields"]),
        title=_text(data, "title"),
        justification=_text(data, "justification"),
        source=source,
        catalog_version=_text(data, "catalogVersion"),
    )


def located_issues(path: str, document: LoadedDocument | None, outcome: Validation) -> list[Issue]:
    """The service's errors and warnings located in the file (pointer -> line)."""
    found: list[Issue] = []
    for error in outcome.errors:
        pointer = _POINTER_ALIASES.get(str(error.get("pointer") or ""), error.get("pointer") or "")
        message = str(error.get("message"))
        if document is None:
            found.append(Issue(path, 1, 1, "request", message, pointer))
        else:
            # A key that is missing is reported at its parent's key (``fields:``), not at the
            # first line of the parent's value.
            missing = pointer not in document.positions
            found.append(document.issue(pointer, "request", message, key=missing))
    for warning in outcome.warnings:
        line, column = document.position("/catalogItem") if document else (1, 1)
        found.append(Issue(path, line, column, "request", warning, "/catalogItem", "warning"))
    return found


def request_file_issues(report: CatalogReport) -> list[Issue]:
    """Each valid request file of ``report`` checked against its item of the same report.

    Files naming an item the report does not have are already refused (``unknown-catalog-item``).
    """
    issues: list[Issue] = []
    for request in report.requests:
        entry = report.items.get(request.catalog_item)
        draft = draft_from_data(request.doc.data)
        if entry is None or draft is None:
            continue
        outcome = check_draft(entry.item, None, draft)
        issues.extend(located_issues(request.file, request.doc, outcome))
    return issues
