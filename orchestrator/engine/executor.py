"""The interface every action type implements, and the registry the engine dispatches through.

The engine never imports ``actions/``: the process that starts a worker builds a ``Registry``
mapping action type names (``terraform``, ``rest-api`` ...) to executors and passes it in.

Delivery is at-least-once, so an executor must be idempotent: ``ActionRun.correlation_key`` is
stable for one action of one request, across attempts and redeliveries, and an executor uses it
(an idempotency key, a ticket label, a run message) to find what it already created instead of
creating it twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast, runtime_checkable


def correlation_key(request_id: str, action_id: str, generation: int = 0) -> str:
    """A stable key for one action of one request (same on every redelivery).

    ``generation`` counts known failures: a retry (automatic or an operator's) after the target
    answered with an error gets a new key, so the executor starts a new run instead of finding
    the failed one again; a retry after an unknown outcome (timeout, lost connection) keeps the
    key the target saw, so work that did succeed there is found, not done twice."""
    seed = f"pao:{request_id}:{action_id}" + (f":{generation}" if generation else "")
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return f"pao-{digest[:32]}"


@dataclass(frozen=True, slots=True)
class ActionRun:
    """One call of an executor: what to do (real, unmasked config) and where the run stands."""

    request_id: str
    action_id: str
    action_type: str
    config: Mapping[str, Any]  # rendered with real values: never log this
    correlation_key: str
    attempt: int  # 1 for the first try
    external_ref: str | None = None  # set when polling a pending action
    external_url: str | None = None
    outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # earlier actions
    timeout_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Completed:
    """The action is done; ``outputs`` become ``outputs.<action id>.*`` for later actions."""

    outputs: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)  # response summary, for the logs


@dataclass(frozen=True, slots=True)
class Pending:
    """The action finishes later in an external system; poll it again after a while."""

    external_ref: str
    url: str | None = None
    poll_after_seconds: float = 60.0
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Failed:
    """The action failed; ``retryable`` failures are tried again (Retry-After wins).

    ``outcome_unknown``: the call may have taken effect at the target (it timed out, the
    connection was lost, the answer made no sense): the retry keeps the correlation key.
    Otherwise the failure is known (the target answered with an error, or nothing was sent)
    and the retry gets a new key. ``details["status_code"]`` is the target's HTTP status when
    it answered (the breaker tells rate limiting and client errors from target failures)."""

    error: str
    retryable: bool
    retry_after: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    outcome_unknown: bool = False


ActionResult = Completed | Pending | Failed


@runtime_checkable
class ActionExecutor(Protocol):
    """What an action type implements."""

    async def execute(self, action: ActionRun) -> ActionResult:
        """Start (or find, by correlation key) the action's work and report where it stands."""
        ...

    async def poll(self, action: ActionRun) -> ActionResult:
        """Check a pending action (``action.external_ref``) again."""
        ...


@runtime_checkable
class CancellableExecutor(ActionExecutor, Protocol):
    """An executor whose in-flight external runs can be cancelled (used by abort)."""

    async def cancel(self, action: ActionRun) -> None: ...


@runtime_checkable
class DescribableExecutor(ActionExecutor, Protocol):
    """An executor that can say exactly what it would send, without sending anything.

    ``describe`` makes no network call and resolves no secret: secret references stay as
    references. The bot's preview and ``POST /api/v1/test/variables`` show its answer, e.g.
    ``{"requests": [{"method": "POST", "url": ..., "headers": ..., "body": ...}]}``.
    """

    def describe(self, action: ActionRun) -> Mapping[str, Any]: ...


@runtime_checkable
class NotifiableExecutor(ActionExecutor, Protocol):
    """An executor whose completed external object follows the request (a JIRA ticket gets a
    comment when the request changes state). Best effort: failures are logged, not raised."""

    async def notify(self, action: ActionRun, state: str, message: str) -> None: ...


@runtime_checkable
class TargetedExecutor(ActionExecutor, Protocol):
    """An executor that names the external target of a call, for the per-target breaker."""

    def target(self, action: ActionRun) -> str | None: ...


def target_of(executor: ActionExecutor, action: ActionRun) -> str | None:
    """The breaker key of a call, or None when the executor names no target. The attribute
    test is what ``isinstance(executor, TargetedExecutor)`` does, for a fraction of its cost
    (a runtime protocol check walks the protocol's members on every call, once per action)."""
    target = getattr(executor, "target", None)
    return cast("str | None", target(action)) if callable(target) else None


class UnknownActionType(LookupError):
    """No executor is registered for an action type."""


class Registry:
    """Action type name -> executor."""

    def __init__(self, executors: Mapping[str, ActionExecutor] | None = None) -> None:
        self._executors: dict[str, ActionExecutor] = dict(executors or {})

    def register(self, action_type: str, executor: ActionExecutor) -> None:
        self._executors[action_type] = executor

    def get(self, action_type: str) -> ActionExecutor:
        try:
            return self._executors[action_type]
        except KeyError:
            known = ", ".join(sorted(self._executors)) or "none"
            raise UnknownActionType(
                f"no executor registered for action type '{action_type}' (registered: {known})"
            ) from None

    def __contains__(self, action_type: object) -> bool:
        return action_type in self._executors

    def __iter__(self) -> Iterator[str]:
        return iter(self._executors)
