"""Catalog patterns are ECMA-262 regular expressions (JSON Schema's dialect); Python's ``re``
reads one construct differently, and this module translates it.

Its own module because both the catalog's schema validator and the forms' validators need it,
and neither should import the other for it.
"""

from __future__ import annotations

import re


def python_pattern(pattern: str) -> str:
    """The catalog pattern with ECMA-262's ``$`` (end of input, not before a final newline).

    Python's ``$`` also matches before a trailing newline, so ``"orders-db\\n"`` would pass
    ``^[a-z-]+$``; every validator here uses this form instead. Inside a class ``$`` is literal.
    """
    multiline = bool(re.compile(pattern).flags & re.MULTILINE)
    out: list[str] = []
    index = 0
    in_class = False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
            out.append("\\$" if char == "$" else char)
            index += 1
            continue
        if char == "[":
            out.append(char)
            index += 1
            if pattern[index : index + 1] == "^":
                out.append("^")
                index += 1
            if pattern[index : index + 1] == "]":
                out.append("]")
                index += 1
            in_class = True
            continue
        if char == "$":
            out.append(r"(?=\n|\Z)" if multiline else r"\Z")
        else:
            out.append(char)
        index += 1
    return "".join(out)
