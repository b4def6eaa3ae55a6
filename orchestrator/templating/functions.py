"""The template functions and filters: small, pure, bounded, and never echoing values in errors.

Every one takes the render context first (``pass_context``), one calling convention for
Jinja and for the engine's own evaluator.

Values inside text render JSON-ish (``true``/``false``/``null``, lists and maps as compact
JSON) because Terraform variables, workflow inputs and REST bodies expect that, not Python's
``True``/``None``/``['a']``.
"""

from __future__ import annotations

import base64 as _base64
import json as _json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jinja2 import Undefined, pass_context
from jinja2.runtime import Context

from orchestrator.templating.errors import TemplateRenderError
from orchestrator.templating.limits import RenderState, TemplateLimits

STATE_KEY = "__pao_state"
_DEFAULT_LIMITS = TemplateLimits()


ContextLike = Context | Mapping[str, Any]
"""Jinja's context, or the plain dict the engine passes when it evaluates without Jinja."""


def state_of(context: ContextLike) -> RenderState:
    """The render's state; a fresh default one when a template is run outside the engine."""
    state = context.get(STATE_KEY)
    if isinstance(state, RenderState):
        return state
    return RenderState(_DEFAULT_LIMITS)


def defined(value: Any) -> Any:
    """``value``, or the strict 'undefined' error when it is missing."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the missing key
    return value


def to_text(value: Any) -> str:
    """How a value reads inside text."""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping | list | tuple):
        return _json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    if isinstance(value, Undefined):
        return str(value)  # raises
    return str(value)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list | tuple):
        return "list"
    return "null" if value is None else type(value).__name__


def _text(context: ContextLike, value: Any, what: str) -> str:
    text = to_text(defined(value))
    state_of(context).value_size(len(text), what)
    return text


# -- functions and filters (same implementation, two call styles) ------------------------------


@pass_context
def upper(context: ContextLike, value: Any) -> str:
    return _text(context, value, "upper").upper()


@pass_context
def lower(context: ContextLike, value: Any) -> str:
    return _text(context, value, "lower").lower()


@pass_context
def trim(context: ContextLike, value: Any) -> str:
    return _text(context, value, "trim").strip()


@pass_context
def concat(context: ContextLike, *values: Any) -> str:
    parts = [to_text(defined(v)) for v in values]
    state_of(context).value_size(sum(len(p) for p in parts), "concat()")
    return "".join(parts)


@pass_context
def replace(context: ContextLike, value: Any, old: Any, new: Any) -> str:
    text, old_text, new_text = (to_text(defined(v)) for v in (value, old, new))
    count = text.count(old_text) if old_text else len(text) + 1
    size = len(text) + count * (len(new_text) - len(old_text))
    state_of(context).value_size(size, "replace()")
    return text.replace(old_text, new_text)


@pass_context
def json(context: ContextLike, value: Any) -> str:
    text = _json.dumps(defined(value), ensure_ascii=False, separators=(",", ":"), default=str)
    state_of(context).value_size(len(text), "json()")
    return text


@pass_context
def base64(context: ContextLike, value: Any) -> str:
    data = _text(context, value, "base64").encode()
    state_of(context).value_size(len(data) * 4 // 3 + 4, "base64()")
    return _base64.b64encode(data).decode("ascii")


@pass_context
def uuid(context: ContextLike) -> str:
    """A new random UUID per call: never use it where a retry must produce the same value."""
    return state_of(context).runtime.new_uuid()


@pass_context
def timestamp(context: ContextLike) -> str:
    """The current UTC time, ISO 8601 with a ``Z``."""
    now = state_of(context).runtime.now()
    return now.isoformat().replace("+00:00", "Z")


# -- filters only ------------------------------------------------------------------------------


@pass_context
def default(context: ContextLike, value: Any, fallback: Any = "", boolean: bool = False) -> Any:
    """``fallback`` when ``value`` is missing or null (or falsy, with ``boolean=true``)."""
    if isinstance(value, Undefined) or value is None or (boolean and not value):
        return fallback
    return value


@pass_context
def join(context: ContextLike, value: Any, separator: Any = "") -> str:
    items = defined(value)
    if isinstance(items, str) or not isinstance(items, list | tuple | Mapping):
        raise TemplateRenderError(f"join needs a list, got a {_kind(items)}")
    parts = [to_text(defined(v)) for v in items]
    sep = to_text(defined(separator))
    state_of(context).value_size(sum(map(len, parts)) + len(sep) * len(parts), "join")
    return sep.join(parts)


@pass_context
def length(context: ContextLike, value: Any) -> int:
    value = defined(value)
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise TemplateRenderError(f"length needs a string, list or map, got a {_kind(value)}")


@pass_context
def to_int(context: ContextLike, value: Any, fallback: int = 0) -> int:
    """Jinja's ``int``: the number, or ``fallback`` when the value does not read as one."""
    value = defined(value)
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        try:
            return int(float(value))
        except (TypeError, ValueError, OverflowError):
            return fallback


