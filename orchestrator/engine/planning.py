"""What a chain runs next, rendered with what: the runner's planning, without writing anything.

Given a request, its catalog item version and its action rows (as read by the step), the
planner picks the next unfinished action in execution order, renders its config with the full
context (password fields with their real values, earlier actions' outputs) and says whether it
can be called now: a ``Start`` (rendered, with the attempt it is), or a ``Stop`` saying why not.
It reads the target's circuit (``CircuitBreaker.delay``) so that waiting for it spends no
attempt, and otherwise depends on its inputs only: the recording (``orchestrator.engine.
recording``) writes what it decides, the calling (``orchestrator.engine.calling``) makes the
call it describes (``ActionRun``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.catalog.models import Action, CatalogItem
from orchestrator.durations import duration_seconds
from orchestrator.engine.breaker import CircuitBreaker, Delay
from orchestrator.engine.executor import ActionRun, Registry, correlation_key, target_of
from orchestrator.engine.manual import (
    MANUAL_ACTION_TYPE,
    TICKET_ACTION_TYPE,
    ManualDefaults,
    NoManualSupport,
    fulfilment_ticket,
)
from orchestrator.templating.analysis import TemplateAnalysisError, execution_order
from orchestrator.templating.context import RequestInfo, TemplateContext, build_context
from orchestrator.templating.engine import TemplateEngine
from orchestrator.templating.errors import TemplateRenderError
from orchestrator.templating.masking import mask, render_action

FINISHED = frozenset({"completed", "cancelled"})  # action states a chain moves past


@dataclass(slots=True)
class Plan:
    """One action about to be called (or polled), with everything its result needs."""

    request: dict[str, Any]
    item: CatalogItem
    rows: list[dict[str, Any]]
    row: dict[str, Any]
    action: Action | None
    context: TemplateContext
    fields: Mapping[str, Any]  # with the real values of password fields
    run: ActionRun


@dataclass(slots=True)
class Start:
    """The next action to call, rendered (decided, nothing written yet)."""

    row: dict[str, Any]
    action: Action | None
    attempt: int
    resumed: bool
    context: TemplateContext
    fields: Mapping[str, Any]
    real: dict[str, Any]
    preview: dict[str, Any]


@dataclass(slots=True)
class Stop:
    """Why a job has nothing to call: ``all-done``, ``stale`` (a delivery behind the chain),
    ``waiting`` (for an operator or the poller), ``unplannable``, ``unrenderable`` or
    ``circuit-open`` (the target's circuit: the job comes back at ``delay.seconds``)."""

    reason: str
    message: str = ""
    row: dict[str, Any] | None = None
    code: str = ""
    delay: Delay | None = None


class Planner:
    """Decides and renders a chain's next action (see the module docstring)."""

    def __init__(
        self,
        registry: Registry,
        breaker: CircuitBreaker,
        engine: TemplateEngine,
        manual_defaults: ManualDefaults,
        template_environment: Mapping[str, str],
        default_timeout_seconds: float | None,
    ) -> None:
        self.registry = registry
        self.breaker = breaker
        self.engine = engine
        self.manual_defaults = manual_defaults
        self.template_environment = dict(template_environment)
        self.default_timeout_seconds = default_timeout_seconds
        self._orders: dict[int, list[str]] = {}

    def decide(
        self,
        request: dict[str, Any],
        item: CatalogItem,
        rows: list[dict[str, Any]],
        wanted: str | None,
        fields: Mapping[str, Any],
    ) -> Start | Stop:
        """What to do next: start (rendered) the next unfinished action in execution order,
        or stop and say why. ``wanted``: the action the job names (another one next means the
        delivery is behind the chain); ``fields`` carry the real values of password fields.
        Sorts ``rows`` in execution order."""
        try:
            order = self.execution_order(int(request["catalog_version_id"]), item)
        except TemplateAnalysisError as exc:
            return Stop("unplannable", message=str(exc))
        rows.sort(key=lambda r: (_index(order, r["action_id"]), r["position"]))
        row = next((r for r in rows if r["status"] not in FINISHED), None)
        if row is None:
            return Stop("all-done")
        if wanted is not None and wanted != row["action_id"]:
            return Stop("stale")  # a stale or duplicate delivery: that action is behind us
        if row["status"] == "failed" or (
            row["status"] == "in_progress" and row["external_ref"] is not None
        ):
            return Stop("waiting")  # for an operator, or for the poller
        resumed = row["status"] == "in_progress"
        attempt = int(row["attempts"]) if resumed else int(row["attempts"]) + 1
        context = self.context(request, item, rows, fields)
        action = catalog_action(item, row["action_id"])
        try:
            real, preview = self.render_row(row, action, request, item, context)
        except (TemplateRenderError, NoManualSupport) as exc:
            code = exc.code if isinstance(exc, TemplateRenderError) else "no-manual-support"
            return Stop("unrenderable", message=str(exc), row=row, code=code)
        delay = self._circuit_delay(request, row, real, context, attempt)
        if delay is not None:
            return Stop("circuit-open", row=row, delay=delay)
        return Start(row, action, attempt, resumed, context, fields, real, preview)

    def _circuit_delay(
        self,
        request: Mapping[str, Any],
        row: Mapping[str, Any],
        real: dict[str, Any],
        context: TemplateContext,
        attempt: int,
    ) -> Delay | None:
        """How long the action must wait for its target's circuit, found before an attempt
        starts (so waiting spends none); the target as shown in logs (secrets masked). An
        operator's retry (the request is ``failed``) may probe before the cool-down ends."""
        run = action_run(request, row, real, context, attempt)
        if run.action_type not in self.registry:
            return None  # the call fails on the unknown type, not here
        target = target_of(self.registry.get(run.action_type), run)
        if target is None:
            return None
        delay = self.breaker.delay(target, early_probe=request["status"] == "failed")
        if delay is None:
            return None
        return Delay(str(mask(delay.target, context.secrets)), delay.seconds, delay.state)

    def started(
        self,
        request: dict[str, Any],
        item: CatalogItem,
        rows: list[dict[str, Any]],
        start: Start,
        deadline: datetime | None,
    ) -> Plan:
        """The plan of ``start`` once written: its row as the start left it."""
        started = {
            **start.row,
            "status": "in_progress",
            "attempts": start.attempt,
            "rendered_config": start.preview,
            "deadline_at": deadline,
            "error": None,
        }
        return Plan(
            request=request,
            item=item,
            rows=rows,
            row=started,
            action=start.action,
            context=start.context,
            fields=start.fields,
            run=action_run(request, started, start.real, start.context, start.attempt),
        )

    def for_poll(
        self,
        request: dict[str, Any],
        item: CatalogItem,
        rows: list[dict[str, Any]],
        row: dict[str, Any],
        fields: Mapping[str, Any],
    ) -> Plan:
        """The plan of polling ``row``'s external run (its config rendered again: polling
        needs the real values; the stored masked one if it no longer renders)."""
        context = self.context(request, item, rows, fields)
        action = catalog_action(item, row["action_id"])
        try:
            real, _ = self.render_row(row, action, request, item, context)
        except (TemplateRenderError, NoManualSupport):
            real = dict(row["rendered_config"] or {})  # rendered before; polling needs the ref
        return Plan(
            request=request,
            item=item,
            rows=rows,
            row=row,
            action=action,
            context=context,
            fields=fields,
            run=action_run(request, row, real, context, int(row["attempts"])),
        )

    def deadline(self, start: Start) -> datetime | None:
        """When this attempt times out: its timeout from now. The deadline belongs to the
        attempt: a resumed attempt (its job redelivered after a crash) gets a new one, never
        the crashed delivery's, which may have passed while nobody was running it."""
        timeout = self.timeout(start.action)
        if timeout is None:
            return None
        return datetime.now(UTC) + timedelta(seconds=timeout)

    def timeout(self, action: Action | None) -> float | None:
        """The attempt's timeout: the action's own, else the engine's default."""
        if action is not None and action.timeout:
            return duration_seconds(action.timeout)
        return self.default_timeout_seconds

    def context(
        self,
        request: Mapping[str, Any],
        item: CatalogItem,
        rows: list[dict[str, Any]],
        fields: Mapping[str, Any],
    ) -> TemplateContext:
        """The templates' context: fields, request, completed actions' outputs, environment."""
        outputs = {
            r["action_id"]: dict(r["outputs"] or {}) for r in rows if r["status"] == "completed"
        }
        return build_context(
            item,
            fields,
            request=RequestInfo.from_row(request),
            outputs=outputs,
            allowed_environment=list(self.template_environment),
            environ=self.template_environment,
        )

    def render_row(
        self,
        row: Mapping[str, Any],
        action: Action | None,
        request: Mapping[str, Any],
        item: CatalogItem,
        context: TemplateContext,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(real config, masked config) of an action row; a manual row becomes its ticket."""
        if row["action_type"] == MANUAL_ACTION_TYPE:
            ticket = fulfilment_ticket(item, request, context, self.manual_defaults, self.engine)
            return ticket, ticket  # built from masked values only
        return self._render(action, context, int(row["position"]))

    def execution_order(self, version_id: int, item: CatalogItem) -> list[str]:
        """The item version's action order; versions never change, so it is computed once
        (the analysis checks every template: milliseconds, on every job otherwise)."""
        order = self._orders.get(version_id)
        if order is None:
            order = execution_order(item) if item.fulfillment.actions else []
            if len(self._orders) > 1024:
                self._orders.clear()
            self._orders[version_id] = order
        return order

    def _render(
        self, action: Action | None, context: TemplateContext, position: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(real config, masked config); an action unknown to the item renders as empty."""
        if action is None:
            return {}, {}
        try:
            rendered = render_action(
                action, context, index=position, engine=self.engine, with_cleanup=False
            )
        except TemplateRenderError as exc:
            raise exc.scrubbed(context.secrets) from None
        return dict(rendered.real["config"]), dict(rendered.preview["config"])


def action_run(
    request: Mapping[str, Any],
    row: Mapping[str, Any],
    config: dict[str, Any],
    context: TemplateContext,
    attempt: int,
) -> ActionRun:
    """What the executor is called with for ``row``'s attempt."""
    outputs = context.variables.get("outputs", {})
    action_type = row["action_type"]
    if action_type == MANUAL_ACTION_TYPE:
        action_type = TICKET_ACTION_TYPE
    timeout: float | None = None
    if row.get("deadline_at") is not None:
        timeout = (row["deadline_at"] - datetime.now(UTC)).total_seconds()
    return ActionRun(
        request_id=str(request["id"]),
        action_id=row["action_id"],
        action_type=action_type,
        config=config,
        correlation_key=correlation_key(
            str(request["id"]), row["action_id"], int(row.get("generation") or 0)
        ),
        attempt=attempt,
        external_ref=row.get("external_ref"),
        external_url=row.get("external_url"),
        outputs=outputs,
        timeout_seconds=timeout,
    )


def _index(order: list[str], action_id: str) -> int:
    return order.index(action_id) if action_id in order else len(order)


def ordered(item: CatalogItem, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` in the item's declared action order."""
    order = [a.id for a in item.fulfillment.actions]
    return sorted(rows, key=lambda r: (_index(order, r["action_id"]), r["position"]))


def catalog_action(item: CatalogItem, action_id: str) -> Action | None:
    """The item's action ``action_id`` (None: the item no longer declares it)."""
    return next((a for a in item.fulfillment.actions if a.id == action_id), None)
