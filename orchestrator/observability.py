"""Structured JSON logs: one object per line with the correlation id, request id and user.

The faces set the context (``log_context``) once per call; every record logged while it is set
carries it, whichever module logs. Secrets are redacted from every record before any format
writes it (``orchestrator.redaction``: the settings' credentials, PAO tokens, bearer and
``Authorization`` values, ``password=``-style pairs, URL passwords). JSON lines are chosen
with ``LOG_FORMAT=json`` (the default, ``text``, keeps the plain one-line format). While a
span is open (``orchestrator.tracing``), JSON lines also carry its ``trace_id`` and ``span_id``,
so a log line leads to its trace and back.

The API binds the context per HTTP call (``api/auth.py``); the worker binds it per job from the
job's payload (``orchestrator.tracing.job_scope``), where ``request_id`` is the PAO request's id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from opentelemetry import trace

from orchestrator.redaction import RedactingFilter, redact, register

_CONTEXT: ContextVar[dict[str, str]] = ContextVar("pao_log_context", default={})  # noqa: B039
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextmanager
def log_context(**values: str | None) -> Iterator[None]:
    """Add ``values`` (correlation_id, request_id, user, ...) to every record in this block."""
    merged = {**_CONTEXT.get(), **{k: v for k, v in values.items() if v}}
    token = _CONTEXT.set(merged)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bind(**values: str | None) -> None:
    """Add ``values`` to the context until the current task ends (asyncio copies contexts per
    task, so this never leaks into another request)."""
    _CONTEXT.set({**_CONTEXT.get(), **{k: v for k, v in values.items() if v}})


def current_context() -> Mapping[str, str]:
    """The values bound for this block or task (what a job enqueued now carries along)."""
    return _CONTEXT.get()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            **_CONTEXT.get(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        if record.exc_info or record.exc_text:
            text = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
            entry["exception"] = redact(text)
        return json.dumps(entry, default=str)


def configure_logging(
    level: str, log_format: str, stream: IO[str] | None = None, secrets: Iterable[str] = ()
) -> None:
    """Root logging for a PAO process: JSON lines or the plain text format (on stderr, or on
    ``stream``). ``secrets`` (the settings' credentials) are registered for redaction, and the
    handler redacts every record, whichever format writes it."""
    register(secrets)
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
