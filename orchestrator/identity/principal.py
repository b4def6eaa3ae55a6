"""The acting identity the faces hand to the core.

It lives in ``identity`` rather than beside the request service because the catalog's
governance, the access rules and the token stores all need it too: keeping it here, with no
imports of its own, means none of them has to import the requests package (no package cycle).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: the identity faces pass in; the core never authenticates."""

    email: str
    name: str | None = None
    teams: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    # Set when a bot credential acts for this user (the API's ``X-PAO-On-Behalf-Of``): the
    # credential itself, recorded in the audit trail as the actor's agent.
    agent: Principal | None = None
    # Where the request came from, as a bot credential stated it (``X-PAO-Source``:
    # github-pr, github-issue), so GitHub's rules (secrets) apply as in App mode.
    source: str | None = None
