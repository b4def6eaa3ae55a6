"""Domain errors raised by the core; each face maps them to its own world (HTTP problem, comment)."""

from __future__ import annotations

from typing import Any


class PaoError(Exception):
    """Base of the core's errors; ``code`` is stable and becomes the problem ``type`` suffix."""

    code = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(PaoError):
    code = "not-found"


class InvalidState(PaoError):
    """The decision is not allowed from the request's current state."""

    code = "invalid-state"


class Forbidden(PaoError):
    """Authenticated, but this person may not take this decision (e.g. not among a stage's
    approvers, or the requester approving their own request); the message says why."""

    code = "forbidden"


class ValidationFailed(PaoError):
    """Input broke the rules; ``errors`` lists each problem with its field id / JSON pointer."""

    code = "validation-failed"

    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message, errors=errors)
        self.errors = errors


class ItemNotRequestable(PaoError):
    code = "item-not-requestable"


class NotAvailable(PaoError):
    """The capability exists but its backing part is not running in this deployment."""

    code = "not-available"
