"""The one secret scrubber: every text that leaves PAO for people passes through here.

Log lines (every ``LOG_FORMAT``), action error messages, API problem documents, PR and issue
comments and template errors must never show a secret. Two kinds of secret are removed:

* **known values**: secrets PAO holds (password fields, resolved ``env:``/``aws-sm:``
  references, settings such as ``GITHUB_TOKEN`` or the database password). They are replaced
  wherever they appear, also as they look inside a URL (percent-encoded), a JSON document or a
  Python repr (escaped quotes and backslashes). Values shorter than ``MIN_SECRET_LENGTH`` are
  ignored: masking every ``a`` of a message would destroy it and protect nothing.
* **credential shapes**: PAO API tokens, ``Bearer``/``Authorization`` values,
  ``password=``/``token:``-style pairs and the password of a ``scheme://user:pass@host`` URL,
  which need no registration (a secret PAO never saw, echoed in a third party's error).

Process-wide secrets (from the settings) are registered once at start-up (``register``); the
logging filter (``RedactingFilter``) then scrubs them from every record, whatever the format.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Collection, Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit, urlunsplit

MASK = "****"
MIN_SECRET_LENGTH = 4

_STOP = r"\s\"',;&\\"  # a credential ends at whitespace, a quote, a separator or an escape
_SHAPES = re.compile(
    r"(?P<token>pao_[A-Za-z0-9_-]{20,})"
    rf"|(?P<auth>(?i:authorization)[\"']?\s*[:=]\s*[\"']?(?:(?i:bearer|basic|token|digest)\s+)?)[^{_STOP}]+"
    rf"|(?P<bearer>(?i:bearer)\s+)[^{_STOP}]+"
    r"|(?P<pair>(?i:password|passwd|secret|token|api[_-]?key|private[_-]?key)[\"']?\s*[:=]\s*)"
    rf"(?P<value>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|(?!{re.escape(MASK)})[^{_STOP}]+)"
    r"|(?P<userinfo>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@\"']*:)[^\s/@\"']+(?=@)"
)

_registered: frozenset[str] = frozenset()
_lock = threading.Lock()


def register(values: Iterable[str | None]) -> None:
    """Add process-wide secrets (settings credentials); every ``redact`` call removes them."""
    global _registered
    with _lock:
        _registered = _registered | {v for v in values if v and len(v) >= MIN_SECRET_LENGTH}


def registered() -> frozenset[str]:
    """The process-wide secrets registered so far."""
    return _registered


def _forms(secret: str) -> set[str]:
    """How ``secret`` may appear in text: as is, in a URL, in JSON, in a Python repr."""
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
    }


@lru_cache(maxsize=256)
def _pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    """One alternation of every form of every secret, longest first (no part of one leaks)."""
    forms = {f for s in secrets if len(s) >= MIN_SECRET_LENGTH for f in _forms(s)}
    if not forms:
        return None
    return re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))


def scrub(text: str, secrets: Collection[str]) -> str:
    """``text`` with every known secret value (in any of its forms) replaced by ``****``."""
    if not secrets or not text:
        return text
    pattern = _pattern(frozenset(secrets))
    return pattern.sub(MASK, text) if pattern else text


def _shape(match: re.Match[str]) -> str:
    if match.group("token"):
        return "pao_" + MASK
    if match.group("pair"):
        quote_char = match.group("value")[0]
        if quote_char in "\"'":  # a quoted value (JSON, repr), escapes included: keep the quotes
            return match.group("pair") + quote_char + MASK + quote_char
        return match.group("pair") + MASK
    prefix = match.group("auth") or match.group("bearer") or match.group("userinfo")
    return (prefix or "") + MASK


def redact(text: str, secrets: Collection[str] = ()) -> str:
    """``text`` without registered secrets, ``secrets`` and credential-shaped values."""
    known = _registered | set(secrets) if secrets else _registered
    return _SHAPES.sub(_shape, scrub(text, known))


def scrub_value(value: Any, secrets: Collection[str]) -> Any:
    """A copy of a JSON-like ``value`` with known secrets replaced inside every string."""
    if not secrets:
        return value
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, Mapping):
        return {k: scrub_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(v, secrets) for v in value]
    return value


def redact_value(value: Any, secrets: Collection[str] = ()) -> Any:
    """``redact`` applied to every string of a JSON-like ``value`` (API error documents)."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {k: redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v, secrets) for v in value]
    return value


def url_password(url: str | None) -> str | None:
    """The password of a ``scheme://user:password@host`` URL (to register it), else None."""
    if not url or "://" not in url:
        return None
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None  # its quoted form is scrubbed too


def redact_url(url: str) -> str:
    """A connection URL for messages: its password masked; not a URL: a placeholder."""
    if "://" not in url:
        return "(connection string)"
    parts = urlsplit(url)
    if parts.password is not None:  # user:password@host
        host = parts.netloc.rsplit("@", 1)[-1]
        url = urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}"))
    return redact(url)  # ?password=... and the other secret-named query parameters


class RedactingFilter(logging.Filter):
    """Redacts a record's message, exception and stack text before any formatter sees them.

    Attached to the handler, so text, JSON and any other format get the same, already
    redacted record; the message is formatted here once (``args`` cleared).
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
