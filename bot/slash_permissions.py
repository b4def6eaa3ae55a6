"""Who may decide on a request with a slash command (``/retry``, ``/abort``, ``/escalate``).

Authorisation, in order: the requester; members of the catalog item's owning team; members of
the configured operator teams; repository admins and maintainers. Team membership and
permissions come from GitHub and are cached for a short while, so a burst of commands does not
spend the rate limit, and a removed member loses access within a minute.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.github import BotGitHub


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str  # why (for logs) or, when refused, who may do it


class Authorizer:
    def __init__(
        self,
        github: BotGitHub,
        operator_teams: Sequence[str],
        *,
        cache_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.github = github
        self.operator_teams = tuple(operator_teams)
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._cache: dict[tuple[str, ...], tuple[float, bool]] = {}

    async def _cached(self, key: tuple[str, ...], probe: Callable[[], Awaitable[bool]]) -> bool:
        now = self.clock()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        result = await probe()
        self._cache[key] = (now, result)
        return result

    async def _member(self, org: str, team: str, login: str) -> bool:
        return await self._cached(
            ("team", org.lower(), team.lower(), login.lower()),
            lambda: self.github.is_team_member(org, team, login),
        )

    async def _maintainer(self, repo: str, login: str) -> bool:
        async def probe() -> bool:
            return await self.github.permission(repo, login) in ("admin", "maintain")

        return await self._cached(("perm", repo.lower(), login.lower()), probe)

    def _teams(self, org: str, owner_team: str | None) -> list[tuple[str, str]]:
        teams = [(org, owner_team)] if owner_team else []
        for entry in self.operator_teams:
            team_org, _, slug = entry.rpartition("/")
            teams.append((team_org or org, slug))
        return teams

    async def authorise(
        self, *, login: str, repo: str, requester_login: str | None, owner_team: str | None
    ) -> Decision:
        if requester_login and login.lower() == requester_login.lower():
            return Decision(True, "requester")
        org = repo.split("/", 1)[0]
        for team_org, slug in self._teams(org, owner_team):
            if await self._member(team_org, slug, login):
                return Decision(True, f"member of {team_org}/{slug}")
        if await self._maintainer(repo, login):
            return Decision(True, "repository maintainer")
        who = [f"the requester (@{requester_login})" if requester_login else "the requester"]
        # Teams are named, never @-mentioned: a refusal must not page a whole team.
        who += [f"members of the `{o}/{s}` team" for o, s in self._teams(org, owner_team)]
        who.append("repository maintainers")
        return Decision(False, ", ".join(who))
