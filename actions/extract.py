"""Evaluating rest-api ``outputs``, ``successWhen`` and ``failureWhen`` against a JSON response.

The grammar (parsing, validation, what is supported) lives in the core,
``orchestrator.expressions``, which the catalog validator uses too; this module gives parsed
expressions their JMESPath meaning.

Truthiness follows JMESPath: ``false``, ``null``, ``""``, ``[]`` and ``{}`` are false; every
number (``0`` included) is true.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.expressions import (
    Expression,
    ExpressionError,
    Path,
    compile_expression,
)

__all__ = [
    "ExpressionError",
    "compile_expression",
    "evaluate",
    "is_truthy",
    "search",
    "truthy",
]


def _walk(path: Path, document: Any) -> Any:
    current = document
    for step in path.steps:
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


def evaluate(expression: Expression, document: Any) -> Any:
    """The value of a parsed ``expression`` on ``document`` (None where a path leads nowhere)."""
    value = _walk(expression.path, document)
    if expression.op is None:
        return value
    equal = _same(value, expression.literal)
    return equal if expression.op == "==" else not equal


def truthy(expression: Expression, document: Any) -> bool:
    return is_truthy(evaluate(expression, document))


def _same(left: Any, right: Any) -> bool:
    # JMESPath equality: types must match (true != 1), numbers compare by value.
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    return bool(left == right)


def is_truthy(value: Any) -> bool:
    if value is None or value is False:
        return False
    return not (isinstance(value, (str, list, tuple, dict)) and len(value) == 0)


def search(expression: str, document: Any) -> Any:
    """Parse ``expression`` (``ExpressionError`` when unsupported) and evaluate it."""
    return evaluate(compile_expression(expression), document)
