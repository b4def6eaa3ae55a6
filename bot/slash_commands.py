"""Slash commands in comments (``/retry``, ``/abort``, ``/escalate``, ``/approve``,
``/reject``, ``/status``, ``/help``): what one is and how a comment body is parsed into them
(per line, anchored, outside quotes and code). Who may run them is ``bot.slash_permissions``
(the approval decisions: the core's gate); running them, ``bot.slash_runner``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.editor_lines import split_lines
from orchestrator.issue_forms import Fence, fence_step

KNOWN = ("retry", "abort", "escalate", "approve", "reject", "status", "help")
DECISIONS = frozenset({"retry", "abort", "escalate"})
# Decisions on an approval gate: who may take them is the core's rule (the catalog item's
# approvers), not the slash permission of the decisions above.
GATE_DECISIONS = frozenset({"approve", "reject"})
_COMMAND = re.compile(r"^/([A-Za-z][\w-]*)(?:[ \t]+(.*?))?[ \t]*$")


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # lower-case; may be unknown (answered with the help text)
    argument: str
    line: str

    @property
    def known(self) -> bool:
        return self.name in KNOWN


def parse_commands(body: str | None) -> list[Command]:
    """Commands of a comment body: lines starting with ``/word``, outside fenced code blocks,
    indented code and quoted (``>``) text."""
    found: list[Command] = []
    fence: Fence | None = None
    for raw in split_lines(body or ""):  # line breaks and fences as GitHub renders them
        inside = fence is not None
        fence = fence_step(fence, raw)
        if inside or fence is not None:
            continue
        if raw.startswith(("    ", "\t")) or raw.lstrip().startswith(">"):
            continue
        match = _COMMAND.match(raw)
        if match:
            found.append(Command(match.group(1).lower(), (match.group(2) or "").strip(), raw))
    return found
