"""The catalog item schema with the installed action types' parts (``action_types``).

The published ``catalog-schema/catalog-item.schema.json`` holds the core's hand-written parts
and, generated from the built-in types, each type's ``config`` schema under ``$defs`` and the
``action`` definition's ``type`` enum and ``if type == X then config: $ref X`` branches. At
start-up the same composition runs over the installed types, so a plugin's type validates
(and a bad config is a located schema error) without editing the core or the file.
``python -m orchestrator.catalog.schema_compose`` rewrites the published file; a test
checks it is current.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

from orchestrator.action_types import ActionTypes, installed_action_types


def compose(base: dict[str, Any], types: ActionTypes) -> dict[str, Any]:
    """``base`` (a catalog item schema) with the action definition built from ``types``."""
    schema = copy.deepcopy(base)
    defs: dict[str, Any] = schema["$defs"]
    action = defs["action"]
    action["properties"]["type"] = {"enum": types.names()}
    action["allOf"] = [
        {
            "if": {"properties": {"type": {"const": spec.name}}, "required": ["type"]},
            "then": {"properties": {"config": {"$ref": f"#/$defs/{spec.schema_name}"}}},
        }
        for spec in types
    ]
    for spec in types:
        for name, part in spec.schema_defs.items():
            defs[name] = copy.deepcopy(dict(part))
        defs[spec.schema_name] = copy.deepcopy(dict(spec.config_schema))
    return schema


def render(schema: dict[str, Any]) -> str:
    """The published file's text (two-space JSON, a final newline)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Rewrite the published schema (default path: catalog-schema/ of the source tree)."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else Path(__file__).parent / "schemas" / "catalog-item.schema.json"
    current = json.loads(path.read_text("utf-8"))
    path.write_text(render(compose(current, installed_action_types())), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
