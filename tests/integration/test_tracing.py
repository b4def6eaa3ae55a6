"""Tracing and JSON logs across API → queue → worker → executor, on real PostgreSQL.

A request goes through the real API (auth mode none), its jobs through the real worker, and its
rest-api action to the loopback fake REST target. Spans are collected with the SDK's in-memory
exporter; ``pao worker`` itself runs as a child process for the JSON-log checks.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from actions.registry import ActionDeps, default_registry
from actions.rest_api import RestApiSettings
from orchestrator import tracing
from orchestrator.engine.executor import CancellableExecutor, DescribableExecutor, Registry
from orchestrator.engine.jobs import RUN_ACTION
from orchestrator.engine.pg_queue import Job
from orchestrator.engine.traced import traced_registry
from orchestrator.observability import configure_logging
from orchestrator.services import Services
from orchestrator.settings import Settings
from tests.fakes.rest_target import RestTarget, Scripted, serve_rest_target
from tests.integration.engine_harness import (
    drain,
    item_document,
    jobs_of,
    make_worker,
    request_row,
    store_item,
)

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
ITEM_ID = "traced-rest-item"
TOKEN = "bearer-Tr4ce-s3cret-token"
PASSWORD = "field-Passw0rd-tr4ced"
SECRETS = (TOKEN, PASSWORD)
CORRELATION_ID = "corr-trace-0001"
USER = "admin@localhost"  # auth mode none: the local admin
CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"


@pytest.fixture
def api_settings() -> Settings:
    """The API tests' settings with tracing on (no exporter endpoint: spans go to memory)."""
    return Settings.from_env(
        {"CATALOG_LOCAL_PATH": str(ROOT / "examples" / "catalog"), "PAO_TRACING": "on"}
    )


@pytest.fixture
def exporter(api_settings: Settings) -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    tracing.configure_tracing(api_settings, exporter=memory)
    try:
        yield memory
    finally:
        tracing.shutdown_tracing()


@pytest.fixture
def target() -> Iterator[RestTarget]:
    with serve_rest_target() as fake:
        yield fake


def rest_item() -> dict[str, Any]:
    action = {
        "id": "create",
        "type": "rest-api",
        "config": {
            "method": "POST",
            "url": "{{environment.TARGET_URL}}/api/v2/resources",
            "headers": {"X-Correlation-Id": "{{request.correlation_id}}"},
            "body": {"name": "{{fields.instanceName}}", "password": "{{fields.dbPassword}}"},
            "auth": {"type": "bearer", "tokenRef": "env:TARGET_TOKEN"},
            "expectedStatus": [201],
            "outputs": {"resource_id": "id"},
        },
    }
    fields = [
        {"id": "instanceName", "name": "Instance", "type": "string"},
        {"id": "dbPassword", "name": "Password", "type": "password"},
    ]
    return item_document(ITEM_ID, [action], fields=fields)


def registry() -> Registry:
    deps = ActionDeps(
        secret_environment={"TARGET_TOKEN": TOKEN},
        rest_api=RestApiSettings(allowed_hosts=frozenset({"127.0.0.1"})),
    )
    return default_registry(deps)


