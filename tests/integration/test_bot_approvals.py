"""Approval gates through the bot (issue 21), end to end: webhook deliveries through the real
route, router, core and engine against the loopback fake GitHub. ``/approve`` and ``/reject``
in pull requests and issues, approving reviews (before and after the merge, stale ones not
counted), the issue edit that resets approvals, the status comment listing the gate, and
nothing dispatched before the last stage passes (the REST target records zero calls)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import Bot
from orchestrator import forms
from orchestrator.engine.pg_queue import Job
from orchestrator.engine.worker import Worker
from orchestrator.services import Services
from tests.fakes.github.issue_forms import render_issue_body
from tests.fakes.rest_target import RestTarget, serve_rest_target
from tests.integration import bot_harness as h
from tests.integration import test_bot_actions_mode as actions
from tests.integration.engine_harness import drain, request_row, store_item

repos = pytest.importorskip("tests.fakes.github.repos")
pytestmark = pytest.mark.anyio

NUMBER = 2
AUTHOR = "Codertocat"  # the requester: author of the PR and of the issue fixtures
SECURITY = "security"
VALID = f"""\
apiVersion: pao/v1
kind: ServiceRequest
catalogItem: {h.ITEM_ID}
fields:
  instanceName: orders-db
  size: medium
"""
LABELS = ["pao-request", f"catalog:{h.ITEM_ID}"]


def gated_item(count: int = 1) -> dict[str, Any]:
    """The harness's database item behind an approval stage of the ``security`` team."""
    document = h.database_item()
    document["approvals"] = [
        {
            "name": "security-review",
            "description": "Security looks at every new database.",
            "teams": [SECURITY],
            "count": count,
        }
    ]
    return document


@pytest.fixture
def world() -> Iterator[h.GitHubWorld]:
    with h.fake_github() as fake:
        talk = fake.talk
        for login in ("sec-sam", "sec-dora", "sec-old", "sec-carl", AUTHOR):
            talk.add_team_member("acme", SECURITY, login)
        talk.add_team_member("acme", SECURITY, "pending-paul", pending=True)
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
    async with h.webhook_client(services, bot) as client:
        yield client


@pytest.fixture
def worker(services: Services, bot: Bot, target: RestTarget) -> Worker:
    return h.bot_worker(services, bot, target.base_url)


def pr_event(action: str, head_sha: str, **pull: Any) -> dict[str, Any]:
    event = h.payload(f"pull_request.{action}")
    event["number"] = NUMBER
    event["pull_request"]["number"] = NUMBER
    event["pull_request"]["head"]["sha"] = head_sha
    event["pull_request"].update(pull)
    return event


def open_pull(world: h.GitHubWorld, git: Any, text: str = VALID, message: str = "ask") -> str:
    sha: str = git.commit(h.REPO, f"request-{NUMBER}", {"requests/orders.yaml": text}, message)
    world.talk.add_pull(
        h.REPO,
        NUMBER,
        head_sha=sha,
        user=AUTHOR,
        files=[{"filename": "requests/orders.yaml", "status": "added", "sha": "0" * 40}],
    )
    return sha


async def merge(hook: httpx.AsyncClient, worker: Worker, head: str) -> None:
    merged = pr_event("closed", head, merged=True, merge_commit_sha=head)
    assert (await h.deliver(hook, "pull_request", merged)).status_code == 202
    await drain(worker)


async def say(
    hook: httpx.AsyncClient, world: h.GitHubWorld, body: str, login: str, *, issue: bool = False
) -> int:
    """Post a comment on the fake as ``login`` and deliver its webhook; the comment id."""
    comment = world.talk.add_comment(h.REPO, NUMBER, body, user=login)
    event = h.payload("issue_comment.created")
    event["issue"]["number"] = NUMBER
    if issue:
        event["issue"].pop("pull_request", None)
    else:
        event["issue"]["pull_request"] = {"url": f"https://api.github.com/repos/{h.REPO}/pulls/2"}
    event["comment"].update(id=comment.id, body=body)
    event["comment"]["user"]["login"] = login
    assert (await h.deliver(hook, "issue_comment", event)).status_code == 202
    return comment.id


