"""Why a request stopped, in one line people read: its ``error_context`` as text.

``error_context`` is data for machines and for the operator deciding what to do next (the
failed action, the error, partial resources, cleanup). Its shapes differ by who wrote it: the
engine (``{"failed_action", "error": {"code", "message", ...}}``), a dead letter
(``{"reason", "error": "text", "job"}``), a rejection or expiry (``{"error": "text",
"approval"}``). Every face (the CLI, the portal's "Why it stopped", notifications) shows the
same sentence from this one function rather than printing the dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_LOCATION_KEYS = ("pointer", "location", "path")


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def failure_text(error_context: Mapping[str, Any] | str | None) -> str | None:
    """The reason as text: the message, then what it leaves out of code, action and location.

    ``{"failed_action": "provision", "error": {"code": "timeout", "message": "no answer"}}``
    reads ``no answer (code timeout, action 'provision')``. None when there is nothing to say.
    """
    if error_context is None:
        return None
    if not isinstance(error_context, Mapping):
        return _text(error_context) or None
    error = error_context.get("error")
    details: Mapping[str, Any] = error if isinstance(error, Mapping) else {}
    if isinstance(error, Mapping):
        message = _text(details.get("message") or details.get("detail"))
    else:
        message = _text(error)
    message = message or _text(error_context.get("message"))
    code = _text(details.get("code") or error_context.get("code"))
    reason = _text(error_context.get("reason"))
    action = _text(error_context.get("failed_action") or details.get("action_id"))
    location = next(
        (_text(details[k]) for k in _LOCATION_KEYS if _text(details.get(k))),
        "",
    )
    if not message:
        message = code or reason
        code = "" if message == code else code
        reason = "" if message == reason else reason
    if not message:
        return None
    extra: list[str] = []
    if code and code != message:
        extra.append(f"code {code}")
    if reason and reason not in message and reason != code:
        extra.append(reason)
    if action and f"action '{action}'" not in message:
        extra.append(f"action '{action}'")
    if location and location not in message:
        extra.append(f"at {location}")
    return f"{message} ({', '.join(extra)})" if extra else message
