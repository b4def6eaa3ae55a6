"""Lines numbered as editors and GitHub number them, in every place PAO reports a location."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from actions.jira.settings import JiraSettingsError, parse_instances
from orchestrator.catalog.codeowners import CodeOwners
from orchestrator.catalog.yaml_loader import YamlLoadError, load_yaml
from orchestrator.editor_lines import LineIndex, line_count, position, split_lines
from orchestrator.issue_forms import sections

BREAKISH = "\x85\u2028\u2029\x0b\x0c\x1c\x1d\x1e"
texts = st.lists(st.sampled_from(["\n", "\r", "\r\n", *BREAKISH, "a", "b", " "]), max_size=60).map(
    "".join
)


def _reference(text: str, offset: int) -> tuple[int, int]:
    """Naive definition: count editor breaks before ``offset`` ("\r\n" is one break)."""
    before = text[:offset]
    breaks = list(re.finditer(r"\r\n|\r|\n", before))
    start = breaks[-1].end() if breaks else 0
    return len(breaks) + 1, offset - start + 1


@given(texts, st.data())
@example("a\x85b\u2028c", None)
def test_positions_match_the_naive_definition(text: str, data: st.DataObject | None) -> None:
    index = LineIndex(text)
    offsets = range(len(text) + 1) if data is None else [data.draw(st.integers(0, len(text)))]
    for offset in offsets:
        if offset and text[offset - 1 : offset + 1] == "\r\n":
            continue  # between \r and \n: not a place any parser reports
        assert index.position(offset) == _reference(text, offset)
    assert index.position(len(text))[0] == line_count(text)


@given(texts)
@example("a\x0cb\r\nc\rd\n")
def test_split_lines_splits_at_editor_breaks_only(text: str) -> None:
    lines = split_lines(text)
    assert "".join(lines) == re.sub(r"\r\n|\r|\n", "", text)
    assert len(lines) in (line_count(text), line_count(text) - 1)
    assert all(ch not in line for line in lines for ch in "\r\n")
    plain = text.translate({ord(c): None for c in BREAKISH})
    assert split_lines(plain) == plain.splitlines()


def test_yaml_error_after_nel_is_on_the_editor_line() -> None:
    with pytest.raises(YamlLoadError) as caught:
        load_yaml("a: 1\n\x85b: [\n", "x.yaml")
    assert [(i.line, i.column) for i in caught.value.issues] == [(3, 1)]
    doc, _ = load_yaml("a:\u2028 x\r\nb:\r  c: 1\n", "x.yaml")
    assert doc.position("/b/c") == (3, 6)
    assert doc.position("/b") == (3, 3)


def test_codeowners_problems_are_on_editor_lines() -> None:
    owners = CodeOwners.parse("# a\x0cstill the comment\r\n*.yaml nobody\n")
    assert [p.line for p in owners.problems] == [2]


def test_json_settings_errors_count_lone_carriage_returns() -> None:
    with pytest.raises(JiraSettingsError, match="line 3 column 1"):
        parse_instances('{\r"a":\r}')
    assert position('{\r"a":\r}', 7) == (3, 1)


def test_issue_form_sections_split_at_lone_carriage_returns() -> None:
    from tests.unit.test_issue_forms import item

    answers, _ = sections(item(), "### Name\rorders\r### Size\r\nSmall\u2028x")
    assert answers == {"name": "orders", "size": "Small\u2028x"}