async def review(
    hook: httpx.AsyncClient, login: str, state: str, commit_id: str, head: str
) -> None:
    event = h.payload("pull_request_review.submitted")
    event["pull_request"]["number"] = NUMBER
    event["pull_request"]["head"]["sha"] = head
    event["review"].update(state=state, commit_id=commit_id, body=None)
    event["review"]["user"]["login"] = login
    assert (await h.deliver(hook, "pull_request_review", event)).status_code == 202


def replies(world: h.GitHubWorld) -> list[str]:
    return [c.body for c in world.talk.bot_comments(h.REPO, NUMBER)]


def status_body(world: h.GitHubWorld) -> str:
    [status] = [c.body for c in world.talk.bot_comments(h.REPO, NUMBER) if "pao:status" in c.body]
    return status


async def only_request(services: Services) -> str:
    [request] = await services.db.fetch_all(None, "SELECT id FROM requests")
    return str(request["id"])


async def test_slash_approve_by_a_qualified_member_runs_the_request_others_are_refused(
    services: Services,
    world: h.GitHubWorld,
    git: Any,
    hook: httpx.AsyncClient,
    worker: Worker,
    target: RestTarget,
) -> None:
    await store_item(services, gated_item())
    head = open_pull(world, git)
    await h.deliver(hook, "pull_request", pr_event("opened", head))
    await drain(worker)
    preview = replies(world)[0]
    assert "**Approval:** needed before anything is provisioned." in preview
    assert "team security (not the requester)" in preview  # the preview says who must approve

    await merge(hook, worker, head)
    request_id = await only_request(services)
    assert (await request_row(services, request_id))["status"] == "awaiting_approval"
    status = status_body(world)
    assert "**awaiting_approval**" in status
    assert "| security-review | team security (not the requester) | 1 |" in status
    assert "🔔 Approval requested from @acme/security." in status
    assert target.seen("/api/v2/resources", "POST") == []  # nothing before approval

    await say(hook, world, "/approve", "mallory")
    await drain(worker)
    assert "not recorded, @mallory" in replies(world)[-1]
    assert "not among the approvers of stage 'security-review': team security" in replies(world)[-1]
    assert "@acme/security" not in replies(world)[-1]  # refusals never page the team

    await say(hook, world, "/approve", AUTHOR)  # a member of the team, but the requester
    await drain(worker)
    assert "separation of duties" in replies(world)[-1]
    assert "another approver of stage 'security-review': team security" in replies(world)[-1]

    await say(hook, world, "/approve", "pending-paul")  # invited, not yet a member
    await drain(worker)
    assert "not recorded, @pending-paul" in replies(world)[-1]
    assert (await request_row(services, request_id))["status"] == "awaiting_approval"
    assert target.seen("/api/v2/resources", "POST") == []
    assert world.talk.reactions == []

    approved = await say(hook, world, "Looks fine\n/approve encrypted at rest", "sec-sam")
    await drain(worker)
    assert (approved, "+1", h.BOT_LOGIN) in world.talk.reactions
    reply = replies(world)[-1]
    assert reply.startswith("> /approve encrypted at rest")
    assert f"`{request_id}`: ✅ approved by @sec-sam" in reply
    assert "All approvals are in" in reply
    assert (await request_row(services, request_id))["status"] == "completed"
    assert len(target.seen("/api/v2/resources", "POST")) == 1
    status = status_body(world)
    assert "**completed**" in status
    assert "✅ approved (1 of 1: sec-sam)" in status  # the status comment lists who approved
    assert "🔔" not in status  # no longer waiting: nobody to ask

    before = len(replies(world))
    again = await say(hook, world, "/approve", "sec-sam")
    await drain(worker)
    assert len(replies(world)) == before  # a repeat is acknowledged quietly
    assert (again, "+1", h.BOT_LOGIN) in world.talk.reactions
    # Teams are asked for the stage waiting: the repeat, after the gate passed, asks none.
    probes = world.gh.seen("/orgs/acme/teams/security/memberships/sec-sam", "GET")
    assert len(probes) == 1


