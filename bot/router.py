"""Event routing: handlers registered by event and action, one router per event family.

Like gidgethub's router (bedevere's style): each handler module owns a ``Router``; the entry
point composes them. ``dispatch`` runs every handler registered for the event with no action
and for its exact action, in registration order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Event:
    """One webhook delivery: ``name`` is X-GitHub-Event, ``payload`` the parsed body."""

    name: str
    payload: Mapping[str, Any]
    delivery_id: str = ""

    @property
    def action(self) -> str | None:
        action = self.payload.get("action")
        return action if isinstance(action, str) else None


Handler = Callable[[Event, Any], Awaitable[None]]


class Router:
    def __init__(self, *others: Router) -> None:
        self._handlers: dict[tuple[str, str | None], list[Handler]] = {}
        for other in others:
            for key, handlers in other._handlers.items():
                self._handlers.setdefault(key, []).extend(handlers)

    def register(self, event: str, action: str | None = None) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            self._handlers.setdefault((event, action), []).append(handler)
            return handler

        return decorate

    @property
    def events(self) -> frozenset[str]:
        return frozenset(event for event, _ in self._handlers)

    def handlers_for(self, event: Event) -> list[Handler]:
        found = list(self._handlers.get((event.name, None), ()))
        if event.action is not None:
            found += self._handlers.get((event.name, event.action), ())
        return found

    async def dispatch(self, event: Event, context: Any) -> int:
        """Run the matching handlers; the number run (0: the event is ignored)."""
        handlers = self.handlers_for(event)
        for handler in handlers:
            await handler(event, context)
        return len(handlers)
