"""``pao bot handle-event`` (GitHub Actions mode) with recorded event files: GitHub through the
loopback fake, everything stateful through the real PAO API."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from api.app import create_app
from bot.cli import UsageError, handle_event
from orchestrator import forms
from orchestrator.github_client import GitHubSettings, github_client
from orchestrator.identity.principal import Principal
from orchestrator.requests.service import RequestDraft
from orchestrator.services import Services
from tests.fakes.github.issue_forms import Answer, render_issue_body
from tests.integration import bot_harness as h
from tests.integration.api_fixtures import issue_token
from tests.integration.engine_harness import request_row, store_item
from tests.integration.test_bot_secrets import secret_item

pytestmark = pytest.mark.anyio
ACTIONS_BOT = "github-actions[bot]"
WORKFLOW = h.FIXTURES.parents[2] / ".github" / "workflows" / "request-bot.yml"
NUMBER = 5
BOT_EMAIL = "pao-bot@example.com"
AUTHOR_EMAIL = "Codertocat@users.noreply.github.com"  # PAO_BOT_EMAIL_DOMAIN's default


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
    event["comment"]["id"] = talk.add_comment(h.REPO, NUMBER, "/abort", user="Codertocat").id

    outsider = await run(services, world, env_for(world, "issue_comment", record(tmp_path, event)))
    assert outsider == "1 command(s) answered"
    refusal = talk.bot_comments(h.REPO, NUMBER)[-1].body
    assert "Sorry @Codertocat, you may not do this" in refusal  # the same words as App mode
    assert "`acme/dba` team" in refusal  # the owning team is consulted in Actions mode too
    assert (await request_row(services, str(view["id"])))["status"] == "queued"

    talk.add_team_member("acme", "platform-ops", "Codertocat")
    await run(services, world, env_for(world, "issue_comment", record(tmp_path, event)))
    reply = talk.bot_comments(h.REPO, NUMBER)[-1].body
    assert reply.startswith("> /abort not needed any more")
    assert "aborted (not needed any more)" in reply
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


async def test_issue_form_in_actions_mode_is_submitted_and_followed_after_the_run(
    services: Services, world: h.GitHubWorld, tmp_path: Path
) -> None:
    """``issues`` events are handled like in App mode; a scheduled run keeps the status, labels,
    summary and close coming after the submitting workflow ended."""
    await store_item(services, h.database_item())
    item, _ = await services.catalog.current(h.ITEM_ID)
    form = forms.issue_form(item)
    answers: dict[str, Answer] = {"instanceName": "orders-db", "size": [1], "backups": [True]}
    body = render_issue_body(form, answers, edited=True)
    talk = world.talk
    talk.add_issue(h.REPO, NUMBER, title=form["title"] + "Orders", body=body, user="Codertocat",
                   labels=form["labels"])  # fmt: skip
    event = h.payload("issues.opened")
    event["issue"].update(number=NUMBER, title=form["title"] + "Orders", body=body)
    event["issue"]["labels"] = [{**event["issue"]["labels"][0], "name": n} for n in form["labels"]]

    done = await run(services, world, env_for(world, "issues", record(tmp_path, event)))
    assert done.startswith("submitted request ")
    [request] = await services.db.fetch_all(None, "SELECT * FROM requests")
    assert request["fields"]["size"] == "medium"
    assert request["fields"]["backups"] is True
    assert request["source"] == "github-issue"  # stated by the bot (X-PAO-Source)
    issue = talk.issues[(h.REPO, NUMBER)]
    assert "pao:in-progress" in issue.labels
    status = [c for c in talk.bot_comments(h.REPO, NUMBER) if "<!-- pao:status" in c.body]
    assert len(status) == 1
    assert "**queued**" in status[0].body

    again = await run(services, world, env_for(world, "issues", record(tmp_path, event)))
    assert again == "issue already submitted"  # a re-run does not submit twice

    await services.db.execute(
        None, "UPDATE requests SET status = 'completed' WHERE id = %(id)s", {"id": request["id"]}
    )
    refresh = {**env_for(world, "schedule", record(tmp_path, {})), "GITHUB_REPOSITORY": h.REPO}
    assert await run(services, world, refresh) == "refreshed 1 thread(s)"
    assert issue.state == "closed"
    assert "pao:completed" in issue.labels
    assert "pao:in-progress" not in issue.labels
    comments = talk.bot_comments(h.REPO, NUMBER)
    assert [c.id for c in comments if "<!-- pao:status" in c.body] == [status[0].id]
    assert "**completed**" in next(c.body for c in comments if "<!-- pao:status" in c.body)
    assert len([c for c in comments if "<!-- pao:summary" in c.body]) == 1
    assert await run(services, world, refresh) == "refreshed 0 thread(s)"


def test_the_request_bot_workflow_handles_issue_forms_and_refreshes() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["issues"]["types"] == ["opened", "edited", "labeled", "reopened"]
    assert "schedule" in triggers
    assert workflow["permissions"]["issues"] == "write"
    step = workflow["jobs"]["handle"]["steps"][-1]
    assert step["run"] == "pao bot handle-event"


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint is not installed")
def test_the_workflows_pass_actionlint() -> None:
    done = subprocess.run(
        ["actionlint", str(WORKFLOW)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def bot_env(
    services: Services, world: h.GitHubWorld, event: str, path: Path
) -> dict[str, str]:
    """Auth mode token, with the Actions-mode bot's token as README says to make it."""
    token = await issue_token(services.db, BOT_EMAIL, roles=("bot", "operator"))
    return {**env_for(world, event, path), "PAO_API_TOKEN": token}


