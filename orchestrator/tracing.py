"""OpenTelemetry tracing across API → queue → worker → executor.

One submission is one trace: the API's server span, then a span per job the request causes
(its parent is the span that enqueued it: the API call, or the job before), and inside a job a
span per executor call. The trace crosses the queue as a W3C ``traceparent`` stored in the job's
payload (``CONTEXT_KEY``), beside the correlation id and user that the worker's log lines carry.
A rest-api call sends ``traceparent`` to its target, so a traced service joins the trace.

Set up once per process from ``Settings.tracing`` (``configure_tracing``). When tracing is off
nothing here costs more than a flag check: no provider, no spans, no executor proxy. Spans are
exported by OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (the ``otlp`` extra); without an
endpoint, trace context is still made, propagated and written in JSON log lines.

Span attributes carry ids (request, action, job, correlation) and never a rendered config,
a field value or a response body.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

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
from orchestrator.observability import current_context, log_context

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from orchestrator.engine.pg_queue import Job
    from orchestrator.settings import Settings

log = logging.getLogger(__name__)

CONTEXT_KEY: Final = "_context"  # in a job's payload: traceparent, correlation_id, user
CARRIED: Final = ("correlation_id", "user")  # log context values a job carries along
HEADER_ACTION_TYPES: Final = frozenset({"rest-api"})  # configs whose ``headers`` reach a target
OTLP_EXTRA_MISSING: Final = (
    "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed: "
    "pip install 'pao[otlp]' (or unset the endpoint)"
)
_PROPAGATOR: Final = TraceContextTextMapPropagator()


class TracingError(RuntimeError):
    """Tracing is configured in a way this installation cannot honour."""


@dataclass(slots=True)
class _State:
    provider: TracerProvider | None = None
    tracer: Tracer = field(default_factory=trace.NoOpTracer)


_STATE = _State()  # the process's tracer: set at start-up, read by the engine and the API


def configure_tracing(
    settings: Settings, *, exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """Start tracing for this process as ``settings.tracing`` says; the provider, or None when
    tracing is off. ``exporter`` (e.g. the SDK's in-memory one) replaces the OTLP exporter.

    Raises ``TracingError`` when an OTLP endpoint is set but the ``otlp`` extra is missing."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    from orchestrator import __version__

    shutdown_tracing()
    config = settings.tracing
    if not config.enabled:
        return None
    resource = Resource.create(
        {"service.name": config.service_name, "service.version": __version__}
    )
    provider = TracerProvider(resource=resource)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif config.otlp_endpoint is not None:
        provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(config.otlp_endpoint)))
    else:
        log.info("tracing on without OTEL_EXPORTER_OTLP_ENDPOINT: spans are not exported")
    _STATE.provider = provider
    _STATE.tracer = provider.get_tracer("pao", __version__)
    return provider


def _otlp_exporter(endpoint: str) -> SpanExporter:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise TracingError(OTLP_EXTRA_MISSING) from None
    # The standard variable is the collector's base URL; the traces path is added to it.
    exporter: SpanExporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    return exporter


def shutdown_tracing() -> None:
    """Export what is buffered and go back to the no-op tracer (at exit, and between tests)."""
    provider, _STATE.provider = _STATE.provider, None
    _STATE.tracer = trace.NoOpTracer()
    if provider is not None:
        provider.shutdown()


def enabled() -> bool:
    return _STATE.provider is not None


def tracer() -> Tracer:
    """The process's tracer (a no-op one while tracing is off)."""
    return _STATE.tracer


# -- across the queue -----------------------------------------------------------------------------


def job_context(**known: str | None) -> dict[str, str]:
    """What a job enqueued now carries: the current ``traceparent`` (tracing on, a span open),
    and the correlation id and user of the log context, or ``known`` values given explicitly."""
    bound = current_context()
    carried = {key: bound[key] for key in CARRIED if bound.get(key)}
    carried.update({key: value for key, value in known.items() if value})
    if _STATE.provider is not None:
        _PROPAGATOR.inject(carried)
    return carried


def with_job_context(payload: Mapping[str, Any], **known: str | None) -> dict[str, Any]:
    """``payload`` plus ``job_context`` under ``CONTEXT_KEY`` (unchanged when there is none)."""
    carried = job_context(**known)
    return {**payload, CONTEXT_KEY: carried} if carried else dict(payload)


def extract_context(carrier: Mapping[str, str]) -> otel_context.Context:
    """The trace context a caller sent (``traceparent``/``tracestate``), to parent a span."""
    return _PROPAGATOR.extract(carrier)


@contextmanager
def job_scope(job: Job) -> Iterator[None]:
    """Around a job's handler: its log context (correlation id, PAO request id, user, job id)
    and, with tracing on, a consumer span whose parent is the span that enqueued the job."""
    carried = job.payload.get(CONTEXT_KEY)
    carried = carried if isinstance(carried, Mapping) else {}
    request_id = job.request_id or job.payload.get("request_id")
    with log_context(
        correlation_id=_text(carried.get("correlation_id")),
        request_id=str(request_id) if request_id else None,
        user=_text(carried.get("user")),
        job_id=str(job.id),
    ):
        if _STATE.provider is None:
            yield
            return
        attributes: dict[str, str | int] = {
            "pao.job.id": job.id,
            "pao.job.kind": job.kind,
            "pao.job.receives": job.receives,
        }
        if request_id:
            attributes["pao.request_id"] = str(request_id)
        if carried.get("correlation_id"):
            attributes["pao.correlation_id"] = str(carried["correlation_id"])
        parent = extract_context({k: str(v) for k, v in carried.items()})
        with _STATE.tracer.start_as_current_span(
            f"job {job.kind}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        ):
            yield


def record_failure(exc: BaseException) -> None:
    """Mark the current span failed with ``exc`` (a handler error the worker catches)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


def _text(value: Any) -> str | None:
    return str(value) if value else None


# -- executor calls -------------------------------------------------------------------------------


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
        with _STATE.tracer.start_as_current_span(
            f"{operation} {self.action_type}", kind=SpanKind.CLIENT, attributes=attributes
        ):
            yield

    def _with_trace_headers(self, action: ActionRun) -> ActionRun:
        """For actions whose ``headers`` reach the target: add ``traceparent`` (never replacing
        a header the catalog item sets). The stored config is unchanged (rendered before)."""
        if action.action_type not in HEADER_ACTION_TYPES or not isinstance(action.config, Mapping):
            return action
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
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
