"""Catalog durations (``30s``, ``15m``, ``4h``, ``2d``, ``1w``) as seconds."""

from __future__ import annotations

import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*([1-9][0-9]*)\s*([smhdw])\s*$")


def duration_seconds(text: str) -> float:
    """Seconds in ``text``; ValueError naming the accepted forms otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"'{text}' is not a duration (use e.g. 30s, 15m, 4h, 2d or 1w)")
    return float(int(match.group(1)) * UNITS[match.group(2)])
