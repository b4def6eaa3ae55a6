"""The ``jira-ticket`` action type as the core sees it: config schema, outputs, label check.

The executor (``actions.jira``) is separate: this module imports nothing heavy, so validating a
catalog does not load the JIRA client.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.action_types import ActionTypeSpec, ConfigProblem

_TEMPLATE_BLOCK = re.compile(r"\{\{.*?\}\}", re.S)

JIRA_TICKET_CONFIG: dict[str, Any] = {
    "type": "object",
    "required": ["instance", "project", "summary"],
    "additionalProperties": False,
    "properties": {
        "instance": {"$ref": "#/$defs/kebabId"},
        "project": {"type": "string", "minLength": 1},
        "issueType": {"type": "string", "minLength": 1, "default": "Task"},
        "summary": {"$ref": "#/$defs/template"},
        "description": {"$ref": "#/$defs/template"},
        "priority": {"type": "string"},
        "labels": {"type": "array", "items": {"type": "string"}},
        "components": {"type": "array", "items": {"type": "string"}},
        "customFields": {"type": "object", "propertyNames": {"pattern": "^customfield_[0-9]+$"}},
        "waitForCompletion": {"type": "boolean", "default": True},
        "completion": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "completedStatuses": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "failedStatuses": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "failedResolutions": {
                    "description": "Resolutions "
                    "that fail the "
                    "action when "
                    "the ticket "
                    "reaches a "
                    "done-category "
                    "status "
                    "(default: "
                    "JIRA_FAILED_RESOLUTIONS)",
                    "type": "array",
                    "items": {"type": "string"},
                },
            },
        },
    },
}


def check_labels(
    config: Mapping[str, Any], pointer: str, action_id: str
) -> Iterable[ConfigProblem]:
    """JIRA refuses labels with spaces (HTTP 400 at create time): said here, located. The
    literal text around template expressions is checked; rendered values at run time."""
    for position, label in enumerate(config.get("labels") or []):
        literal = _TEMPLATE_BLOCK.sub("", label) if isinstance(label, str) else ""
        if re.search(r"\s", literal) or (isinstance(label, str) and not label.strip()):
            yield ConfigProblem(
                f"{pointer}/labels/{position}",
                "jira-label-space",
                f"JIRA label {label!r} contains a space (JIRA labels cannot contain "
                "spaces; use - or _)",
            )


SPEC = ActionTypeSpec(
    name="jira-ticket",
    schema_name="jiraTicketConfig",
    config_schema=JIRA_TICKET_CONFIG,
    description="a JIRA ticket, created once and followed until it is done",
    outputs=frozenset({"key", "id", "url", "status"}),
    check_config=check_labels,
)
