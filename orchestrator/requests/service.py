"""Submitting and deciding on requests. Every change is one transaction with its audit and jobs.

About 700 lines: the reads and the operators' decisions (retry, abort, escalate, secrets)
share the request row's locking, audit and job helpers; submission with its idempotency is
apart (``submission``, ``idempotency``), and every state change goes through
``orchestrator.engine.transitions``.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from orchestrator.catalog.models import CatalogItem
from orchestrator.catalog.service import CatalogService
from orchestrator.engine import transitions
from orchestrator.engine.jobs import (
    ACTION_CRASH_LIMIT,
    CANCEL_ACTION,
    DEFAULT_MAX_RECEIVES,
    ESCALATE,
    NOTIFY,
    RUN_ACTION,
    enqueue_job,
    notify_payload,
)
from orchestrator.engine.observer import NullObserver, RequestObserver, after_commit, team_of
from orchestrator.engine.records import log_event
from orchestrator.engine.states import TERMINAL, refusal
from orchestrator.errors import (
    InvalidState,
    ItemNotRequestable,
    NotFound,
    ValidationFailed,
)
from orchestrator.identity.principal import Principal
from orchestrator.pagination import decode_cursor, encode_cursor
from orchestrator.requests import secrets as secrets_policy
from orchestrator.requests.drafts import RequestDraft as RequestDraft
from orchestrator.requests.drafts import Validation as Validation
from orchestrator.requests.drafts import check_draft, unknown_item
from orchestrator.requests.escalations import escalation_view
from orchestrator.requests.gating import SubmissionGate
from orchestrator.store.database import Connection, Database
from orchestrator.store.queries import QUERIES
from orchestrator.tracing import with_job_context

MASK = "****"


# The audit trail records the face that acted (api, bot, cli); a request's own ``source`` says
# more precisely where it came from (a PR's request file, an issue form).
AUDIT_SOURCE = {"github-pr": "bot", "github-issue": "bot", "issue": "bot"}


def mask_fields(item: CatalogItem, fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(fields with secrets masked, the secret values alone)."""
    secret_ids = {f.id for f in item.fields() if f.sensitive}
    masked = {k: (MASK if k in secret_ids else v) for k, v in fields.items()}
    secrets = {k: v for k, v in fields.items() if k in secret_ids}
    return masked, secrets


