"""``approvals`` in the catalog contract: the schema, the typed model and the located semantic
checks (file:line, JSON pointer) of the catalog validator; the example catalog stays valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.catalog.validator import CatalogValidator, check_document, discover

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "catalog"

ITEM = """\
apiVersion: pao/v1
kind: CatalogItem
metadata:
  id: gated-item
  name: Gated Item
  description: An item behind an approval gate.
  version: 1.0.0
  category: access
  owner: {team: security, contact: sec@example.com}
presentation:
  form:
    groups:
      - id: basic
        name: Basic
        fields:
          - {id: environment, name: Environment, type: select, enum: [dev, prod]}
fulfillment:
  actions:
    - id: notify
      type: rest-api
      config: {method: POST, url: "https://example.com/hook"}
approvals:
"""


def check(stages: str) -> list[tuple[int, str, str, str]]:
    """(line, code, pointer, message) of every issue of ITEM with ``stages`` appended."""
    result = check_document("gated.yaml", ITEM + stages)
    return [(i.line, i.code, i.pointer, i.message) for i in result.issues]


def test_a_valid_gate_passes_and_reaches_the_typed_model() -> None:
    result = check_document(
        "gated.yaml",
        ITEM
        + "  - name: security\n"
        + "    teams: [security, acme/sre]\n"
        + "    users: [lead@example.com, '@octocat']\n"
        + "    count: 2\n"
        + "    when: \"fields.environment == 'prod'\"\n"
        + "    expiresAfter: 3d\n"
        + "  - {name: owners, codeowners: true, allowRequester: true}\n",
    )
    assert result.issues == []
    assert result.model is not None
    stages = result.model.approvals  # type: ignore[union-attr]
    assert [s.name for s in stages] == ["security", "owners"]
    assert stages[0].count == 2
    assert stages[0].expires_after_seconds == 3 * 86400
    assert stages[1].count == 1
    assert stages[1].allow_requester is True
    assert stages[0].allow_requester is False


def test_an_item_without_approvals_has_none() -> None:
    result = check_document("plain.yaml", ITEM.removesuffix("approvals:\n"))
    assert result.issues == []
    assert result.model.approvals == ()  # type: ignore[union-attr]


def test_duplicate_stage_names_are_located_at_the_second() -> None:
    issues = check("  - {name: security, teams: [security]}\n  - {name: security, teams: [sre]}\n")
    assert issues == [
        (
            24,
            "duplicate-approval-stage",
            "/approvals/1/name",
            "approval stage 'security' is already defined at line 23",
        )
    ]


@pytest.mark.parametrize(
    ("team", "message"),
    [
        ("@acme/security", "team '@acme/security': write it without '@' ('acme/security')"),
        ("security team", "team 'security team' is not a team slug"),
        ("a/b/c", "team 'a/b/c' is not a team slug"),
    ],
)
def test_a_team_that_is_not_a_slug_is_refused_where_it_is(team: str, message: str) -> None:
    issues = check(f"  - name: security\n    teams: [ok, '{team}']\n")
    assert len(issues) == 1
    line, code, pointer, text = issues[0]
    assert (line, code, pointer) == (24, "invalid-approver", "/approvals/0/teams/1")
    assert text.startswith(message)


def test_a_user_that_is_a_team_or_nothing_known_is_refused() -> None:
    issues = check("  - name: security\n    users: ['@acme/security', bob]\n")
    assert [(code, pointer) for _, code, pointer, _ in issues] == [
        ("invalid-approver", "/approvals/0/users/0"),
        ("invalid-approver", "/approvals/0/users/1"),
    ]
    assert "is a team: list it under teams as 'acme/security'" in issues[0][3]


def test_a_stage_naming_nobody_is_refused() -> None:
    issues = check("  - {name: security, codeowners: false}\n")
    assert [(line, code, pointer) for line, code, pointer, _ in issues] == [
        (23, "no-approvers", "/approvals/0")
    ]


def test_a_count_larger_than_the_people_named_is_refused() -> None:
    issues = check("  - name: two\n    users: [a@example.com, A@example.com]\n    count: 2\n")
    assert issues == [
        (
            25,
            "unreachable-approval-count",
            "/approvals/0/count",
            "approval stage 'two' needs 2 approvals but names only 1 person",
        )
    ]
    # With a team (or CODEOWNERS) the count can be reached by its members.
    assert check("  - {name: two, users: [a@example.com], teams: [sre], count: 2}\n") == []


def test_a_count_below_one_is_refused_by_the_schema() -> None:
    issues = check("  - {name: zero, teams: [sre], count: 0}\n")
    assert len(issues) == 1
    assert issues[0][0] == 23
    assert issues[0][2] == "/approvals/0/count"


def test_a_bad_duration_is_refused_by_the_schema() -> None:
    issues = check("  - name: late\n    teams: [sre]\n    expiresAfter: 3 days\n")
    assert len(issues) == 1
    assert (issues[0][0], issues[0][2]) == (25, "/approvals/0/expiresAfter")


@pytest.mark.parametrize(
    ("when", "code", "fragment"),
    [
        ("fields.environment + 1", "invalid-condition", "unexpected character '+'"),
        ("fields.environment ==", "invalid-condition", "expression ends too early"),
        (
            "{{fields.environment}} and {{fields.environment}}",
            "invalid-condition",
            "must be one expression",
        ),
        ("fields.enviroment == 'prod'", "unknown-reference", "did you mean 'environment'?"),
        ("outputs.notify.status_code == 200", "unknown-reference", "not available here"),
        ("request.user.team == 'x'", "unknown-reference", "is not a known request variable"),
    ],
)
def test_a_bad_condition_is_refused_where_it_is(when: str, code: str, fragment: str) -> None:
    issues = check(f'  - name: gated\n    teams: [sre]\n    when: "{when}"\n')
    assert len(issues) == 1, issues
    line, found_code, pointer, message = issues[0]
    assert (line, found_code, pointer) == (25, code, "/approvals/0/when")
    assert fragment in message


def test_unknown_stage_keys_are_refused_by_the_schema() -> None:
    issues = check("  - {name: gated, teams: [sre], approvers: [x]}\n")
    assert len(issues) == 1
    assert issues[0][0] == 23


def test_the_example_catalog_still_validates_and_uses_approvals() -> None:
    files, missing = discover([EXAMPLES])
    report = CatalogValidator().validate_files(files, display_root=ROOT)
    assert not missing
    assert report.errors == [], [str(i) for i in report.errors]
    gated = {i: e.item.approvals for i, e in report.items.items() if e.item.approvals}
    assert set(gated) >= {"access-grant-production", "dns-record"}
    assert gated["dns-record"][0].when is not None
