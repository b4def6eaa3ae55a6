"""What the engine and the request service report for metrics, without knowing who collects it.

The process that runs a worker or serves the API passes an observer (``EngineMetrics`` in
``orchestrator.engine.metrics`` implements this protocol); tests and tools run with the null
observer.

Events are reported by the process that made the change, once: the API (or the bot) reports
submissions and operator decisions, the worker reports what the engine finished. Each process
exposes its own counts, and Prometheus sums them, so nothing is counted twice or lost when the
API and the workers are separate processes.

A change counts only once its transaction has committed: an engine transaction runs inside
``after_commit`` and observers defer their updates with ``on_commit``. A transaction that rolls
back (and whose job is then delivered again) therefore counts nothing, rather than counting the
same transition once per delivery.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import Final, Protocol, TypeVar

from orchestrator.engine.executor import Failed

UNKNOWN: Final = "unknown"

# A closed set, so ``failure_reason`` stays a label of bounded cardinality (never error text).
FAILURE_REASONS: Final = (
    "timeout",  # the action ran past its declared timeout
    "rate_limited",  # HTTP 429 or an explicit Retry-After
    "refused",  # the target is not allowed (e.g. the rest-api SSRF guard)
    "server_error",  # the target answered 5xx
    "client_error",  # the target answered 4xx (bad request, auth, not found)
    "transient",  # other retryable failures (connection errors, executor exceptions)
    "permanent",  # other non-retryable failures (a run that concluded in failure, bad config)
)

T = TypeVar("T")
_pending: ContextVar[list[Callable[[], None]] | None] = ContextVar(
    "pao_pending_metrics", default=None
)


def on_commit(update: Callable[[], None]) -> None:
    """Run ``update`` when the enclosing ``after_commit`` transaction commits (now if none)."""
    pending = _pending.get()
    if pending is None:
        update()
    else:
        pending.append(update)


@asynccontextmanager
async def after_commit(transaction: AbstractAsyncContextManager[T]) -> AsyncIterator[T]:
    """Enter ``transaction``; the ``on_commit`` updates made inside it run once it has
    committed, and are dropped if it raises (rolled back)."""
    pending: list[Callable[[], None]] = []
    token = _pending.set(pending)
    try:
        async with transaction as conn:
            yield conn
    finally:
        _pending.reset(token)
    for update in pending:  # reached only when the block and its commit succeeded
        update()


def team_of(teams: Sequence[str] | None) -> str:
    """The ``user_team`` label: the requester's first team, ``unknown`` when there is none."""
    return str(teams[0]) if teams else UNKNOWN


def failure_reason(result: object) -> str | None:
    """The ``failure_reason`` of a ``Failed`` result (None for other results), from its
    structured fields only, one of ``FAILURE_REASONS``."""
    if not isinstance(result, Failed):
        return None
    details = result.details or {}
    status = details.get("status_code") or details.get("github_status")
    if "timeout_seconds" in details:
        return "timeout"
    if status == 429 or (result.retryable and result.retry_after is not None):
        return "rate_limited"
    if details.get("ssrf"):
        return "refused"
    if isinstance(status, int) and status >= 500:
        return "server_error"
    if isinstance(status, int) and 400 <= status < 500:
        return "client_error"
    return "transient" if result.retryable else "permanent"


class RequestObserver(Protocol):
    def request_status(self, catalog_item: str, status: str, user_team: str) -> None:
        """A request reached ``status`` outside the engine (submitted, aborted, escalated)."""


class ApprovalObserver(Protocol):
    """What the approval gates (``orchestrator.approvals.lifecycle``) report for metrics
    (``EngineMetrics`` implements it)."""

    def approval_ended(self, catalog_item: str, outcome: str, wait_seconds: float) -> None:
        """A gate ended (approved, rejected, expired) ``wait_seconds`` after it began."""

    def request_status(self, catalog_item: str, status: str, user_team: str) -> None:
        """A request reached ``status`` (here: ``rejected``)."""


class EngineObserver(Protocol):
    def action_attempt(
        self,
        action_type: str,
        outcome: str,
        duration_seconds: float,
        *,
        catalog_item: str = UNKNOWN,
        failure_reason: str | None = None,
    ) -> None:
        """One executor call ended: ``completed``, ``pending`` or ``failed`` (with its reason)."""

    def request_finished(
        self,
        catalog_item: str,
        status: str,
        duration_seconds: float,
        action_types: Sequence[str],
        *,
        user_team: str = UNKNOWN,
    ) -> None:
        """A request reached ``completed`` or ``failed`` ``duration_seconds`` after submission."""


class NullObserver:
    def action_attempt(
        self,
        action_type: str,
        outcome: str,
        duration_seconds: float,
        *,
        catalog_item: str = UNKNOWN,
        failure_reason: str | None = None,
    ) -> None:
        return None

    def request_finished(
        self,
        catalog_item: str,
        status: str,
        duration_seconds: float,
        action_types: Sequence[str],
        *,
        user_team: str = UNKNOWN,
    ) -> None:
        return None

    def request_status(self, catalog_item: str, status: str, user_team: str) -> None:
        return None


class EscalationObserver(Protocol):
    """What the escalation ticket job reports (``EngineMetrics`` implements it)."""

    def escalation_failed(self, reason: str) -> None:
        """One attempt to open an escalation ticket failed: ``not_configured`` (no JIRA
        target, not retried), ``unavailable`` (transient, retried) or ``rejected``."""


class NullEscalationObserver:
    def escalation_failed(self, reason: str) -> None:
        return None
