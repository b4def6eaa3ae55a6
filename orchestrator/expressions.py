"""The expression grammar of rest-api ``outputs``, ``successWhen`` and ``failureWhen``: a small,
safe subset of JMESPath. Parsing and validation only (pure functions); the executor evaluates
parsed expressions against a response (``actions.extract``), and the catalog validator reports
an unsupported one before it merges (``orchestrator.catalog.semantics``, code
``unsupported-expression``). One grammar for both, so they cannot disagree.

Supported (a strict subset: every accepted expression means the same as in JMESPath):

- a path of identifiers and indexes: ``id``, ``links.self``, ``items[0].name``, ``a[-1]``,
  ``"quoted-name".x`` (double-quoted identifiers), and ``@`` for the whole document;
- one comparison of a path with a literal: ``status == 'done'``, ``state != 'running'``,
  ``code == `201```, ``ready == `true``` (raw string ``'...'`` or JSON literal in backticks).

Not supported (yet): ordering comparisons (``<``, ``<=``, ``>``, ``>=``), projections (``[*]``,
``[]``), filters (``[?...]``), functions, pipes, ``||``/``&&``/``!``, multi-selects, slices. Such
an expression raises ``ExpressionError`` instead of silently meaning something else. Once
``jmespath`` is a dependency, ``compile_expression`` is the one place to swap in
``jmespath.compile``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

SUPPORTED: Final = (
    'a path (id, links.self, items[0].name, "quoted-name".x, @) or one == / != comparison '
    "of a path with a literal ('text' or `json`)"
)

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_INDEX = re.compile(r"\[\s*(-?[0-9]+)\s*\]")
_COMPARISON = re.compile(
    r"^(?P<path>.+?)\s*(?P<op>==|!=)\s*(?P<literal>'(?:[^'\\]|\\.)*'|`[^`]*`)$"
)


class ExpressionError(ValueError):
    """An expression outside the supported subset, or malformed."""


@dataclass(frozen=True, slots=True)
class Path:
    """Steps: a str is a key of an object, an int an index into an array (negative: from the
    end); no steps is ``@``, the whole document."""

    steps: tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed expression: a path, optionally compared (``op`` ``==`` or ``!=``) with a
    literal value."""

    path: Path
    op: str | None = None
    literal: Any = None


def parse_path(text: str) -> Path:
    """Parse a path or raise ``ExpressionError``."""
    source = text.strip()
    if source == "@":
        return Path(())
    if not source:
        raise ExpressionError(f"empty expression: use {SUPPORTED}")
    steps: list[str | int] = []
    pos = 0
    expect_name = True  # at the start or after a dot
    while pos < len(source):
        if expect_name:
            ident = _IDENT.match(source, pos)
            quoted = _QUOTED.match(source, pos)
            index = _INDEX.match(source, pos) if not steps else None
            if ident:
                steps.append(ident.group(0))
                pos = ident.end()
            elif quoted:
                steps.append(json.loads(f'"{quoted.group(1)}"'))
                pos = quoted.end()
            elif index:
                steps.append(int(index.group(1)))
                pos = index.end()
            else:
                raise ExpressionError(_unsupported(text, pos))
            expect_name = False
            continue
        index = _INDEX.match(source, pos)
        if index:
            steps.append(int(index.group(1)))
            pos = index.end()
        elif source[pos] == "." and pos + 1 < len(source):
            pos += 1
            expect_name = True
        else:
            raise ExpressionError(_unsupported(text, pos))
    if expect_name:
        raise ExpressionError(_unsupported(text, pos))
    return Path(tuple(steps))


def _unsupported(text: str, pos: int) -> str:
    return f"unsupported expression {text!r} at position {pos}: only {SUPPORTED} are supported"


@lru_cache(maxsize=1024)
def compile_expression(text: str) -> Expression:
    """Parse ``text`` (see the module docstring) or raise ``ExpressionError``."""
    match = _COMPARISON.match(text.strip())
    if match is None:
        return Expression(parse_path(text))
    literal_text = match.group("literal")
    if literal_text.startswith("'"):
        literal: Any = literal_text[1:-1].replace("\\'", "'").replace("\\\\", "\\")
    else:
        try:
            literal = json.loads(literal_text[1:-1])
        except json.JSONDecodeError as exc:
            raise ExpressionError(f"invalid JSON literal in {text!r}: {exc}") from None
    return Expression(parse_path(match.group("path")), match.group("op"), literal)


def expression_problem(text: str) -> str | None:
    """Why ``text`` is not a supported expression, or None when it is."""
    try:
        compile_expression(text)
    except ExpressionError as exc:
        return str(exc)
    return None
