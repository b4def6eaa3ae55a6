"""Request files and catalog items the schema accepts but the store or the typed model cannot:
located issues (file:line and JSON pointer), never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.request_files import parse_request_file
from orchestrator.catalog.models import ServiceRequestFile
from orchestrator.catalog.validator import check_document, model_issues
from orchestrator.catalog.yaml_loader import load_yaml

ROOT = Path(__file__).resolve().parents[2]
HEAD = "apiVersion: pao/v1\nkind: ServiceRequest\ncatalogItem: database-postgresql-standard\n"


@pytest.mark.parametrize(
    ("tail", "pointer", "line", "words"),
    [
        ('title: "orders\\0db"\nfields: {a: 1}\n', "/title", 4, "NUL"),
        ("fields:\n  a: 1\n  blob: !!binary aGVsbG8=\n", "/fields/blob", 6, "bytes"),
        ("fields:\n  size: .nan\n", "/fields/size", 5, "finite"),
        ('fields:\n  tags: ["ok", "x\\0"]\n', "/fields/tags/1", 5, "NUL"),
        ("fields:\n  nested:\n    s: !!set {a, b}\n", "", 0, ""),  # a set loads as a mapping
    ],
    ids=["nul-title", "binary", "nan", "nul-in-list", "set"],
)
def test_unstorable_values_are_located_issues(
    tail: str, pointer: str, line: int, words: str
) -> None:
    text = HEAD + tail
    for issues in (
        check_document("requests/a.yaml", text).issues,
        parse_request_file("requests/a.yaml", text).issues,
    ):
        if not pointer:
            assert issues == []
            continue
        assert [(i.pointer, i.line, i.code) for i in issues] == [(pointer, line, "unstorable")]
        assert words in issues[0].message
    parsed = parse_request_file("requests/a.yaml", text)
    assert parsed.valid is (not pointer)


def test_catalog_item_values_the_store_refuses_are_located() -> None:
    source = ROOT / "examples" / "catalog" / "access" / "access-grant-production.yaml"
    text = source.read_text()
    assert "  name: Production Access Grant\n" in text
    text = text.replace("  name: Production Access Grant\n", '  name: "Production\\0Access"\n')
    result = check_document("item.yaml", text)
    assert [(i.code, i.pointer, i.line) for i in result.issues] == [
        ("unstorable", "/metadata/name", 6)
    ]


def test_a_typed_model_refusal_is_located_per_error_without_the_value() -> None:
    doc, _ = load_yaml(HEAD + "fields: secret-value-here\ntitle: 7\n", "requests/a.yaml")
    with pytest.raises(ValidationError) as caught:
        ServiceRequestFile.model_validate(doc.data)
    issues = model_issues(doc, caught.value)
    assert {(i.pointer, i.line) for i in issues} == {("/fields", 4), ("/title", 5)}
    assert all(i.code == "model" for i in issues)
    assert not any("secret-value-here" in i.message for i in issues)
