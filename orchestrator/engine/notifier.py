"""``cancel-action`` and ``notify`` jobs: what happens around a request's state changes.

* ``cancel-action``: an aborted request's in-flight external run (a Terraform run, a workflow
  run) is cancelled where its executor can (``CancellableExecutor``); logged either way.
* ``notify``: executors whose external objects follow the request (a JIRA ticket gets a comment:
  ``NotifiableExecutor``) hear about request-level changes, then the faces' listeners (the bot's
  status comments) get the job. Executor notifications run on the first receive only, so a
  listener failing and the job coming back does not comment twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from orchestrator.engine.executor import (
    ActionRun,
    CancellableExecutor,
    NotifiableExecutor,
    Registry,
    UnknownActionType,
    correlation_key,
)
from orchestrator.engine.manual import MANUAL_ACTION_TYPE, TICKET_ACTION_TYPE
from orchestrator.engine.pg_queue import Job
from orchestrator.engine.records import ENGINE_ACTOR, ENGINE_SOURCE, log_event
from orchestrator.store.database import Database
from orchestrator.store.queries import QUERIES

log = logging.getLogger(__name__)

Listener = Callable[[Job], Awaitable[None]]
REQUEST_EVENTS = frozenset(
    {"request_completed", "request_failed", "aborted", "escalated", "escalation_ticket_created"}
)


def stored_run(request: Mapping[str, Any], row: Mapping[str, Any]) -> ActionRun:
    """An ActionRun from stored rows (masked config; enough to cancel or comment)."""
    action_type = row["action_type"]
    if action_type == MANUAL_ACTION_TYPE:
        action_type = TICKET_ACTION_TYPE
    return ActionRun(
        request_id=str(request["id"]),
        action_id=row["action_id"],
        action_type=action_type,
        config=dict(row["rendered_config"] or {}),
        correlation_key=correlation_key(
            str(request["id"]), row["action_id"], int(row.get("generation") or 0)
        ),
        attempt=int(row["attempts"]),
        external_ref=row["external_ref"],
        external_url=row["external_url"],
    )


class Notifier:
    def __init__(self, db: Database, registry: Registry) -> None:
        self.db = db
        self.registry = registry
        self.listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        """Call ``listener`` with every ``notify`` job (e.g. the bot's status comments)."""
        self.listeners.append(listener)

    async def handle_notify(self, job: Job) -> None:
        event = str(job.payload.get("event"))
        if job.receives == 1 and event in REQUEST_EVENTS:
            await self._notify_executors(job, event)
        for listener in self.listeners:
            await listener(job)

    async def handle_cancel(self, job: Job) -> None:
        request_id = uuid.UUID(str(job.payload["request_id"]))
        action_id = str(job.payload["action_id"])
        request = await self.db.fetch_one(None, QUERIES.get_request, {"id": request_id})
        row = await self.db.fetch_one(
            None, QUERIES.engine_get_action, {"request_id": request_id, "action_id": action_id}
        )
        if request is None or row is None or not row["external_ref"]:
            return
        run = stored_run(request, row)
        try:
            executor = self.registry.get(run.action_type)
        except UnknownActionType:
            executor = None
        if isinstance(executor, CancellableExecutor):
            await executor.cancel(run)  # raises on a transient failure: the job comes back
            event, message = "action_cancelled", f"{action_id}: cancelled {row['external_ref']}"
        else:
            event = "action_cancel_unsupported"
            message = (
                f"{action_id}: {run.action_type} runs cannot be cancelled by PAO; "
                f"{row['external_ref']} may still be running"
            )
        async with self.db.transaction(
            actor=ENGINE_ACTOR, correlation_id=request["correlation_id"], source=ENGINE_SOURCE
        ) as conn:
            await log_event(
                conn,
                request_id,
                event,
                message,
                correlation_id=request["correlation_id"],
                action_id=action_id,
                level="info" if event == "action_cancelled" else "warning",
                details={"external_ref": row["external_ref"], "url": row["external_url"]},
            )

    async def _notify_executors(self, job: Job, event: str) -> None:
        request_id = uuid.UUID(str(job.payload["request_id"]))
        request = await self.db.fetch_one(None, QUERIES.get_request, {"id": request_id})
        if request is None:
            return
        rows = await self.db.fetch_all(None, QUERIES.engine_actions, {"request_id": request_id})
        status = str(request["status"])
        message = _message(request, event)
        for row in rows:
            if not row["external_ref"]:
                continue
            run = stored_run(request, row)
            try:
                executor = self.registry.get(run.action_type)
            except UnknownActionType:
                continue
            if not isinstance(executor, NotifiableExecutor):
                continue
            try:
                await executor.notify(run, status, message)
            except Exception:  # best effort by contract
                log.warning("notifying %s of request %s failed", row["action_id"], request_id)


def _message(request: Mapping[str, Any], event: str) -> str:
    status = request["status"]
    text = f"PAO request {request['id']} is now {status}"
    if status == "aborted" and request.get("abort_reason"):
        text += f": {request['abort_reason']}"
    if status == "escalated" and request.get("escalation_ticket"):
        text += f" (manual support: {request['escalation_ticket']})"
    if status == "failed":
        error = (request.get("error_context") or {}).get("error")
        detail = error.get("message") if isinstance(error, Mapping) else error
        if detail:
            text += f": {detail}"
    return text + "."
