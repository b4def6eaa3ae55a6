"""Who may run decisions, asked of the loopback fake GitHub through githubkit, and cached."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.github import BotGitHub
from bot.slash_permissions import Authorizer
from orchestrator.github_client import GitHubSettings, github_client
from tests.fakes.github.conversations import ConversationArea
from tests.fakes.github.core import FakeGitHub

pytestmark = pytest.mark.anyio
REPO = "acme/requests"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[tuple[FakeGitHub, ConversationArea, str]]:
    gh = FakeGitHub()
    talk = ConversationArea(gh)
    talk.add_team_member("acme", "dba", "alice")
    talk.add_team_member("platform", "ops", "bob")
    talk.set_permission(REPO, "carol", "admin")
    talk.set_permission(REPO, "dave", "write")
    talk.set_permission(REPO, "erin", "maintain")  # the REST ``permission`` says "write"
    talk.set_permission(REPO, "frank", "triage")
    with gh.serve() as url:
        yield gh, talk, url


async def test_requester_owner_team_operators_and_maintainers(
    fake: tuple[FakeGitHub, ConversationArea, str],
) -> None:
    gh, _, url = fake
    github = BotGitHub(github_client(GitHubSettings(api_url=url, token="t")))
    clock = Clock()
    auth = Authorizer(github, ["platform/ops"], cache_seconds=60, clock=clock)

    async def allowed(login: str) -> bool:
        decision = await auth.authorise(
            login=login, repo=REPO, requester_login="Octocat", owner_team="dba"
        )
        return decision.allowed

    assert await allowed("octocat")  # the requester, whatever the case
    assert await allowed("alice")  # owning team
    assert await allowed("bob")  # operator team in another org
    assert await allowed("carol")  # repository admin
    assert await allowed("erin")  # Maintain role, read from ``role_name``
    assert not await allowed("dave")  # write access is not enough
    assert not await allowed("frank")
    refusal = await auth.authorise(
        login="dave", repo=REPO, requester_login="Octocat", owner_team="dba"
    )
    assert "@Octocat" in refusal.reason
    assert "`acme/dba` team" in refusal.reason  # named, never @-mentioned
    assert "`platform/ops` team" in refusal.reason
    assert "@acme" not in refusal.reason
    assert "@platform" not in refusal.reason

    probes = len(gh.seen("/orgs/acme/teams/dba/memberships/dave"))
    assert probes == 1
    await allowed("dave")
    assert len(gh.seen("/orgs/acme/teams/dba/memberships/dave")) == 1  # cached
    clock.now += 61
    await allowed("dave")
    assert len(gh.seen("/orgs/acme/teams/dba/memberships/dave")) == 2  # expired
