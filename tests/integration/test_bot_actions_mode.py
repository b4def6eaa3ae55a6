"""``pao bot handle-event`` (GitHub Actions mode) with recorded event files: GitHub through the
loopback fake, everything stateful through the real PAO API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from bot.cli import UsageError, handle_event
from orchestrator.github_client import GitHubSettings, github_client
from orchestrator.requests.service import Principal, RequestDraft
from orchestrator.services import Services
from tests.integration import bot_harness as h
from tests.integration.engine_harness import request_row, store_item

pytestmark = pytest.mark.anyio
ACTIONS_BOT = "github-actions[bot]"
NUMBER = 5


@pytest.fixture
def world() -> Iterator[h.GitHubWorld]:
    with h.fake_github() as fake:
        fake.talk.actor = ACTIONS_BOT
        yield fake


def env_for(world: h.GitHubWorld, event: str, path: Path) -> dict[str, str]:
    return {
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(path),
        "GITHUB_TOKEN": h.TOKEN,
        "GITHUB_API_URL": world.base_url,
        "PAO_API_URL": "http://pao.test",
        "PAO_BOT_LOGIN": ACTIONS_BOT,
        "PAO_BOT_OPERATOR_TEAMS": "acme/platform-ops",
    }


def record(tmp_path: Path, event: dict[str, Any]) -> Path:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    return path


async def run(services: Services, world: h.GitHubWorld, env: dict[str, str]) -> str:
    app: Any = create_app(services.settings, services=services)
    client = github_client(GitHubSettings(api_url=world.base_url, token=h.TOKEN))
    return await handle_event(env, github=client, pao_transport=httpx.ASGITransport(app=app))


async def test_slash_command_in_actions_mode_goes_through_the_api(
    services: Services, world: h.GitHubWorld, tmp_path: Path
) -> None:
    await store_item(services, h.database_item())
    view = await services.requests.submit(
        RequestDraft(h.ITEM_ID, {"instanceName": "orders-db"}),
        Principal("someone@example.com"),
        correlation_id="c-1",
    )
    talk = world.talk
    talk.add_issue(h.REPO, NUMBER, title="db", body="", user="Codertocat", labels=[])
    with talk.gh.lock:
        talk._new_comment(
            h.REPO, NUMBER, f"<!-- pao:status request={view['id']} -->\nqueued", ACTIONS_BOT, "Bot"
        )
    event = h.payload("issue_comment.created")  # recorded by GitHub, repository renamed
    event["issue"]["number"] = NUMBER
    event["comment"]["body"] = "/abort not needed any more"

    outsider = await run(services, world, env_for(world, "issue_comment", record(tmp_path, event)))
    assert outsider == "1 command(s) answered"
    assert "sorry @Codertocat" in talk.bot_comments(h.REPO, NUMBER)[-1].body
    assert (await request_row(services, str(view["id"])))["status"] == "queued"

    talk.add_team_member("acme", "platform-ops", "Codertocat")
    await run(services, world, env_for(world, "issue_comment", record(tmp_path, event)))
    reply = talk.bot_comments(h.REPO, NUMBER)[-1].body
    assert reply.startswith("> /abort not needed any more")
    assert "abort done" in reply
    row = await request_row(services, str(view["id"]))
    assert row["status"] == "aborted"
    assert row["abort_reason"] == "not needed any more"


async def test_missing_configuration_is_a_usage_error(world: h.GitHubWorld, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="PAO_API_URL"):
        await handle_event({"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(tmp_path)})
    env = env_for(world, "push", tmp_path / "missing.json")
    with pytest.raises(UsageError, match="cannot read the event file"):
        await handle_event(env)


async def test_pull_request_preview_in_actions_mode(
    services: Services, world: h.GitHubWorld, tmp_path: Path
) -> None:
    repos = pytest.importorskip("tests.fakes.github.repos")
    await store_item(services, h.database_item())
    git = repos.RepoArea(world.gh)
    git.create_repo(h.REPO, default_branch="main")
    text = f"apiVersion: pao/v1\nkind: ServiceRequest\ncatalogItem: {h.ITEM_ID}\nfields:\n  instanceName: X\n"
    head = git.commit(h.REPO, "req", {"requests/db.yaml": text}, "request")
    world.talk.add_pull(
        h.REPO,
        2,
        head_sha=head,
        user="Codertocat",
        files=[{"filename": "requests/db.yaml", "status": "added", "sha": "0" * 40}],
    )
    event = h.payload("pull_request.opened")
    event["pull_request"]["head"]["sha"] = head
    done = await run(services, world, env_for(world, "pull_request", record(tmp_path, event)))
    assert done == "previewed 1 request file(s)"
    [check] = world.talk.runs_for(h.REPO, head)
    assert check.conclusion == "failure"
    assert [a["start_line"] for a in check.annotations] == [5]
    [preview] = world.talk.bot_comments(h.REPO, 2)
    assert "<!-- pao:preview -->" in preview.body
