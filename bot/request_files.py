"""Request files (``requests/**.yaml``) in pull requests: which paths count, and parsing one
file into a draft plus problems located at exact lines.

Only the request file comes from the PR; the catalog item and its rules are always the synced
catalog's (``RequestService.validate``), never anything in the PR's tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from orchestrator.catalog.issues import Issue
from orchestrator.catalog.models import ServiceRequestFile
from orchestrator.catalog.schema import SERVICE_REQUEST_SCHEMA, validator_for
from orchestrator.catalog.validator import model_issues, storable_issues
from orchestrator.catalog.yaml_loader import LoadedDocument, YamlLoadError, join_pointer, load_yaml
from orchestrator.requests.file_checks import draft_from_data, located_issues
from orchestrator.requests.service import RequestDraft, Validation


@lru_cache(maxsize=64)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """``**`` crosses directories, ``*`` and ``?`` do not (gitignore-style)."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def is_request_path(path: str, globs: Iterable[str]) -> bool:
    return any(_glob_regex(g).fullmatch(path) for g in globs)


@dataclass(slots=True)
class ParsedRequestFile:
    path: str
    draft: RequestDraft | None
    document: LoadedDocument | None
    issues: list[Issue] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """No error of its own (the catalog's checks come on top)."""
        return self.draft is not None and not any(i.severity == "error" for i in self.issues)


def parse_request_file(path: str, text: str, *, source: str = "github-pr") -> ParsedRequestFile:
    """YAML and the service-request schema; problems carry line and column."""
    try:
        document, issues = load_yaml(text, path)
    except YamlLoadError as exc:
        return ParsedRequestFile(path, None, None, list(exc.issues))
    data = document.data
    for error in validator_for(SERVICE_REQUEST_SCHEMA).iter_errors(data):
        pointer = ""
        for token in error.absolute_path:
            pointer = join_pointer(pointer, token)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
            for name in error.instance:
                if name not in known:
                    message = f"'{name}' is not a request file key"
                    where = join_pointer(pointer, name)
                    issues.append(document.issue(where, "schema", message, key=True))
            continue
        issues.append(document.issue(pointer, "schema", error.message))
    # What the schema cannot see: values the database refuses (a NUL, ``!!binary`` bytes, NaN),
    # then the typed model (only once the schema passed: its errors would repeat the schema's).
    issues += storable_issues(document)
    if not issues:
        try:
            ServiceRequestFile.model_validate(data)
        except PydanticValidationError as exc:
            issues += model_issues(document, exc)
    draft = draft_from_data(data, source=source)
    if draft is None:
        return ParsedRequestFile(path, None, document, issues)
    # A draft even when other keys are wrong, so the item's own checks run too and the author
    # sees every problem at once; ``valid`` says whether the file may be submitted.
    return ParsedRequestFile(path, draft, document, issues)


def validation_issues(parsed: ParsedRequestFile, outcome: Validation) -> list[Issue]:
    """The service's errors and warnings located in the file (pointer -> line)."""
    return located_issues(parsed.path, parsed.document, outcome)


def annotation(issue: Issue) -> dict[str, Any]:
    """A check-run annotation for ``issue`` (GitHub's shape)."""
    return {
        "path": issue.file,
        "start_line": issue.line,
        "end_line": issue.line,
        "annotation_level": "failure" if issue.severity == "error" else "warning",
        "title": f"PAO: {issue.code}",
        "message": issue.message + (f" (at {issue.pointer})" if issue.pointer else ""),
    }


def annotations_for(issues: Sequence[Issue]) -> list[dict[str, Any]]:
    return [annotation(i) for i in sorted(issues)]
