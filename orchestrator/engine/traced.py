"""A span per executor call: the tracing proxy the engine puts around every executor.

It lives in the engine, beside the executor protocols it mirrors, so that
``orchestrator.tracing`` (process set-up and the trace across the queue, which the engine and
the API both use) imports nothing of the engine: no package cycle.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from orchestrator import tracing
from orchestrator.action_types import sends_trace_headers
from orchestrator.engine.executor import (
    ActionExecutor,
    ActionResult,
    ActionRun,
    CancellableExecutor,
    Completed,
    DescribableExecutor,
    Failed,
    NotifiableExecutor,
    Pending,
    Registry,
    TargetedExecutor,
)


def traced_registry(registry: Registry) -> Registry:
    """``registry`` with every executor behind a tracing proxy (a span per call)."""
    return Registry({name: traced(registry.get(name), name) for name in registry})


def traced(executor: ActionExecutor, action_type: str) -> ActionExecutor:
    """``executor`` behind a ``TracedExecutor`` with exactly its optional capabilities, so the
    engine's checks (``isinstance(x, CancellableExecutor)`` ...) answer as for the executor."""
    capabilities = tuple(
        mixin for protocol, mixin in _CAPABILITIES if isinstance(executor, protocol)
    )
    cls = _PROXY_CLASSES.get(capabilities)
    if cls is None:
        name = "Traced" + "".join(m.__name__.removeprefix("_") for m in capabilities) + "Executor"
        cls = type(name, (*capabilities, TracedExecutor), {})
        _PROXY_CLASSES[capabilities] = cls
    proxy: ActionExecutor = cls(executor, action_type)
    return proxy


class TracedExecutor:
    """A span per ``execute``/``poll`` call with the action's ids and outcome; for rest-api
    actions, the call's ``traceparent`` header."""

    def __init__(self, inner: Any, action_type: str) -> None:
        self.inner = inner  # Any: the capability mixins call its optional methods
        self.action_type = action_type

    async def execute(self, action: ActionRun) -> ActionResult:
        with self._span("execute", action):
            result: ActionResult = await self.inner.execute(self._with_trace_headers(action))
            _record_result(result)
            return result

    async def poll(self, action: ActionRun) -> ActionResult:
        with self._span("poll", action):
            result: ActionResult = await self.inner.poll(self._with_trace_headers(action))
            _record_result(result)
            return result

    @contextmanager
    def _span(self, operation: str, action: ActionRun) -> Iterator[None]:
        attributes: dict[str, str | int] = {
            "pao.action.id": action.action_id,
            "pao.action.type": action.action_type,
            "pao.action.attempt": action.attempt,
            "pao.request_id": action.request_id,
        }
        if action.external_ref:
            attributes["pao.action.external_ref"] = action.external_ref
        with tracing.tracer().start_as_current_span(
            f"{operation} {self.action_type}", kind=SpanKind.CLIENT, attributes=attributes
        ):
            yield

    def _with_trace_headers(self, action: ActionRun) -> ActionRun:
        """For actions whose ``headers`` reach the target: add ``traceparent`` (never replacing
        a header the catalog item sets). The stored config is unchanged (rendered before)."""
        if not sends_trace_headers(action.action_type) or not isinstance(action.config, Mapping):
            return action
        carrier: dict[str, str] = {}
        tracing.inject_context(carrier)
        headers = action.config.get("headers")
        headers = dict(headers) if isinstance(headers, Mapping) else {}
        names = {str(name).lower() for name in headers}
        added = {k: v for k, v in carrier.items() if k not in names}
        if not added:
            return action
        return replace(action, config={**action.config, "headers": {**headers, **added}})


class _Cancel(TracedExecutor):
    async def cancel(self, action: ActionRun) -> None:
        with self._span("cancel", action):
            await self.inner.cancel(action)


class _Notify(TracedExecutor):
    async def notify(self, action: ActionRun, state: str, message: str) -> None:
        with self._span("notify", action):
            await self.inner.notify(action, state, message)


class _Describe(TracedExecutor):
    def describe(self, action: ActionRun) -> Mapping[str, Any]:
        described: Mapping[str, Any] = self.inner.describe(action)
        return described


class _Target(TracedExecutor):
    def target(self, action: ActionRun) -> str | None:
        name: str | None = self.inner.target(action)
        return name


_CAPABILITIES: Final[tuple[tuple[type, type[TracedExecutor]], ...]] = (
    (CancellableExecutor, _Cancel),
    (NotifiableExecutor, _Notify),
    (DescribableExecutor, _Describe),
    (TargetedExecutor, _Target),
)
_PROXY_CLASSES: dict[tuple[type[TracedExecutor], ...], type[TracedExecutor]] = {}


def _record_result(result: ActionResult) -> None:
    span = trace.get_current_span()
    if not span.is_recording():
        return
    if isinstance(result, Completed):
        span.set_attribute("pao.action.outcome", "completed")
    elif isinstance(result, Pending):
        span.set_attribute("pao.action.outcome", "pending")
        span.set_attribute("pao.action.external_ref", result.external_ref)
    elif isinstance(result, Failed):
        span.set_attribute("pao.action.outcome", "failed")
        span.set_attribute("pao.action.retryable", result.retryable)
        span.set_status(Status(StatusCode.ERROR, "action failed"))
