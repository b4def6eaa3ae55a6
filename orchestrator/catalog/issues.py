"""The one shape every located problem takes, whatever found it (YAML, schema, semantics)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True, order=True)
class Issue:
    """A problem at a place: file and 1-based line/column, plus the JSON pointer of the node."""

    file: str
    line: int
    column: int
    code: str
    message: str
    pointer: str = ""
    severity: Severity = "error"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def location(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not data["extra"]:
            del data["extra"]
        return data

    def __str__(self) -> str:
        where = f" at {self.pointer}" if self.pointer else ""
        return f"{self.location()}: {self.severity}: [{self.code}] {self.message}{where}"
