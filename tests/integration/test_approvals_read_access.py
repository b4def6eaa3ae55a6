"""Approvers read what they decide (issue 21), through the API: a qualified approver of any of
a request's stages reads it (detail, status, logs) although they are not in the requester's
team nor the item's owners; they may not retry, abort or escalate it (403, the request being
visible to them); someone who neither reads nor approves gets 404, as for an id that does not
exist (also on the decision routes and the event stream)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from orchestrator.requests.service import MASK
from orchestrator.services import Services, open_services
from orchestrator.settings import Settings
from tests.integration.api_fixtures import TOKEN_ENV, app_client, issue_token
from tests.integration.engine_harness import item_document
from tests.integration.test_approvals_lifecycle import ACTION, store_items

pytestmark = pytest.mark.anyio

PEOPLE = {  # name -> (email, teams)
    "alice": ("alice@example.com", ("payments",)),  # the requester
    "sam": ("sam@example.com", ("security",)),  # approves the first stage
    "dana": ("dana@example.com", ("dba",)),  # approves the second stage (not current yet)
    "lee": ("lee@example.com", ()),  # approves by name, in no team
    "bob": ("bob@example.com", ("search",)),  # neither reads nor approves
}
STAGES = [
    {"name": "security", "teams": ["security"]},
    {"name": "dba", "teams": ["dba"], "users": ["lee@example.com"]},
]
FIELDS = [
    {"id": "instanceName", "name": "Instance", "type": "string"},
    {"id": "password", "name": "Password", "type": "password"},
]


@dataclass
class World:
    services: Services
    client: httpx.AsyncClient
    tokens: dict[str, str]

    def as_(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    services = await open_services(Settings.from_env(TOKEN_ENV), database_url=database_url)
    try:
        document = item_document("reviewed", [ACTION], fields=FIELDS)
        document["metadata"]["owner"]["team"] = "databases"
        document["approvals"] = STAGES
        await store_items(services, [document])
        tokens = {name: await issue_token(services.db, e, *t) for name, (e, t) in PEOPLE.items()}
        async with app_client(services) as client:
            yield World(services, client, tokens)
    finally:
        await services.close()


async def submitted(world: World) -> str:
    answer = await world.client.post(
        "/api/v1/requests",
        json={"catalogItem": "reviewed", "fields": {"instanceName": "orders", "password": "s3"}},
        headers=world.as_("alice"),
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "awaiting_approval"
    return str(answer.json()["id"])


async def test_approvers_of_any_stage_read_the_request_others_get_404(world: World) -> None:
    request_id = await submitted(world)
    base = f"/api/v1/requests/{request_id}"
    for name in ("sam", "dana", "lee"):  # current stage, a later stage, a person by e-mail
        detail = await world.client.get(base, headers=world.as_(name))
        assert detail.status_code == 200, (name, detail.text)
        body = detail.json()
        assert body["fields"]["instanceName"] == "orders"
        assert body["fields"]["password"] == MASK  # what they decide on, secrets masked
        assert body["approval"]["current_stage"] == "security"
        status = await world.client.get(f"{base}/status", headers=world.as_(name))
        assert status.status_code == 200, (name, status.text)
        assert status.json()["status"] == "awaiting_approval"
        logs = await world.client.get(f"{base}/logs", headers=world.as_(name))
        assert logs.status_code == 200, (name, logs.text)
        # Reading is not acting: an approver who is no reader may not abort it.
        abort = await world.client.post(
            f"{base}/abort", json={"reason": "mine now"}, headers=world.as_(name)
        )
        assert abort.status_code == 403, (name, abort.text)

    unknown = f"/api/v1/requests/{uuid.uuid4()}"
    for path in (base, f"{base}/status", f"{base}/logs", f"{base}/events"):
        hidden = await world.client.get(path, headers=world.as_("bob"))
        assert hidden.status_code == 404, (path, hidden.text)
        missing = await world.client.get(path.replace(base, unknown), headers=world.as_("bob"))
        assert missing.status_code == 404
        assert hidden.json()["title"] == missing.json()["title"]  # nothing tells them apart
    for verdict, body in (("approve", None), ("reject", {"reason": "x"})):
        decided = await world.client.post(f"{base}/{verdict}", json=body, headers=world.as_("bob"))
        assert decided.status_code == 404, decided.text
    abort = await world.client.post(f"{base}/abort", json={"reason": "x"}, headers=world.as_("bob"))
    assert abort.status_code == 404
    listed = await world.client.get("/api/v1/requests", headers=world.as_("bob"))
    assert request_id not in {r["id"] for r in listed.json()["items"]}

    # The requester still reads and acts as before.
    mine = await world.client.get(base, headers=world.as_("alice"))
    assert mine.status_code == 200


async def test_a_later_stage_approver_decides_once_it_is_current(world: World) -> None:
    request_id = await submitted(world)
    base = f"/api/v1/requests/{request_id}"
    inbox = await world.client.get("/api/v1/approvals", headers=world.as_("sam"))
    [entry] = inbox.json()["items"]
    assert entry["request_id"] == request_id
    assert entry["fields"] == {"instanceName": "orders", "password": MASK}  # what is decided
    assert (await world.client.get("/api/v1/approvals", headers=world.as_("dana"))).json()[
        "items"
    ] == []  # the second stage is not current yet
    early = await world.client.post(f"{base}/approve", headers=world.as_("dana"))
    assert early.status_code == 403  # visible to them, but not their stage yet
    assert "stage 'security'" in early.json()["detail"]
    first = await world.client.post(f"{base}/approve", headers=world.as_("sam"))
    assert first.json()["outcome"] == "pending", first.text
    second = await world.client.post(f"{base}/approve", headers=world.as_("lee"))
    assert second.status_code == 200, second.text
    assert second.json()["outcome"] == "approved"
    after = await world.client.get(base, headers=world.as_("lee"))  # still readable afterwards
    assert after.status_code == 200
    assert after.json()["status"] == "queued"


async def test_a_bot_token_cannot_assert_the_teams_of_whom_it_acts_for(world: World) -> None:
    """Actions mode's bot acts for a GitHub user by e-mail only: the API takes no team
    membership a bot token states for them (that token could then approve any team's stage),
    so a team stage is refused for the user acted for, and decided by the member's own
    credential (README, "Approval gates")."""
    request_id = await submitted(world)
    bot = await issue_token(world.services.db, "bot@example.com", roles=("bot",))
    acting = {
        "Authorization": f"Bearer {bot}",
        "X-PAO-On-Behalf-Of": "sam@example.com",
        "X-PAO-On-Behalf-Of-Teams": "security",
    }
    base = f"/api/v1/requests/{request_id}"
    refused = await world.client.post(f"{base}/approve", headers=acting)
    assert refused.status_code == 404, (
        refused.text
    )  # sam, by e-mail alone, neither reads nor approves
    own = await world.client.post(f"{base}/approve", headers=world.as_("sam"))
    assert own.json()["outcome"] == "pending", own.text  # his own token carries his teams
    named = await world.client.post(
        f"{base}/approve", headers={**acting, "X-PAO-On-Behalf-Of": "lee@example.com"}
    )
    assert named.json()["outcome"] == "approved", named.text  # a stage naming the person works
