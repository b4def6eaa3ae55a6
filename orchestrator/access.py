"""Who may do what: the authorisation policy, as pure functions every face reuses.

The faces authenticate (API tokens, the bot's GitHub identity) and hand the core a
``Principal``; these functions decide. Roles come from the principal (a token's roles) and from
team membership in ``PAO_ADMIN_TEAMS`` / ``PAO_OPERATOR_TEAMS``. The README's permission table
states the same rules; ``tests/unit/test_access.py`` and ``tests/integration/test_auth_*`` check
both agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.identity.principal import Principal
from orchestrator.settings import AuthSettings

ADMIN = "admin"
OPERATOR = "operator"
BOT = "bot"  # may act on a user's behalf (the API's X-PAO-On-Behalf-Of, X-PAO-Source)


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    admin_teams: frozenset[str] = frozenset()
    operator_teams: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, auth: AuthSettings) -> AccessPolicy:
        return cls(frozenset(auth.admin_teams), frozenset(auth.operator_teams))

    def roles(self, principal: Principal) -> frozenset[str]:
        roles = set(principal.roles)
        teams = set(principal.teams)
        if teams & self.admin_teams:
            roles.add(ADMIN)
        if teams & self.operator_teams:
            roles.add(OPERATOR)
        return frozenset(roles)

    def is_admin(self, principal: Principal) -> bool:
        return ADMIN in self.roles(principal)

    def sees_everything(self, principal: Principal) -> bool:
        """Admins and operators see and decide on every request."""
        return bool(self.roles(principal) & {ADMIN, OPERATOR})


@dataclass(frozen=True, slots=True)
class RequestScope:
    """A list filter, bound as SQL parameters: everything, or the viewer's and teams' rows."""

    see_all: bool
    email: str
    teams: tuple[str, ...]

    def params(self) -> dict[str, Any]:
        return {
            "see_all": self.see_all,
            "viewer_email": self.email,
            "viewer_teams": list(self.teams),
        }


def request_scope(policy: AccessPolicy, principal: Principal) -> RequestScope:
    return RequestScope(policy.sees_everything(principal), principal.email, principal.teams)


def can_read_request(
    policy: AccessPolicy,
    principal: Principal,
    request_row: Mapping[str, Any],
    item_owner_team: str | None,
) -> bool:
    """Requester, requester's teams, the item's owning team, operators and admins."""
    if policy.sees_everything(principal):
        return True
    if request_row.get("requester_email") == principal.email:
        return True
    teams = set(principal.teams)
    if teams & set(request_row.get("requester_teams") or ()):
        return True
    return item_owner_team is not None and item_owner_team in teams


def can_decide(
    policy: AccessPolicy,
    principal: Principal,
    request_row: Mapping[str, Any],
    item_owner_team: str | None,
    decision: str,
) -> bool:
    """Retry, abort and escalate: whoever may read the request may act on it (the issue's
    "requesters see and act on their teams' requests; owners retry, abort, escalate")."""
    del decision  # one rule for the three decisions today; kept for the table's sake
    return can_read_request(policy, principal, request_row, item_owner_team)


def can_use_platform_tools(
    policy: AccessPolicy, principal: Principal, owner_teams: Iterable[str]
) -> bool:
    """Validate, preview and test-variables are for catalog owners (teams owning an item),
    operators and admins."""
    if policy.sees_everything(principal):
        return True
    return bool(set(principal.teams) & set(owner_teams))


def can_administer(policy: AccessPolicy, principal: Principal) -> bool:
    """Catalog refresh, the audit trail and metrics."""
    return policy.is_admin(principal)