async def test_reject_needs_a_reason_and_ends_the_request(
    services: Services,
    world: h.GitHubWorld,
    git: Any,
    hook: httpx.AsyncClient,
    worker: Worker,
    target: RestTarget,
) -> None:
    await store_item(services, gated_item())
    await merge(hook, worker, open_pull(world, git))
    request_id = await only_request(services)

    await say(hook, world, "/reject", "sec-sam")
    await drain(worker)
    assert "A rejection needs a reason: comment `/reject <reason>`." in replies(world)[-1]
    assert (await request_row(services, request_id))["status"] == "awaiting_approval"

    await say(hook, world, "/reject use the shared cluster instead", "sec-sam")
    await drain(worker)
    [reply] = [r for r in replies(world) if r.startswith("> /reject use")]
    assert "🚫 rejected by @sec-sam (use the shared cluster instead)" in reply
    assert (await request_row(services, request_id))["status"] == "rejected"
    status = status_body(world)
    assert "**rejected**" in status
    assert "| ❌ rejected by sec-sam: use the shared cluster instead |" in status
    assert "Nothing will be provisioned: rejected by sec-sam" in status

    await say(hook, world, "/approve", "sec-dora")  # too late: the core says why
    await drain(worker)
    assert "not recorded, @sec-dora" in replies(world)[-1]
    assert target.seen("/api/v2/resources", "POST") == []


async def test_reviews_on_the_merged_head_count_stale_and_unqualified_ones_do_not(
    services: Services,
    world: h.GitHubWorld,
    git: Any,
    hook: httpx.AsyncClient,
    worker: Worker,
    target: RestTarget,
) -> None:
    await store_item(services, gated_item(count=3))
    first = open_pull(world, git)
    talk = world.talk
    talk.add_review(h.REPO, NUMBER, user="sec-old", state="APPROVED", commit_id=first)
    head = git.commit(
        h.REPO, f"request-{NUMBER}", {"requests/orders.yaml": VALID + "  backups: true\n"}, "fix"
    )
    talk.pulls[(h.REPO, NUMBER)].head_sha = head
    talk.add_review(h.REPO, NUMBER, user="sec-sam", state="APPROVED", commit_id=head)
    talk.add_review(h.REPO, NUMBER, user="mallory", state="APPROVED", commit_id=head)
    talk.add_review(h.REPO, NUMBER, user="sec-carl", state="CHANGES_REQUESTED", commit_id=head)
    talk.add_review(h.REPO, NUMBER, user="sec-dora", state="APPROVED", commit_id=head)
    talk.add_review(h.REPO, NUMBER, user="sec-dora", state="COMMENTED", commit_id=head)

    await merge(hook, worker, head)
    request_id = await only_request(services)
    assert (await request_row(services, request_id))["status"] == "awaiting_approval"
    status = status_body(world)
    assert "⏳ waiting (2 of 3: sec-sam, sec-dora)" in status
    assert "The approving review by `@sec-old` was given on an earlier push" in status
    assert "The approving review by `@mallory` did not count: you may not approve" in status
    assert "sec-carl" not in status  # changes requested is not a rejection

    await review(hook, "sec-old", "approved", first, head)  # a stale review, after the merge
    await drain(worker)
    assert (await request_row(services, request_id))["status"] == "awaiting_approval"

    await review(hook, "mallory", "approved", head, head)
    await drain(worker)
    assert "not counted: you may not approve" in replies(world)[-1]

    await review(hook, "sec-carl", "approved", head, head)
    await drain(worker)
    assert (await request_row(services, request_id))["status"] == "completed"
    assert len(target.seen("/api/v2/resources", "POST")) == 1
    status = status_body(world)
    assert "✅ approved (3 of 3: sec-sam, sec-dora, sec-carl)" in status
    assert "`@mallory` did not count" in status  # the notes stay with the status comment


def form_body(name: str) -> str:
    return (
        f"### Instance Name\n\n{name}\n\n### Size\n\nMedium, 4 vCPU\n\n"
        "### Extensions\n\npostgis\n\n### Enable Backups\n\n- [X] Enable Backups\n\n"
        "### Notes\n\n_No response_\n"
    )


def issue_event(action: str, body: str) -> dict[str, Any]:
    event = h.payload(f"issues.{action}")
    issue = event["issue"]
    issue.update(number=NUMBER, title=f"[{h.ITEM_ID}] Orders database", body=body)
    issue["labels"] = [{**issue["labels"][0], "name": name} for name in LABELS]
    return event