async def submit(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> str:
    response = await client.post(
        "/api/v1/requests",
        json={
            "catalog_item": ITEM_ID,
            "fields": {"instanceName": "orders", "dbPassword": PASSWORD},
        },
        headers={"X-Correlation-ID": CORRELATION_ID, **(headers or {})},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def one(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def parent_of(span: ReadableSpan) -> int:
    assert span.parent is not None, span.name
    return span.parent.span_id


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.trace_id)


def span_text(span: ReadableSpan) -> str:
    """Everything a span exports besides its ids: name, attributes, status, events."""
    events = [(e.name, dict(e.attributes or {})) for e in span.events]
    return json.dumps(
        [span.name, dict(span.attributes or {}), span.status.description, events], default=str
    )


async def test_one_trace_from_the_api_call_through_the_worker_to_the_rest_target(
    client: httpx.AsyncClient,
    services: Services,
    exporter: InMemorySpanExporter,
    target: RestTarget,
) -> None:
    await store_item(services, rest_item())
    # The first call meets a 503: the retry is a job enqueued by a job.
    target.script("/api/v2/resources", Scripted(503, {"error": "busy"}, {"Retry-After": "0"}))
    caller = f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-01"  # the client's own trace goes on
    request_id = await submit(client, {"traceparent": caller})
    worker = make_worker(
        services,
        traced_registry(registry()),
        template_environment={"TARGET_URL": target.base_url},
    )
    assert await drain(worker) == 2  # the first attempt, then its retry (Retry-After: 0)
    assert (await request_row(services, request_id))["status"] == "completed"

    spans = exporter.get_finished_spans()
    api = one(spans, "POST /api/v1/requests")
    first, retry = sorted(
        (s for s in spans if s.name == "job run-action"), key=lambda s: s.start_time or 0
    )
    calls = sorted(
        (s for s in spans if s.name == "execute rest-api"), key=lambda s: s.start_time or 0
    )
    assert len(calls) == 2
    call = calls[1]
    assert {format(trace_id(s), "032x") for s in spans} == {CALLER_TRACE_ID}
    assert api.kind == SpanKind.SERVER
    assert format(parent_of(api), "016x") == CALLER_SPAN_ID
    assert parent_of(first) == span_id(api)  # across the queue
    assert parent_of(calls[0]) == span_id(first)
    assert parent_of(retry) == span_id(first)  # a job enqueued by a job
    assert parent_of(call) == span_id(retry)

    assert api.attributes is not None
    assert api.attributes["pao.correlation_id"] == CORRELATION_ID
    assert api.attributes["http.response.status_code"] == 201
    assert api.attributes["enduser.id"] == USER
    for job_span in (first, retry):
        assert job_span.attributes is not None
        assert job_span.attributes["pao.request_id"] == request_id
        assert job_span.attributes["pao.correlation_id"] == CORRELATION_ID
    assert call.attributes is not None
    assert call.attributes["pao.request_id"] == request_id
    assert call.attributes["pao.action.id"] == "create"
    assert call.attributes["pao.action.type"] == "rest-api"
    assert call.attributes["pao.action.outcome"] == "completed"
    for span in spans:
        text = span_text(span)
        assert not [s for s in SECRETS if s in text], span.name
        assert "dbPassword" not in text  # no config
        assert "orders" not in text  # no field value

    # The target got the executor span's context, beside the item's own headers.
    refused, sent = target.seen("/api/v2/resources", "POST")
    assert refused.headers["traceparent"] == f"00-{CALLER_TRACE_ID}-{span_id(calls[0]):016x}-01"
    assert sent.headers["traceparent"] == f"00-{CALLER_TRACE_ID}-{span_id(call):016x}-01"
    assert sent.headers["x-correlation-id"] == CORRELATION_ID
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"


async def test_failed_jobs_mark_their_span_and_the_proxy_keeps_capabilities(
    client: httpx.AsyncClient, services: Services, exporter: InMemorySpanExporter
) -> None:
    await store_item(services, rest_item())
    await submit(client)
    worker = make_worker(services, traced_registry(registry()))

    async def broken(job: Job) -> None:  # a handler that raises: the job comes back later
        raise RuntimeError("handler broke")

    worker.register(RUN_ACTION, broken)
    assert await worker.run_once()
    failed = one(exporter.get_finished_spans(), "job run-action")
    assert not failed.status.is_ok
    assert [e.name for e in failed.events] == ["exception"]

    traced = traced_registry(registry()).get("rest-api")
    inner = registry().get("rest-api")
    for protocol in (CancellableExecutor, DescribableExecutor):
        assert isinstance(traced, protocol) == isinstance(inner, protocol)
    assert not isinstance(traced_registry(Registry({"x": _Bare()})).get("x"), CancellableExecutor)


class _Bare:
    async def execute(self, action: Any) -> Any:
        raise AssertionError("not called")

    async def poll(self, action: Any) -> Any:
        raise AssertionError("not called")


async def test_tracing_off_makes_no_spans_and_jobs_still_carry_the_log_context(
    client: httpx.AsyncClient, services: Services
) -> None:
    """``api_settings`` here has tracing on but nothing configured it: the no-op tracer."""
    assert not tracing.enabled()
    await store_item(services, rest_item())
    request_id = await submit(client, {"traceparent": f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-01"})
    (job,) = await jobs_of(services, request_id)
    assert job["payload"][tracing.CONTEXT_KEY] == {
        "correlation_id": CORRELATION_ID,
        "user": USER,
    }


def test_an_otlp_endpoint_without_the_extra_is_a_clear_start_up_error() -> None:
    try:
        import opentelemetry.exporter.otlp.proto.http  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("the otlp extra is installed here")
    settings = Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert settings.tracing.enabled  # an endpoint turns tracing on
    with pytest.raises(tracing.TracingError, match=r"pao\[otlp\]"):
        tracing.configure_tracing(settings)
    assert not tracing.enabled()
    assert not Settings.from_env({}).tracing.enabled


# -- JSON logs --------------------------------------------------------------------------------------


async def test_every_worker_log_line_while_running_a_job_carries_the_request_context(
    client: httpx.AsyncClient,
    services: Services,
    exporter: InMemorySpanExporter,
    target: RestTarget,
) -> None:
    await store_item(services, rest_item())
    request_id = await submit(client)
    worker = make_worker(
        services,
        traced_registry(registry()),
        template_environment={"TARGET_URL": target.base_url},
    )
    stream = io.StringIO()
    root, engine = logging.getLogger(), logging.getLogger("orchestrator.engine")
    saved = (root.handlers[:], root.level, engine.level)
    settings = Settings.from_env({"LOG_FORMAT": "json"})
    configure_logging(settings.log_level, settings.log_format, stream)
    engine.setLevel(logging.DEBUG)  # the worker's per-job line
    try:
        await drain(worker)
    finally:
        root.handlers[:], _, _ = saved
        root.setLevel(saved[1])
        engine.setLevel(saved[2])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert {line["logger"] for line in lines} >= {"orchestrator.engine.worker", "httpx"}
    trace = format(trace_id(one(exporter.get_finished_spans(), "job run-action")), "032x")
    for line in lines:
        assert line["correlation_id"] == CORRELATION_ID, line
        assert line["request_id"] == request_id, line
        assert line["user"] == USER, line
        assert line["trace_id"] == trace, line
    assert not [s for s in SECRETS if s in stream.getvalue()]


async def test_pao_worker_writes_json_lines_with_the_context_of_the_job(
    client: httpx.AsyncClient,
    services: Services,
    database_url: str,
    target: RestTarget,
) -> None:
    """``pao worker`` as its own process: LOG_FORMAT=json, tracing on without an exporter."""
    await store_item(services, rest_item())
    request_id = await submit(client)
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")},
        "DATABASE_URL": database_url,
        "CATALOG_LOCAL_PATH": "",
        "LOG_FORMAT": "json",
        "PAO_TRACING": "on",
        "PAO_WORKER_CONCURRENCY": "1",
        "PAO_TEMPLATE_ENV_ALLOWLIST": "TARGET_URL",
        "TARGET_URL": target.base_url,
        "TARGET_TOKEN": TOKEN,
        "REST_API_ALLOWED_HOSTS": "127.0.0.1",
    }
    command = [
        sys.executable,
        "-c",
        "import sys; from orchestrator.cli import main; sys.exit(main())",
    ]
    process = subprocess.Popen(
        [*command, "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while (await request_row(services, request_id))["status"] != "completed":
            assert process.poll() is None, "pao worker exited"
            assert time.monotonic() < deadline, "the worker did not complete the request"
            await anyio.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # all JSON
    calls = [line for line in lines if line["logger"] == "httpx"]
    assert calls, stderr
    for line in calls:
        assert line["correlation_id"] == CORRELATION_ID
        assert line["request_id"] == request_id
        assert line["user"] == USER
        assert len(line["trace_id"]) == 32
    assert not [s for s in SECRETS if s in stderr]
