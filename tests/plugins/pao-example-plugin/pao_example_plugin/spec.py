"""``example-note`` as PAO's core sees it: config schema, outputs, masking and a check."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.action_types import ActionTypeSpec, ConfigProblem

NOTE_CONFIG: dict[str, Any] = {
    "type": "object",
    "required": ["text"],
    "additionalProperties": False,
    "properties": {
        "text": {"$ref": "#/$defs/template"},
        "level": {"enum": ["info", "warning"], "default": "info"},
        "signingKey": {"type": "string", "description": "a secret: masked in previews"},
        "copies": {"type": "integer", "minimum": 1, "maximum": 3, "default": 1},
    },
}


def mask_signing_key(config: Mapping[str, Any], mask: str) -> dict[str, Any]:
    """The signing key is a secret: previews show ``mask`` instead."""
    out = dict(config)
    if out.get("signingKey"):
        out["signingKey"] = mask
    return out


def check_warning_text(
    config: Mapping[str, Any], pointer: str, action_id: str
) -> Iterable[ConfigProblem]:
    """A warning note must say something: an empty text is refused, located."""
    if config.get("level") == "warning" and not str(config.get("text", "")).strip():
        yield ConfigProblem(
            f"{pointer}/text",
            "example-empty-warning",
            f"action '{action_id}': a warning needs text",
        )


SPEC = ActionTypeSpec(
    name="example-note",
    schema_name="exampleNoteConfig",
    config_schema=NOTE_CONFIG,
    description="a note, recorded at once (an example plugin)",
    outputs=frozenset({"note_id", "text"}),
    mask_config=mask_signing_key,
    check_config=check_warning_text,
)
