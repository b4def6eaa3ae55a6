"""CODEOWNERS parsing and matching with GitHub's semantics (GitHub's documented examples)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.catalog.codeowners import CodeOwners, is_owner, owner_team_problems
from orchestrator.cli import main

EXAMPLE = """\
# Lines starting with '#' are comments.
*       @global-owner1 @global-owner2
*.js    @js-owner  # an inline comment
*.go docs@example.com
/build/logs/ @doctocat
docs/*  docs@example.com
apps/ @octocat
/docs/ @doctocat
/scripts/ @doctocat @octocat
/apps/github
catalog/databases/ @acme/dba
catalog/**/kafka-*.yaml @acme/streaming
catalog-schema/ @acme/catalog-team
"""


@pytest.fixture
def owners() -> CodeOwners:
    return CodeOwners.parse(EXAMPLE)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("README.md", ("@global-owner1", "@global-owner2")),
        ("src/app.js", ("@js-owner",)),
        ("main.go", ("docs@example.com",)),
        ("build/logs/today.log", ("@doctocat",)),
        ("deep/build/logs/x.log", ("@global-owner1", "@global-owner2")),  # anchored
        ("docs/getting-started.md", ("@doctocat",)),  # /docs/ wins: it comes later
        ("web/apps/index.html", ("@octocat",)),  # apps/ at any depth
        ("apps/github/x.txt", ()),  # no owners: un-owned
        ("scripts/deploy.sh", ("@doctocat", "@octocat")),
        ("catalog/databases/pg.yaml", ("@acme/dba",)),
        ("catalog/messaging/kafka-topic.yaml", ("@acme/streaming",)),
        ("catalog/kafka-x.yaml", ("@acme/streaming",)),
        ("catalog-schema/catalog-item.schema.json", ("@acme/catalog-team",)),
    ],
)
def test_last_matching_rule_wins(owners: CodeOwners, path: str, expected: tuple[str, ...]) -> None:
    assert owners.owners_of(path) == expected


def test_star_in_the_last_segment_does_not_cover_subdirectories() -> None:
    rules = CodeOwners.parse("* @all\nnotes/* @writers\n")
    assert rules.owners_of("notes/a.md") == ("@writers",)
    assert rules.owners_of("notes/deep/a.md") == ("@all",)


def test_bad_owner_is_a_located_problem() -> None:
    parsed = CodeOwners.parse("* @ok\n/docs/ not-an-owner\n")
    assert [(p.line, "not-an-owner" in p.message) for p in parsed.problems] == [(2, True)]
    assert len(parsed.rules) == 1


def test_who_is_an_owner() -> None:
    owners = ("@acme/dba", "@octocat", "lead@example.com")
    assert is_owner(owners, email="x@example.com", teams=("acme/dba",))
    assert is_owner(owners, email="x@example.com", teams=("dba",))
    assert is_owner(owners, email="x@example.com", teams=(), login="OctoCat")
    assert is_owner(owners, email="Lead@Example.com", teams=())
    assert not is_owner(owners, email="x@example.com", teams=("payments",), login="someone")


def test_owner_team_must_match_codeowners(owners: CodeOwners) -> None:
    problems = owner_team_problems(
        owners,
        [
            ("catalog/databases/pg.yaml", "pg", "dba"),
            ("catalog/databases/mysql.yaml", "mysql", "payments"),
        ],
    )
    assert len(problems) == 1
    path, message = problems[0]
    assert path == "catalog/databases/mysql.yaml"
    assert "'payments'" in message
    assert "@acme/dba" in message


def test_catalog_validate_checks_owner_teams_against_codeowners(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "catalog"
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "pg.yaml").write_text(
        (examples / "databases" / "database-postgresql-standard.yaml").read_text()
    )
    (tmp_path / "catalog" / "kafka.yaml").write_text(
        (examples / "messaging" / "kafka-topic.yaml").read_text()
    )
    (tmp_path / "CODEOWNERS").write_text(
        "* @acme/platform\ncatalog/pg.yaml @acme/dba\ncatalog/kafka.yaml @acme/other bad\n"
    )
    monkeypatch.chdir(tmp_path)
    code = main(
        ["catalog", "validate", "catalog", "--codeowners", "CODEOWNERS", "--format", "json"]
    )
    assert code == 1
    issues = json.loads(capsys.readouterr().out)["issues"]
    by_code = {i["code"]: i for i in issues}
    # The bad line is reported and dropped, so kafka falls back to '*' (another team).
    assert set(by_code) == {"codeowners-syntax", "codeowners-mismatch"}
    assert (by_code["codeowners-syntax"]["file"], by_code["codeowners-syntax"]["line"]) == (
        "CODEOWNERS",
        3,
    )
    assert "@acme/platform" in by_code["codeowners-mismatch"]["message"]

    (tmp_path / "CODEOWNERS").write_text(
        "* @acme/platform\ncatalog/pg.yaml @acme/dba\ncatalog/kafka.yaml @acme/other\n"
    )
    code = main(
        ["catalog", "validate", "catalog", "--codeowners", "CODEOWNERS", "--format", "json"]
    )
    assert code == 1
    (issue,) = json.loads(capsys.readouterr().out)["issues"]
    assert issue["code"] == "codeowners-mismatch"
    assert issue["file"] == "catalog/kafka.yaml"
    assert issue["pointer"] == "/metadata/owner/team"
    assert issue["line"] > 1

    (tmp_path / "CODEOWNERS").write_text(
        "catalog/pg.yaml @acme/dba\ncatalog/kafka.yaml @acme/streaming\n"
    )
    assert main(["catalog", "validate", "catalog", "--codeowners", "CODEOWNERS"]) == 0
