"""The ``terraform`` action type as the core sees it: config schema, masked
``sensitiveVariables``, the workspace template check; outputs are the workspace's own."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.action_types import ActionTypeSpec, ConfigProblem

TERRAFORM_CONFIG: dict[str, Any] = {
    "type": "object",
    "required": ["workspace"],
    "additionalProperties": False,
    "properties": {
        "organization": {"type": "string", "minLength": 1},
        "workspace": {"$ref": "#/$defs/template"},
        "createWorkspace": {"type": "boolean", "default": False},
        "workspaceTemplate": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "repository": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"},
                "workingDirectory": {"type": "string"},
                "terraformVersion": {"type": "string"},
                "branch": {"type": "string"},
            },
        },
        "variables": {"type": "object"},
        "sensitiveVariables": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "autoApply": {"type": "boolean", "default": False},
        "onDecision": {
            "description": "A run waiting for a person's decision (run task or "
            "policy override): fail the action with the run's "
            "link (default) or wait for the decision within the "
            "action's timeout",
            "enum": ["fail", "wait"],
            "default": "fail",
        },
        "message": {"$ref": "#/$defs/template"},
    },
}


def mask_sensitive_variables(config: Mapping[str, Any], mask: str) -> dict[str, Any]:
    """``sensitiveVariables`` are declared secrets: their rendered values read ``mask``."""
    out = dict(config)
    variables = out.get("variables")
    sensitive = out.get("sensitiveVariables") or ()
    if isinstance(variables, Mapping) and sensitive:
        out["variables"] = {k: (mask if k in sensitive else v) for k, v in variables.items()}
    return out


def check_workspace_template(
    config: Mapping[str, Any], pointer: str, action_id: str
) -> Iterable[ConfigProblem]:
    """A workspace PAO creates runs only what its VCS repository holds (PAO uploads no
    configuration): without ``workspaceTemplate.repository`` every run of it would fail at
    Terraform with no configuration, long after the item merged. Said here, located."""
    template = config.get("workspaceTemplate")
    if config.get("createWorkspace") and not (template or {}).get("repository"):
        yield ConfigProblem(
            f"{pointer}/workspaceTemplate"
            if template is not None
            else f"{pointer}/createWorkspace",
            "terraform-template-without-repository",
            "createWorkspace makes a workspace with no Terraform configuration to run: "
            "add workspaceTemplate.repository (owner/name of the VCS repository holding "
            "it; PAO connects it with TFC_VCS_OAUTH_TOKEN_ID), or create the workspace "
            "beforehand and drop createWorkspace",
            at_key=True,
        )
    elif template is not None and not config.get("createWorkspace"):
        yield ConfigProblem(
            f"{pointer}/workspaceTemplate",
            "terraform-template-unused",
            "workspaceTemplate is used only when PAO creates the workspace: set "
            "createWorkspace: true, or remove workspaceTemplate",
            at_key=True,
        )


SPEC = ActionTypeSpec(
    name="terraform",
    schema_name="terraformConfig",
    config_schema=TERRAFORM_CONFIG,
    description="a Terraform Cloud run in a workspace",
    outputs=None,  # the workspace's outputs, whatever they are
    mask_config=mask_sensitive_variables,
    check_config=check_workspace_template,
)
