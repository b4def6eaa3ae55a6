"""The ``rest-api`` action type as the core sees it: config schema, outputs (``status_code``
plus the names ``config.outputs`` declares), expression checks, trace headers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.action_types import ActionTypeSpec, ConfigProblem
from orchestrator.catalog.yaml_loader import join_pointer
from orchestrator.expressions import expression_problem

_TEMPLATE_BLOCK = re.compile(r"\{\{.*?\}\}", re.S)

REST_AUTH: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"enum": ["none", "api-key", "bearer", "basic", "oauth2-client-credentials"]}
    },
    "allOf": [
        {
            "if": {"properties": {"type": {"const": "none"}}},
            "then": {"additionalProperties": False, "properties": {"type": True}},
        },
        {
            "if": {"properties": {"type": {"const": "api-key"}}},
            "then": {
                "required": ["name", "valueRef"],
                "additionalProperties": False,
                "properties": {
                    "type": True,
                    "in": {"enum": ["header", "query"]},
                    "name": {"type": "string", "minLength": 1},
                    "valueRef": {"$ref": "#/$defs/secretRef"},
                },
            },
        },
        {
            "if": {"properties": {"type": {"const": "bearer"}}},
            "then": {
                "required": ["tokenRef"],
                "additionalProperties": False,
                "properties": {"type": True, "tokenRef": {"$ref": "#/$defs/secretRef"}},
            },
        },
        {
            "if": {"properties": {"type": {"const": "basic"}}},
            "then": {
                "required": ["username", "passwordRef"],
                "additionalProperties": False,
                "properties": {
                    "type": True,
                    "username": {"type": "string"},
                    "passwordRef": {"$ref": "#/$defs/secretRef"},
                },
            },
        },
        {
            "if": {"properties": {"type": {"const": "oauth2-client-credentials"}}},
            "then": {
                "required": ["tokenUrl", "clientId", "clientSecretRef"],
                "additionalProperties": False,
                "properties": {
                    "type": True,
                    "tokenUrl": {"type": "string"},
                    "clientId": {"type": "string"},
                    "clientSecretRef": {"$ref": "#/$defs/secretRef"},
                    "scopes": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    ],
}


REST_API_CONFIG: dict[str, Any] = {
    "type": "object",
    "required": ["url"],
    "additionalProperties": False,
    "properties": {
        "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"], "default": "POST"},
        "url": {"$ref": "#/$defs/template"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "query": {
            "type": "object",
            "additionalProperties": {"type": ["string", "number", "boolean"]},
        },
        "body": {},
        "bodyType": {"enum": ["json", "form"], "default": "json"},
        "auth": {"$ref": "#/$defs/restAuth"},
        "expectedStatus": {
            "type": "array",
            "items": {"type": "integer", "minimum": 100, "maximum": 599},
            "minItems": 1,
        },
        "outputs": {
            "type": "object",
            "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
            "additionalProperties": {
                "type": "string",
                "minLength": 1,
                "description": "JMESPath expression over the JSON response body.",
            },
        },
        "async": {
            "type": "object",
            "required": ["statusUrl", "successWhen"],
            "additionalProperties": False,
            "properties": {
                "statusUrl": {"$ref": "#/$defs/template"},
                "successWhen": {
                    "type": "string",
                    "description": "JMESPath expression; truthy means done.",
                },
                "failureWhen": {
                    "type": "string",
                    "description": "JMESPath expression; truthy means failed.",
                },
                "interval": {"$ref": "#/$defs/duration"},
            },
        },
    },
}


def check_expressions(
    config: Mapping[str, Any], pointer: str, action_id: str
) -> Iterable[ConfigProblem]:
    """``outputs``, ``successWhen`` and ``failureWhen`` use a subset of JMESPath
    (``orchestrator.expressions``, the executor's own grammar): anything else would fail the
    action when it runs. Template blocks in an expression are checked as a name."""
    found: list[tuple[str, str, Any]] = [
        (join_pointer(f"{pointer}/outputs", name), f"output '{name}'", text)
        for name, text in (config.get("outputs") or {}).items()
    ]
    checks = config.get("async") or {}
    found += [
        (f"{pointer}/async/{key}", key, checks[key])
        for key in ("successWhen", "failureWhen")
        if key in checks and (key == "successWhen" or checks[key])  # "" means none
    ]
    for where, what, text in found:
        if not isinstance(text, str):
            continue  # the schema says so
        checked = _TEMPLATE_BLOCK.sub("x", text)
        problem = expression_problem(checked)
        if problem is not None:
            note = "" if checked == text else f" (template blocks read as a name x: {text!r})"
            yield ConfigProblem(
                where, "unsupported-expression", f"action '{action_id}' {what}: {problem}{note}"
            )


def declared_outputs(config: Mapping[str, Any]) -> Iterable[str]:
    """The names of ``config.outputs``: each becomes an output of the action."""
    outputs = config.get("outputs")
    return list(outputs) if isinstance(outputs, Mapping) else []


SPEC = ActionTypeSpec(
    name="rest-api",
    schema_name="restApiConfig",
    config_schema=REST_API_CONFIG,
    schema_defs={"restAuth": REST_AUTH},
    description="an HTTP call, optionally polled until a condition holds",
    outputs=frozenset({"status_code"}),
    declared_outputs=declared_outputs,
    check_config=check_expressions,
    trace_headers=True,
)
