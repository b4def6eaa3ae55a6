"""Arbitrary input never makes the loader or validator raise: always success or located issues."""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.catalog.validator import CatalogValidator
from orchestrator.catalog.yaml_loader import YamlLoadError, load_yaml

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
    line_count = max(1, text.count("\n") + 1)
    for issue in report_issues:
        assert issue.file == "prop.yaml"
        assert 1 <= issue.line <= line_count + 1
        assert issue.column >= 1
        assert issue.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
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
