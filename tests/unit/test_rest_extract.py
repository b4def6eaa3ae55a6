"""The JMESPath subset used by rest-api outputs and async conditions, and the secret resolver."""

from __future__ import annotations

from typing import Any

import pytest

from actions.extract import ExpressionError, compile_expression, is_truthy, search
from actions.rest_api import SecretError, SecretResolver, parse_duration

DOC: dict[str, Any] = {
    "id": "r-1",
    "links": {"self": "https://x/r-1"},
    "items": [{"name": "a"}, {"name": "b"}],
    "odd-key": {"v": 1},
    "state": "done",
    "count": 0,
    "ok": True,
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("id", "r-1"),
        ("links.self", "https://x/r-1"),
        ("items[0].name", "a"),
        ("items[-1].name", "b"),
        ("items[5].name", None),
        ('"odd-key".v', 1),
        ("missing.deeper", None),
        ("id.nested", None),
        ("@", DOC),
        ("state == 'done'", True),
        ("state != 'done'", False),
        ("count == `0`", True),
        ("ok == `true`", True),
        ("ok == `1`", False),
    ],
)
def test_search(expression: str, expected: Any) -> None:
    assert search(expression, DOC) == expected


@pytest.mark.parametrize(
    "expression", ["", "items[*].name", "a || b", "length(items)", "a.", "[?x]", "a == b"]
)
def test_unsupported_expressions_raise(expression: str) -> None:
    with pytest.raises(ExpressionError):
        compile_expression(expression)


def test_truthiness_follows_jmespath() -> None:
    values: list[Any] = [None, False, "", [], {}, 0, "x", [1], True]
    assert [is_truthy(v) for v in values] == [
        False,
        False,
        False,
        False,
        False,
        True,
        True,
        True,
        True,
    ]


def test_secret_resolver_uses_the_given_mapping_only() -> None:
    resolver = SecretResolver({"TOKEN": "t0k"})
    assert resolver.resolve("env:TOKEN") == "t0k"
    with pytest.raises(SecretError, match="not set"):
        resolver.resolve("env:PATH")
    with pytest.raises(SecretError, match="'aws-sm:prod/token'"):  # no region configured
        resolver.resolve("aws-sm:prod/token")
    with pytest.raises(SecretError, match="invalid"):
        resolver.resolve("TOKEN")


def test_parse_duration() -> None:
    assert parse_duration("30s", 1.0) == 30.0
    assert parse_duration("2m", 1.0) == 120.0
    assert parse_duration(None, 7.0) == 7.0
    assert parse_duration("bad", 7.0) == 7.0
