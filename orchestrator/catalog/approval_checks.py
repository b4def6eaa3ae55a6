"""Located checks of an item's ``approvals`` that the JSON Schema cannot express.

The catalog owns its contract (``approval_stages``) and these checks; the approval runtime
(``orchestrator.approvals``) depends on the catalog, never the reverse. A stage's ``when`` is
checked against the template grammar (``orchestrator.template_syntax``), not rendered.

Called once per schema-valid item by the catalog's ``ItemChecker`` (``check_approvals``), so a
gate nobody can pass, or a condition that cannot be read, fails the catalog's CI with the file,
line and JSON pointer, not a request weeks later. Codes:

* ``duplicate-approval-stage``: two stages with one name (decisions are recorded by name);
* ``invalid-approver``: a team that is not ``team``/``org/team``, a user that is neither an
  e-mail address nor ``@login``;
* ``no-approvers``: a stage with no teams, no users and no CODEOWNERS;
* ``unreachable-approval-count``: ``count`` larger than the people named, when only people are;
* ``invalid-condition``: ``when`` is not one template expression; unknown variables in it are
  ``unknown-reference`` as in any template (``outputs`` too: approval comes before any action).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from orchestrator.template_syntax.errors import TemplateSyntaxRenderError
from orchestrator.template_syntax.translate import translate

if TYPE_CHECKING:
    from orchestrator.catalog.semantics import ItemChecker

_SLUG = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,98}[A-Za-z0-9_])?"
TEAM = re.compile(rf"^{_SLUG}(?:/{_SLUG})?$")
LOGIN = re.compile(r"^@[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def as_template(when: str) -> str:
    """The condition as a template of exactly one expression block."""
    text = when.strip()
    if text.startswith("{{") and text.endswith("}}"):
        return text
    return "{{" + text + "}}"


def condition_problem(when: str) -> str | None:
    """Why ``when`` is not one well-formed expression, or None (static: nothing is evaluated)."""
    template = as_template(when)
    try:
        translation = translate(template)
    except TemplateSyntaxRenderError as exc:
        return exc.message
    if translation.raw_expression is None:
        return "a condition must be one expression, e.g. fields.environment == 'prod'"
    return None


def team_problem(team: str) -> str | None:
    """Why ``team`` is not a team slug (``security`` or ``org/security``), or None."""
    if TEAM.match(team):
        return None
    if team.startswith("@") and TEAM.match(team[1:]):
        return f"team '{team}': write it without '@' ('{team[1:]}'), as in PAO_ADMIN_TEAMS"
    return f"team '{team}' is not a team slug: use 'team' or 'org/team' (letters, digits, - _ .)"


def user_problem(user: str) -> str | None:
    """Why ``user`` is neither an e-mail address nor a GitHub ``@login``, or None."""
    if EMAIL.match(user) or LOGIN.match(user):
        return None
    if user.startswith("@") and "/" in user:
        return f"user '{user}' is a team: list it under teams as '{user[1:]}'"
    return f"user '{user}' is neither an e-mail address nor a GitHub @login"


def check_approvals(checker: ItemChecker) -> None:
    """Add located issues for the item's ``approvals`` to ``checker``."""
    stages: list[dict[str, Any]] = checker.item.get("approvals") or []
    seen: dict[str, int] = {}
    for index, stage in enumerate(stages):
        pointer = f"/approvals/{index}"
        name = stage["name"]
        if name in seen:
            line = checker.doc.position(f"/approvals/{seen[name]}")[0]
            checker.error(
                f"{pointer}/name",
                "duplicate-approval-stage",
                f"approval stage '{name}' is already defined at line {line}",
            )
        seen.setdefault(name, index)
        teams: list[str] = stage.get("teams") or []
        users: list[str] = stage.get("users") or []
        for position, team in enumerate(teams):
            problem = team_problem(team)
            if problem:
                checker.error(f"{pointer}/teams/{position}", "invalid-approver", problem)
        for position, user in enumerate(users):
            problem = user_problem(user)
            if problem:
                checker.error(f"{pointer}/users/{position}", "invalid-approver", problem)
        if not teams and not users and not stage.get("codeowners", False):
            checker.error(
                pointer,
                "no-approvers",
                f"approval stage '{name}' names nobody who may approve: add teams, users "
                "or codeowners: true",
            )
        count = stage.get("count", 1)
        people = {u.lower() for u in users}
        if not teams and not stage.get("codeowners", False) and users and count > len(people):
            checker.error(
                f"{pointer}/count",
                "unreachable-approval-count",
                f"approval stage '{name}' needs {count} approvals but names only "
                f"{len(people)} {'person' if len(people) == 1 else 'people'}",
            )
        when = stage.get("when")
        if isinstance(when, str):
            check_condition(checker, f"{pointer}/when", when)


def check_condition(checker: ItemChecker, pointer: str, when: str) -> None:
    """The condition's grammar, then its variables, as the item's other templates are read."""
    problem = condition_problem(when)
    if problem is not None:
        checker.error(pointer, "invalid-condition", f"condition {when!r}: {problem}")
        return
    # Unknown fields, scopes and functions are reported as in every other template
    # (``unknown-reference``, ``template-syntax``); outputs are refused: nothing has run yet.
    for _ in checker.template_refs(as_template(when), pointer, outputs_allowed=False):
        pass
