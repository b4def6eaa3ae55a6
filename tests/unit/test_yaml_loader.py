from __future__ import annotations

import pytest

from orchestrator.catalog.yaml_loader import YamlLoadError, load_yaml


def test_positions_are_recorded_for_every_node() -> None:
    doc, issues = load_yaml("a: 1\nb:\n  - x: 2\n  - [1, 'two']\n", "f.yaml")
    assert not issues
    assert doc.data == {"a": 1, "b": [{"x": 2}, [1, "two"]]}
    assert doc.position("/a") == (1, 4)
    assert doc.position("/b/0/x") == (3, 8)
    assert doc.position("/b/1/1") == (4, 9)
    assert doc.position("/b/0/x", key=True) == (3, 5)


def test_unknown_pointer_falls_back_to_nearest_ancestor() -> None:
    doc, _ = load_yaml("a:\n  b: 1\n", "f.yaml")
    assert doc.position("/a/b/c/d") == doc.position("/a/b")
    assert doc.position("/zzz") == (1, 1)


def test_pointer_tokens_are_escaped() -> None:
    doc, _ = load_yaml("'a/b': {'c~d': 1}\n", "f.yaml")
    assert doc.position("/a~1b/c~0d") == (1, 16)


def test_duplicate_keys_are_reported_where_they_repeat() -> None:
    _, issues = load_yaml("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert [(i.code, i.line, i.column, i.pointer) for i in issues] == [
        ("yaml-duplicate-key", 3, 1, "/a")
    ]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("a: [1,\nb: 2", 2, "expected ','"),  # end of input: libyaml says line 3 of 2
        ("a: b: c\n", 1, "mapping values are not allowed"),
        ("", 1, "empty"),
        ("a: !!python/object:os.system x\n", 1, "could not determine a constructor"),
        ("\t- x\n", 1, "tab"),
    ],
)
def test_unusable_text_raises_a_located_error(text: str, line: int, fragment: str) -> None:
    with pytest.raises(YamlLoadError) as caught:
        load_yaml(text, "f.yaml")
    (issue,) = caught.value.issues
    assert issue.code == "yaml-syntax"
    assert issue.line == line
    assert fragment in issue.message


def test_alias_bombs_are_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(YamlLoadError) as caught:
        load_yaml("\n".join(lines), "bomb.yaml")
    assert "expands to over" in caught.value.issues[0].message


def test_invalid_utf8_is_a_located_error() -> None:
    with pytest.raises(YamlLoadError) as caught:
        load_yaml(b"a: \xff\xfe\n", "f.yaml")
    assert "UTF-8" in caught.value.issues[0].message
