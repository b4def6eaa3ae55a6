"""Who hears of a request's progress, and the metrics of its end.

A face's thread (a request from the bot) hears every step through ``notify`` jobs; an executor
whose object follows the request (a JIRA ticket: ``NotifiableExecutor``) hears its end. A
request from the API, the CLI or the portal, of REST calls only, has no one: its steps and
its completion cost no job.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from orchestrator.engine.executor import NotifiableExecutor, Registry, UnknownActionType
from orchestrator.engine.jobs import NOTIFY, notify_payload
from orchestrator.engine.manual import MANUAL_ACTION_TYPE, TICKET_ACTION_TYPE
from orchestrator.engine.observer import EngineObserver, team_of
from orchestrator.engine.queue import Queue
from orchestrator.store.database import Connection

# Faces whose callers read or poll the request themselves; every other source (the bot's
# issues and pull requests) has a thread whose status comment hears each step.
THREADLESS_SOURCES = frozenset({"api", "cli", "portal"})


def has_thread(request: Mapping[str, Any]) -> bool:
    """Whether the request came from a face with a conversation thread to keep current."""
    return request.get("source", "api") not in THREADLESS_SOURCES


class Audience:
    """Tells whoever follows a request (see the module docstring)."""

    def __init__(self, queue: Queue, registry: Registry, observer: EngineObserver) -> None:
        self.queue = queue
        self.registry = registry
        self.observer = observer
        self._notifiable_types: dict[str, bool] = {}

    def has_audience(self, request: Mapping[str, Any], rows: list[dict[str, Any]]) -> bool:
        """Whether anyone hears a request-level ``notify``: a face's thread (requests from the
        bot) or an executor whose object follows the request (a JIRA ticket). An API request
        of REST calls has no one, and its completion costs no job."""
        if has_thread(request):
            return True
        return any(self._notifiable(str(r["action_type"])) for r in rows)

    def _notifiable(self, action_type: str) -> bool:
        known = self._notifiable_types.get(action_type)
        if known is None:
            executor_type = TICKET_ACTION_TYPE if action_type == MANUAL_ACTION_TYPE else action_type
            try:
                known = isinstance(self.registry.get(executor_type), NotifiableExecutor)
            except UnknownActionType:
                known = False
            self._notifiable_types[action_type] = known
        return known

    async def notify_thread(
        self, conn: Connection, request: Mapping[str, Any], event: str, action_id: str
    ) -> None:
        """Action-level progress matters to a GitHub thread (the status comment), not to API
        callers, who poll: only requests from the bot get a ``notify`` job per step."""
        if not has_thread(request):
            return
        await self.queue.enqueue(
            conn,
            NOTIFY,
            notify_payload(request["id"], event, request["status"], action_id=action_id),
            request_id=request["id"],
        )

    def finished(
        self,
        request: Mapping[str, Any],
        status: str,
        rows: list[dict[str, Any]] | None = None,
    ) -> None:
        created = request.get("created_at")
        if created is None:
            return
        self.observer.request_finished(
            str(request["catalog_item_id"]),
            status,
            (datetime.now(UTC) - created).total_seconds(),
            sorted({str(r["action_type"]) for r in rows or []}),
            user_team=team_of(request.get("requester_teams")),
        )
