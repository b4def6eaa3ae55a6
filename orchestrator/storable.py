"""What PostgreSQL can store: text without NUL, JSON without non-JSON values.

PostgreSQL refuses U+0000 in ``text`` and in ``jsonb`` strings and keys; a Python string holding
a lone UTF-16 surrogate cannot be encoded to UTF-8 at all; ``jsonb`` has no NaN or Infinity; and
a YAML loader can produce values JSON does not have (``!!binary`` bytes, sets). Every face
checks its input with these functions before it reaches the core, so such input is a located
problem (a JSON pointer) instead of a driver error deep inside a transaction.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_REFUSED = re.compile("[\x00\ud800-\udfff]")

Path = tuple[str | int, ...]


def refused_text(value: str, max_chars: int | None = None) -> str | None:
    """Why ``value`` cannot be stored as text, or None."""
    if max_chars is not None and len(value) > max_chars:
        return f"longer than {max_chars} characters"
    found = _REFUSED.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character (U+0000), which cannot be stored"
    return "contains a lone UTF-16 surrogate, which is not text"


def sanitized(text: str) -> str:
    """``text`` with each NUL and lone surrogate shown as U+FFFD: safe to store, log, encode."""
    return _REFUSED.sub("\ufffd", text)


def pointer(path: Path) -> str:
    """RFC 6901 JSON pointer of ``path``; a NUL or lone surrogate in a token shows as U+FFFD,
    so the pointer itself is always storable, loggable text."""
    return "".join("/" + sanitized(str(p)).replace("~", "~0").replace("/", "~1") for p in path)


@dataclass(frozen=True, slots=True)
class Unstorable:
    """One value that cannot be stored; ``key`` when it is an object key."""

    path: Path
    message: str
    key: bool = False

    @property
    def pointer(self) -> str:
        return pointer(self.path)


def unstorable(document: Any, *, max_chars: int | None = None, limit: int = 20) -> list[Unstorable]:
    """The values of ``document`` (decoded JSON or loaded YAML) that cannot be stored, at most
    ``limit``, in document order. Iterative: no recursion however deep ``document`` is."""
    found: list[Unstorable] = []
    for problem in _walk(document, max_chars):
        found.append(problem)
        if len(found) >= limit:
            break
    return found


# A path as a linked list (parent, token): pushing a child costs O(1) however deep it is.
_Link = tuple["_Link", str | int] | None


def _path(link: _Link) -> Path:
    tokens: list[str | int] = []
    while link is not None:
        link, token = link
        tokens.append(token)
    return tuple(reversed(tokens))


def _walk(document: Any, max_chars: int | None) -> Iterator[Unstorable]:
    stack: list[tuple[_Link, Any]] = [(None, document)]
    while stack:
        link, value = stack.pop()
        if isinstance(value, str):
            reason = refused_text(value, max_chars)
            if reason is not None:
                yield Unstorable(_path(link), f"string {reason}")
        elif isinstance(value, dict):
            children: list[tuple[_Link, Any]] = []
            for key, item in value.items():
                if not isinstance(key, str):
                    yield Unstorable((*_path(link), str(key)), "object key is not a string", True)
                    continue
                reason = refused_text(key, max_chars)
                if reason is not None:
                    yield Unstorable((*_path(link), key), f"object key {reason}", key=True)
                children.append(((link, key), item))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            stack.extend(reversed([((link, i), item) for i, item in enumerate(value)]))
        elif isinstance(value, float):
            if not math.isfinite(value):
                yield Unstorable(_path(link), "number is not finite (JSON has no NaN or Infinity)")
        elif value is not None and not isinstance(value, (bool, int)):
            yield Unstorable(_path(link), f"{type(value).__name__} is not a JSON value")
