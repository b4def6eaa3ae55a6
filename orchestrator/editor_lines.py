"""Line and column numbers as editors and GitHub annotations count them.

Every location PAO reports (``file:line:col`` in ``pao catalog validate``, check-run
annotations, API issues) must point at the line a person sees. Editors, git and GitHub end a
line only at ``\\n``, ``\\r\\n`` or a lone ``\\r``. Other tools disagree: PyYAML's marks also
break lines at U+0085, U+2028 and U+2029, and ``str.splitlines()`` additionally at ``\\x0b``,
``\\x0c`` and ``\\x1c``-``\\x1e``. So nothing turns a mark or an offset into a line by itself:
this module is the one place that does, from the character offset, which all parsers agree on.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Any, Protocol

Position = tuple[int, int]

_BREAK = re.compile(r"\r\n|\r|\n")


class Mark(Protocol):
    """What PyYAML's marks (pure and libyaml) carry: ``index`` is a character offset."""

    index: int


def split_lines(text: str) -> list[str]:
    """``text.splitlines()`` with editor line breaks only (no empty item after a final break)."""
    lines = _BREAK.split(text)
    if lines and lines[-1] == "" and len(lines) > 1:
        lines.pop()
    return lines if text else []


def line_count(text: str) -> int:
    """How many lines an editor shows for ``text``: breaks + 1 (an empty file has one line)."""
    return len(_BREAK.findall(text)) + 1


class LineIndex:
    """Maps character offsets of one text to 1-based (line, column), in O(log lines) each.

    Built once per text (the offsets where each line starts), so locating every node of a large
    document stays linear. Columns count characters from the start of the editor line.
    """

    __slots__ = ("_length", "_starts")

    def __init__(self, text: str) -> None:
        self._starts = [0, *(match.end() for match in _BREAK.finditer(text))]
        self._length = len(text)

    def position(self, offset: int) -> Position:
        """(line, column) of the character at ``offset`` (clamped to the text)."""
        offset = min(max(offset, 0), self._length)
        line = bisect_right(self._starts, offset)
        return line, offset - self._starts[line - 1] + 1

    def mark(self, mark: Mark | Any | None) -> Position:
        """(line, column) of a PyYAML mark; (1, 1) when there is none."""
        index = getattr(mark, "index", None)
        return self.position(index) if isinstance(index, int) else (1, 1)


def position(text: str, offset: int) -> Position:
    """(line, column) of ``offset`` in ``text``, for a one-off lookup."""
    return LineIndex(text).position(offset)
