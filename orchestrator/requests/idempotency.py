"""Repeat-safe submissions: an ``Idempotency-Key`` bound to the request it created.

The key's claim, the request's creation and the stored response are ONE transaction
(draft-ietf-httpapi-idempotency-key-header):

- a transaction-level advisory lock on (caller, key) marks the key in flight; a second
  submission with the same key while the first runs gets ``KeyInFlight`` (409) at once instead
  of waiting or creating a second request;
- a completed key answers with its stored response (``Submission.replayed``) when the body is
  the same, and ``KeyReused`` (422) when it differs;
- otherwise the request is created and the response stored on the same connection, and both
  commit together. A crash, a failed statement or a cancelled handler before the commit leaves
  neither (the lock goes with the transaction, so the key is free at once); after the commit,
  both. There is nothing to release and no "still processing" state that can outlive a process.

A submission that fails (invalid fields, unknown item) stores nothing: the key stays free, so
the client may correct the body and send it again with the same key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from orchestrator.errors import InvalidState, ValidationFailed
from orchestrator.identity.principal import Principal
from orchestrator.requests.service import RequestDraft, RequestService
from orchestrator.store.queries import QUERIES

CREATED = 201  # the stored status of a submission (the faces speak HTTP's numbers)


class KeyInFlight(InvalidState):
    """Another submission with this key is running right now; retry once it has finished."""

    code = "idempotency-key-in-use"


class KeyReused(ValidationFailed):
    """The key was used before with a different body."""

    code = "idempotency-key-reused"


@dataclass(frozen=True, slots=True)
class Submission:
    """The answer to a submission: the request's view, its status, and whether it is a replay."""

    view: dict[str, Any]
    status: int = CREATED
    replayed: bool = False


def fingerprint(draft: RequestDraft) -> str:
    """A digest of what was asked (key order of ``fields`` does not matter)."""
    canonical = json.dumps(
        {
            "catalog_item": draft.catalog_item,
            "fields": draft.fields,
            "title": draft.title,
            "justification": draft.justification,
            "catalog_version": draft.catalog_version,
            "source": draft.source,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


async def submit_once(
    requests: RequestService,
    draft: RequestDraft,
    principal: Principal,
    correlation_id: str,
    key: str,
) -> Submission:
    """Submit ``draft`` at most once per (``principal``, ``key``); see the module docstring."""
    scope = f"requests.submit {principal.email}"
    digest = fingerprint(draft)
    # Validation reads the catalog on connections of its own: done before the transaction, so
    # a submission never holds one pooled connection while waiting for another.
    outcome = await requests.validate(draft)
    async with requests.submission(draft, principal, correlation_id) as conn:
        cur = await conn.execute(QUERIES.idempotency_try_lock, {"lock": f"{scope}\x1f{key}"})
        locked = await cur.fetchone()
        if locked is None or not locked["locked"]:
            raise KeyInFlight(
                "a request with this Idempotency-Key is being submitted right now; "
                "retry when it has finished"
            )
        cur = await conn.execute(QUERIES.idempotency_lookup, {"scope": scope, "key": key})
        previous = await cur.fetchone()
        if previous is not None:
            if previous["request_hash"] != digest:
                raise KeyReused(
                    "this Idempotency-Key was already used with a different request body",
                    [
                        {
                            "source": "header",
                            "parameter": "Idempotency-Key",
                            "pointer": "",
                            "message": "reuse a key only to repeat the same request",
                        }
                    ],
                )
            body: dict[str, Any] = previous["response_body"]
            return Submission(body, int(previous["response_status"]), replayed=True)
        view = await requests.create(conn, draft, outcome, principal, correlation_id)
        cur = await conn.execute(
            QUERIES.idempotency_store,
            {
                "scope": scope,
                "key": key,
                "request_hash": digest,
                "status": CREATED,
                "body": Jsonb(view),
            },
        )
        if await cur.fetchone() is None:  # cannot happen under the lock; never two requests
            raise KeyInFlight("this Idempotency-Key was claimed concurrently; retry")
    return Submission(view)