async def test_an_issue_edit_while_waiting_resets_the_approvals(
    services: Services,
    world: h.GitHubWorld,
    hook: httpx.AsyncClient,
    worker: Worker,
    target: RestTarget,
) -> None:
    await store_item(services, gated_item(count=2))
    talk = world.talk
    talk.add_issue(h.REPO, NUMBER, title="x", body="", user=AUTHOR, labels=LABELS)
    await h.deliver(hook, "issues", issue_event("opened", form_body("orders-db")))
    await drain(worker)
    request_id = await only_request(services)
    assert (await request_row(services, request_id))["status"] == "awaiting_approval"
    assert "pao:awaiting-approval" in talk.issues[(h.REPO, NUMBER)].labels
    assert "🔔 Approval requested from @acme/security." in status_body(world)

    await say(hook, world, "/approve", "sec-sam", issue=True)
    await drain(worker)
    assert "⏳ waiting (1 of 2: sec-sam)" in status_body(world)

    await h.deliver(hook, "issues", issue_event("edited", form_body("orders-db")))  # the same
    await drain(worker)
    [form] = [c.body for c in talk.bot_comments(h.REPO, NUMBER) if "pao:form" in c.body]
    assert "the approvals given so far still count" in form
    assert "⏳ waiting (1 of 2: sec-sam)" in status_body(world)

    await h.deliver(hook, "issues", issue_event("edited", form_body("X!")))  # invalid
    await drain(worker)
    [form] = [c.body for c in talk.bot_comments(h.REPO, NUMBER) if "pao:form" in c.body]
    assert "'Instance Name' is invalid: 3-30 chars, lowercase" in form
    assert "keeps waiting for approval with its earlier content" in form
    row = await request_row(services, request_id)
    assert row["fields"]["instanceName"] == "orders-db"
    assert "⏳ waiting (1 of 2: sec-sam)" in status_body(world)

    await h.deliver(hook, "issues", issue_event("edited", form_body("ledger-db")))
    await drain(worker)
    [form] = [c.body for c in talk.bot_comments(h.REPO, NUMBER) if "pao:form" in c.body]
    assert "Approvals given so far were reset" in form
    row = await request_row(services, request_id)
    assert (row["status"], row["fields"]["instanceName"]) == ("awaiting_approval", "ledger-db")
    assert "⏳ waiting (0 of 2)" in status_body(world)
    assert target.seen("/api/v2/resources", "POST") == []

    await say(hook, world, "/approve", "sec-sam", issue=True)
    await say(hook, world, "/approve", "sec-dora", issue=True)
    await drain(worker)
    assert (await request_row(services, request_id))["status"] == "completed"
    [created] = target.seen("/api/v2/resources", "POST")
    assert created.json()["name"] == "db-ledger-db"  # the approved content, not the first
    assert talk.issues[(h.REPO, NUMBER)].state == "closed"


