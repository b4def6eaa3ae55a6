"""A small, safe subset of JMESPath for ``outputs``, ``successWhen`` and ``failureWhen``.

Supported (a strict subset: every accepted expression means the same as in JMESPath):

- a path of identifiers and indexes: ``id``, ``links.self``, ``items[0].name``, ``a[-1]``,
  ``"quoted-name".x`` (double-quoted identifiers), and ``@`` for the whole document;
- one comparison of a path with a literal: ``status == 'done'``, ``state != 'running'``,
  ``code == `201```, ``ready == `true``` (raw string ``'...'`` or JSON literal in backticks).

Not supported (yet): projections (``[*]``, ``[]``), filters (``[?...]``), functions, pipes,
``||``/``&&``/``!``, multi-selects, slices. Such an expression raises ``ExpressionError`` instead
of silently meaning something else. Once ``jmespath`` is a dependency, ``compile_expression``
is the one place to swap in ``jmespath.compile``.

Truthiness follows JMESPath: ``false``, ``null``, ``""``, ``[]`` and ``{}`` are false; every
number (``0`` included) is true.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

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
    """Steps: a str is a key of an object, an int an index into an array."""

    steps: tuple[str | int, ...]

    def search(self, document: Any) -> Any:
        current = document
        for step in self.steps:
            if isinstance(step, str):
                if not isinstance(current, Mapping):
                    return None
                current = current.get(step)
            else:
                if not isinstance(current, Sequence) or isinstance(current, (str, bytes)):
                    return None
                if not -len(current) <= step < len(current):
                    return None
                current = current[step]
            if current is None:
                return None
        return current


@dataclass(frozen=True, slots=True)
class Expression:
    path: Path
    op: str | None = None
    literal: Any = None

    def search(self, document: Any) -> Any:
        value = self.path.search(document)
        if self.op is None:
            return value
        equal = _same(value, self.literal)
        return equal if self.op == "==" else not equal

    def truthy(self, document: Any) -> bool:
        return is_truthy(self.search(document))


def _same(left: Any, right: Any) -> bool:
    # JMESPath equality: types must match (true != 1), numbers compare by value.
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    return bool(left == right)


def is_truthy(value: Any) -> bool:
    if value is None or value is False:
        return False
    return not (isinstance(value, (str, list, tuple, dict)) and len(value) == 0)


def parse_path(text: str) -> Path:
    source = text.strip()
    if source == "@":
        return Path(())
    if not source:
        raise ExpressionError("empty expression")
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
    return (
        f"unsupported expression {text!r} at position {pos}: only dotted paths with [n] indexes "
        "and a single == / != comparison with a literal are supported"
    )


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


def search(expression: str, document: Any) -> Any:
    return compile_expression(expression).search(document)
