"""The value rules every form surface shares: ECMA-262 patterns read the same in Python,
calendar dates, exact decimal steps, and when a field must be given.

The JSON Schema, the rule-by-rule validation and the issue form's notes all read a field's
``validation`` through these, so the surfaces cannot drift apart on what a rule means.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "DATE_PATTERN",
    "is_number",
    "is_step_multiple",
    "parse_date",
    "python_pattern",
    "regex",
    "required_now",
]

from orchestrator.catalog.models import FormField
from orchestrator.ecma_regex import python_pattern

# A calendar date YYYY-MM-DD (years 0001-9999, leap years included) as an ECMA-262 regex.
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
DATE_PATTERN = (
    r"^(?!0000)(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    rf"|{_LEAP_YEAR}-02-29)$"
)


@functools.lru_cache(maxsize=4096)
def regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled as ECMA-262 reads it (``python_pattern``), once per pattern."""
    return re.compile(python_pattern(pattern))


def _decimal(value: float | int) -> Decimal:
    return Decimal(repr(value))


def is_step_multiple(value: float | int, step: float | int, base: float | int) -> bool:
    """Exact decimal check of ``(value - base) / step`` being whole (0.3 is 3 steps of 0.1)."""
    try:
        quotient = (_decimal(value) - _decimal(base)) / _decimal(step)
    except (InvalidOperation, ArithmeticError):
        return False
    return quotient == quotient.to_integral_value()


def is_number(value: Any) -> bool:
    """A JSON number (``True`` is a boolean, not 1)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def required_now(spec: FormField) -> bool:
    """Required and without a default to fall back on."""
    return spec.required and spec.default is None


def parse_date(value: str) -> dt.date | None:
    """The calendar date of a ``YYYY-MM-DD`` string; None for anything else."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return None
    try:
        return dt.date(int(value[:4]), int(value[5:7]), int(value[8:10]))
    except ValueError:
        return None