@pass_context
def to_float(context: ContextLike, value: Any, fallback: float = 0.0) -> float:
    value = defined(value)
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return fallback


@pass_context
def string(context: ContextLike, value: Any) -> str:
    return _text(context, value, "string")


@pass_context
def title(context: ContextLike, value: Any) -> str:
    return _text(context, value, "title").title()


@pass_context
def truncate(context: ContextLike, value: Any, size: Any = 255, end: Any = "...") -> str:
    text = _text(context, value, "truncate")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise TemplateRenderError("truncate needs a non-negative integer length")
    tail = to_text(defined(end))
    if len(text) <= size:
        return text
    return text[: max(size - len(tail), 0)] + tail


_ISSUE_TYPES = {
    "bug": "Bug",
    "task": "Task",
    "story": "Story",
    "epic": "Epic",
    "subtask": "Sub-task",
    "sub-task": "Sub-task",
    "incident": "Incident",
    "change": "Change",
    "service-request": "Service Request",
    "servicerequest": "Service Request",
}


@pass_context
def jira_issue_type(context: ContextLike, value: Any) -> str:
    """A JIRA issue type name from a free-form value: ``bug`` -> ``Bug``, ``sub_task`` ->
    ``Sub-task``, ``access-request`` -> ``Access Request``."""
    text = _text(context, value, "jiraIssueType").strip()
    key = re.sub(r"[\s_]+", "-", text.lower())
    if key in _ISSUE_TYPES:
        return _ISSUE_TYPES[key]
    return " ".join(word.capitalize() for word in re.split(r"[\s_-]+", text) if word)


@pass_context
def slug(context: ContextLike, value: Any) -> str:
    """Lowercase letters, digits and single hyphens: safe for names, labels and DNS."""
    text = _text(context, value, "slug").lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


@pass_context
def each(context: ContextLike, value: Any) -> list[tuple[Any, Any, int, bool, bool]]:
    """What ``{{#each}}`` iterates: (key, element, index, first, last) per entry."""
    value = defined(value)
    if value is None:
        return []
    if isinstance(value, Mapping):
        pairs: list[tuple[Any, Any]] = list(value.items())
    elif isinstance(value, list | tuple):
        pairs = list(enumerate(value))
    else:
        raise TemplateRenderError(f"#each needs a list or a map, got a {_kind(value)}")
    state_of(context).value_size(len(pairs), "#each")
    last = len(pairs) - 1
    return [(k, v, i, i == 0, i == last) for i, (k, v) in enumerate(pairs)]


@pass_context
def loop_guard(context: ContextLike, iterable: Any) -> Iterator[Any]:
    """Wraps every loop the sandbox compiles: counts iterations and checks the deadline."""
    state = state_of(context)
    for item in iterable:
        state.step()
        yield item


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "upper": upper,
    "lower": lower,
    "trim": trim,
    "concat": concat,
    "replace": replace,
    "json": json,
    "base64": base64,
    "uuid": uuid,
    "timestamp": timestamp,
}
FILTERS: dict[str, Callable[..., Any]] = {
    "default": default,
    "upper": upper,
    "lower": lower,
    "trim": trim,
    "replace": replace,
    "json": json,
    "base64": base64,
    "join": join,
    "length": length,
    "int": to_int,
    "float": to_float,
    "string": string,
    "title": title,
    "truncate": truncate,
    "jiraIssueType": jira_issue_type,
    "slug": slug,
}
