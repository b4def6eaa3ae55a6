"""Requests by pull request end to end, through the real webhook route, router and engine,
against the loopback fake GitHub (contents from its repository area, conversations from
``tests/fakes/github/conversations.py``): previews with annotations at exact lines, the sticky
comment updated in place, merge → submission (once) → status comment → failure → ``/retry``
by an unauthorised and an authorised user → ``/escalate``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from bot.app import Bot
from orchestrator.engine.worker import Worker
from orchestrator.services import Services
from tests.fakes.rest_target import RestTarget, Scripted, serve_rest_target
from tests.integration import bot_harness as h
from tests.integration.engine_harness import drain, request_row

repos = pytest.importorskip(
    "tests.fakes.github.repos", reason="RepoArea (catalog sync) not there yet"
)
pytestmark = pytest.mark.anyio

NUMBER = 2
AUTHOR = "Codertocat"
SECRET_VALUE = "hunter2-Sup3r-secret"
VALID = f"""\
apiVersion: pao/v1
kind: ServiceRequest
catalogItem: {h.ITEM_ID}
fields:
  instanceName: orders-db
  size: medium
"""
LEAKY = VALID + f"  adminPassword: {SECRET_VALUE}\n"  # a secret written in a request file
INVALID = f"""\
apiVersion: pao/v1
kind: ServiceRequest
catalogItem: {h.ITEM_ID}
fields:
  instanceName: orders-db
  size: huge
  colour: blue
