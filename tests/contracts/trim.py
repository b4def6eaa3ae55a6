"""Regenerate the trimmed vendor API descriptions in ``tests/contracts/specs/`` from the full
published ones (``../shared/specs/``, see its README for their sources): only the operations PAO
calls, and the components they reference.

    python3 -m tests.contracts.trim ../shared/specs
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "specs"

# file in ../shared/specs -> (trimmed file, source note, {path: methods})
USED: dict[str, tuple[str, str, dict[str, tuple[str, ...]]]] = {
    "jira-cloud-platform.swagger-v3.json": (
        "jira-cloud.json",
        "Atlassian Jira Cloud platform REST API (swagger-v3.v3.json, 1001.0.0-SNAPSHOT, "
        "December 2025), as vendored in jarekbird/jira-api-mcp-wrapper; trimmed to the "
        "operations the jira-ticket action uses (v3 paths; v2 is the same operations)",
        {
            "/rest/api/3/serverInfo": ("get",),
            "/rest/api/3/field": ("get",),
            "/rest/api/3/issue": ("post",),
            "/rest/api/3/issue/{issueIdOrKey}": ("get",),
            "/rest/api/3/search": ("get",),
            "/rest/api/3/search/jql": ("get",),
            "/rest/api/3/issue/{issueIdOrKey}/comment": ("post",),
        },
    ),
    "hcp-terraform-api-v2.openapi.json": (
        "hcp-terraform.json",
        "HashiCorp HCP Terraform / Terraform Enterprise API v2 (prerelease.json, v2-Beta), as "
        "vendored in hashicorp/go-tfe at v2/openapi/spec.json; trimmed to the operations the "
        "terraform action uses (the run actions cancel and discard are not in it)",
        {
            "/organizations/{organization_name}/workspaces": ("post",),
            "/organizations/{organization_name}/workspaces/{workspace_name}": ("get",),
            "/workspaces/{workspace_id}/vars": ("get", "post"),
            "/workspaces/{workspace_id}/vars/{id}": ("patch",),
            "/workspaces/{workspace_id}/runs": ("get",),
            "/workspaces/{workspace_id}/current-state-version-outputs": ("get",),
            "/runs": ("post",),
            "/runs/{run_id}": ("get",),
            "/runs/{run_id}/actions/apply": ("post",),
        },
    ),
}


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            found.add(ref)
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def trim(spec: dict[str, Any], used: dict[str, tuple[str, ...]], source: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, methods in used.items():
        item = spec["paths"][path]
        kept = {m: item[m] for m in methods}
        if "parameters" in item:
            kept["parameters"] = item["parameters"]
        paths[path] = kept
    pending: set[str] = set()
    _refs(paths, pending)
    components: dict[str, dict[str, Any]] = {}
    done: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in done:
            continue
        done.add(ref)
        _, _, kind, name = ref.split("/", 3)
        node = spec["components"][kind][name]
        components.setdefault(kind, {})[name] = node
        _refs(node, pending)
    info = {**spec.get("info", {}), "x-pao-source": source}
    trimmed: dict[str, Any] = {"openapi": spec["openapi"], "info": info}
    if "servers" in spec:
        trimmed["servers"] = spec["servers"]
    trimmed["paths"] = paths
    trimmed["components"] = {k: dict(sorted(v.items())) for k, v in sorted(components.items())}
    if "securitySchemes" in spec.get("components", {}):
        trimmed["components"]["securitySchemes"] = spec["components"]["securitySchemes"]
    return trimmed


def main(source_dir: str) -> None:
    HERE.mkdir(exist_ok=True)
    for name, (target, source, used) in USED.items():
        spec = json.loads((Path(source_dir) / name).read_text())
        text = json.dumps(trim(spec, used, source), indent=1, sort_keys=False) + "\n"
        (HERE / target).write_text(text)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/specs")
