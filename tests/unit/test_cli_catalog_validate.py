from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BROKEN = FIXTURES / "broken"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_example_catalog_is_valid(capsys: pytest.CaptureFixture[str], repo_root: Path) -> None:
    code, out, _ = run(
        capsys, "catalog", "validate", str(repo_root / "examples"), "--format", "json"
    )
    report = json.loads(out)
    # Request files are checked against their items: none has an error; a request for a
    # deprecated item is warned about, as the API warns.
    assert report["summary"]["errors"] == 0
    assert {(i["code"], i["pointer"]) for i in report["issues"]} <= {("request", "/catalogItem")}
    assert all("is deprecated" in i["message"] for i in report["issues"])
    assert code == 0
    assert report["summary"]["items"] >= 8
    assert report["summary"]["requests"] >= 4


def test_invalid_files_exit_1_and_do_not_stop_the_others(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys,
        "catalog",
        "validate",
        str(BROKEN / "bad-yaml.yaml"),
        str(BROKEN / "bad-regex.yaml"),
        str(BROKEN / "unknown-output.yaml"),
        "--format",
        "json",
    )
    report = json.loads(out)
    assert code == 1
    assert report["valid"] is False
    assert {i["code"] for i in report["issues"]} == {
        "yaml-syntax",
        "invalid-regex",
        "unknown-output",
    }


def test_json_output_shape_is_stable(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(
        capsys, "catalog", "validate", str(BROKEN / "bad-regex.yaml"), "--format", "json"
    )
    report = json.loads(out)
    assert list(report) == ["valid", "summary", "issues"]
    assert list(report["summary"]) == ["files", "items", "requests", "errors", "warnings"]
    (issue,) = report["issues"]
    assert list(issue) == ["file", "line", "column", "code", "message", "pointer", "severity"]
    assert issue["pointer"] == "/presentation/form/groups/0/fields/2/validation/pattern"


def test_github_format_prints_workflow_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "catalog", "validate", str(BROKEN / "forward-reference.yaml"), "--format", "github"
    )
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith("::error file=")
    assert ",line=23,col=21,title=pao forward-reference::" in first
    assert "%0A" not in first or "\n" not in first


def test_github_format_escapes_newlines_and_commas(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "a,b.yaml"
    bad.write_text("a: [1,\nb: 2\n")
    _, out, _ = run(capsys, "catalog", "validate", str(bad), "--format", "github")
    assert "a%2Cb.yaml" in out.splitlines()[0]


def test_text_format_names_file_line_and_column(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalog", "validate", str(BROKEN / "dangling-depends-on.yaml"))
    assert code == 1
    assert "dangling-depends-on.yaml:19:92: error: [dangling-depends-on]" in out
    assert out.splitlines()[-1].startswith("FAILED 1 files")


def test_missing_path_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "catalog", "validate", str(tmp_path / "nope"))
    assert code == 2
    assert "no such file or directory" in err


def test_directory_without_yaml_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "catalog", "validate", str(tmp_path))
    assert code == 2
    assert "no .yaml or .yml files" in err


def test_unknown_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "catalog", "validate", ".", "--format", "xml")
    assert code == 2
    assert "invalid choice" in err
