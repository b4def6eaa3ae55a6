"""Each broken fixture holds one mistake; its first line says where and what the error must be.

Header format: ``# expect: <code> <line>:<column> <message fragment>``; ``# also: <code>`` lists
other codes the same mistake legitimately causes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.catalog.validator import CatalogValidator, discover

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "broken"
_EXPECT = re.compile(
    r"^# expect: (?P<code>[a-z-]+) (?P<line>\d+):(?P<col>\d+) (?P<message>.+)$", re.M
)
_ALSO = re.compile(r"^# also: (?P<codes>.+)$", re.M)

CASES = sorted(p for p in FIXTURES.iterdir() if p.suffix == ".yaml" or p.is_dir())


def _expectation(case: Path) -> tuple[Path, re.Match[str], set[str]]:
    files = sorted(case.glob("*.yaml")) if case.is_dir() else [case]
    for file in files:
        text = file.read_text()
        match = _EXPECT.search(text)
        if match:
            also = _ALSO.search(text)
            return file, match, set(also.group("codes").split()) if also else set()
    raise AssertionError(f"{case} has no '# expect:' line")


def test_there_is_a_fixture_for_each_kind_of_mistake() -> None:
    codes = {_expectation(case)[1].group("code") for case in CASES}
    assert {
        "yaml-syntax",
        "yaml-duplicate-key",
        "schema",
        "invalid-regex",
        "duplicate-item-id",
        "duplicate-field-id",
        "duplicate-action-id",
        "forward-reference",
        "cyclic-reference",
        "dangling-depends-on",
        "incompatible-depends-on",
        "missing-replacement",
        "invalid-default",
        "unknown-reference",
        "unknown-output",
        "template-syntax",
        "invalid-range",
        "not-a-mapping",
    } <= codes


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_broken_fixture_reports_its_mistake_at_the_right_place(case: Path) -> None:
    file, expect, also = _expectation(case)
    files, missing = discover([case])
    assert not missing
    report = CatalogValidator().validate_files(files)

    assert not report.valid
    located = [
        issue
        for issue in report.errors
        if issue.file == file.as_posix()
        and issue.code == expect.group("code")
        and (issue.line, issue.column) == (int(expect.group("line")), int(expect.group("col")))
    ]
    assert located, f"expected {expect.group(0)!r}, got:\n" + "\n".join(map(str, report.issues))
    assert expect.group("message") in located[0].message
    unexpected = {i.code for i in report.issues} - {expect.group("code")} - also
    assert not unexpected, "\n".join(map(str, report.issues))
