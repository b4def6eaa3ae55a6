"""The ``escalate`` job: open the manual-support ticket of an escalated request.

The request is already ``escalated`` (the operator's decision committed with this job, ticket
state ``pending``); the ticket is created through the registry's ``jira-ticket`` executor with a
correlation key of its own, so a redelivered job finds the ticket instead of opening a second.

An escalation must never strand a request, so the job owns its retries instead of raising to
the worker (whose dead-lettering would leave ``escalated`` with no ticket and nobody told):

* every attempt's outcome is recorded on the request (attempts, redacted last error, next
  attempt) with a log row and a ``notify`` job, in one transaction;
* a transient failure schedules the next attempt as a new job delayed by ``Backoff``, up to
  ``max_attempts``; then, or on a permanent failure, the ticket state is ``failed``;
* no JIRA target at all (no ``fulfillment.manual.jira`` and no default project, no
  ``jira-ticket`` executor, an instance the executor does not know) is ``not_configured`` at
  once: retrying cannot fix configuration.

Each job carries the attempt it makes; it runs only while the request still expects that
attempt (``escalation_attempts == attempt - 1`` and ticket ``pending``), so stale jobs, a
withdrawn escalation (retry, abort) or a redelivery after the outcome was stored do nothing.
The operator may then escalate again, retry or abort (``orchestrator.engine.states``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.catalog.service import CatalogService
from orchestrator.engine import transitions
from orchestrator.engine.backoff import Backoff
from orchestrator.engine.executor import (
    ActionRun,
    Completed,
    DescribableExecutor,
    Failed,
    Pending,
    Registry,
    UnknownActionType,
    correlation_key,
)
from orchestrator.engine.jobs import ESCALATE, NOTIFY, enqueue_job, notify_payload
from orchestrator.engine.manual import (
    ESCALATION_ACTION_ID,
    TICKET_ACTION_TYPE,
    ManualDefaults,
    NoManualSupport,
    escalation_ticket,
)
from orchestrator.engine.observer import EscalationObserver, NullEscalationObserver, after_commit
from orchestrator.engine.pg_queue import Job
from orchestrator.engine.records import ENGINE_ACTOR, ENGINE_SOURCE, log_event
from orchestrator.redaction import redact
from orchestrator.store.database import Connection, Database
from orchestrator.store.queries import QUERIES

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 8
# 30 s, 1 min, 2 min ... capped at 15 min: about an hour of JIRA outage before giving up.
DEFAULT_BACKOFF = Backoff(base_seconds=30.0, cap_seconds=900.0)
ERROR_LIMIT = 500


def safe_error(text: str) -> str:
    """An error as stored and shown: known secrets and credential shapes masked, bounded in
    length (executors already redact their own secrets; this is the last net)."""
    cleaned = redact(text)
    return cleaned if len(cleaned) <= ERROR_LIMIT else cleaned[: ERROR_LIMIT - 1] + "…"


@dataclass(frozen=True, slots=True)
class Created:
    key: str
    url: str | None
    project: str | None


@dataclass(frozen=True, slots=True)
class Refused:
    """The attempt failed; ``reason`` is the metric label (not_configured, unavailable, rejected)."""

    reason: str
    error: str
    retry_after: float | None = None


Outcome = Created | Refused


class EscalationHandler:
    def __init__(
        self,
        db: Database,
        catalog: CatalogService,
        registry: Registry,
        defaults: ManualDefaults | None = None,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff: Backoff = DEFAULT_BACKOFF,
        observer: EscalationObserver | None = None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.registry = registry
        self.defaults = defaults or ManualDefaults()
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.observer: EscalationObserver = observer or NullEscalationObserver()

    async def handle(self, job: Job) -> None:
        request_id = uuid.UUID(str(job.payload["request_id"]))
        attempt = int(job.payload.get("attempt") or 1)
        request = await self.db.fetch_one(None, QUERIES.get_request, {"id": request_id})
        if not _expects(request, attempt):
            return  # gone, withdrawn, decided already, or a stale / redelivered attempt
        assert request is not None
        outcome = await self._attempt(request, job.payload, attempt)
        if isinstance(outcome, Created):
            await self._created(request, outcome, attempt)
        else:
            await self._refused(request, outcome, job.payload, attempt)

    async def _attempt(
        self, request: Mapping[str, Any], payload: Mapping[str, Any], attempt: int
    ) -> Outcome:
        """One try at the ticket; every failure becomes a ``Refused`` (nothing raises, so the
        outcome is always recorded)."""
        try:
            item = await self.catalog.version(int(request["catalog_version_id"]))
            reason = str(payload.get("reason") or "")
            by = str(payload.get("by") or "an operator")
            try:
                config = escalation_ticket(item, request, reason, by, self.defaults)
                executor = self.registry.get(TICKET_ACTION_TYPE)
            except (NoManualSupport, UnknownActionType) as exc:
                return Refused("not_configured", safe_error(str(exc)))
            request_id = str(request["id"])
            run = ActionRun(
                request_id=request_id,
                action_id=ESCALATION_ACTION_ID,
                action_type=TICKET_ACTION_TYPE,
                config=config,
                correlation_key=correlation_key(request_id, ESCALATION_ACTION_ID),
                attempt=attempt,
            )
            unknown_target = _describe_error(executor, run)
            if unknown_target:
                return Refused("not_configured", safe_error(unknown_target))
            result = await executor.execute(run)
        except Exception as exc:  # an executor or catalog bug must not strand the request
            log.warning("escalation ticket attempt %s failed", attempt, exc_info=True)
            return Refused("unavailable", safe_error(f"{type(exc).__name__}: {exc}"))
        if isinstance(result, Failed):
            return Refused(
                "unavailable" if result.retryable else "rejected",
                safe_error(result.error),
                result.retry_after,
            )
        outputs = result.outputs if isinstance(result, Completed) else {"key": result.external_ref}
        url = outputs.get("url") or (result.url if isinstance(result, Pending) else None)
        return Created(str(outputs.get("key") or ""), url, config.get("project"))

    async def _created(self, request: Mapping[str, Any], ticket: Created, attempt: int) -> None:
        request_id = request["id"]
        async with self._transaction(request) as conn:
            if not await transitions.ticket_created(
                conn, request_id, ticket.key, ticket.url, attempt
            ):
                cur = await conn.execute(QUERIES.get_request, {"id": request_id})
                now = await cur.fetchone()
                if now is not None and now["escalation_ticket"] == ticket.key:
                    return  # a duplicate delivery of this attempt stored the same ticket
                # Withdrawn (retry, abort) while JIRA answered: keep the key findable.
                await self._log(
                    conn,
                    request,
                    "escalation_ticket_orphaned",
                    f"escalation ticket {ticket.key} was created after the escalation was "
                    "withdrawn; close it in JIRA",
                    level="warning",
                    details={"ticket": ticket.key, "url": ticket.url},
                )
                return
            await self._log(
                conn,
                request,
                "escalation_ticket_created",
                f"escalation ticket {ticket.key} created",
                details={"ticket": ticket.key, "url": ticket.url, "project": ticket.project},
            )
            await enqueue_job(
                conn,
                NOTIFY,
                notify_payload(
                    request_id, "escalation_ticket_created", "escalated", ticket=ticket.key
                ),
                request_id=request_id,
            )

    async def _refused(
        self,
        request: Mapping[str, Any],
        refused: Refused,
        payload: Mapping[str, Any],
        attempt: int,
    ) -> None:
        request_id = request["id"]
        retry = refused.reason == "unavailable" and attempt < self.max_attempts
        if retry:
            state = "pending"
        elif refused.reason == "not_configured":
            state = "not_configured"
        else:
            state = "failed"  # rejected, or unavailable for the last time
        delay = self.backoff.delay(attempt, retry_after=refused.retry_after) if retry else None
        async with self._transaction(request) as conn:
            if not await transitions.ticket_attempt_failed(
                conn, request_id, state, attempt, refused.error, delay
            ):
                return  # withdrawn meanwhile: nothing to record or retry
            self.observer.escalation_failed(refused.reason)
            details: dict[str, Any] = {
                "state": state,
                "reason": refused.reason,
                "attempt": attempt,
                "max_attempts": self.max_attempts,
                "error": refused.error,
            }
            if retry:
                assert delay is not None
                details["retry_in_seconds"] = round(delay, 3)
                message = (
                    f"escalation ticket pending: attempt {attempt} of {self.max_attempts} "
                    f"failed, retrying in {delay:.0f}s: {refused.error}"
                )
                await enqueue_job(
                    conn,
                    ESCALATE,
                    {**_job_fields(payload), "attempt": attempt + 1},
                    request_id=request_id,
                    delay=delay,
                    dedupe_key=f"escalate:{request_id}:{attempt + 1}",
                )
            elif state == "not_configured":
                message = f"escalation ticket not opened, JIRA is not configured: {refused.error}"
            else:
                message = (
                    f"escalation ticket failed after {attempt} attempt(s): {refused.error}; "
                    "escalate again once the cause is fixed, retry or abort"
                )
            await self._log(
                conn,
                request,
                "escalation_ticket_retrying" if retry else "escalation_ticket_failed",
                message,
                level="warning" if retry else "error",
                details=details,
            )
            await enqueue_job(
                conn,
                NOTIFY,
                notify_payload(request_id, f"escalation_ticket_{state}", "escalated"),
                request_id=request_id,
            )

    def _transaction(self, request: Mapping[str, Any]) -> Any:
        """The engine's audited transaction; metrics count once it commits."""
        return after_commit(
            self.db.transaction(
                actor=ENGINE_ACTOR,
                correlation_id=str(request["correlation_id"]),
                source=ENGINE_SOURCE,
            )
        )

    @staticmethod
    async def _log(
        conn: Connection,
        request: Mapping[str, Any],
        event: str,
        message: str,
        *,
        level: str = "info",
        details: Mapping[str, Any] | None = None,
    ) -> None:
        await log_event(
            conn,
            request["id"],
            event,
            message,
            correlation_id=str(request["correlation_id"]),
            level=level,
            details=details,
        )


def _expects(request: Mapping[str, Any] | None, attempt: int) -> bool:
    """Whether ``request`` is waiting for this ticket attempt."""
    return (
        request is not None
        and request["status"] == "escalated"
        and request.get("escalation_state") == "pending"
        and int(request.get("escalation_attempts") or 0) == attempt - 1
    )


def _describe_error(executor: object, run: ActionRun) -> str | None:
    """The executor's own "cannot reach this target" (e.g. a JIRA instance missing from
    ``JIRA_INSTANCES``), read from its network-free ``describe``; None when it has none."""
    if not isinstance(executor, DescribableExecutor):
        return None
    error = executor.describe(run).get("error")
    return str(error) if error else None


def _job_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    """What the next attempt's job carries over (its own context is added when enqueued)."""
    return {k: payload[k] for k in ("request_id", "reason", "by") if k in payload}
