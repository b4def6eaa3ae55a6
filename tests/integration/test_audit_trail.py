"""The audit trail is complete (issue 9, item 3): every state change of a request, its actions and
the catalog is an ``audit_logs`` row saying who did it, under which correlation id, through
which face (api, bot, worker, sync) and what the row was before and after.

Everything is driven through the real faces: the REST API in token mode, the worker with the
real executors against loopback fakes (a REST target, JIRA), the GitHub bot behind the webhook
route (merged pull request, slash command) and the catalog sync (GitHub, local directory). The
trail is read back directly and through ``GET /api/v1/audit``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from actions.jira.settings import JiraSettings
from actions.registry import ActionDeps, default_registry
from actions.rest_api import RestApiSettings
from bot.app import Bot
from orchestrator.catalog.github_source import GitHubCatalogSource
from orchestrator.catalog.local_source import LocalCatalogWatcher
from orchestrator.catalog.sync import GitHubCatalogSync
from orchestrator.engine.pg_queue import RUN_ACTION, PgQueue
from orchestrator.engine.records import ENGINE_ACTOR
from orchestrator.engine.worker import Worker
from orchestrator.github_client import GitHubSettings, github_client
from orchestrator.services import Services, open_services
from orchestrator.settings import Settings
from tests.fakes.github.core import FakeGitHub
from tests.fakes.github.repos import RepoArea
from tests.fakes.jira import FakeJira
from tests.fakes.rest_target import RestTarget, Scripted, serve_rest_target
from tests.integration import bot_harness as h
from tests.integration.api_fixtures import app_client, issue_token
from tests.integration.engine_harness import drain, item_document, make_worker, store_item

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "catalog"
ITEM_ID = "audit-item"
RESOURCES = "/api/v2/resources"
JIRA_USER, JIRA_TOKEN = "pao@example.com", "jira-audit-T0ken"
ALICE, ADA, OLIVER = "alice@example.com", "ada@example.com", "oliver@example.com"
PEOPLE = {ALICE: "payments", ADA: "platform-admins", OLIVER: "oncall"}
WORKER = (ENGINE_ACTOR, "worker")
Row = dict[str, Any]


# -- reading the trail ------------------------------------------------------------------------


async def trail(services: Services, request_id: str) -> list[Row]:
    """Every audit row of a request and of its actions, oldest first."""
    return await services.db.fetch_all(
        None,
        "SELECT id, table_name, row_id, operation, actor, correlation_id, source, old_data,"
        " new_data, created_at FROM audit_logs"
        " WHERE (table_name = 'requests' AND row_id = %(id)s)"
        "    OR (table_name = 'request_actions'"
        "        AND COALESCE(new_data, old_data) ->> 'request_id' = %(id)s)"
        " ORDER BY id",
        {"id": request_id},
    )


async def catalog_trail(services: Services) -> list[Row]:
    return await services.db.fetch_all(
        None,
        "SELECT id, row_id, operation, actor, correlation_id, source, old_data, new_data"
        " FROM audit_logs WHERE table_name = 'catalog_items' ORDER BY id",
    )


def after(rows: list[Row], seen: list[Row]) -> list[Row]:
    """The rows written since ``seen`` was read."""
    last = max((r["id"] for r in seen), default=0)
    return [r for r in rows if r["id"] > last]


def who(rows: list[Row]) -> set[tuple[str | None, str | None, str | None]]:
    return {(r["actor"], r["correlation_id"], r["source"]) for r in rows}


def moves(rows: list[Row], table: str) -> list[tuple[str | None, str | None]]:
    """(status before, status after) of each audited change of ``table``."""
    return [
        ((r["old_data"] or {}).get("status"), (r["new_data"] or {}).get("status"))
        for r in rows
        if r["table_name"] == table
    ]


async def assert_trail_complete(services: Services, request_id: str) -> list[Row]:
    """Every row of the request's trail says who, under which correlation id and from where,
    and the last image of the request and of each action is the row as it is now: no change
    escaped the trail (``updated_at`` aside: a touch alone is not audited)."""
    rows = await trail(services, request_id)
    assert rows
    assert all(r["actor"] and r["correlation_id"] and r["source"] for r in rows), rows
    current = await services.db.fetch_one(
        None, "SELECT to_jsonb(r) AS row FROM requests r WHERE id = %(id)s", {"id": request_id}
    )
    assert current is not None
    images = [r["new_data"] for r in rows if r["table_name"] == "requests"]
    assert _without_touch(images[-1]) == _without_touch(current["row"])
    actions = await services.db.fetch_all(
        None,
        "SELECT id::text AS id, to_jsonb(a) AS row FROM request_actions a"
        " WHERE request_id = %(id)s",
        {"id": request_id},
    )
    assert actions
    for action in actions:
        images = [
            r["new_data"]
            for r in rows
            if r["table_name"] == "request_actions" and r["row_id"] == action["id"]
        ]
        assert _without_touch(images[-1]) == _without_touch(action["row"])
    return rows


def _without_touch(image: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in image.items() if k != "updated_at"}


# -- the world --------------------------------------------------------------------------------


@pytest.fixture
def target() -> Iterator[RestTarget]:
    with serve_rest_target() as fake:
        yield fake


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    fake = FakeJira(basic={(JIRA_USER, JIRA_TOKEN)})
    fake.add_project("OPS")
    with fake.serve():
        yield fake


def audit_item() -> dict[str, Any]:
    """One rest-api action against the fake target, and JIRA for manual support."""
    return item_document(
        ITEM_ID,
        [
            {
                "id": "create",
                "type": "rest-api",
                "config": {
                    "method": "POST",
                    "url": "{{environment.TARGET_URL}}" + RESOURCES,
                    "body": {"name": "db-{{fields.instanceName}}"},
                    "expectedStatus": [200, 201],
                    "outputs": {"resource_id": "id"},
                },
                "retry": {"maxAttempts": 1},
            }
        ],
        manual={"jira": {"instance": "platform", "project": "OPS", "issueType": "Task"}},
    )


def engine(services: Services, target: RestTarget, jira: FakeJira) -> Worker:
    """A worker with the production registry, pointed at the loopback fakes."""
    instances = {
        "platform": {
            "url": jira.base_url,
            "auth": {"type": "basic", "user": JIRA_USER, "tokenRef": "env:JIRA_TOKEN"},
        }
    }
    deps = ActionDeps(
        secret_environment={"JIRA_TOKEN": JIRA_TOKEN},
        jira=JiraSettings.from_environment(
            {"JIRA_INSTANCES": json.dumps(instances), "JIRA_TIMEOUT": "5"}
        ),
        rest_api=RestApiSettings(allowed_hosts=frozenset({"127.0.0.1"})),
    )
    return make_worker(
        services, default_registry(deps), template_environment={"TARGET_URL": target.base_url}
    )


class Api:
    """The REST API in token mode, called as one of PEOPLE."""

    def __init__(self, client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    async def __call__(
        self,
        method: str,
        path: str,
        *,
        as_: str | None = ALICE,
        correlation: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[as_]}"} if as_ else {}
        if correlation:
            headers["X-Correlation-ID"] = correlation
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def submit(self, correlation: str) -> str:
        created = await self(
            "POST",
            "/api/v1/requests",
            correlation=correlation,
            json={"catalog_item": ITEM_ID, "fields": {"instanceName": "orders-db"}},
        )
        assert created.status_code == 201, created.text
        assert created.headers["X-Correlation-ID"] == correlation
        request_id: str = created.json()["id"]
        return request_id

    async def decide(self, request_id: str, decision: str, correlation: str) -> None:
        body = {} if decision == "retry" else {"reason": "not needed"}
        answer = await self(
            "POST", f"/api/v1/requests/{request_id}/{decision}", correlation=correlation, json=body
        )
        assert answer.status_code in (200, 202), answer.text

    async def audit(self, **params: Any) -> list[Row]:
        """Every row the audit endpoint gives for ``params``, walking the pages, as an admin."""
        rows: list[Row] = []
        cursor = None
        while True:
            query = {**params, **({"cursor": cursor} if cursor else {})}
            answer = await self("GET", "/api/v1/audit", as_=ADA, params=query)
            assert answer.status_code == 200, answer.text
            page = answer.json()
            rows += page["items"]
            cursor = page["pagination"]["next_cursor"]
            assert page["pagination"]["has_more"] is (cursor is not None)
            if cursor is None:
                return rows


@pytest.fixture
async def api(token_services: Services) -> AsyncIterator[Api]:
    tokens = {
        email: await issue_token(token_services.db, email, team) for email, team in PEOPLE.items()
    }
    await store_item(token_services, audit_item())
    async with app_client(token_services) as client:
        yield Api(client, tokens)


# -- API and worker ---------------------------------------------------------------------------


async def test_submission_worker_progress_and_retry_are_audited(
    token_services: Services, api: Api, target: RestTarget, jira: FakeJira
) -> None:
    services = token_services
    target.script(RESOURCES, Scripted(422, {"error": "quota exceeded"}))
    worker = engine(services, target, jira)

    request_id = await api.submit("audit-submit-1")
    submitted = await trail(services, request_id)
    assert who(submitted) == {(ALICE, "audit-submit-1", "api")}
    assert moves(submitted, "requests") == [(None, "submitted"), ("submitted", "queued")]
    assert moves(submitted, "request_actions") == [(None, "pending")]
    insert = submitted[0]
    assert (insert["operation"], insert["old_data"]) == ("INSERT", None)
    assert insert["new_data"]["requester_email"] == ALICE
    assert insert["new_data"]["correlation_id"] == "audit-submit-1"

    # The worker's steps carry the request's correlation id: one id pulls the whole history.
    await drain(worker)
    worked = after(await trail(services, request_id), submitted)
    assert who(worked) == {(ENGINE_ACTOR, "audit-submit-1", "worker")}
    assert ("pending", "in_progress") in moves(worked, "request_actions")
    assert moves(worked, "request_actions")[-1] == ("in_progress", "failed")
    assert moves(worked, "requests")[-1] == ("in_progress", "failed")
    assert "quota exceeded" in json.dumps(worked[-1]["new_data"])

    await api.decide(request_id, "retry", "audit-retry-1")
    decided = after(await trail(services, request_id), worked)
    assert who(decided) == {(ALICE, "audit-retry-1", "api")}
    [(was, now)] = moves(decided, "request_actions")
    assert was == "failed"
    assert now in ("pending", "retrying")

    await drain(worker)
    finished = after(await trail(services, request_id), decided)
    assert who(finished) == {(ENGINE_ACTOR, "audit-submit-1", "worker")}
    assert moves(finished, "request_actions")[-1] == ("in_progress", "completed")
    assert moves(finished, "requests")[-1][1] == "completed"
    completed = [r for r in finished if r["table_name"] == "request_actions"][-1]
    assert completed["old_data"]["outputs"] == {}
    assert completed["new_data"]["outputs"]["resource_id"]
    await assert_trail_complete(services, request_id)


async def test_abort_escalate_and_the_escalation_ticket_are_audited(
    token_services: Services, api: Api, target: RestTarget, jira: FakeJira
) -> None:
    services = token_services
    target.script(RESOURCES, *[Scripted(422, {"error": "quota exceeded"})] * 2)
    worker = engine(services, target, jira)
    aborted = await api.submit("audit-submit-a")
    escalated = await api.submit("audit-submit-e")
    await drain(worker)
    failed_a, failed_e = await trail(services, aborted), await trail(services, escalated)

    await api.decide(aborted, "abort", "audit-abort-1")
    await api.decide(escalated, "escalate", "audit-escalate-1")
    decided_a = after(await trail(services, aborted), failed_a)
    decided_e = after(await trail(services, escalated), failed_e)
    assert who(decided_a) == {(ALICE, "audit-abort-1", "api")}
    assert moves(decided_a, "requests") == [("failed", "aborted")]
    assert decided_a[0]["new_data"]["abort_reason"] == "not needed"
    assert who(decided_e) == {(ALICE, "audit-escalate-1", "api")}
    assert moves(decided_e, "requests") == [("failed", "escalated")]

    # The escalate job opens the JIRA ticket; the worker records it under the request's id.
    await drain(worker)
    ticket = after(await trail(services, escalated), decided_e)
    assert who(ticket) == {(ENGINE_ACTOR, "audit-submit-e", "worker")}
    [change] = ticket
    assert change["old_data"]["escalation_ticket"] is None
    assert change["new_data"]["escalation_ticket"].startswith("OPS-")
    assert jira.created == 1
    assert after(await trail(services, aborted), decided_a) == []
    await assert_trail_complete(services, aborted)
    await assert_trail_complete(services, escalated)


async def test_a_dead_lettered_job_fails_its_request_under_the_requests_correlation_id(
    token_services: Services, api: Api
) -> None:
    services = token_services
    request_id = await api.submit("audit-dead-1")
    submitted = await trail(services, request_id)
    queue = PgQueue(services.db)
    for n in range(3):  # three workers crash holding the job: its lease runs out each time
        assert await queue.claim(f"crashing-{n}", [RUN_ACTION], lease_seconds=0) is not None
    assert await queue.claim("next", [RUN_ACTION]) is None  # dead-lettered, request failed

    failed = after(await trail(services, request_id), submitted)
    assert who(failed) == {(ENGINE_ACTOR, "audit-dead-1", "worker")}
    assert moves(failed, "requests") == [("queued", "failed")]
    assert failed[0]["new_data"]["error_context"]["reason"] == "dead-lettered"
    await assert_trail_complete(services, request_id)


# -- reading the trail through the API --------------------------------------------------------


async def test_audit_endpoint_filters_and_pages_for_admins_only(
    token_services: Services, api: Api, target: RestTarget, jira: FakeJira
) -> None:
    services = token_services
    target.script(RESOURCES, Scripted(422, {"error": "quota exceeded"}))
    worker = engine(services, target, jira)
    request_id = await api.submit("audit-read-1")
    await drain(worker)
    await api.decide(request_id, "retry", "audit-read-2")
    await drain(worker)
    other = await api.submit("audit-read-3")  # another request, left out by the filters
    everything = await trail(services, request_id)

    assert (await api("GET", "/api/v1/audit", as_=None)).status_code == 401
    for person in (ALICE, OLIVER):  # a requester and an operator: admins only
        assert (await api("GET", "/api/v1/audit", as_=person)).status_code == 403

    def ids(rows: list[Row]) -> list[int]:
        return [r["id"] for r in rows]

    newest_first = sorted(ids(everything), reverse=True)
    by_request = await api.audit(request_id=request_id, limit=2)
    assert ids(by_request) == newest_first  # both tables, every page of two, no duplicates
    assert {r["table_name"] for r in by_request} == {"requests", "request_actions"}
    assert ids(await api.audit(request_id=request_id, limit=200)) == newest_first
    assert other not in {r["row_id"] for r in by_request}

    by_correlation = await api.audit(correlation_id="audit-read-1")
    assert ids(by_correlation) == [r["id"] for r in reversed(everything)
                                   if r["correlation_id"] == "audit-read-1"]  # fmt: skip
    assert {r["source"] for r in by_correlation} == {"api", "worker"}
    [retry] = await api.audit(correlation_id="audit-read-2")
    assert (retry["actor"], retry["source"], retry["table_name"]) == (
        ALICE,
        "api",
        "request_actions",
    )

    action_rows = await api.audit(table="request_actions", row_id=retry["row_id"])
    assert ids(action_rows) == [
        r["id"]
        for r in reversed(everything)
        if r["table_name"] == "request_actions" and r["row_id"] == retry["row_id"]
    ]
    alice = await api.audit(actor=ALICE, request_id=request_id)
    assert who(alice) == {(ALICE, "audit-read-1", "api"), (ALICE, "audit-read-2", "api")}
    worker_rows = await api.audit(source="worker", request_id=request_id)
    assert worker_rows
    assert who(worker_rows) == {(ENGINE_ACTOR, "audit-read-1", "worker")}
    assert len(alice) + len(worker_rows) == len(everything)
    inserts = await api.audit(operation="INSERT", request_id=request_id)
    assert [(r["table_name"], r["operation"]) for r in inserts] == [
        ("request_actions", "INSERT"),
        ("requests", "INSERT"),
    ]

    # Time: ``since`` is inclusive, ``until`` exclusive; together they split the trail.
    pivot = by_request[len(by_request) // 2]["created_at"]
    since = await api.audit(request_id=request_id, since=pivot)
    until = await api.audit(request_id=request_id, until=pivot)
    assert since
    assert until
    assert sorted(ids(since) + ids(until), reverse=True) == newest_first
    assert all(datetime.fromisoformat(r["created_at"]) >= datetime.fromisoformat(pivot)
               for r in since)  # fmt: skip
    naive = datetime.fromisoformat(pivot).astimezone(UTC).replace(tzinfo=None).isoformat()
    assert ids(await api.audit(request_id=request_id, since=naive)) == ids(since)  # UTC

    for params in ({"cursor": "not-a-cursor"}, {"since": "yesterday"}, {"until": "0.5"}):
        bad = await api("GET", "/api/v1/audit", as_=ADA, params=params)
        assert bad.status_code == 422, params
        assert bad.json()["errors"][0]["pointer"] == f"/{next(iter(params))}"


# -- the bot ----------------------------------------------------------------------------------

AUTHOR = "Codertocat"
NUMBER = 2
REQUEST_FILE = f"""\
apiVersion: pao/v1
kind: ServiceRequest
catalogItem: {h.ITEM_ID}
fields:
  instanceName: orders-db
  size: medium