def request_view(
    row: dict[str, Any], actions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The API's representation of a request row (never includes secret values)."""
    view: dict[str, Any] = {
        "id": str(row["id"]),
        "catalog_item": row["catalog_item_id"],
        "catalog_item_version": row["catalog_item_version"],
        "status": row["status"],
        "title": row.get("title"),
        "requester": {
            "email": row["requester_email"],
            "teams": list(row.get("requester_teams") or []),
        },
        "source": row["source"],
        "correlation_id": row["correlation_id"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "completed_at": row["completed_at"].isoformat() if row.get("completed_at") else None,
    }
    if "fields" in row:
        view["fields"] = row["fields"]
        view["justification"] = row.get("justification")
        view["error_context"] = row.get("error_context")
        view["abort_reason"] = row.get("abort_reason")
        view["escalation_ticket"] = row.get("escalation_ticket")
        view["escalation"] = escalation_view(row)
    if actions is not None:
        view["actions"] = [action_view(a) for a in actions]
    return view


def action_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["action_id"],
        "type": row["action_type"],
        "position": row["position"],
        "status": row["status"],
        "attempts": row["attempts"],
        "max_attempts": row["max_attempts"],
        "outputs": row["outputs"],
        "external_ref": row["external_ref"],
        "external_url": row["external_url"],
        "error": row["error"],
        "started_at": row["started_at"].isoformat() if row["started_at"] else None,
        "completed_at": row["completed_at"].isoformat() if row["completed_at"] else None,
    }


class RequestService:
    def __init__(self, db: Database, catalog: CatalogService) -> None:
        self.db = db
        self.catalog = catalog
        # submitted / aborted / escalated, counted in this process once committed
        self.observer: RequestObserver = NullObserver()
        # the approval gate (orchestrator.approvals.lifecycle), wired by orchestrator.services
        self.gate: SubmissionGate | None = None

    async def validate(self, draft: RequestDraft) -> Validation:
        """Check a draft against the current catalog item without storing anything."""
        try:
            item, version_id = await self.catalog.current(draft.catalog_item)
        except NotFound:
            return unknown_item(draft)
        return check_draft(item, version_id, draft)

    async def submit(
        self, draft: RequestDraft, principal: Principal, correlation_id: str
    ) -> dict[str, Any]:
        """Validate, then create the request, its actions, audit and first job in one transaction."""
        outcome = await self.validate(draft)
        self.require_valid(draft, outcome)
        async with self.submission(draft, principal, correlation_id) as conn:
            return await self.create(conn, draft, outcome, principal, correlation_id)

    @staticmethod
    def require_valid(draft: RequestDraft, outcome: Validation) -> None:
        """Raise the error a submission of ``draft`` gets for ``outcome``, unless it is valid."""
        if not outcome.valid or outcome.item is None or outcome.version_id is None:
            if outcome.item is None:
                raise NotFound(outcome.errors[0]["message"], item_id=draft.catalog_item)
            if outcome.item.lifecycle.status == "retired":
                raise ItemNotRequestable(outcome.errors[0]["message"])
            raise ValidationFailed("the request's fields are not valid", outcome.errors)

    def submission(
        self, draft: RequestDraft, principal: Principal, correlation_id: str
    ) -> AbstractAsyncContextManager[Connection]:
        """The transaction a submission runs in, audited as ``principal`` on the draft's face."""
        return after_commit(  # the submission's metrics count once it has committed
            self.db.transaction(
                actor=principal.email,
                correlation_id=correlation_id,
                source=AUDIT_SOURCE.get(draft.source, draft.source),
                agent=principal.agent.email if principal.agent else None,
            )
        )

    async def create(
        self,
        conn: AsyncConnection[Any],
        draft: RequestDraft,
        outcome: Validation,
        principal: Principal,
        correlation_id: str,
    ) -> dict[str, Any]:
        """Insert the request, its actions, secrets, log and first job on ``conn`` (inside the
        caller's ``submission`` transaction); ``outcome`` must have passed ``require_valid``."""
        self.require_valid(draft, outcome)
        item, version_id = outcome.item, outcome.version_id
        assert item is not None
        assert version_id is not None
        masked, secrets = mask_fields(item, outcome.fields)
        cur = await conn.execute(
            QUERIES.insert_request,
            {
                "catalog_item_id": item.id,
                "catalog_version_id": version_id,
                "catalog_item_version": item.metadata.version,
                "fields": Jsonb(masked),
                "title": draft.title,
                "justification": draft.justification,
                "requester_email": principal.email,
                "requester_name": principal.name,
                "requester_teams": list(principal.teams),
                "source": draft.source,
                "correlation_id": correlation_id,
            },
        )
        row = await cur.fetchone()
        assert row is not None
        request_id = row["id"]
        actions = item.fulfillment.actions
        plan: list[tuple[str, str, int]] = [
            (a.id, a.type, a.retry.max_attempts) for a in actions
        ] or [("manual", "manual", 1)]
        # One round trip for the rest of the submission instead of one per statement.
        async with conn.pipeline():
            if secrets:
                await conn.execute(
                    QUERIES.insert_request_secrets,
                    {"request_id": request_id, "fields": Jsonb(secrets)},
                )
            async with conn.cursor() as batch:
                await batch.executemany(
                    QUERIES.insert_request_action,
                    [
                        {
                            "request_id": request_id,
                            "position": position,
                            "action_id": action_id,
                            "action_type": action_type,
                            "max_attempts": attempts,
                        }
                        for position, (action_id, action_type, attempts) in enumerate(plan)
                    ],
                )
            await log_event(
                conn,
                request_id,
                "submitted",
                "request submitted",
                correlation_id=correlation_id,
                details={"warnings": outcome.warnings, "actions": [p[0] for p in plan]},
            )
            # an approval gate that applies holds the request (awaiting_approval, no job): the
            # gate queues it, or awaits its secrets, once the last stage passes
            held = None
            if self.gate is not None:
                held = await self.gate.hold(conn, row, item, correlation_id=correlation_id)
            if held is not None:
                row = held[0]
            elif outcome.pending_secrets:  # nothing runs until the requester supplies them
                await log_event(
                    conn,
                    request_id,
                    "awaiting_secret",
                    "waiting for the requester to supply "
                    + ", ".join(outcome.pending_secrets)
                    + " through the PAO API",
                    correlation_id=correlation_id,
                )
                await self._enqueue(  # the thread it came from shows what it waits for
                    conn,
                    NOTIFY,
                    notify_payload(request_id, "awaiting_secret", "awaiting_secret"),
                    request_id,
                )
                row = self._moved(await transitions.hold_for_secret(conn, request_id), request_id)
            else:
                await conn.execute(  # not enqueue_job: no result needed, stays in the pipeline
                    QUERIES.insert_job,
                    {
                        "kind": RUN_ACTION,
                        "payload": Jsonb(
                            with_job_context(
                                {"request_id": str(request_id)},
                                correlation_id=correlation_id,
                                user=principal.email,
                            )
                        ),
                        "request_id": request_id,
                        "delay_seconds": 0,
                        "max_receives": DEFAULT_MAX_RECEIVES,  # the action's budget once it starts
                        "dedupe_key": f"run:{request_id}",
                    },
                )
                row = self._moved(await transitions.queue_request(conn, request_id), request_id)
        self.observer.request_status(item.id, "submitted", team_of(principal.teams))
        view = request_view(row)
        view["fields"] = masked
        view["warnings"] = outcome.warnings
        if outcome.pending_secrets:
            view["pending_secrets"] = list(outcome.pending_secrets)
        if held is not None:
            view["approval"] = held[1]
        return view

    async def supply_secrets(
        self,
        request_id: uuid.UUID,
        principal: Principal,
        values: dict[str, Any],
        correlation_id: str,
        *,
        source: str = "api",
    ) -> dict[str, Any]:
        """The secrets a request in ``awaiting_secret`` waits for (the face checks that
        ``principal`` is its requester): checked against the item's rules (errors never echo a
        value), kept apart in ``request_secrets`` and the request queued, in one transaction."""
        async with self._decision(principal, correlation_id, source) as conn:
            row = await self._lock_for(conn, request_id, "supply_secret")
            item = await self.catalog.version(int(row["catalog_version_id"]))
            fields = dict(row["fields"] or {})
            pending = secrets_policy.pending_secrets(item, fields)
            problems = secrets_policy.supplied_secret_errors(item, fields, values, pending)
            if problems:
                raise ValidationFailed("the secrets are not valid", problems)
            masked, secret_values = mask_fields(item, values)
            await conn.execute(
                QUERIES.secrets_store, {"request_id": request_id, "fields": Jsonb(secret_values)}
            )
            released = await transitions.release_secrets(conn, request_id, masked)
            assert released is not None  # the row is locked in awaiting_secret
            await self._enqueue(
                conn,
                RUN_ACTION,
                with_job_context(
                    {"request_id": str(request_id)},
                    correlation_id=correlation_id,
                    user=principal.email,
                ),
                request_id,
                dedupe_key=f"run:{request_id}",
            )
            await self._enqueue(
                conn, NOTIFY, notify_payload(request_id, "secrets_supplied", "queued"), request_id
            )
            await log_event(
                conn,
                request_id,
                "secrets_supplied",
                f"{', '.join(sorted(values))} supplied by {principal.email}; queued",
                correlation_id=correlation_id,
            )
        return request_view(released)

    @staticmethod
    def _moved(row: dict[str, Any] | None, request_id: Any) -> dict[str, Any]:
        """The row a submission's transition returned; None (the request just inserted is no
        longer ``submitted``) is refused rather than assumed impossible."""
        if row is None:
            raise InvalidState(f"request {request_id} is no longer 'submitted'")
        return row

    # -- reads --------------------------------------------------------------------------------

    async def get_row(self, request_id: uuid.UUID) -> dict[str, Any]:
        async with self.db.connection() as conn:
            cur = await conn.execute(QUERIES.get_request, {"id": request_id})
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"request {request_id} does not exist", request_id=str(request_id))
        return dict(row)

    async def detail(self, request_id: uuid.UUID) -> dict[str, Any]:
        row = await self.get_row(request_id)
        async with self.db.connection() as conn:
            cur = await conn.execute(QUERIES.list_request_actions, {"request_id": request_id})
            actions = await cur.fetchall()
        return request_view(row, [dict(a) for a in actions])

    async def status(self, request_id: uuid.UUID) -> dict[str, Any]:
        detail = await self.detail(request_id)
        actions = detail["actions"]
        done = sum(1 for a in actions if a["status"] == "completed")
        current = next(
            (a["id"] for a in actions if a["status"] not in ("completed", "cancelled")), None
        )
        return {
            "id": detail["id"],
            "status": detail["status"],
            "progress": {"completed_actions": done, "total_actions": len(actions)},
            "current_action": current if detail["status"] not in TERMINAL else None,
            "actions": [{"id": a["id"], "status": a["status"]} for a in actions],
            "updated_at": detail["updated_at"],
        }

    async def list_page(
        self,
        *,
        status: str | None,
        catalog_item: str | None,
        user: str | None,
        cursor: str | None,
        limit: int,
        with_total: bool,
        visible_to: dict[str, Any] | None = None,
    ) -> tuple[list[dict[str, Any]], str | None, int | None]:
        after = decode_cursor(cursor, "c", "i") if cursor else None
        try:
            after_created = datetime.fromisoformat(after["c"]) if after else None
            after_id = uuid.UUID(after["i"]) if after else None
        except (TypeError, ValueError):
            after_created = after_id = None
            decode_cursor("", "c")  # raises the same located error
        params: dict[str, Any] = {
            "status": status,
            "catalog_item": catalog_item,
            "user": user,
            "after_created": after_created,
            "after_id": after_id,
            "limit": limit + 1,
            # who may see what (orchestrator.access.request_scope); None: everything
            **(visible_to or {"see_all": True, "viewer_email": "", "viewer_teams": []}),
        }
        async with self.db.connection() as conn:
            cur = await conn.execute(QUERIES.list_requests, params)
            rows = await cur.fetchall()
            total = None
            if with_total:
                cur = await conn.execute(QUERIES.count_requests, params)
                count = await cur.fetchone()
                total = int(count["total"]) if count else 0
        page = [dict(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]
            next_cursor = encode_cursor({"c": last["created_at"].isoformat(), "i": str(last["id"])})
        return [request_view(r) for r in page], next_cursor, total

    async def logs(
        self, request_id: uuid.UUID, *, after_id: int, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        await self.get_row(request_id)
        async with self.db.connection() as conn:
            cur = await conn.execute(
                QUERIES.list_request_logs,
                {"request_id": request_id, "after_id": after_id, "limit": limit + 1},
            )
            rows = await cur.fetchall()
        entries = [{**r, "created_at": r["created_at"].isoformat()} for r in rows[:limit]]
        return entries, len(rows) > limit

    # -- operator decisions -------------------------------------------------------------------

    async def abort(
        self,
        request_id: uuid.UUID,
        principal: Principal,
        reason: str,
        correlation_id: str,
        *,
        source: str = "api",
    ) -> dict[str, Any]:
        """``aborted`` with its reason: pending actions cancelled, in-flight external runs
        cancelled by the engine where the target supports it."""
        async with self._decision(principal, correlation_id, source) as conn:
            await self._lock_for(conn, request_id, "abort")
            row = await transitions.abort_request(conn, request_id, reason)
            assert row is not None  # checked under the row lock just above
            for action_id in row.pop("in_flight") or ():
                await self._enqueue(
                    conn,
                    CANCEL_ACTION,
                    {"request_id": str(request_id), "action_id": action_id},
                    request_id,
                    dedupe_key=f"cancel:{request_id}:{action_id}",
                )
            await self._enqueue(
                conn, NOTIFY, notify_payload(request_id, "aborted", "aborted"), request_id
            )
            await log_event(
                conn,
                request_id,
                "aborted",
                f"aborted by {principal.email}: {reason}",
                correlation_id=correlation_id,
            )
        self._counted(row, "aborted")
        return request_view(dict(row))

    async def check_decision(self, request_id: uuid.UUID, decision: str) -> dict[str, Any]:
        """Raise unless ``decision`` is allowed now; the engine takes the decision itself."""
        row = await self.get_row(request_id)
        self._check(decision, row)
        return row

    async def _lock_for(
        self, conn: AsyncConnection[Any], request_id: uuid.UUID, decision: str
    ) -> dict[str, Any]:
        """Lock the request row and check ``decision`` is allowed, so two operators deciding at
        once are serialised and the second sees the first's outcome."""
        cur = await conn.execute(QUERIES.get_request_for_update, {"id": request_id})
        current = await cur.fetchone()
        if current is None:
            raise NotFound(f"request {request_id} does not exist", request_id=str(request_id))
        self._check(decision, current)
        return dict(current)

    @staticmethod
    def _check(decision: str, row: dict[str, Any]) -> None:
        refused = refusal(decision, row)  # the state machine: orchestrator/engine/states.py
        if refused is not None:
            raise InvalidState(refused, status=row["status"])

    async def retry(
        self,
        request_id: uuid.UUID,
        principal: Principal,
        correlation_id: str,
        *,
        source: str = "api",
    ) -> dict[str, Any]:
        """Re-run a failed request's failed action and continue the chain: one transaction that
        checks the state under the request's row lock (two operators retrying at once produce
        one retry), resets the action (a new generation, so executors start a new run) and
        enqueues its run. The request stays ``failed`` until the engine resolves the action.

        An escalated request whose ticket does not exist yet (pending, failed, not configured)
        may be retried too: the operator resolved the cause, so the escalation is withdrawn
        (the request is ``failed`` again, its ticket ``cancelled``) in the same transaction."""
        async with self._decision(principal, correlation_id, source) as conn:
            locked = current = await self._lock_for(conn, request_id, "retry")
            if current["status"] == "escalated":
                current = await self._withdraw_escalation(conn, current, principal, correlation_id)
            retried = await transitions.retry_failed_actions(conn, request_id)
            if not retried:  # raising rolls the withdrawal back too
                raise InvalidState(
                    f"request {request_id} has no failed action to retry (a retry may already "
                    "be running)",
                    status=locked["status"],
                )
            await self._enqueue(
                conn,
                RUN_ACTION,
                {"request_id": str(request_id), "action_id": retried[0], "operator_retry": True},
                request_id,
                dedupe_key=f"run:{request_id}",
            )
            await log_event(
                conn,
                request_id,
                "retry_requested",
                f"retry of {', '.join(retried)} requested by {principal.email}",
                correlation_id=correlation_id,
                details={"actions": retried, "by": principal.email},
            )
        return request_view(dict(current))

    async def escalate(
        self,
        request_id: uuid.UUID,
        principal: Principal,
        reason: str,
        correlation_id: str,
        *,
        source: str = "api",
    ) -> dict[str, Any]:
        """Hand a failed request to people: ``escalated`` at once (ticket ``pending``), and a
        job that opens the manual-support ticket (with the preserved failure context) whose key
        the request keeps; the job retries on its own (``orchestrator.engine.escalation``).
        Escalating again is allowed once the ticket failed or was not configured."""
        async with self._decision(principal, correlation_id, source) as conn:
            current = await self._lock_for(conn, request_id, "escalate")
            again = current["status"] == "escalated"
            row = await transitions.escalate_request(conn, request_id)
            assert row is not None  # checked under the row lock just above
            await self._enqueue(
                conn,
                ESCALATE,
                {
                    "request_id": str(request_id),
                    "reason": reason,
                    "by": principal.email,
                    "attempt": 1,
                },
                request_id,
                dedupe_key=f"escalate:{request_id}:1",
            )
            await self._enqueue(
                conn, NOTIFY, notify_payload(request_id, "escalated", "escalated"), request_id
            )
            await log_event(
                conn,
                request_id,
                "escalated",
                f"escalated {'again ' if again else ''}by {principal.email}: {reason}",
                correlation_id=correlation_id,
                details={"reason": reason, "by": principal.email, "again": again},
            )
        if not again:
            self._counted(row, "escalated")
        return request_view(dict(row))

    @staticmethod
    async def _withdraw_escalation(
        conn: AsyncConnection[Any],
        current: dict[str, Any],
        principal: Principal,
        correlation_id: str,
    ) -> dict[str, Any]:
        """An escalated request without a ticket back to ``failed`` (the caller holds its row
        lock and checked the decision); a ticket job still scheduled then finds nothing to do."""
        row = await transitions.withdraw_escalation(conn, current["id"])
        assert row is not None  # checked under the row lock by the caller
        await log_event(
            conn,
            current["id"],
            "escalation_withdrawn",
            f"escalation withdrawn by {principal.email} (ticket "
            f"{current.get('escalation_state') or 'not opened'}): the request is retried",
            correlation_id=correlation_id,
            details={"by": principal.email, "ticket_state": current.get("escalation_state")},
        )
        return dict(row)

    def _counted(self, row: Any, status: str) -> None:
        """Report a committed decision's status, labelled with the request's own team."""
        self.observer.request_status(
            str(row["catalog_item_id"]), status, team_of(row.get("requester_teams"))
        )

    def _decision(self, principal: Principal, correlation_id: str, source: str) -> Any:
        """The decision's transaction, audited as ``principal`` on the face (``source``) used."""
        return self.db.transaction(
            actor=principal.email,
            correlation_id=correlation_id,
            source=source,
            agent=principal.agent.email if principal.agent else None,
        )

    @staticmethod
    async def _enqueue(
        conn: AsyncConnection[Any],
        kind: str,
        payload: dict[str, Any],
        request_id: uuid.UUID,
        *,
        dedupe_key: str | None = None,
    ) -> None:
        # a run job naming its action has that action's crash budget from the start; a
        # request's first job gets it when its first action starts (transitions.step)
        names_action = kind == RUN_ACTION and bool(payload.get("action_id"))
        receives = ACTION_CRASH_LIMIT if names_action else DEFAULT_MAX_RECEIVES
        await enqueue_job(
            conn, kind, payload, request_id=request_id, dedupe_key=dedupe_key, max_receives=receives
        )

    async def escalation(self, request_id: uuid.UUID) -> dict[str, Any]:
        """The request's escalation: its ticket once it exists, else why not yet (state
        pending, failed, not_configured or cancelled, with the attempts and the last error)."""
        row = await self.get_row(request_id)
        view = escalation_view(row)
        if view is None:
            raise NotFound(
                f"request {request_id} has not been escalated", request_id=str(request_id)
            )
        return view