async def test_approve_in_actions_mode_goes_through_the_api_as_the_commenter(
    token_services: Services, world: h.GitHubWorld, tmp_path: Path
) -> None:
    """The one slash-command implementation, its Actions-mode backend: the decision is the
    API's ``POST /requests/{id}/approve`` on behalf of the commenter (here a stage naming a
    person, since the API's on-behalf principal carries no GitHub teams)."""
    services = token_services
    document = h.database_item()
    document["approvals"] = [{"name": "lead", "users": ["sec-sam@users.noreply.github.com"]}]
    await store_item(services, document)
    item, _ = await services.catalog.current(h.ITEM_ID)
    form = forms.issue_form(item)
    body = render_issue_body(form, {"instanceName": "orders-db", "size": [1], "backups": [True]})
    talk = world.talk
    talk.actor = actions.ACTIONS_BOT
    talk.add_issue(h.REPO, NUMBER, title=form["title"], body=body, user=AUTHOR,
                   labels=form["labels"])  # fmt: skip
    event = h.payload("issues.opened")
    event["issue"].update(number=NUMBER, title=form["title"], body=body)
    event["issue"]["labels"] = [{**event["issue"]["labels"][0], "name": n} for n in form["labels"]]
    env = await actions.bot_env(services, world, "issues", actions.record(tmp_path, event))
    assert (await actions.run(services, world, env)).startswith("submitted request ")
    request_id = await only_request(services)
    assert (await request_row(services, request_id))["status"] == "awaiting_approval"
    [status] = [c.body for c in talk.bot_comments(h.REPO, NUMBER) if "pao:status" in c.body]
    assert "| lead | sec-sam@users.noreply.github.com (not the requester) | 1 |" in status
    assert "🔔 Approval requested from @sec-sam." in status
    assert "pao:awaiting-approval" in talk.issues[(h.REPO, NUMBER)].labels

    async def comment(text: str, login: str) -> str:
        created = h.payload("issue_comment.created")
        created["issue"]["number"] = NUMBER
        created["comment"].update(
            body=text, id=talk.add_comment(h.REPO, NUMBER, text, user=login).id
        )
        created["comment"]["user"]["login"] = login
        path = actions.record(tmp_path, created)
        await actions.run(
            services,
            world,
            {**env, "GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(path)},
        )
        return talk.bot_comments(h.REPO, NUMBER)[-1].body

    assert "not recorded, @mallory" in await comment("/approve", "mallory")
    assert (await request_row(services, request_id))["status"] == "awaiting_approval"
    reply = await comment("/approve checked", "sec-sam")
    assert f"`{request_id}`: ✅ approved by @sec-sam. All approvals are in" in reply
    assert (await request_row(services, request_id))["status"] == "queued"


def two_stage_item(expires: str | None = None) -> dict[str, Any]:
    """Security first, then the database administrators."""
    document = gated_item()
    document["approvals"].append({"name": "dba-review", "teams": ["dba"]})
    if expires:
        for stage in document["approvals"]:
            stage["expiresAfter"] = expires
    return document


def asking(world: h.GitHubWorld, team: str) -> list[str]:
    """The comments the bot posted with a live @-mention of ``team`` (not one in code), as
    they were when posted: GitHub notifies the mentions of a new comment, never of an edit."""
    mention = f"@acme/{team}"
    posted = world.gh.seen(f"/repos/{h.REPO}/issues/{NUMBER}/comments", "POST")
    bodies = [str(r.json()["body"]) for r in posted]
    return [b for b in bodies if mention in b.replace(f"`{mention}`", "")]


async def notify_again(services: Services, bot: Bot, request_id: str) -> None:
    """Deliver the request's last ``notify`` job once more (a redelivery after a lost ack)."""
    [row] = await services.db.fetch_all(
        None,
        "SELECT * FROM jobs WHERE request_id = %(id)s AND kind = 'notify' ORDER BY id DESC LIMIT 1",
        {"id": request_id},
    )
    await bot.notifications.handle(Job.from_row(row))


async def test_a_later_stage_is_asked_in_a_new_comment_once(
    services: Services,
    world: h.GitHubWorld,
    git: Any,
    hook: httpx.AsyncClient,
    worker: Worker,
    bot: Bot,
    target: RestTarget,
) -> None:
    world.talk.add_team_member("acme", "dba", "dba-dan")
    await store_item(services, two_stage_item())
    await merge(hook, worker, open_pull(world, git))
    request_id = await only_request(services)
    status = status_body(world)
    assert "🔔 Approval requested from @acme/security." in status
    assert asking(world, "dba") == []  # the later stage is listed, not paged yet
    assert "| dba-review | team dba (not the requester) | 1 |" in status

    await say(hook, world, "/approve", "sec-sam")
    await drain(worker)
    [asked] = asking(world, "dba")
    assert "pao:status" not in asked  # a new comment (an edit notifies nobody)
    assert f"PAO request `{request_id}` now waits for your decision on stage `dba-review`" in asked
    assert "@acme/security" not in asked
    assert "🔔 Approval requested from @acme/dba." in status_body(world)  # updated too
    for _ in range(2):  # the notify job delivered again: nothing more is posted
        await notify_again(services, bot, request_id)
    assert len(asking(world, "dba")) == 1
    assert len(asking(world, "security")) == 1  # the status comment alone asked security
    assert target.seen("/api/v2/resources", "POST") == []

    await say(hook, world, "/approve", "dba-dan")
    await drain(worker)
    assert (await request_row(services, request_id))["status"] == "completed"


async def test_a_rejected_pull_request_request_is_labelled_and_told_once(
    services: Services,
    world: h.GitHubWorld,
    git: Any,
    hook: httpx.AsyncClient,
    worker: Worker,
    bot: Bot,
) -> None:
    await store_item(services, gated_item())
    await merge(hook, worker, open_pull(world, git))
    request_id = await only_request(services)
    await say(hook, world, "/reject not with @sec-dora's data", "sec-sam")
    await drain(worker)
    await notify_again(services, bot, request_id)
    told = [c.body for c in world.talk.bot_comments(h.REPO, NUMBER) if "pao:rejected" in c.body]
    assert len(told) == 1
    assert f"🚫 PAO request `{request_id}` from `requests/orders.yaml` was **rejected**" in told[0]
    assert "`@sec-dora`" in told[0]  # named, not paged
    assert "new pull request" in told[0]
    assert "pao:rejected" in world.talk.issues[(h.REPO, NUMBER)].labels


async def test_an_issue_whose_approval_expired_is_closed_as_not_planned(
    services: Services,
    world: h.GitHubWorld,
    hook: httpx.AsyncClient,
    worker: Worker,
    target: RestTarget,
) -> None:
    await store_item(services, two_stage_item(expires="1d"))
    talk = world.talk
    talk.add_issue(h.REPO, NUMBER, title="x", body="", user=AUTHOR, labels=LABELS)
    await h.deliver(hook, "issues", issue_event("opened", form_body("orders-db")))
    await drain(worker)
    request_id = await only_request(services)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    assert await services.approval_gates.expire_due(now=later) == 1
    await drain(worker)
    issue = talk.issues[(h.REPO, NUMBER)]
    assert (issue.state, issue.state_reason) == ("closed", "not_planned")
    assert "pao:rejected" in issue.labels
    assert "pao:awaiting-approval" not in issue.labels
    [told] = [c.body for c in talk.bot_comments(h.REPO, NUMBER) if "pao:rejected" in c.body]
    assert f"PAO request `{request_id}` approval **expired**" in told
    assert "open a new issue" in told
    assert [c for c in talk.bot_comments(h.REPO, NUMBER) if "pao:summary" in c.body] == []
    assert target.seen("/api/v2/resources", "POST") == []


async def test_a_rejected_issue_is_closed_as_not_planned(
    services: Services, world: h.GitHubWorld, hook: httpx.AsyncClient, worker: Worker
) -> None:
    await store_item(services, gated_item())
    talk = world.talk
    talk.add_issue(h.REPO, NUMBER, title="x", body="", user=AUTHOR, labels=LABELS)
    await h.deliver(hook, "issues", issue_event("opened", form_body("orders-db")))
    await drain(worker)
    await say(hook, world, "/reject use the shared cluster", "sec-sam", issue=True)
    await drain(worker)
    issue = talk.issues[(h.REPO, NUMBER)]
    assert (issue.state, issue.state_reason) == ("closed", "not_planned")
    assert "pao:rejected" in issue.labels


async def test_a_team_stage_in_actions_mode_says_where_its_members_decide(
    token_services: Services, world: h.GitHubWorld, tmp_path: Path
) -> None:
    """Actions mode cannot read team membership, and the API takes none a bot token asserts:
    a team's member is told where to decide instead (stage and teams named), not refused as
    if they were no member; a stage's named person still decides from the thread."""
    services = token_services
    document = gated_item()
    document["approvals"][0]["users"] = ["lead@users.noreply.github.com"]
    await store_item(services, document)
    item, _ = await services.catalog.current(h.ITEM_ID)
    form = forms.issue_form(item)
    body = render_issue_body(form, {"instanceName": "orders-db", "size": [1], "backups": [True]})
    talk = world.talk
    talk.actor = actions.ACTIONS_BOT
    talk.add_issue(h.REPO, NUMBER, title=form["title"], body=body, user=AUTHOR,
                   labels=form["labels"])  # fmt: skip
    event = h.payload("issues.opened")
    event["issue"].update(number=NUMBER, title=form["title"], body=body)
    event["issue"]["labels"] = [{**event["issue"]["labels"][0], "name": n} for n in form["labels"]]
    env = await actions.bot_env(services, world, "issues", actions.record(tmp_path, event))
    await actions.run(services, world, env)
    request_id = await only_request(services)

    async def comment(text: str, login: str) -> str:
        created = h.payload("issue_comment.created")
        created["issue"]["number"] = NUMBER
        created["comment"].update(
            body=text, id=talk.add_comment(h.REPO, NUMBER, text, user=login).id
        )
        created["comment"]["user"]["login"] = login
        path = actions.record(tmp_path, created)
        await actions.run(
            services,
            world,
            {**env, "GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(path)},
        )
        return talk.bot_comments(h.REPO, NUMBER)[-1].body

    reply = await comment("/approve", "sec-sam")  # a member of acme/security
    assert "not recorded, @sec-sam: stage `security-review` is decided by members of" in reply
    assert "`acme/security`" in reply
    assert f"pao requests approve {request_id}" in reply
    assert "@acme/security" not in reply.replace("`acme/security`", "")  # named, not paged
    assert (await request_row(services, request_id))["status"] == "awaiting_approval"
    own = await comment("/approve", AUTHOR)  # the requester: separation of duties says it
    assert "separation of duties" in own
    assert "pao requests approve" not in own
    assert "✅ approved by @lead" in await comment("/approve", "lead")
    assert (await request_row(services, request_id))["status"] == "queued"


async def test_actions_mode_refresh_asks_the_next_stage_once_and_closes_a_rejected_issue(
    token_services: Services, world: h.GitHubWorld, tmp_path: Path
) -> None:
    """The scheduled refresh does in Actions mode what ``notify`` does in App mode: a later
    stage asked in a new comment (once, however often it runs), a rejected issue told why,
    labelled ``pao:rejected`` and closed as not planned."""
    services = token_services
    document = h.database_item()
    document["approvals"] = [
        {"name": "lead", "users": ["lead@users.noreply.github.com"]},
        {"name": "dba", "users": ["dba-dan@users.noreply.github.com"]},
    ]
    await store_item(services, document)
    item, _ = await services.catalog.current(h.ITEM_ID)
    form = forms.issue_form(item)
    body = render_issue_body(form, {"instanceName": "orders-db", "size": [1], "backups": [True]})
    talk = world.talk
    talk.actor = actions.ACTIONS_BOT
    talk.add_issue(h.REPO, NUMBER, title=form["title"], body=body, user=AUTHOR,
                   labels=form["labels"])  # fmt: skip
    event = h.payload("issues.opened")
    event["issue"].update(number=NUMBER, title=form["title"], body=body)
    event["issue"]["labels"] = [{**event["issue"]["labels"][0], "name": n} for n in form["labels"]]
    env = await actions.bot_env(services, world, "issues", actions.record(tmp_path, event))
    await actions.run(services, world, env)
    request_id = await only_request(services)
    refresh = {
        **actions.env_for(world, "schedule", actions.record(tmp_path, {})),
        "GITHUB_REPOSITORY": h.REPO,
        "PAO_API_TOKEN": env["PAO_API_TOKEN"],
    }

    async def comment(text: str, login: str) -> None:
        created = h.payload("issue_comment.created")
        created["issue"]["number"] = NUMBER
        created["comment"].update(
            body=text, id=talk.add_comment(h.REPO, NUMBER, text, user=login).id
        )
        created["comment"]["user"]["login"] = login
        path = actions.record(tmp_path, created)
        await actions.run(
            services,
            world,
            {**env, "GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(path)},
        )

    def asked(login: str) -> list[str]:
        posted = world.gh.seen(f"/repos/{h.REPO}/issues/{NUMBER}/comments", "POST")
        return [str(r.json()["body"]) for r in posted if f"@{login}" in r.json()["body"]]

    assert len(asked("lead")) == 1  # the status comment, when posted
    await comment("/approve", "lead")
    for _ in range(2):
        await actions.run(services, world, refresh)
    [ask] = [b for b in asked("dba-dan") if "pao:status" not in b]
    assert "stage `dba`" in ask
    assert len(asked("dba-dan")) == 1

    await comment("/reject not this quarter", "dba-dan")
    for _ in range(2):
        await actions.run(services, world, refresh)
    issue = talk.issues[(h.REPO, NUMBER)]
    assert (issue.state, issue.state_reason) == ("closed", "not_planned")
    assert "pao:rejected" in issue.labels
    [told] = [c.body for c in talk.bot_comments(h.REPO, NUMBER) if "pao:rejected" in c.body]
    assert f"PAO request `{request_id}` was **rejected**" in told
    assert "not this quarter" in told