priority: high
"""


@pytest.fixture
def world() -> Iterator[h.GitHubWorld]:
    with h.fake_github() as fake:
        yield fake


@pytest.fixture
def git(world: h.GitHubWorld) -> Any:
    area = repos.RepoArea(world.gh)
    area.create_repo(h.REPO, default_branch="main")
    return area


@pytest.fixture
def target() -> Iterator[RestTarget]:
    with serve_rest_target() as fake:
        yield fake


@pytest.fixture
def bot(services: Services, world: h.GitHubWorld, target: RestTarget) -> Bot:
    return h.make_bot(services, world, template_environment={"TARGET_URL": target.base_url})


@pytest.fixture
async def hook(services: Services, bot: Bot) -> AsyncIterator[httpx.AsyncClient]:
    async with h.hooked(services, bot) as client:
        yield client


@pytest.fixture
def worker(services: Services, bot: Bot, target: RestTarget) -> Worker:
    return h.bot_worker(services, bot, target.base_url)


def open_pull(
    world: h.GitHubWorld, git: Any, files: dict[str, str | None], number: int = NUMBER
) -> str:
    sha: str = git.commit(h.REPO, f"request-{number}", files, "request a database")
    listed = [
        {"filename": path, "status": "added" if text is not None else "removed", "sha": "0" * 40}
        for path, text in files.items()
    ]
    world.talk.add_pull(h.REPO, number, head_sha=sha, user=AUTHOR, files=listed)
    return sha


def pr_event(action: str, head_sha: str, number: int = NUMBER, **pull: Any) -> dict[str, Any]:
    event = h.payload(f"pull_request.{action}")
    event["number"] = number
    event["pull_request"]["number"] = number
    event["pull_request"]["head"]["sha"] = head_sha
    event["pull_request"].update(pull)
    return event


def comment_event(
    body: str, login: str, number: int = NUMBER, comment_id: int | None = None
) -> dict[str, Any]:
    event = h.payload("issue_comment.created")
    event["issue"]["number"] = number
    event["issue"]["pull_request"] = {
        "url": f"https://api.github.com/repos/{h.REPO}/pulls/{number}"
    }
    event["comment"]["body"] = body
    event["comment"]["user"]["login"] = login
    if comment_id is not None:
        event["comment"]["id"] = comment_id
    return event


async def say(
    hook: httpx.AsyncClient, world: h.GitHubWorld, body: str, login: str, number: int = NUMBER
) -> int:
    """Post a comment on the fake as ``login`` and deliver its webhook; the comment id."""
    comment = world.talk.add_comment(h.REPO, number, body, user=login)
    answer = await h.deliver(hook, "issue_comment", comment_event(body, login, number, comment.id))
    assert answer.status_code == 202
    return comment.id


def bot_replies(world: h.GitHubWorld, number: int = NUMBER) -> list[str]:
    return [c.body for c in world.talk.bot_comments(h.REPO, number)]


async def test_preview_annotates_problems_at_their_lines_and_updates_one_comment(
    services: Services, world: h.GitHubWorld, git: Any, hook: httpx.AsyncClient, worker: Worker
) -> None:
    head = open_pull(
        world,
        git,
        {
            "requests/payments/orders.yaml": VALID,
            "requests/payments/bad.yaml": INVALID,
            "requests/payments/leaky.yaml": LEAKY,
            "README.md": "docs",
        },
    )
    assert (await h.deliver(hook, "pull_request", pr_event("opened", head))).status_code == 202
    await drain(worker)

    [run] = world.talk.runs_for(h.REPO, head)
    assert run.conclusion == "failure"
    assert run.name == h.SETTINGS.check_name
    located = {(a["path"], a["start_line"], a["annotation_level"]) for a in run.annotations}
    assert ("requests/payments/bad.yaml", 6, "failure") in located  # size: huge
    assert ("requests/payments/bad.yaml", 7, "failure") in located  # colour: unknown field
    assert ("requests/payments/bad.yaml", 8, "failure") in located  # priority: not a key
    assert all(a["path"] != "README.md" for a in run.annotations)
    assert not any(
        a["path"] == "requests/payments/orders.yaml" and a["annotation_level"] == "failure"
        for a in run.annotations
    )

    [preview] = world.talk.bot_comments(h.REPO, NUMBER)
    assert "<!-- pao:preview -->" in preview.body
    assert "owned by team `dba`" in preview.body
    assert "fulfilled within 2d" in preview.body
    assert '"name": "db-orders-db"' in preview.body  # the rendered plan
    assert '"owner": "Codertocat@users.noreply.github.com"' in preview.body
    # Secrets never travel in a pull request: refused at their line, never echoed.
    [leak] = [a for a in run.annotations if a["path"] == "requests/payments/leaky.yaml"]
    assert (leak["start_line"], leak["annotation_level"]) == (7, "failure")
    assert "must not be written in a pull request" in leak["message"]
    assert SECRET_VALUE not in preview.body
    assert SECRET_VALUE not in (run.summary or "")
    assert SECRET_VALUE not in json.dumps(run.annotations)

    fixed = git.commit(
        h.REPO,
        f"request-{NUMBER}",
        {
            "requests/payments/bad.yaml": VALID.replace("orders-db", "ledger-db"),
            "requests/payments/leaky.yaml": None,
        },
        "fix",
    )
    world.talk.pulls[(h.REPO, NUMBER)].head_sha = fixed
    assert (
        await h.deliver(hook, "pull_request", pr_event("synchronize", fixed))
    ).status_code == 202
    await drain(worker)
    [second] = world.talk.runs_for(h.REPO, fixed)
    assert second.conclusion == "success"
    comments = world.talk.bot_comments(h.REPO, NUMBER)
    assert [c.id for c in comments] == [preview.id]  # updated in place, not re-posted
    assert "db-ledger-db" in comments[0].body
    assert fixed[:12] in comments[0].body
    assert await services.db.fetch_all(None, "SELECT id FROM requests") == []  # nothing submitted


async def test_more_than_fifty_annotations_go_out_in_batches(
    services: Services, world: h.GitHubWorld, git: Any, hook: httpx.AsyncClient, worker: Worker
) -> None:
    extra = "".join(f"unknown{i}: {i}\n" for i in range(60))
    head = open_pull(world, git, {"requests/many.yaml": VALID + extra})
    await h.deliver(hook, "pull_request", pr_event("opened", head))
    await drain(worker)
    [run] = world.talk.runs_for(h.REPO, head)
    assert len(run.annotations) == 60
    assert sorted(a["start_line"] for a in run.annotations) == list(range(7, 67))
    assert len(world.gh.seen(f"/repos/{h.REPO}/check-runs/{run.id}", "PATCH")) == 1


async def test_deprecated_items_warn_with_their_replacement(
    services: Services, world: h.GitHubWorld, git: Any, hook: httpx.AsyncClient, worker: Worker
) -> None:
    documents = [
        h.database_item(),
        h.database_item("old-database", status="deprecated", replacement=h.ITEM_ID),
    ]
    report = services.catalog.validator.validate_texts(
        [(f"{d['metadata']['id']}.yaml", json.dumps(d)) for d in documents]
    )
    assert not report.issues, [str(i) for i in report.issues]
    await services.catalog.store_report(report, git_sha=None)
    head = open_pull(world, git, {"requests/old.yaml": VALID.replace(h.ITEM_ID, "old-database")})
    await h.deliver(hook, "pull_request", pr_event("opened", head))
    await drain(worker)
    [run] = world.talk.runs_for(h.REPO, head)
    assert run.conclusion == "success"
    [warning] = run.annotations
    assert warning["annotation_level"] == "warning"
    assert warning["start_line"] == 3
    assert f"use '{h.ITEM_ID}' instead" in warning["message"]
    assert f"use '{h.ITEM_ID}' instead" in bot_replies(world)[0]


async def test_merge_submits_once_then_failure_retry_and_escalate(
    services: Services,
    world: h.GitHubWorld,
    git: Any,
    hook: httpx.AsyncClient,
    worker: Worker,
    target: RestTarget,
) -> None:
    talk = world.talk
    talk.add_team_member("acme", h.OWNER_TEAM, "dba-alice")
    talk.add_team_member("acme", "platform-ops", "ops-bob")
    head = open_pull(world, git, {"requests/payments/orders.yaml": VALID})
    target.script("/api/v2/resources", Scripted(422, {"error": "quota exceeded"}))
    merged = pr_event("closed", head, merged=True, merge_commit_sha=head)
    assert (await h.deliver(hook, "pull_request", merged)).status_code == 202
    assert (await h.deliver(hook, "pull_request", merged)).status_code == 202  # new delivery id
    await drain(worker)

    [request] = await services.db.fetch_all(None, "SELECT * FROM requests")
    request_id = str(request["id"])
    assert request["source"] == "github-pr"
    assert "adminPassword" not in request["fields"]  # never from a pull request
    [link] = await services.db.fetch_all(None, "SELECT * FROM request_links")
    assert (link["kind"], link["repository"], link["number"], link["path"]) == (
        "pull_request",
        h.REPO,
        NUMBER,
        "requests/payments/orders.yaml",
    )
    assert (await request_row(services, request_id))["status"] == "failed"
    [status] = [c for c in talk.bot_comments(h.REPO, NUMBER) if "<!-- pao:status" in c.body]
    assert status.id == link["status_comment_id"]
    assert "**failed**" in status.body
    assert "quota exceeded" in status.body
    assert "/retry" in status.body

    await say(hook, world, "> /retry\n```\n/abort\n```\nnot a command: /retry", "mallory")
    await say(hook, world, "Trying again\n/retry", "mallory")
    await drain(worker)
    refusal = bot_replies(world)[-1]
    assert refusal.startswith("> /retry")
    assert "Sorry @mallory" in refusal
    assert "@Codertocat" in refusal
    assert "`acme/dba` team" in refusal  # teams named, never @-mentioned
    assert "`acme/platform-ops` team" in refusal
    assert "@acme/" not in refusal
    assert talk.reactions == []
    assert (await request_row(services, request_id))["status"] == "failed"
    assert len(target.seen("/api/v2/resources", "POST")) == 1

    retry_comment = await say(hook, world, "/retry create", "dba-alice")
    await drain(worker)
    assert (retry_comment, "+1", h.BOT_LOGIN) in talk.reactions
    assert (await request_row(services, request_id))["status"] == "completed"
    assert len(target.seen("/api/v2/resources", "POST")) == 2
    [status] = [c for c in talk.bot_comments(h.REPO, NUMBER) if "<!-- pao:status" in c.body]
    assert "**completed**" in status.body
    assert "resource_id" in status.body
    assert SECRET_VALUE not in "".join(bot_replies(world))

    await say(hook, world, "/frobnicate", "dba-alice")
    await drain(worker)
    assert "PAO commands" in bot_replies(world)[-1]


async def test_escalate_by_an_operator(
    services: Services,
    world: h.GitHubWorld,
    git: Any,
    hook: httpx.AsyncClient,
    worker: Worker,
    target: RestTarget,
) -> None:
    world.talk.add_team_member("acme", "platform-ops", "ops-bob")
    head = open_pull(world, git, {"requests/orders.yaml": VALID})
    target.script("/api/v2/resources", Scripted(422, {"error": "quota exceeded"}))
    await h.deliver(
        hook, "pull_request", pr_event("closed", head, merged=True, merge_commit_sha=head)
    )
    await drain(worker)
    [request] = await services.db.fetch_all(None, "SELECT id FROM requests")
    await say(hook, world, "/escalate the quota needs a human", "ops-bob")
    await drain(worker)
    row = await request_row(services, str(request["id"]))
    assert row["status"] == "escalated"
    reply = bot_replies(world)[-1]
    assert reply.startswith("> /escalate the quota needs a human")
    assert "escalated" in reply
    [status] = [c for c in world.talk.bot_comments(h.REPO, NUMBER) if "<!-- pao:status" in c.body]
    assert "**escalated**" in status.body


async def test_commands_in_review_bodies_and_status(
    services: Services, world: h.GitHubWorld, git: Any, hook: httpx.AsyncClient, worker: Worker
) -> None:
    head = open_pull(world, git, {"requests/orders.yaml": VALID})
    await h.deliver(
        hook, "pull_request", pr_event("closed", head, merged=True, merge_commit_sha=head)
    )
    await drain(worker)
    [request] = await services.db.fetch_all(None, "SELECT id FROM requests")
    review = h.payload("pull_request_review.submitted")
    review["pull_request"]["number"] = NUMBER
    review["review"]["body"] = "Looks done?\n/status"
    review["review"]["user"]["login"] = "someone-else"
    assert (await h.deliver(hook, "pull_request_review", review)).status_code == 202
    await drain(worker)
    reply = bot_replies(world)[-1]
    assert reply.startswith("> /status")
    assert f"`{request['id']}`" in reply
    assert "**completed**" in reply
    assert "1/1 actions done" in reply

    own = comment_event("/retry", h.BOT_LOGIN)
    own["comment"]["user"]["type"] = "Bot"
    before = len(bot_replies(world))
    await h.deliver(hook, "issue_comment", own)
    edited = h.payload("issue_comment.edited")
    edited["issue"]["number"] = NUMBER
    edited["comment"]["body"] = "/abort"
    await h.deliver(hook, "issue_comment", edited)
    await drain(worker)
    assert len(bot_replies(world)) == before  # the bot's own comments and edits never trigger


async def test_rerun_all_checks_validates_again(
    services: Services, world: h.GitHubWorld, git: Any, hook: httpx.AsyncClient, worker: Worker
) -> None:
    head = open_pull(world, git, {"requests/orders.yaml": VALID})
    event = h.payload("check_suite.requested")  # GitHub's example, as "Re-run all checks" sends
    event["action"] = "rerequested"
    event["check_suite"]["head_sha"] = head
    event["check_suite"]["pull_requests"] = [{"number": NUMBER, "head": {"sha": head}}]
    assert (await h.deliver(hook, "check_suite", event)).status_code == 202
    await drain(worker)
    [run] = world.talk.runs_for(h.REPO, head)
    assert run.conclusion == "success"
    assert len(world.talk.bot_comments(h.REPO, NUMBER)) == 1


async def test_request_files_named_with_hash_or_question_mark_are_read(
    services: Services, world: h.GitHubWorld, git: Any, hook: httpx.AsyncClient, worker: Worker
) -> None:
    """Unescaped, ``#`` starts a fragment and ``?`` a query: GitHub answers 404."""
    files: dict[str, str | None] = {
        "requests/db #1.yaml": VALID.replace("orders-db", "first-db"),
        "requests/why?.yaml": VALID.replace("orders-db", "second-db"),
        "requests/100%.yaml": VALID.replace("orders-db", "third-db"),
    }
    head = open_pull(world, git, files)
    await h.deliver(hook, "pull_request", pr_event("opened", head))
    await drain(worker)
    [run] = world.talk.runs_for(h.REPO, head)
    assert run.conclusion == "success"
    [preview] = world.talk.bot_comments(h.REPO, NUMBER)
    for name in ("first-db", "second-db", "third-db"):
        assert f"db-{name}" in preview.body
    fetched = {c.path for c in world.gh.seen(method="GET") if "/contents/" in c.path}
    assert fetched == {f"/repos/{h.REPO}/contents/{path}" for path in files}
