"""The ``github-workflow`` action type as the core sees it: config schema and outputs."""

from __future__ import annotations

from typing import Any

from orchestrator.action_types import ActionTypeSpec

GITHUB_WORKFLOW_CONFIG: dict[str, Any] = {
    "type": "object",
    "required": ["repository", "workflow"],
    "additionalProperties": False,
    "properties": {
        "repository": {
            "type": "string",
            "pattern": "^([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+|.*\\{\\{.*\\}\\}.*)$",
        },
        "workflow": {
            "type": "string",
            "minLength": 1,
            "description": "Workflow file name (deploy.yml) or id.",
        },
        "ref": {"type": "string", "default": "main"},
        "inputs": {
            "type": "object",
            "maxProperties": 24,
            "description": "GitHub accepts 25 inputs; PAO adds pao_correlation.",
            "propertyNames": {"not": {"const": "pao_correlation"}},
            "additionalProperties": {"type": ["string", "number", "boolean"]},
        },
        "pollIntervalSeconds": {
            "type": "number",
            "minimum": 5,
            "maximum": 3600,
            "description": "Seconds between status checks of the run (default 30).",
        },
    },
}


SPEC = ActionTypeSpec(
    name="github-workflow",
    schema_name="githubWorkflowConfig",
    config_schema=GITHUB_WORKFLOW_CONFIG,
    description="a GitHub Actions workflow run, followed until it concludes",
    outputs=frozenset({"run_id", "run_url", "conclusion"}),
)
