"""Approval gates in the request lifecycle: ``awaiting_approval`` between validation and the
queue, and the decisions that end it (issue 21).

``ApprovalGates`` is what every face calls (the API, the bot, the portal, the CLI through the
API) and what the request service calls while it creates a request:

* ``hold`` (inside the submission's transaction): an item whose gate applies leaves the request
  in ``awaiting_approval`` with no run job, a ``notify`` job telling its thread who must approve;
* ``decide``: one approver's yes or no, checked by the core's one rule (``policy``) with the
  teams the face knows. The last stage passing queues the request (or, for a request from
  GitHub still missing a secret, ``awaiting_secret``) and enqueues its first job in the same
  transaction; a rejection ends it as ``rejected`` (terminal, nothing dispatched);
* ``revise``: a changed request while it waits: new fields, a new revision, approvals reset;
* ``expire_due``: the sweeper the worker runs; a stage nobody decided in time ends the request
  as ``rejected`` too, with ``error_context.approval`` = ``expired`` (the gate's outcome says
  ``expired``; one terminal state for "nothing will be provisioned").

Every change is one transaction on the request's row lock, audited with the deciding person as
actor and the face as source, logged as request events and counted in
``pao_approval_wait_seconds`` once committed.

About 700 lines: hold, decide, revise and expire all move one gate under the request's row
lock and end through the same release (queued, awaiting a secret) or end (rejected); kept
together so the gate's transitions are read side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from psycopg.types.json import Jsonb

from orchestrator.approvals.policy import (
    Approver,
    GateStatus,
    RequestFacts,
    describe_approvers,
    evaluate,
    qualifies,
)
from orchestrator.approvals.preview import describe
from orchestrator.approvals.revision import request_revision
from orchestrator.approvals.service import ApprovalService, DecisionResult
from orchestrator.catalog.codeowners import CodeOwners
from orchestrator.catalog.models import CatalogItem
from orchestrator.catalog.service import CatalogService
from orchestrator.engine import transitions
from orchestrator.engine.jobs import (
    DEFAULT_MAX_RECEIVES,
    NOTIFY,
    RUN_ACTION,
    enqueue_job,
    notify_payload,
)
from orchestrator.engine.observer import ApprovalObserver, after_commit, team_of
from orchestrator.engine.records import ENGINE_ACTOR, ENGINE_SOURCE, log_event
from orchestrator.engine.states import refusal
from orchestrator.errors import Forbidden, InvalidState, NotFound, ValidationFailed
from orchestrator.forms import apply_defaults, validate_request_fields
from orchestrator.identity.principal import Principal
from orchestrator.requests import secrets as secrets_policy
from orchestrator.requests.service import mask_fields, request_view
from orchestrator.store.database import Connection, Database
from orchestrator.store.queries import QUERIES
from orchestrator.templating.context import RequestInfo, build_context
from orchestrator.tracing import with_job_context

log = logging.getLogger(__name__)

Outcome = Literal["approved", "pending", "rejected", "expired"]
CodeOwnersSource = Callable[[], Awaitable[CodeOwners | None]]
EXPIRY_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True)
class GateDecision:
    """What a decision did."""

    request: dict[str, Any]  # request_view of the row after the decision
    gate: dict[str, Any]  # preview.describe(status)
    recorded: bool  # False for a repeat of the same person's decision
    outcome: str  # approved | pending | rejected | expired


class NullApprovalObserver:
    def approval_ended(self, catalog_item: str, outcome: str, wait_seconds: float) -> None:
        return None

    def request_status(self, catalog_item: str, status: str, user_team: str) -> None:
        return None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def requester_of(row: Mapping[str, Any]) -> Approver:
    return Approver(
        str(row["requester_email"]),
        tuple(row.get("requester_teams") or ()),
        None,
        row.get("requester_name"),
    )


class ApprovalGates:
    """The approval lifecycle over one ``Database`` (built once in ``orchestrator.services``)."""

    def __init__(
        self,
        db: Database,
        catalog: CatalogService,
        *,
        codeowners: CodeOwnersSource | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.service = ApprovalService(db)
        self.codeowners = codeowners  # the synced catalog repository's CODEOWNERS, if any
        self.clock = clock
        self.observer: ApprovalObserver = NullApprovalObserver()
        self.expiry_interval_seconds = EXPIRY_INTERVAL_SECONDS

    # -- facts -------------------------------------------------------------------------------

    async def _owners(
        self, conn: Connection | None, item: CatalogItem, version_id: Any
    ) -> tuple[str, ...]:
        if self.codeowners is None or not any(s.codeowners for s in item.approvals):
            return ()
        rules = await self.codeowners()
        if rules is None:
            return ()
        row = await self.db.fetch_one(
            conn, QUERIES.approvals_item_source_path, {"version_id": version_id}
        )
        path = row["source_path"] if row is not None else None
        return rules.owners_of(str(path)) if path else ()

    async def _facts(
        self, conn: Connection | None, row: Mapping[str, Any], item: CatalogItem
    ) -> RequestFacts:
        fields = dict(row.get("fields") or {})
        variables = build_context(item, fields, request=RequestInfo.from_row(row))
        revision = request_revision(fields, catalog_item_version=str(row["catalog_item_version"]))
        owners = await self._owners(conn, item, row["catalog_version_id"])
        return RequestFacts(requester_of(row), revision, variables, None, owners)

    async def _status(
        self,
        conn: Connection | None,
        row: Mapping[str, Any],
        item: CatalogItem,
        now: dt.datetime | None,
    ) -> GateStatus:
        facts = await self._facts(conn, row, item)
        status = await self.service.status(conn, str(row["id"]), item.approvals, facts, now=now)
        return status or evaluate(item.approvals, facts, (), now=None)

    # -- submission ------------------------------------------------------------------------

    async def hold(
        self,
        conn: Connection,
        row: Mapping[str, Any],
        item: CatalogItem,
        *,
        correlation_id: str,
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Start the gate of a just-inserted request (``submitted``), inside the submission's
        transaction: (the row, now ``awaiting_approval``, and the gate) when someone must
        approve; None when the item has no gate or no stage applies (queue it as usual)."""
        if not item.approvals:
            return None
        request_id = row["id"]
        facts = await self._facts(conn, row, item)
        status = await self.service.start(
            conn, str(request_id), item.approvals, facts, now=self.clock()
        )
        gate = describe(status)
        if status.outcome == "approved":  # every stage skipped by its condition
            await log_event(
                conn,
                request_id,
                "approval_not_needed",
                "no approval needed: " + "; ".join(f"{s.name}: {s.reason}" for s in status.stages),
                correlation_id=correlation_id,
            )
            return None
        moved = self._moved(await transitions.hold_for_approval(conn, request_id), request_id)
        await self._waiting(conn, moved, status, "awaiting_approval", correlation_id)
        return moved, gate

    async def _waiting(
        self,
        conn: Connection,
        row: Mapping[str, Any],
        status: GateStatus,
        event: str,
        correlation_id: str | None,
    ) -> None:
        """Log who must approve now and tell the request's thread (the bot's status comment)."""
        current = status.current
        assert current is not None  # pending: a stage waits
        who = describe_approvers(current.stage, current.codeowners)
        await log_event(
            conn,
            row["id"],
            event,
            f"waiting for approval: stage '{current.name}' ({current.reason}) by {who}",
            correlation_id=correlation_id,
            details={"stage": current.name, "approvers": who, "revision": status.revision},
        )
        await self._notify(
            conn, row["id"], event, "awaiting_approval", stage=current.name, approvers=who
        )

    # -- decisions -------------------------------------------------------------------------

    async def decide(
        self,
        request_id: uuid.UUID,
        principal: Principal,
        verdict: Literal["approve", "reject"],
        *,
        correlation_id: str,
        source: str,
        reason: str | None = None,
        login: str | None = None,
        teams: Sequence[str] | None = None,
    ) -> GateDecision:
        """``principal``'s decision on the request's current stage (see the module)."""
        if verdict == "reject" and not (reason and reason.strip()):
            raise ValidationFailed(
                "a rejection needs a reason",
                [
                    {
                        "pointer": "/reason",
                        "field": None,
                        "message": "say why the request is rejected",
                    }
                ],
            )
        approver = Approver(
            principal.email,
            tuple(teams if teams is not None else principal.teams),
            login,
            principal.name,
        )
        now = self.clock()
        async with after_commit(self._transaction(principal, correlation_id, source)) as conn:
            row = await self._lock(conn, request_id)
            item = await self.catalog.version(int(row["catalog_version_id"]))
            if not item.approvals:
                raise InvalidState(
                    f"request {request_id} needs no approval (its item has no approval gate)",
                    status=row["status"],
                )
            facts = await self._facts(conn, row, item)
            if row["status"] != "awaiting_approval":
                return await self._after_the_gate(conn, row, item, approver, verdict)
            result = await self.service.decide(
                conn,
                str(request_id),
                item.approvals,
                facts,
                approver,
                verdict,
                now=now,
                reason=reason,
            )
            status = result.status
            if not result.accepted:
                if status.outcome == "expired":  # the sweeper had not run yet: end it now
                    ended = await self._end(conn, row, item, status, now, correlation_id)
                    return GateDecision(request_view(ended), describe(status), False, "expired")
                raise self._refused(result, verdict, row)
            if not result.recorded:  # a concurrent twin of this very decision
                return GateDecision(
                    request_view(dict(row)), describe(status), False, status.outcome
                )
            row = await self._after_decision(
                conn, row, item, status, result, principal, now, correlation_id
            )
        return GateDecision(request_view(row), describe(status), True, status.outcome)

    async def _after_decision(
        self,
        conn: Connection,
        row: dict[str, Any],
        item: CatalogItem,
        status: GateStatus,
        result: DecisionResult,
        principal: Principal,
        now: dt.datetime,
        correlation_id: str,
    ) -> dict[str, Any]:
        decision = result.decision
        assert decision is not None  # recorded
        if status.outcome == "approved":
            await log_event(
                conn,
                row["id"],
                "approval_recorded",
                f"stage '{decision.stage}' approved by {principal.email} ({decision.via})",
                correlation_id=correlation_id,
                details={"stage": decision.stage, "by": principal.email, "via": decision.via},
            )
            return await self._release(conn, row, item, status, now, correlation_id)
        if status.outcome == "rejected":
            return await self._end(conn, row, item, status, now, correlation_id)
        await log_event(
            conn,
            row["id"],
            "approval_recorded",
            f"stage '{decision.stage}' approved by {principal.email} ({decision.via})",
            correlation_id=correlation_id,
            details={"stage": decision.stage, "by": principal.email, "via": decision.via},
        )
        await self._waiting(conn, row, status, "approval_recorded", correlation_id)
        return row

    async def _after_the_gate(
        self,
        conn: Connection,
        row: dict[str, Any],
        item: CatalogItem,
        approver: Approver,
        verdict: str,
    ) -> GateDecision:
        """A decision on a request no longer awaiting approval: a repeat of the person's own
        approval is answered as recorded before (``recorded`` false); anything else is 409."""
        status = await self._status(conn, row, item, None)
        if verdict == "approve" and any(
            d.approver == approver.identity and d.verdict == "approve"
            for s in status.stages
            for d in s.approvals
        ):
            return GateDecision(request_view(row), describe(status), False, status.outcome)
        refused = refusal(verdict, row) or f"the request is '{row['status']}'"
        raise InvalidState(refused, status=row["status"])

    @staticmethod
    def _refused(result: DecisionResult, verdict: str, row: Mapping[str, Any]) -> Exception:
        current = result.status.current
        stage = f"stage '{current.name}'" if current is not None else "the approval"
        message = result.refusal or "refused"
        if result.refusal_code == "not-qualified":
            return Forbidden(f"you may not {verdict} {stage}: {message}")
        if result.refusal_code == "reason-required":
            return ValidationFailed(
                message, [{"pointer": "/reason", "field": None, "message": message}]
            )
        return InvalidState(message, status=row["status"])

    async def _release(
        self,
        conn: Connection,
        row: Mapping[str, Any],
        item: CatalogItem,
        status: GateStatus,
        now: dt.datetime,
        correlation_id: str | None,
    ) -> dict[str, Any]:
        """The last stage passed: queue the request and enqueue its first job (or wait for a
        secret a request from GitHub still lacks), in the caller's transaction."""
        request_id = row["id"]
        fields = dict(row.get("fields") or {})
        pending: list[str] = []
        if row.get("source") in secrets_policy.GITHUB_SOURCES:
            pending = secrets_policy.pending_secrets(item, fields)
        approvers = sorted({d.approver for s in status.stages for d in s.approvals})
        await log_event(
            conn,
            request_id,
            "approved",
            f"approved by {', '.join(approvers)}",
            correlation_id=correlation_id,
            details={"approvers": approvers, "revision": status.revision},
        )
        if pending:
            moved = self._moved(
                await transitions.approve_request(conn, request_id, awaiting_secret=True),
                request_id,
            )
            await log_event(
                conn,
                request_id,
                "awaiting_secret",
                "waiting for the requester to supply "
                + ", ".join(pending)
                + " through the PAO API",
                correlation_id=correlation_id,
            )
            await self._notify(conn, request_id, "approved", "awaiting_secret")
            await self._notify(conn, request_id, "awaiting_secret", "awaiting_secret")
        else:
            await enqueue_job(
                conn,
                RUN_ACTION,
                with_job_context(
                    {"request_id": str(request_id)},
                    correlation_id=correlation_id,
                    user=str(row["requester_email"]),
                ),
                request_id=request_id,
                dedupe_key=f"run:{request_id}",
                max_receives=DEFAULT_MAX_RECEIVES,
            )
            moved = self._moved(
                await transitions.approve_request(conn, request_id, awaiting_secret=False),
                request_id,
            )
            await self._notify(conn, request_id, "approved", "queued")
        self._ended(row, status, "approved", now)
        return moved

    async def _end(
        self,
        conn: Connection,
        row: Mapping[str, Any],
        item: CatalogItem,
        status: GateStatus,
        now: dt.datetime,
        correlation_id: str | None,
    ) -> dict[str, Any]:
        """The gate ended without a yes (rejected or expired): ``rejected``, terminal."""
        outcome = status.outcome
        assert outcome in ("rejected", "expired")
        await self.service.store.save_status(conn, str(row["id"]), status)
        reason = status.reason or outcome
        ended = await transitions.reject_request(conn, row["id"], outcome, reason)
        if ended is None:
            raise InvalidState(
                f"request {row['id']} is no longer awaiting approval", status=row["status"]
            )
        event = "rejected" if outcome == "rejected" else "approval_expired"
        await log_event(
            conn, row["id"], event, reason, correlation_id=correlation_id, level="warning"
        )
        await self._notify(conn, row["id"], event, "rejected", reason=reason)
        self._ended(row, status, outcome, now)
        del item
        return ended

    def _ended(
        self, row: Mapping[str, Any], status: GateStatus, outcome: str, now: dt.datetime
    ) -> None:
        """Count the gate's end once committed (the observer defers to the commit)."""
        began = next((s.started_at for s in status.stages if s.started_at is not None), None)
        began = began or row.get("created_at") or now
        item_id = str(row["catalog_item_id"])
        self.observer.approval_ended(item_id, outcome, max(0.0, (now - began).total_seconds()))
        if outcome != "approved":
            self.observer.request_status(item_id, "rejected", team_of(row.get("requester_teams")))

    # -- reads -----------------------------------------------------------------------------

    async def gate(self, request_id: uuid.UUID) -> dict[str, Any] | None:
        """Where the request's gate stands (``preview.describe``); None when its item has none."""
        row = await self._row(request_id)
        item = await self.catalog.version(int(row["catalog_version_id"]))
        if not item.approvals:
            return None
        if row["status"] != "awaiting_approval":  # ended: as it stood then, no clock
            status = await self._status(None, row, item, None)
            current = status.current
            expired = (row.get("error_context") or {}).get("approval") == "expired"
            if expired and current is not None and current.expires_at is not None:
                after = current.expires_at + dt.timedelta(microseconds=1)
                status = await self._status(None, row, item, after)  # as the sweeper saw it
            return describe(status)
        return describe(await self._status(None, row, item, self.clock()))

    async def preview(
        self, item: CatalogItem, fields: Mapping[str, Any], principal: Principal
    ) -> dict[str, Any] | None:
        """Who must approve a request of ``item`` with ``fields`` by ``principal`` (nothing is
        stored): the validation and dry-run answers show it. None when the item has no gate."""
        if not item.approvals:
            return None
        row = {
            "id": "",
            "requester_email": principal.email,
            "requester_name": principal.name,
            "requester_teams": list(principal.teams),
            "source": "api",
        }
        masked, _ = mask_fields(item, apply_defaults(item, dict(fields)))
        variables = build_context(item, masked, request=RequestInfo.from_row(row))
        revision = request_revision(masked, catalog_item_version=item.metadata.version)
        owners: tuple[str, ...] = ()
        if self.codeowners is not None and any(s.codeowners for s in item.approvals):
            current = await self.catalog.current(item.id)
            owners = await self._owners(None, item, current[1])
        facts = RequestFacts(requester_of(row), revision, variables, None, owners)
        return describe(evaluate(item.approvals, facts, (), now=None))

    async def inbox(
        self,
        principal: Principal,
        *,
        login: str | None = None,
        teams: Sequence[str] | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Requests awaiting a decision the caller may take, oldest waiting first."""
        approver = Approver(
            principal.email,
            tuple(teams if teams is not None else principal.teams),
            login,
            principal.name,
        )
        entries = await self.service.inbox(None, approver, limit=limit)
        return [entry.to_dict() for entry in entries]

    async def may_decide(
        self,
        request_id: uuid.UUID,
        principal: Principal,
        *,
        login: str | None = None,
        teams: Sequence[str] | None = None,
    ) -> bool:
        """Whether ``principal`` is among the approvers of any stage of the request (so a face
        may show them a request they could not otherwise read)."""
        try:
            row = await self._row(request_id)
        except NotFound:
            return False
        item = await self.catalog.version(int(row["catalog_version_id"]))
        if not item.approvals:
            return False
        approver = Approver(
            principal.email,
            tuple(teams if teams is not None else principal.teams),
            login,
            principal.name,
        )
        facts = await self._facts(None, row, item)
        return any(
            qualifies(
                stage, approver, requester=facts.requester, codeowners=facts.codeowners
            ).allowed
            for stage in item.approvals
        )

    # -- changes ---------------------------------------------------------------------------

    async def revise(
        self,
        request_id: uuid.UUID,
        fields: Mapping[str, Any],
        principal: Principal,
        *,
        correlation_id: str,
        source: str,
    ) -> dict[str, Any]:
        """New fields for a request awaiting approval: validated, stored masked, a new
        revision; the decisions on the old one stop counting (event ``approvals_reset``). The
        face decides who may change the request (its requester, the issue's author)."""
        now = self.clock()
        async with after_commit(self._transaction(principal, correlation_id, source)) as conn:
            row = await self._lock(conn, request_id)
            if row["status"] != "awaiting_approval":
                raise InvalidState(
                    f"only a request awaiting approval can be changed; this one is '{row['status']}'",
                    status=row["status"],
                )
            item = await self.catalog.version(int(row["catalog_version_id"]))
            given = apply_defaults(item, dict(fields))
            errors = self._field_errors(item, given, str(row.get("source")))
            if errors:
                raise ValidationFailed("the request's fields are not valid", errors)
            masked, secrets = mask_fields(item, given)
            if secrets:
                await conn.execute(
                    QUERIES.secrets_store, {"request_id": request_id, "fields": Jsonb(secrets)}
                )
            cur = await conn.execute(
                QUERIES.approvals_revise_request, {"id": request_id, "fields": Jsonb(masked)}
            )
            revised = await cur.fetchone()
            assert revised is not None  # locked in awaiting_approval just above
            row = dict(revised)
            facts = await self._facts(conn, row, item)
            before = await self.service.store.get_round(conn, str(request_id))
            status = await self.service.start(conn, str(request_id), item.approvals, facts, now=now)
            if before is not None and before.revision != facts.revision:
                await log_event(
                    conn,
                    request_id,
                    "approvals_reset",
                    f"request changed by {principal.email}: earlier approvals no longer count",
                    correlation_id=correlation_id,
                    details={"previous": before.revision, "revision": facts.revision},
                )
                if status.outcome == "approved":  # the change made every stage inapplicable
                    row = await self._release(conn, row, item, status, now, correlation_id)
                else:
                    await self._waiting(conn, row, status, "approvals_reset", correlation_id)
        view = request_view(row)
        view["approval"] = describe(status)
        return view

    @staticmethod
    def _field_errors(
        item: CatalogItem, fields: dict[str, Any], source: str
    ) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = []
        if source in secrets_policy.GITHUB_SOURCES:
            for field_id in secrets_policy.given_secrets(item, fields):
                errors.append(secrets_policy.secret_in_github_error(item, field_id))
            problems = secrets_policy.issue_form_errors(item, fields)
        else:
            problems = validate_request_fields(item, fields)
        errors += [
            {"pointer": p.pointer, "field": p.field_id, "message": p.message} for p in problems
        ]
        return errors

    # -- expiry ----------------------------------------------------------------------------

    async def expire_due(self, *, now: dt.datetime | None = None, limit: int = 100) -> int:
        """End the requests whose current stage expired before ``now``: ``rejected`` with
        ``error_context.approval`` = ``expired``; how many were ended."""
        now = now or self.clock()
        ended = 0
        for request_id, _revision in await self.service.store.expired_rounds(
            None, now=now, limit=limit
        ):
            transaction = self.db.transaction(actor=ENGINE_ACTOR, source=ENGINE_SOURCE)
            async with after_commit(transaction) as conn:
                cur = await conn.execute(QUERIES.get_request_for_update, {"id": request_id})
                found = await cur.fetchone()
                if found is None or found["status"] != "awaiting_approval":
                    continue
                row = dict(found)
                item = await self.catalog.version(int(row["catalog_version_id"]))
                status = await self._status(conn, row, item, now)
                if status.outcome == "expired":
                    await self._end(conn, row, item, status, now, row.get("correlation_id"))
                    ended += 1
                else:  # decided meanwhile: keep the round's snapshot in step
                    await self.service.store.save_status(conn, request_id, status)
        return ended

    async def run_expiry(self, stop: asyncio.Event) -> None:
        """``expire_due`` every ``expiry_interval_seconds`` until ``stop`` (the worker runs it)."""
        while not stop.is_set():
            try:
                count = await self.expire_due()
                if count:
                    log.info("approval expiry: %d request(s) ended as expired", count)
            except Exception:
                log.exception("approval expiry failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.expiry_interval_seconds)

    # -- plumbing --------------------------------------------------------------------------

    def _transaction(self, principal: Principal, correlation_id: str, source: str) -> Any:
        return self.db.transaction(
            actor=principal.email,
            correlation_id=correlation_id,
            source=source,
            agent=principal.agent.email if principal.agent else None,
        )

    async def _row(self, request_id: uuid.UUID) -> dict[str, Any]:
        row = await self.db.fetch_one(None, QUERIES.get_request, {"id": request_id})
        if row is None:
            raise NotFound(f"request {request_id} does not exist", request_id=str(request_id))
        return dict(row)

    @staticmethod
    async def _lock(conn: Connection, request_id: uuid.UUID) -> dict[str, Any]:
        cur = await conn.execute(QUERIES.get_request_for_update, {"id": request_id})
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"request {request_id} does not exist", request_id=str(request_id))
        return dict(row)

    @staticmethod
    def _moved(row: dict[str, Any] | None, request_id: Any) -> dict[str, Any]:
        """The row a transition returned; None (the request left the state the caller holds
        its lock in) is refused rather than assumed impossible."""
        if row is None:
            raise InvalidState(f"request {request_id} is no longer in the state it was read in")
        return row

    @staticmethod
    async def _notify(
        conn: Connection, request_id: Any, event: str, status: str, **extra: Any
    ) -> None:
        await enqueue_job(
            conn, NOTIFY, notify_payload(request_id, event, status, **extra), request_id=request_id
        )
