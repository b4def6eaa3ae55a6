"""The ``example-note`` executor: completes at once with the note's id and text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.engine.executor import ActionResult, ActionRun, Completed, Registry


class NoteExecutor:
    """Idempotent by construction: the note id is the action's correlation key."""

    async def execute(self, action: ActionRun) -> ActionResult:
        text = str(action.config.get("text", ""))
        return Completed(outputs={"note_id": action.correlation_key, "text": text})

    async def poll(self, action: ActionRun) -> ActionResult:
        return await self.execute(action)

    def describe(self, action: ActionRun) -> Mapping[str, Any]:
        """The dry run: what would be recorded (the config is already masked)."""
        config = action.config
        return {
            "note": config.get("text"),
            "level": config.get("level", "info"),
            "copies": config.get("copies", 1),
            "signingKey": config.get("signingKey"),
        }


def registry(env: Mapping[str, str]) -> Registry:
    """The ``pao.executors`` entry point."""
    found = Registry()
    found.register("example-note", NoteExecutor())
    return found
