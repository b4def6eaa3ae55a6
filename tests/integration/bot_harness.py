"""Set-up shared by the bot's integration tests: a loopback fake GitHub driven by githubkit,
the bot wired to the real services, the API app with the bot's intake, and signed deliveries
of GitHub's published example payloads (tests/fixtures/webhooks/, from
@octokit/webhooks-examples with the repository renamed to acme/requests)."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from actions.registry import ActionDeps, default_registry
from actions.rest_api import RestApiSettings
from api.app import create_app
from bot.app import Bot, bot_from_services
from bot.settings import BotSettings
from bot.webhook import sign
from orchestrator.engine.worker import Worker
from orchestrator.github_client import GitHubSettings, github_client
from orchestrator.services import Services
from tests.fakes.github.conversations import ConversationArea
from tests.fakes.github.core import FakeGitHub
from tests.integration.engine_harness import make_worker, store_item

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
REPO = "acme/requests"
SECRET = "whsec-current-0f9e8d"
OLD_SECRET = "whsec-previous-1a2b3c"
TOKEN = "ghs_bot_installation_token_for_tests"
BOT_LOGIN = "pao-bot[bot]"
SETTINGS = BotSettings(
    webhook_secrets=(SECRET, OLD_SECRET),
    bot_login=BOT_LOGIN,
    operator_teams=("acme/platform-ops",),
)


def payload(name: str) -> dict[str, Any]:
    """A fresh copy of a recorded example payload (``pull_request.opened``, ``ping``...)."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return copy.deepcopy(data)


@dataclass(slots=True)
class GitHubWorld:
    gh: FakeGitHub
    talk: ConversationArea
    base_url: str


@contextmanager
def fake_github() -> Iterator[GitHubWorld]:
    gh = FakeGitHub()
    gh.tokens = {TOKEN}
    talk = ConversationArea(gh, actor=BOT_LOGIN)
    with gh.serve() as base_url:
        yield GitHubWorld(gh, talk, base_url)


def make_bot(
    services: Services,
    world: GitHubWorld,
    *,
    template_environment: dict[str, str] | None = None,
    settings: BotSettings = SETTINGS,
) -> Bot:
    client = github_client(GitHubSettings(api_url=world.base_url, token=TOKEN))
    return bot_from_services(services, settings, client, template_environment=template_environment)


def bot_worker(services: Services, bot: Bot, target_url: str) -> Worker:
    """A worker with the default executors (REST calls to loopback allowed) that also runs the
    bot's jobs, as `pao worker` builds it when GitHub is configured."""
    deps = ActionDeps(rest_api=RestApiSettings(allowed_hosts=frozenset({"127.0.0.1"})))
    worker = make_worker(
        services, default_registry(deps), template_environment={"TARGET_URL": target_url}
    )
    bot.register(worker)
    return worker


@asynccontextmanager
async def hooked(services: Services, bot: Bot) -> AsyncIterator[httpx.AsyncClient]:
    """The webhook route, with the catalog item the request files ask for stored."""
    await store_item(services, database_item())
    async with webhook_client(services, bot) as client:
        yield client


def webhook_client(services: Services, bot: Bot) -> httpx.AsyncClient:
    app: Any = create_app(services.settings, services=services)
    app.state["github_webhook"] = bot.intake()
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def deliver(
    client: httpx.AsyncClient,
    event: str,
    body: dict[str, Any] | bytes,
    *,
    delivery_id: str | None = None,
    secret: str = SECRET,
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(
        "/api/v1/github/webhook",
        content=raw,
        headers={
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(secret, raw),
            "Content-Type": "application/json",
        },
    )


ITEM_ID = "bot-database"
OWNER_TEAM = "dba"


def database_item(item_id: str = ITEM_ID, **lifecycle: Any) -> dict[str, Any]:
    """A catalog item with one field of most types and one rest-api action."""
    from tests.integration.engine_harness import item_document

    document = item_document(
        item_id,
        [
            {
                "id": "create",
                "type": "rest-api",
                "config": {
                    "method": "POST",
                    "url": "{{environment.TARGET_URL}}/api/v2/resources",
                    "body": {
                        "name": "db-{{fields.instanceName}}",
                        "size": "{{fields.size}}",
                        "owner": "{{request.user.email}}",
                        "password": "{{fields.adminPassword | default('generated')}}",
                    },
                    "expectedStatus": [200, 201],
                    "outputs": {"resource_id": "id"},
                },
                "retry": {"maxAttempts": 1},
            }
        ],
        fields=[
            {
                "id": "instanceName",
                "name": "Instance Name",
                "type": "string",
                "required": True,
                "validation": {
                    "pattern": "^[a-z][a-z0-9-]{2,28}[a-z0-9]$",
                    "message": "3-30 chars, lowercase",
                },
            },
            {
                "id": "size",
                "name": "Size",
                "type": "select",
                "enum": ["small", "medium", "large"],
                "enumLabels": {
                    "small": "Small (2 vCPU)",
                    "medium": "Medium, 4 vCPU",
                    "large": "Large",
                },
                "default": "small",
            },
            {
                "id": "extensions",
                "name": "Extensions",
                "type": "multiselect",
                "enum": ["postgis", "pg_trgm", "uuid-ossp"],
            },
            {"id": "backups", "name": "Enable Backups", "type": "boolean", "default": False},
            {"id": "notes", "name": "Notes", "type": "textarea"},
            {"id": "adminPassword", "name": "Admin Password", "type": "password"},
        ],
    )
    document["metadata"]["owner"] = {"team": OWNER_TEAM, "contact": "dba@example.com"}
    document["metadata"]["sla"] = {"responseTime": "4h", "fulfillmentTime": "2d"}
    if lifecycle:
        document["lifecycle"] = lifecycle
    return document
