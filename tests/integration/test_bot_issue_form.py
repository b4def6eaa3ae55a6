"""Requests by issue form end to end: GitHub's ``issues`` example payloads carrying a form body
go through the real webhook route, router and engine; the author fixes errors by editing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from bot.app import Bot
from orchestrator.engine.pg_queue import Job
from orchestrator.engine.worker import Worker
from orchestrator.services import Services
from tests.fakes.rest_target import RestTarget, serve_rest_target
from tests.integration import bot_harness as h
from tests.integration.engine_harness import drain, request_row

pytestmark = pytest.mark.anyio
NUMBER = 1
LABELS = ["pao-request", f"catalog:{h.ITEM_ID}"]


@pytest.fixture
def world() -> Iterator[h.GitHubWorld]:
    with h.fake_github() as fake:
        yield fake


@pytest.fixture
def target() -> Iterator[RestTarget]:
    with serve_rest_target() as fake:
        yield fake


@pytest.fixture
def bot(services: Services, world: h.GitHubWorld) -> Bot:
    return h.make_bot(services, world)


@pytest.fixture
async def hook(services: Services, bot: Bot) -> AsyncIterator[httpx.AsyncClient]:
    async with h.hooked(services, bot) as client:
        yield client


@pytest.fixture
def worker(services: Services, bot: Bot, target: RestTarget) -> Worker:
    return h.bot_worker(services, bot, target.base_url)


def form_body(name: str, *, size: str = "Medium, 4 vCPU", notes: str | None = None) -> str:
    """An issue body the way GitHub renders a submitted issue form."""
    return (
        f"### Instance Name\n\n{name}\n\n"
        f"### Size\n\n{size}\n\n"
        "### Extensions\n\npostgis, uuid-ossp\n\n"
        "### Enable Backups\n\n- [X] Enable Backups\n\n"
        f"### Notes\n\n{notes if notes is not None else '_No response_'}\n"
    )


def issue_event(action: str, body: str) -> dict[str, Any]:
    event = h.payload(f"issues.{action}")
    issue = event["issue"]
    issue["number"] = NUMBER
    issue["title"] = f"[{h.ITEM_ID}] Orders database"
    issue["body"] = body
    issue["labels"] = [{**issue["labels"][0], "name": name} for name in LABELS]
    return event


async def requests_of(services: Services) -> list[dict[str, Any]]:
    return await services.db.fetch_all(None, "SELECT * FROM requests ORDER BY created_at")


async def test_issue_form_flow_with_an_edit_fixing_the_errors(
    services: Services,
    world: h.GitHubWorld,
    hook: httpx.AsyncClient,
    worker: Worker,
    target: RestTarget,
) -> None:
    talk = world.talk
    talk.add_issue(h.REPO, NUMBER, title="x", body="", user="Codertocat", labels=LABELS)

    opened = await h.deliver(hook, "issues", issue_event("opened", form_body("X!")))
    assert opened.status_code == 202
    await drain(worker)
    [answer] = talk.bot_comments(h.REPO, NUMBER)
    assert "'Instance Name' is invalid: 3-30 chars, lowercase" in answer.body
    assert "edit this issue" in answer.body
    assert "pao:invalid" in talk.issues[(h.REPO, NUMBER)].labels
    assert await requests_of(services) == []

    notes = "Create with:\n\n```sql\n### not a section\nCREATE EXTENSION postgis;\n```"
    edited = await h.deliver(
        hook, "issues", issue_event("edited", form_body("orders-db", notes=notes))
    )
    assert edited.status_code == 202
    await drain(worker)

    [request] = await requests_of(services)
    assert request["source"] == "github-issue"
    assert request["requester_email"] == "Codertocat@users.noreply.github.com"
    assert request["fields"]["size"] == "medium"
    assert request["fields"]["extensions"] == ["postgis", "uuid-ossp"]
    assert request["fields"]["backups"] is True
    assert "### not a section" in request["fields"]["notes"]
    row = await request_row(services, str(request["id"]))
    assert row["status"] == "completed"
    [created] = target.seen("/api/v2/resources", "POST")
    assert created.json()["name"] == "db-orders-db"
    assert created.json()["size"] == "medium"

    comments = talk.bot_comments(h.REPO, NUMBER)
    form = [c for c in comments if "<!-- pao:form -->" in c.body]
    assert [c.id for c in form] == [answer.id]  # the same comment, updated in place
    assert f"Submitted as request `{request['id']}`" in form[0].body
    assert "db-orders-db" in form[0].body  # the rendered action plan
    status = [c for c in comments if "<!-- pao:status" in c.body]
    assert len(status) == 1
    assert "**completed**" in status[0].body
    assert "resource_id" in status[0].body
    summary = [c for c in comments if "<!-- pao:summary" in c.body]
    assert len(summary) == 1
    issue = talk.issues[(h.REPO, NUMBER)]
    assert issue.state == "closed"
    assert "pao:completed" in issue.labels
    assert "pao:invalid" not in issue.labels
    assert "pao:in-progress" not in issue.labels

    again = await h.deliver(hook, "issues", issue_event("edited", form_body("other-db")))
    assert again.status_code == 202
    await drain(worker)
    assert len(await requests_of(services)) == 1
    form_after = [c for c in talk.bot_comments(h.REPO, NUMBER) if "<!-- pao:form -->" in c.body]
    assert len(form_after) == 1
    assert "already submitted" in form_after[0].body


async def test_issues_without_the_form_label_are_left_alone(
    services: Services, world: h.GitHubWorld, hook: httpx.AsyncClient, worker: Worker
) -> None:
    world.talk.add_issue(h.REPO, NUMBER, title="bug", body="", user="Codertocat", labels=["bug"])
    event = h.payload("issues.opened")  # GitHub's example as published: a plain bug report
    event["issue"]["number"] = NUMBER
    assert (await h.deliver(hook, "issues", event)).status_code == 202
    await drain(worker)
    assert world.talk.thread(h.REPO, NUMBER) == []
    assert await requests_of(services) == []


async def test_racing_and_redelivered_notifications_produce_each_effect_once(
    services: Services,
    world: h.GitHubWorld,
    hook: httpx.AsyncClient,
    worker: Worker,
    bot: Bot,
) -> None:
    """Two ``notify`` jobs of one completed request on two workers, and a third redelivered:
    one summary, one label write, one close."""
    talk = world.talk
    talk.add_issue(h.REPO, NUMBER, title="x", body="", user="Codertocat", labels=LABELS)
    await h.deliver(hook, "issues", issue_event("opened", form_body("orders-db")))
    await drain(worker)
    [request] = await requests_of(services)
    issue = talk.issues[(h.REPO, NUMBER)]
    assert issue.state == "closed"
    # Back to the moment before the first notification of the completion was handled.
    issue.state = "open"
    issue.labels = [*LABELS, "pao:in-progress"]
    for comment in list(talk.thread(h.REPO, NUMBER)):
        if "<!-- pao:summary" in comment.body:
            del talk.comments[comment.id]
    before = len(world.gh.seen())
    job = Job(
        id=0,
        kind="notify",
        payload={"request_id": str(request["id"])},
        request_id=request["id"],
        receives=1,
        max_receives=3,
        locked_by=None,
        locked_until=None,
    )
    handle = bot.notifications.handle
    await asyncio.gather(handle(job), handle(job), handle(job))

    calls = world.gh.seen()[before:]
    issue_path = f"/repos/{h.REPO}/issues/{NUMBER}"
    summaries = [c for c in talk.bot_comments(h.REPO, NUMBER) if "<!-- pao:summary" in c.body]
    assert len(summaries) == 1
    assert [c.method for c in calls if c.path == issue_path + "/comments"].count("POST") == 1
    assert len([c for c in calls if c.path == issue_path and c.method == "PATCH"]) == 1
    assert len([c for c in calls if c.path == issue_path + "/labels" and c.method == "POST"]) == 1
    assert issue.state == "closed"
    assert "pao:completed" in issue.labels
    assert "pao:in-progress" not in issue.labels
    assert calls
    assert all(c.headers.get("x-github-api-version") == "2022-11-28" for c in calls)
