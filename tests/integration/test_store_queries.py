"""The named-query loader, and every shipped query against the real schema."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from orchestrator.store.queries import QUERIES, Queries, QueryFileError, parse_queries


def write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text, encoding="utf-8")


def test_blocks_become_named_queries_with_docs(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.sql",
        "-- header comment, before any query\n\n"
        "-- name: get_thing\n-- Fetch one thing.\n-- Second doc line.\n"
        "SELECT * FROM things\nWHERE id = %(id)s;\n\n"
        "-- name: count_things\nSELECT count(*) FROM things;\n",
    )
    queries = Queries.load(tmp_path)

    assert list(queries) == ["get_thing", "count_things"]
    assert queries.get_thing == "SELECT * FROM things\nWHERE id = %(id)s;"
    assert queries.get("get_thing").doc == "Fetch one thing.\nSecond doc line."
    assert queries.get("get_thing").source == "a.sql:3"
    assert queries.count_things == "SELECT count(*) FROM things;"


def test_duplicate_names_across_files_fail_at_load_naming_both_places(tmp_path: Path) -> None:
    write(tmp_path, "a.sql", "-- name: same\nSELECT 1;\n")
    write(tmp_path, "b.sql", "-- name: other\nSELECT 2;\n\n-- name: same\nSELECT 3;\n")

    with pytest.raises(QueryFileError, match=r"'same' is defined twice: a\.sql:1 and b\.sql:4"):
        Queries.load(tmp_path)


def test_duplicate_names_in_one_file_fail(tmp_path: Path) -> None:
    write(tmp_path, "a.sql", "-- name: same\nSELECT 1;\n-- name: same\nSELECT 2;\n")

    with pytest.raises(QueryFileError, match="defined twice"):
        Queries.load(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELECT 1;\n-- name: q\nSELECT 2;\n", r"x\.sql:1: SQL before the first"),
        ("-- name: empty\n-- only a doc\n\n-- name: q\nSELECT 1;\n", "'empty' has no SQL"),
        ("-- name: Bad-Name\nSELECT 1;\n", "not usable as a query name"),
        ("-- name: class\nSELECT 1;\n", "not usable as a query name"),
        ("-- name: get\nSELECT 1;\n", "not usable as a query name"),
    ],
)
def test_malformed_files_are_refused_with_their_location(text: str, message: str) -> None:
    with pytest.raises(QueryFileError, match=message):
        parse_queries(text, source="x.sql")


def test_unknown_query_names_fail_with_a_suggestion() -> None:
    with pytest.raises(AttributeError, match="did you mean 'store_ping'"):
        _ = QUERIES.store_pign


def _as_prepared(sql: str) -> str:
    """psycopg's %(name)s placeholders as PREPARE's $n (the server infers their types)."""
    numbers: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        return f"${numbers.setdefault(match[1], len(numbers) + 1)}"

    return re.sub(r"%\((\w+)\)s", number, sql).replace("%%", "%").rstrip().rstrip(";")


def test_every_shipped_query_parses_against_the_migrated_schema(database_url: str) -> None:
    """PREPARE checks syntax, tables, columns and parameter types without running anything."""
    assert "store_set_audit_context" in QUERIES
    failures: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name in QUERIES:
            sql = QUERIES.get(name).sql
            if not re.match(r"(?is)^\s*(with|select|insert|update|delete|values)\b", sql):
                continue  # utility statements (CREATE ...) cannot be prepared
            try:
                conn.execute(f"PREPARE q AS {_as_prepared(sql)}".encode())
                conn.execute("DEALLOCATE q")
            except psycopg.Error as exc:
                failures.append(f"{QUERIES.get(name).source} {name}: {exc}".strip())
    assert not failures, "\n".join(failures)
