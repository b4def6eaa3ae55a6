"""The input guard's pieces: depth counted without recursion, located string problems."""

from __future__ import annotations

import time

import pytest

from api.input_guard import body_errors, nesting_depth
from orchestrator.storable import pointer, refused_text, unstorable


def test_depth_ignores_brackets_inside_strings() -> None:
    assert nesting_depth(b'{"a": "[[[[{{{{", "b": [1, [2]]}', 64) == 3
    assert nesting_depth(b'["\\"[[[", [[]]]', 64) == 3
    assert nesting_depth(b"[]", 64) == 1
    assert nesting_depth(b'"text"', 64) == 0


def test_a_depth_bomb_stops_at_the_limit_quickly() -> None:
    bomb = b"[" * 100_000 + b"]" * 100_000
    started = time.perf_counter()
    assert nesting_depth(bomb, 64) == 65
    assert time.perf_counter() - started < 5  # generous: it stops after 65 brackets
    wide = b"[" + b"[]," * 300_000 + b"[]]"
    assert nesting_depth(wide, 64) == 2


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a\x00b", "NUL"),
        ("\ud800", "surrogate"),
        ("x\udfffy", "surrogate"),
        ("y" * 11, "longer than 10"),
    ],
)
def test_refused_text(value: str, reason: str) -> None:
    refused = refused_text(value, 10)
    assert refused is not None
    assert reason in refused


def test_plain_text_passes() -> None:
    assert refused_text("héllo ✓ \U0001f600", 10) is None


def test_body_errors_are_located_by_json_pointer() -> None:
    document = {"fields": {"a/b": "x\x00", "k\x00": 1, "list": [1, "ok", "\x00"]}, "t": "ok"}
    errors = body_errors(document, 100)
    assert sorted(e["pointer"] for e in errors) == [
        "/fields/a~1b",
        "/fields/k\ufffd",
        "/fields/list/2",
    ]
    assert {e["message"].split()[0] for e in errors} == {"object", "string"}
    assert pointer(("a~b", 0, "\ud800")) == "/a~0b/0/\ufffd"


def test_yaml_values_json_does_not_have_are_unstorable() -> None:
    document = {"a": b"bytes", "b": [float("nan"), float("inf")], 1: "x", "ok": [1, 2.5, None]}
    found = {(u.pointer, u.message.split()[0]) for u in unstorable(document)}
    assert found == {("/a", "bytes"), ("/b/0", "number"), ("/b/1", "number"), ("/1", "object")}


def test_unstorable_is_iterative_and_bounded() -> None:
    deep: list[object] = ["\x00"]
    for _ in range(50_000):
        deep = [deep]
    assert [u.message for u in unstorable(deep)] == [
        "string contains a NUL character (U+0000), which cannot be stored"
    ]
    many = {f"k{i}": "\x00" for i in range(100)}
    assert len(unstorable(many, limit=20)) == 20
