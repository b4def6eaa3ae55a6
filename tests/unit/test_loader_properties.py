"""Arbitrary input never makes the loader or validator raise: always success or located issues."""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orchestrator.catalog.validator import CatalogValidator
from orchestrator.catalog.yaml_loader import YamlLoadError, load_yaml
from orchestrator.editor_lines import line_count, split_lines

VALIDATOR = CatalogValidator()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["pao/v1", "CatalogItem", "ServiceRequest", "{{fields.x}}", "{{#if", "}}"]),
)
keys = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "apiVersion",
            "kind",
            "metadata",
            "fulfillment",
            "actions",
            "id",
            "type",
            "config",
            "fields",
        ]
    ),
)
json_like = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(keys, children, max_size=6)
    ),
    max_leaves=40,
)


def _check_located(report_issues: list[Any], text: str) -> None:
    """Every issue on a line an editor shows (only \\n, \\r\\n and \\r end lines), at most
    one column past that line's end."""
    lines = split_lines(text) or [""]
    if len(lines) < line_count(text):
        lines.append("")  # the empty line after a final break
    for issue in report_issues:
        assert issue.file == "prop.yaml"
        assert 1 <= issue.line <= line_count(text), (issue, text)
        assert 1 <= issue.column <= len(lines[issue.line - 1]) + 1, (issue, text)
        assert issue.message


def _load_and_validate(text: str) -> None:
    try:
        load_yaml(text, "prop.yaml")
    except YamlLoadError as exc:
        failure: YamlLoadError | None = exc
    else:
        failure = None
    if failure is not None:
        assert failure.issues
        _check_located(failure.issues, text)
    report = VALIDATOR.validate_texts([("prop.yaml", text)])
    _check_located(report.issues, text)
    assert report.valid == (not report.errors)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
@example("-\x850")  # PyYAML counted U+0085 as a line break: reported line 2 of a one-line file
def test_arbitrary_text_never_raises(text: str) -> None:
    _load_and_validate(text)


# Characters that some tool treats as a line break and editors do not (PyYAML: U+0085, U+2028,
# U+2029; str.splitlines: also \x0b, \x0c, \x1c-\x1e), mixed with the real breaks and YAML.
_BREAKISH = ["\x85", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]
yamlish_text = st.lists(
    st.sampled_from([*_BREAKISH, "\n", "\r", "\r\n", *"ab0-: [],{}#'\"\t|>&*!"]), max_size=120
).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yamlish_text)
@example("-\x850")
@example("a: 1\n\x85b: [\n")
@example("a:\u2028 b: c\r  d: e\r\nf: [")
@example("k: v\x0c\x1c\x1d\x1e\u2029\x0b: [")
def test_reported_lines_are_editor_lines(text: str) -> None:
    """Whatever PyYAML thinks a line break is, every reported line is one an editor shows."""
    _load_and_validate(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_like)
def test_arbitrary_structures_never_raise(data: Any) -> None:
    for text in (yaml.safe_dump(data), json.dumps(data)):
        report = VALIDATOR.validate_texts([("prop.yaml", text)])
        _check_located(report.issues, text)
        if isinstance(data, dict) and data.get("kind") != "ServiceRequest":
            assert not report.valid  # random structures are never a whole catalog item


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["metadata", "presentation", "fulfillment", "lifecycle", "monitoring"]),
        json_like,
    )
)
def test_arbitrary_sections_of_an_item_never_raise(sections: dict[str, Any]) -> None:
    data = {"apiVersion": "pao/v1", "kind": "CatalogItem", **sections}
    report = VALIDATOR.validate_texts([("prop.yaml", yaml.safe_dump(data))])
    assert not report.valid
    assert all(issue.code for issue in report.issues)
