"""Find-or-create for ``jira-ticket``: the search side, written for JIRA's eventually consistent
index (``/rest/api/{2,3}/search/jql`` on Cloud: seconds to minutes behind, unless the issue ids
just written are passed in ``reconcileIssues``).

``find`` answers "does an issue with this label exist?" without trusting the index for the
newest issues:

1. search ``project = P AND labels = L`` (Cloud: ``/search/jql`` with ``reconcileIssues`` = the
   ids this process created for the label; Server / Data Center: ``/search``);
2. if nothing is found, ask the index for the project's newest issue it knows
   (``ORDER BY key DESC``) and read the issues after it by key (``GET /issue/P-n``, which is
   consistent), until ``TAIL_GAP`` keys in a row do not exist or ``TAIL_LIMIT`` were read. An
   issue created by an earlier delivery that died before PAO recorded it is among them.

The ``jira`` client is synchronous: these functions run in the executor's worker thread.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jira import JIRA, JIRAError

TAIL_GAP = 3  # keys in a row that do not exist (deleted or moved issues leave gaps)
TAIL_LIMIT = 50  # issues read past the index's newest, at most
_KEY = re.compile(r"(?P<project>[A-Z][A-Z0-9_]*)-(?P<number>\d+)")


@dataclass(frozen=True, slots=True)
class Found:
    key: str
    id: str


def jql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def label_jql(project: str, label: str) -> str:
    return f"project = {jql_string(project)} AND labels = {jql_string(label)}"


def _search(
    client: JIRA, jql: str, *, cloud: bool, fields: str, limit: int, reconcile: Iterable[int]
) -> list[dict[str, Any]]:
    if cloud:
        found: Any = client.enhanced_search_issues(
            jql,
            maxResults=limit,
            fields=fields,
            reconcileIssues=sorted(set(reconcile)) or None,
            json_result=True,
        )
    else:
        found = client.search_issues(jql, maxResults=limit, fields=fields, json_result=True)
    issues = (found or {}).get("issues") or []
    return [dict(i) for i in issues if isinstance(i, dict)]


def find(
    client: JIRA,
    *,
    project: str,
    label: str,
    cloud: bool,
    reconcile: Iterable[int] = (),
) -> Found | None:
    """The oldest issue of ``project`` carrying ``label``, or None (see the module docstring)."""
    issues = _search(
        client,
        label_jql(project, label),
        cloud=cloud,
        fields="labels",
        limit=10,
        reconcile=reconcile,
    )
    if issues:
        first = min(issues, key=lambda i: int(i.get("id") or 0))
        return Found(str(first["key"]), str(first["id"]))
    return _tail(client, project, label, cloud=cloud)


def _tail(client: JIRA, project: str, label: str, *, cloud: bool) -> Found | None:
    if not re.fullmatch(r"[A-Z][A-Z0-9_]*", project):
        return None  # a project named by id: its keys are not known here
    newest = _search(
        client,
        f"project = {jql_string(project)} ORDER BY key DESC",
        cloud=cloud,
        fields="labels",
        limit=1,
        reconcile=(),
    )
    number = 0
    if newest:
        match = _KEY.fullmatch(str(newest[0].get("key") or ""))
        if match is not None:
            number = int(match.group("number"))
    missing = 0
    for _ in range(TAIL_LIMIT):
        number += 1
        try:
            raw = client.issue(f"{project}-{number}", fields="labels,project").raw
        except JIRAError as exc:
            if exc.status_code != 404:
                raise
            missing += 1
            if missing >= TAIL_GAP:
                return None
            continue
        missing = 0
        fields = raw.get("fields") or {}
        if label in (fields.get("labels") or []):
            return Found(str(raw["key"]), str(raw["id"]))
    return None
