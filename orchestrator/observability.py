"""Structured JSON logs: one object per line with the correlation id, request id and user.

The faces set the context (``log_context``) once per call; every record logged while it is set
carries it, whichever module logs. Secrets are redacted from the message before it is written:
PAO tokens, bearer credentials and ``password=``/``secret=``/``token=`` style values. Chosen
with ``LOG_FORMAT=json`` (the default, ``text``, keeps the plain one-line format). While a
span is open (``orchestrator.tracing``), JSON lines also carry its ``trace_id`` and ``span_id``,
so a log line leads to its trace and back.

The API binds the context per HTTP call (``api/auth.py``); the worker binds it per job from the
job's payload (``orchestrator.tracing.job_scope``), where ``request_id`` is the PAO request's id.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from opentelemetry import trace

_CONTEXT: ContextVar[dict[str, str]] = ContextVar("pao_log_context", default={})  # noqa: B039
_SECRETS = re.compile(
    r"(pao_[A-Za-z0-9_-]{20,})"
    r"|((?i:bearer)\s+)[^\s,;]+"
    r"|((?i:password|secret|token|api[_-]?key)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"
)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def redact(text: str) -> str:
    def mask(match: re.Match[str]) -> str:
        if match.group(1):
            return "pao_****"
        return (match.group(2) or match.group(3) or "") + "****"

    return _SECRETS.sub(mask, text)


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
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure_logging(level: str, log_format: str, stream: IO[str] | None = None) -> None:
    """Root logging for a PAO process: JSON lines or the plain text format (on stderr, or on
    ``stream``)."""
    handler = logging.StreamHandler(stream)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
