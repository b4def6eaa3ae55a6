"""The ``escalate`` job: open the manual-support ticket of an escalated request.

The request is already ``escalated`` (the operator's decision committed with this job); the
ticket is created through the registry's ``jira-ticket`` executor with a correlation key of its
own, so a redelivered job finds the ticket instead of opening a second one. A transient failure
raises, and the worker gives the job back with backoff; anything permanent is logged on the
request for people to see.
"""

from __future__ import annotations

import uuid

from orchestrator.catalog.service import CatalogService
from orchestrator.engine.executor import (
    ActionRun,
    Completed,
    Failed,
    Pending,
    Registry,
    UnknownActionType,
    correlation_key,
)
from orchestrator.engine.jobs import NOTIFY, enqueue_job, notify_payload
from orchestrator.engine.manual import (
    ESCALATION_ACTION_ID,
    TICKET_ACTION_TYPE,
    ManualDefaults,
    NoManualSupport,
    escalation_ticket,
)
from orchestrator.engine.pg_queue import Job
from orchestrator.engine.records import ENGINE_ACTOR, ENGINE_SOURCE, log_event
from orchestrator.store.database import Database
from orchestrator.store.queries import QUERIES


class EscalationTicketError(RuntimeError):
    """The ticket could not be created yet (transient): the job is tried again."""


class EscalationHandler:
    def __init__(
        self,
        db: Database,
        catalog: CatalogService,
        registry: Registry,
        defaults: ManualDefaults | None = None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.registry = registry
        self.defaults = defaults or ManualDefaults()

    async def handle(self, job: Job) -> None:
        request_id = uuid.UUID(str(job.payload["request_id"]))
        request = await self.db.fetch_one(None, QUERIES.get_request, {"id": request_id})
        if request is None or request["status"] != "escalated" or request["escalation_ticket"]:
            return  # gone, or a redelivery after the ticket was stored
        item = await self.catalog.version(int(request["catalog_version_id"]))
        reason = str(job.payload.get("reason") or "")
        by = str(job.payload.get("by") or "an operator")
        try:
            config = escalation_ticket(item, request, reason, by, self.defaults)
            executor = self.registry.get(TICKET_ACTION_TYPE)
        except (NoManualSupport, UnknownActionType) as exc:
            await self._log(request, "escalation_ticket_failed", str(exc), level="error")
            return
        run = ActionRun(
            request_id=str(request_id),
            action_id=ESCALATION_ACTION_ID,
            action_type=TICKET_ACTION_TYPE,
            config=config,
            correlation_key=correlation_key(str(request_id), ESCALATION_ACTION_ID),
            attempt=job.receives,
        )
        result = await executor.execute(run)
        if isinstance(result, Failed):
            if result.retryable:
                raise EscalationTicketError(
                    f"creating the escalation ticket failed: {result.error}"
                )
            await self._log(
                request,
                "escalation_ticket_failed",
                f"creating the escalation ticket failed: {result.error}",
                level="error",
            )
            return
        outputs = result.outputs if isinstance(result, Completed) else {"key": result.external_ref}
        url = outputs.get("url") or (result.url if isinstance(result, Pending) else None)
        key = str(outputs.get("key") or "")
        async with self.db.transaction(
            actor=ENGINE_ACTOR, correlation_id=request["correlation_id"], source=ENGINE_SOURCE
        ) as conn:
            await conn.execute(
                QUERIES.engine_set_escalation_ticket,
                {"id": request_id, "ticket": key, "url": url},
            )
            await log_event(
                conn,
                request_id,
                "escalation_ticket_created",
                f"escalation ticket {key} created",
                correlation_id=request["correlation_id"],
                details={"ticket": key, "url": url, "project": config.get("project")},
            )
            await enqueue_job(
                conn,
                NOTIFY,
                notify_payload(request_id, "escalation_ticket_created", "escalated", ticket=key),
                request_id=request_id,
            )

    async def _log(
        self, request: dict[str, object], event: str, message: str, *, level: str
    ) -> None:
        async with self.db.transaction(
            actor=ENGINE_ACTOR, correlation_id=str(request["correlation_id"]), source=ENGINE_SOURCE
        ) as conn:
            await log_event(
                conn,
                request["id"],
                event,
                message,
                correlation_id=str(request["correlation_id"]),
                level=level,
            )