"""


@pytest.fixture
def world() -> Iterator[h.GitHubWorld]:
    with h.fake_github() as fake:
        yield fake


@pytest.fixture
def bot(services: Services, world: h.GitHubWorld, target: RestTarget) -> Bot:
    return h.make_bot(services, world, template_environment={"TARGET_URL": target.base_url})


@pytest.fixture
async def hook(services: Services, bot: Bot) -> AsyncIterator[httpx.AsyncClient]:
    async with h.hooked(services, bot) as client:
        yield client


@pytest.fixture
def bot_worker(services: Services, bot: Bot, target: RestTarget) -> Worker:
    return h.bot_worker(services, bot, target.base_url)


async def test_bot_submission_and_slash_command_are_audited_as_the_github_users(
    services: Services,
    world: h.GitHubWorld,
    hook: httpx.AsyncClient,
    bot_worker: Worker,
    target: RestTarget,
) -> None:
    repo = RepoArea(world.gh)
    repo.create_repo(h.REPO, default_branch="main")
    head = repo.commit(h.REPO, "request", {"requests/orders.yaml": REQUEST_FILE}, "a database")
    listed = [{"filename": "requests/orders.yaml", "status": "added", "sha": "0" * 40}]
    world.talk.add_pull(h.REPO, NUMBER, head_sha=head, user=AUTHOR, files=listed)
    world.talk.add_team_member("acme", h.OWNER_TEAM, "dba-alice")
    target.script(RESOURCES, Scripted(422, {"error": "quota exceeded"}))

    merged = h.payload("pull_request.closed")
    merged["number"] = NUMBER
    pull = merged["pull_request"]
    pull.update({"number": NUMBER, "merged": True, "merge_commit_sha": head})
    pull["head"]["sha"] = head
    delivered = await h.deliver(hook, "pull_request", merged, delivery_id="merge-1")
    assert delivered.status_code == 202
    await drain(bot_worker)

    [request] = await services.db.fetch_all(None, "SELECT id, status FROM requests")
    request_id = str(request["id"])
    assert request["status"] == "failed"
    rows = await trail(services, request_id)
    author = f"{AUTHOR}@users.noreply.github.com"
    submitted = [r for r in rows if r["actor"] != ENGINE_ACTOR]
    assert who(submitted) == {(author, "github-merge-1", "bot")}
    assert moves(submitted, "requests") == [(None, "submitted"), ("submitted", "queued")]
    assert who(after(rows, submitted)) == {(ENGINE_ACTOR, "github-merge-1", "worker")}

    comment = world.talk.add_comment(h.REPO, NUMBER, "/retry", user="dba-alice")
    event = h.payload("issue_comment.created")
    event["issue"]["number"] = NUMBER
    event["issue"]["pull_request"] = {"url": f"https://api.github.com/repos/{h.REPO}/pulls/2"}
    event["comment"].update({"body": "/retry", "id": comment.id})
    event["comment"]["user"]["login"] = "dba-alice"
    delivered = await h.deliver(hook, "issue_comment", event, delivery_id="comment-1")
    assert delivered.status_code == 202
    await drain(bot_worker)

    later = after(await trail(services, request_id), rows)
    decided = [r for r in later if r["actor"] != ENGINE_ACTOR]
    worked = [r for r in later if r["actor"] == ENGINE_ACTOR]
    assert who(decided) == {("dba-alice@users.noreply.github.com", "github-comment-1", "bot")}
    assert [was for was, _ in moves(decided, "request_actions")] == ["failed"]
    assert max(r["id"] for r in decided) < min(r["id"] for r in worked)
    assert who(worked) == {(ENGINE_ACTOR, "github-merge-1", "worker")}
    assert moves(worked, "requests")[-1][1] == "completed"
    await assert_trail_complete(services, request_id)


# -- catalog sync -----------------------------------------------------------------------------

CATALOG_REPO = "acme/platform-catalog"
CATALOG_TOKEN = "ghs_auditCatalogT0ken"
SYNCED = {
    "catalog/networking/dns.yaml": "networking/dns-record.yaml",
    "catalog/messaging/kafka.yaml": "messaging/kafka-topic.yaml",
}


def bumped(text: str) -> str:
    """The dns-record item at a new version."""
    assert "  version: 1.2.0\n" in text
    return text.replace("  version: 1.2.0\n", "  version: 1.3.0\n")


@pytest.fixture
async def bare_services(database_url: str) -> AsyncIterator[Services]:
    """No local catalog: GitHub is the only source."""
    opened = await open_services(
        Settings.from_env({"CATALOG_LOCAL_PATH": ""}), database_url=database_url
    )
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def catalog_github() -> Iterator[tuple[FakeGitHub, RepoArea]]:
    gh = FakeGitHub()
    gh.tokens = {CATALOG_TOKEN}
    area = RepoArea(gh)
    area.create_repo(CATALOG_REPO)
    files: dict[str, str | None] = {
        path: (EXAMPLES / example).read_text() for path, example in SYNCED.items()
    }
    area.commit(CATALOG_REPO, "main", files, "initial catalog")
    with gh.serve():
        yield gh, area


async def test_github_catalog_sync_is_audited_as_the_repository_at_its_commit(
    bare_services: Services, catalog_github: tuple[FakeGitHub, RepoArea]
) -> None:
    services = bare_services
    gh, area = catalog_github
    client = github_client(
        GitHubSettings(api_url=gh.base_url, token=CATALOG_TOKEN, timeout_seconds=5)
    )
    sync = GitHubCatalogSync(
        services.db, services.catalog, GitHubCatalogSource(client, CATALOG_REPO, "main", "catalog")
    )
    first = await sync.sync()
    assert first.error is None
    inserted = await catalog_trail(services)
    assert {(r["row_id"], r["operation"]) for r in inserted} == {
        ("dns-record", "INSERT"),
        ("kafka-topic", "INSERT"),
    }
    [(actor, correlation, source)] = who(inserted)  # one sync, one correlation id
    assert (actor, source) == (f"catalog-sync github:{CATALOG_REPO}@{first.commit_sha}", "sync")
    assert correlation
    assert all(r["old_data"] is None and r["new_data"]["active"] for r in inserted)

    dns = (EXAMPLES / SYNCED["catalog/networking/dns.yaml"]).read_text()
    area.commit(
        CATALOG_REPO,
        "main",
        {"catalog/networking/dns.yaml": bumped(dns), "catalog/messaging/kafka.yaml": None},
        "dns 1.3.0, kafka removed",
    )
    second = await sync.sync()
    assert second.error is None
    assert second.commit_sha != first.commit_sha
    changed = after(await catalog_trail(services), inserted)
    [(actor, again, source)] = who(changed)
    assert (actor, source) == (f"catalog-sync github:{CATALOG_REPO}@{second.commit_sha}", "sync")
    assert again not in (None, correlation)
    by_item = {r["row_id"]: r for r in changed}
    assert set(by_item) == {"dns-record", "kafka-topic"}
    assert by_item["dns-record"]["operation"] == "UPDATE"
    assert (by_item["dns-record"]["old_data"]["version"], by_item["dns-record"]["new_data"]["version"]) == ("1.2.0", "1.3.0")  # fmt: skip
    assert by_item["dns-record"]["new_data"]["git_sha"] == second.commit_sha
    assert (by_item["kafka-topic"]["old_data"]["active"], by_item["kafka-topic"]["new_data"]["active"]) == (True, False)  # fmt: skip


async def test_local_catalog_sync_is_audited_as_the_directory(
    database_url: str, tmp_path: Path
) -> None:
    local = tmp_path / "catalog"
    shutil.copytree(EXAMPLES, local)
    services = await open_services(
        Settings.from_env({"CATALOG_LOCAL_PATH": str(local)}), database_url=database_url
    )
    try:
        started = await catalog_trail(services)  # the start-up sync
        assert started
        assert {r["operation"] for r in started} == {"INSERT"}
        [(actor, correlation, source)] = who(started)
        assert (actor, source) == (f"catalog-sync {local}", "sync")
        assert correlation

        watcher = LocalCatalogWatcher(services.catalog, local)
        assert not await watcher.check_once()  # the state the start-up sync stored
        dns = local / "networking" / "dns-record.yaml"
        dns.write_text(bumped(dns.read_text()))
        assert await watcher.check_once()
        [changed] = after(await catalog_trail(services), started)
        assert (changed["row_id"], changed["operation"]) == ("dns-record", "UPDATE")
        assert (changed["actor"], changed["source"]) == (f"catalog-sync {local}", "sync")
        assert changed["correlation_id"] not in (None, correlation)
        assert (changed["old_data"]["version"], changed["new_data"]["version"]) == (
            "1.2.0",
            "1.3.0",
        )
    finally:
        await services.close()