async def test_in_actions_mode_the_author_is_the_requester_and_may_abort(
    token_services: Services, world: h.GitHubWorld, tmp_path: Path
) -> None:
    """The bot's token (role bot) names the GitHub author: the request is theirs, and the
    author's own ``/abort`` is allowed by the slash-command rule and recorded as theirs."""
    services = token_services
    await store_item(services, h.database_item())
    item, _ = await services.catalog.current(h.ITEM_ID)
    form = forms.issue_form(item)
    body = render_issue_body(form, {"instanceName": "orders-db", "size": [1], "backups": [True]})
    talk = world.talk
    talk.add_issue(h.REPO, NUMBER, title=form["title"] + "Orders", body=body, user="Codertocat",
                   labels=form["labels"])  # fmt: skip
    event = h.payload("issues.opened")
    event["issue"].update(number=NUMBER, title=form["title"] + "Orders", body=body)
    event["issue"]["labels"] = [{**event["issue"]["labels"][0], "name": n} for n in form["labels"]]
    env = await bot_env(services, world, "issues", record(tmp_path, event))
    assert (await run(services, world, env)).startswith("submitted request ")
    [request] = await services.db.fetch_all(None, "SELECT * FROM requests")
    assert request["requester_email"] == AUTHOR_EMAIL
    assert request["source"] == "github-issue"

    comment = h.payload("issue_comment.created")
    comment["issue"]["number"] = NUMBER
    comment["comment"]["body"] = "/abort changed my mind"
    comment["comment"]["id"] = talk.add_comment(h.REPO, NUMBER, "/abort", user="Codertocat").id
    env = {
        **env,
        "GITHUB_EVENT_NAME": "issue_comment",
        "GITHUB_EVENT_PATH": str(record(tmp_path, comment)),
    }
    assert await run(services, world, env) == "1 command(s) answered"
    reply = talk.bot_comments(h.REPO, NUMBER)[-1].body
    assert "aborted (changed my mind)" in reply
    row = await request_row(services, str(request["id"]))
    assert row["status"] == "aborted"
    [decided] = await services.db.fetch_all(
        None,
        "SELECT actor, agent, source FROM audit_logs WHERE table_name = 'requests'"
        " AND row_id = %(id)s AND operation = 'UPDATE' AND new_data ->> 'status' = 'aborted'",
        {"id": str(request["id"])},
    )
    assert decided == {"actor": AUTHOR_EMAIL, "agent": BOT_EMAIL, "source": "api"}


async def test_an_issue_needing_a_secret_waits_for_it_in_actions_mode(
    token_services: Services, world: h.GitHubWorld, tmp_path: Path
) -> None:
    """As in App mode (``test_bot_secrets``): the bot states the request's GitHub source, so
    the API applies the same secret policy and the request waits in ``awaiting_secret``."""
    services = token_services
    await store_item(services, secret_item())
    item, _ = await services.catalog.current(h.ITEM_ID)
    form = forms.issue_form(item)
    body = render_issue_body(
        form, {"instanceName": "orders-db", "credentials": [1], "backups": [False]}
    )
    talk = world.talk
    talk.add_issue(h.REPO, NUMBER, title="db", body=body, user="Codertocat", labels=form["labels"])
    event = h.payload("issues.opened")
    event["issue"].update(number=NUMBER, title="db", body=body)
    event["issue"]["labels"] = [{**event["issue"]["labels"][0], "name": n} for n in form["labels"]]
    env = await bot_env(services, world, "issues", record(tmp_path, event))
    done = await run(services, world, env)
    assert done.startswith("submitted request "), done
    [request] = await services.db.fetch_all(None, "SELECT * FROM requests")
    assert request["status"] == "awaiting_secret"
    assert request["requester_email"] == AUTHOR_EMAIL
    assert "adminPassword" not in request["fields"]
    assert "pao:awaiting-secret" in talk.issues[(h.REPO, NUMBER)].labels
    [status] = [c for c in talk.bot_comments(h.REPO, NUMBER) if "<!-- pao:status" in c.body]
    assert f"PUT /api/v1/requests/{request['id']}/secrets" in status.body
