"""Submitting a request, as every face does it: a plain submission, or a repeat-safe one when
the caller gives an ``Idempotency-Key`` (``orchestrator.requests.idempotency``).

The answer is a ``Submission`` either way (the view, the status to answer with, whether it is
the replay of an earlier one), so a face maps one result to its protocol and never sees the
transaction, the key's lock or its stored response.
"""

from __future__ import annotations

from orchestrator.identity.principal import Principal
from orchestrator.requests.idempotency import Submission, submit_once
from orchestrator.requests.service import RequestDraft, RequestService

__all__ = ["Submission", "submit"]


async def submit(
    requests: RequestService,
    draft: RequestDraft,
    principal: Principal,
    correlation_id: str,
    *,
    idempotency_key: str | None = None,
) -> Submission:
    """Validate and create the request (its actions, audit and first job in one transaction);
    with ``idempotency_key``, at most once per (``principal``, key) within the key's 24 hours.

    Raises ``NotFound`` (unknown item), ``ItemNotRequestable`` (retired), ``ValidationFailed``
    (fields), and with a key ``KeyInFlight`` (the same key being submitted right now) or
    ``KeyReused`` (the key was used with another body)."""
    if idempotency_key is None:
        return Submission(await requests.submit(draft, principal, correlation_id))
    return await submit_once(requests, draft, principal, correlation_id, idempotency_key)
