"""Named SQL queries, loaded from ``orchestrator/store/sql/*.sql``.

SQL lives in ``.sql`` files (readable, reviewable, copy-pasteable into psql) and is reached as
``QUERIES.<name>``. Each block starts with ``-- name: <query_name>``, may continue with
``-- <doc>`` lines, then holds one statement with ``%(param)s`` placeholders. The text is typed
``LiteralString`` because it comes from files shipped with the code, never from input: values are
always bound as parameters, never formatted into the SQL.
"""

from __future__ import annotations

import difflib
import keyword
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, LiteralString, cast

from orchestrator.editor_lines import split_lines

_NAME_LINE = re.compile(r"^--\s*name:\s*(?P<name>\S+)\s*$")
_VALID_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class QueryFileError(ValueError):
    """A query file is malformed or a name is defined twice; the message says where."""


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    sql: LiteralString
    doc: str
    source: str  # "file.sql:line", for error messages


def as_literal(text: str) -> LiteralString:
    """Vouch that ``text`` is SQL shipped with the code (a query or migration file), so
    checkers that enforce ``LiteralString`` (pyright, psycopg's stubs) accept it. Through
    ``Any``, because mypy treats ``LiteralString`` as ``str`` and flags a direct cast."""
    literal: LiteralString = cast(Any, text)
    return literal


def parse_queries(text: str, *, source: str) -> list[Query]:
    """Split one file's text into its named queries (duplicates are checked by the caller)."""
    queries: list[Query] = []
    name: str | None = None
    start = 0
    doc: list[str] = []
    body: list[str] = []

    def finish() -> None:
        if name is None:
            return
        sql = "\n".join(body).strip()
        if not sql:
            raise QueryFileError(f"{source}:{start}: query {name!r} has no SQL")
        queries.append(Query(name, as_literal(sql), "\n".join(doc), f"{source}:{start}"))

    for number, line in enumerate(split_lines(text), start=1):
        match = _NAME_LINE.match(line.strip())
        if match:
            finish()
            name, start, doc, body = match["name"], number, [], []
            if not _VALID_NAME.match(name) or keyword.iskeyword(name) or hasattr(Queries, name):
                raise QueryFileError(
                    f"{source}:{number}: {name!r} is not usable as a query name "
                    "(lowercase letters, digits and _, not a Python keyword or a Queries method)"
                )
        elif name is None:
            if line.strip() and not line.lstrip().startswith("--"):
                raise QueryFileError(
                    f"{source}:{number}: SQL before the first '-- name:' line belongs to no query"
                )
        elif not body and line.lstrip().startswith("--"):
            doc.append(line.lstrip()[2:].strip())
        elif body or line.strip():
            body.append(line.rstrip())
    finish()
    return queries


class Queries:
    """Read-only collection of named queries, reached as attributes (``QUERIES.get_request``)."""

    __slots__ = ("_queries",)

    def __init__(self, queries: Iterable[Query]) -> None:
        found: dict[str, Query] = {}
        for query in queries:
            first = found.get(query.name)
            if first is not None:
                raise QueryFileError(
                    f"query {query.name!r} is defined twice: {first.source} and {query.source}"
                )
            found[query.name] = query
        self._queries: Mapping[str, Query] = found

    @classmethod
    def load(cls, directory: Traversable | None = None) -> Queries:
        """Load every ``*.sql`` file of ``directory`` (default: the package's ``sql/``)."""
        root = directory if directory is not None else files("orchestrator.store") / "sql"
        entries = sorted(
            (entry for entry in root.iterdir() if entry.name.endswith(".sql") and entry.is_file()),
            key=lambda entry: entry.name,
        )
        parsed: list[Query] = []
        for entry in entries:
            parsed.extend(parse_queries(entry.read_text(encoding="utf-8"), source=entry.name))
        return cls(parsed)

    def __getattr__(self, name: str) -> LiteralString:
        try:
            return self._queries[name].sql
        except KeyError:
            close = difflib.get_close_matches(name, list(self._queries), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise AttributeError(f"no SQL query named {name!r}{hint}") from None

    def get(self, name: str) -> Query:
        """The query with its doc and source location (``KeyError`` when unknown)."""
        return self._queries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._queries

    def __iter__(self) -> Iterator[str]:
        return iter(self._queries)

    def __len__(self) -> int:
        return len(self._queries)

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self._queries]


QUERIES = Queries.load()
"""Every query shipped with PAO; loading at import makes a malformed or duplicate query fail at
start-up rather than on the first request that needs it."""
