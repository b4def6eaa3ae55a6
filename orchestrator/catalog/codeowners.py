"""CODEOWNERS governance: who owns a catalog file, and who may change it.

GitHub's semantics: one rule per line (``pattern owner...``), ``#`` comments, the *last*
matching rule wins, a rule with no owners un-owns its paths. Patterns follow gitignore: a
leading ``/`` anchors at the repository root, a pattern without a slash (other than a trailing
one) matches at any depth, ``*`` stays within a path segment, ``**`` crosses segments, a
trailing ``/`` (or a directory name) covers everything below. Owners are ``@user``,
``@org/team`` or an e-mail address.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.catalog.issues import Issue
from orchestrator.editor_lines import split_lines

if TYPE_CHECKING:
    from orchestrator.catalog.validator import CatalogReport

LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: str
    owners: tuple[str, ...]
    line: int
    regex: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    message: str


def _translate(pattern: str) -> re.Pattern[str]:
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    body = pattern.strip("/")
    directory = pattern.endswith("/")
    out = []
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    core = "".join(out)
    prefix = "" if anchored else "(?:.*/)?"
    # A match may be the path itself or a directory above it (everything below is covered);
    # a trailing slash only matches directories; ``docs/*`` covers docs' files, not deeper.
    last = body.rsplit("/", 1)[-1]
    if directory:
        suffix = "/.*"
    elif "*" in last and "**" not in last and "/" in body:
        suffix = ""
    else:
        suffix = "(?:/.*)?"
    return re.compile(f"^{prefix}{core}{suffix}$")


class CodeOwners:
    def __init__(self, rules: Sequence[Rule], problems: Sequence[Problem] = ()) -> None:
        self.rules = list(rules)
        self.problems = list(problems)

    @classmethod
    def parse(cls, text: str) -> CodeOwners:
        rules: list[Rule] = []
        problems: list[Problem] = []
        for number, raw in enumerate(split_lines(text), start=1):
            line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
            if not line:
                continue
            pattern, *owners = line.split()
            bad = [o for o in owners if not (o.startswith("@") or "@" in o)]
            if bad:
                problems.append(
                    Problem(number, f"not an owner (@user, @org/team, e-mail): {bad[0]}")
                )
                continue
            rules.append(Rule(pattern, tuple(owners), number, _translate(pattern)))
        return cls(rules, problems)

    def rule_for(self, path: str) -> Rule | None:
        """The last rule matching ``path`` (repository-relative, no leading slash)."""
        path = path.lstrip("/")
        for rule in reversed(self.rules):
            if rule.regex.match(path):
                return rule
        return None

    def owners_of(self, path: str) -> tuple[str, ...]:
        rule = self.rule_for(path)
        return rule.owners if rule is not None else ()


def team_slug(owner: str) -> str | None:
    """``@org/team`` -> ``team``; None for users and e-mail addresses."""
    if owner.startswith("@") and "/" in owner:
        return owner.split("/", 1)[1].lower()
    return None


def is_owner(
    owners: Iterable[str], *, email: str, teams: Iterable[str], login: str | None = None
) -> bool:
    """Whether a principal (e-mail, teams as ``team`` or ``org/team``, GitHub login) is among
    ``owners``."""
    slugs = {t.rsplit("/", 1)[-1].lower() for t in teams}
    for owner in owners:
        slug = team_slug(owner)
        if slug is not None and slug in slugs:
            return True
        if owner.startswith("@") and slug is None and login and owner[1:].lower() == login.lower():
            return True
        if not owner.startswith("@") and owner.lower() == email.lower():
            return True
    return False


def owner_team_problems(
    codeowners: CodeOwners, items: Iterable[tuple[str, str, str]]
) -> list[tuple[str, str]]:
    """For ``(path, item id, metadata.owner.team)``: the items whose team is not among their
    file's CODEOWNERS teams, as ``(path, message)``."""
    out: list[tuple[str, str]] = []
    for path, item_id, team in items:
        owners = codeowners.owners_of(path)
        teams = {s for s in (team_slug(o) for o in owners) if s}
        if team.lower() not in teams:
            listed = ", ".join(owners) or "nobody"
            out.append(
                (
                    path,
                    f"item '{item_id}' names owner team '{team}', but CODEOWNERS gives "
                    f"{path} to {listed}",
                )
            )
    return out


def codeowners_issues(codeowners: CodeOwners, report: CatalogReport, *, source: str) -> list[Issue]:
    """Located issues for ``pao catalog validate --codeowners``: the file's own problems, and
    each valid item whose ``metadata.owner.team`` is not among its file's CODEOWNERS teams."""
    issues = [Issue(source, p.line, 1, "codeowners-syntax", p.message) for p in codeowners.problems]
    items = {entry.file: entry for entry in report.items.values()}
    found = owner_team_problems(
        codeowners,
        [(path, entry.id, entry.item.metadata.owner.team) for path, entry in items.items()],
    )
    for path, message in found:
        pointer = "/metadata/owner/team"
        line, column = items[path].doc.position(pointer)
        issues.append(Issue(path, line, column, "codeowners-mismatch", message, pointer))
    return issues
