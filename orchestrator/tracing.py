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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from orchestrator.observability import current_context, log_context

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from orchestrator.settings import Settings

log = logging.getLogger(__name__)

CONTEXT_KEY: Final = "_context"  # in a job's payload: traceparent, correlation_id, user
CARRIED: Final = ("correlation_id", "user")  # log context values a job carries along
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


def inject_context(carrier: dict[str, str]) -> None:
    """Add the current span's ``traceparent`` (and ``tracestate``) to ``carrier``."""
    _PROPAGATOR.inject(carrier)


def extract_context(carrier: Mapping[str, str]) -> otel_context.Context:
    """The trace context a caller sent (``traceparent``/``tracestate``), to parent a span."""
    return _PROPAGATOR.extract(carrier)


class TracedJob(Protocol):
    """What ``job_scope`` reads of a queued job (the engine's ``Job`` has it); a protocol so
    that tracing, which the engine uses, does not import the engine back."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def receives(self) -> int: ...
    @property
    def request_id(self) -> Any: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...


@contextmanager
def job_scope(job: TracedJob) -> Iterator[None]:
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
