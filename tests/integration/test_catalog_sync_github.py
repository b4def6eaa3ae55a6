"""Catalog sync from GitHub against the loopback fake GitHub (repository area), with githubkit
for real: first sync, a no-change poll, one file changed, a file deleted, an invalid file among
valid ones, a rate limit, a truncated tree, and requests keeping their catalog version."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.catalog.github_source import GitHubCatalogSource
from orchestrator.catalog.governance import change_permission
from orchestrator.catalog.sync import CatalogProcessor, GitHubCatalogSync
from orchestrator.engine.executor import Registry
from orchestrator.engine.process import WorkerPool
from orchestrator.github_client import GitHubSettings, github_client
from orchestrator.identity.principal import Principal
from orchestrator.services import Services, open_services
from orchestrator.settings import CatalogSettings, Settings, SettingsError
from tests.fakes.github.core import FakeGitHub
from tests.fakes.github.repos import RepoArea
from tests.integration import engine_harness as harness
from tests.integration.api_fixtures import app_client

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
REPO = "acme/platform-catalog"
TOKEN = "ghs_catalogSyncT0ken"
EXAMPLES = {
    "catalog/databases/postgres.yaml": "databases/database-postgresql-standard.yaml",
    "catalog/messaging/kafka.yaml": "messaging/kafka-topic.yaml",
    "catalog/networking/dns.yaml": "networking/dns-record.yaml",
}


def example(name: str) -> str:
    return (ROOT / "examples" / "catalog" / name).read_text()


@pytest.fixture
def github() -> Iterator[tuple[FakeGitHub, RepoArea]]:
    gh = FakeGitHub()
    gh.tokens = {TOKEN}
    area = RepoArea(gh)
    area.create_repo(REPO)
    files: dict[str, str | None] = {path: example(src) for path, src in EXAMPLES.items()}
    files["README.md"] = "# catalog"  # not a catalog file
    files["other/ignored.yaml"] = "not: a catalog item"  # outside the path prefix
    area.commit(REPO, "main", files, "initial catalog")
    with gh.serve():
        yield gh, area


@pytest.fixture
def api_settings() -> Settings:
    """No local catalog: GitHub is the only source here."""
    return Settings.from_env({"CATALOG_LOCAL_PATH": ""})


@pytest.fixture
def sync(services: Services, github: tuple[FakeGitHub, RepoArea]) -> GitHubCatalogSync:
    gh, _ = github
    client = github_client(GitHubSettings(api_url=gh.base_url, token=TOKEN, timeout_seconds=5))
    source = GitHubCatalogSource(client, REPO, "main", "catalog")
    return GitHubCatalogSync(services.db, services.catalog, source)


def blob_reads(gh: FakeGitHub) -> list[Any]:
    return [r for r in gh.seen(method="GET") if "/git/blobs/" in r.path]


async def current(services: Services, item_id: str) -> dict[str, Any]:
    row = await services.db.fetch_one(
        None, "SELECT * FROM catalog_items WHERE id = %(id)s", {"id": item_id}
    )
    assert row is not None
    return row


async def test_first_sync_then_a_no_change_poll_costs_one_conditional_request(
    services: Services, sync: GitHubCatalogSync, github: tuple[FakeGitHub, RepoArea]
) -> None:
    gh, area = github
    report = await sync.sync()
    assert report.error is None
    assert report.changed
    assert report.fetched == sorted(EXAMPLES)  # only catalog files under the prefix
    assert report.result is not None
    assert not report.result.errors
    assert {"database-postgresql-standard", "kafka-topic", "dns-record"} <= set(
        report.result.stored
    ) | set(report.result.unchanged)
    head = report.commit_sha
    assert head is not None
    row = await current(services, "kafka-topic")
    assert row["git_sha"] == head
    assert row["source_path"] == "catalog/messaging/kafka.yaml"
    (status,) = area.statuses_of(REPO, head)
    assert (status["state"], status["context"]) == ("success", "pao/catalog")

    before = len(gh.requests)
    budget = gh.rate_limit_remaining
    again = await sync.sync()
    assert not again.changed
    assert again.requests == 1
    (poll,) = gh.requests[before:]
    assert "if-none-match" in poll.headers
    assert gh.rate_limit_remaining == budget  # a 304 costs no rate limit


async def test_one_changed_file_fetches_one_blob_and_keeps_every_version(
    services: Services, sync: GitHubCatalogSync, github: tuple[FakeGitHub, RepoArea]
) -> None:
    gh, area = github
    await sync.sync()
    first = await current(services, "kafka-topic")
    text = example(EXAMPLES["catalog/messaging/kafka.yaml"])
    changed = text.replace("description:", "description: Now with compaction.", 1)
    assert changed != text
    sha = area.commit(REPO, "main", {"catalog/messaging/kafka.yaml": changed}, "tweak kafka")
    reads_before = len(blob_reads(gh))

    report = await sync.sync()
    assert report.fetched == ["catalog/messaging/kafka.yaml"]
    assert len(blob_reads(gh)) == reads_before + 1
    assert report.result is not None
    assert report.result.stored == ["kafka-topic"]
    row = await current(services, "kafka-topic")
    assert row["git_sha"] == sha
    assert row["current_version_id"] != first["current_version_id"]
    versions = await services.db.fetch_all(
        None,
        "SELECT git_sha FROM catalog_item_versions WHERE item_id = 'kafka-topic' ORDER BY id",
    )
    assert [v["git_sha"] for v in versions] == [first["git_sha"], sha]


async def test_deleted_file_deactivates_its_item(
    services: Services, sync: GitHubCatalogSync, github: tuple[FakeGitHub, RepoArea]
) -> None:
    _, area = github
    await sync.sync()
    area.commit(REPO, "main", {"catalog/networking/dns.yaml": None}, "retire dns")
    report = await sync.sync()
    assert report.deleted == ["catalog/networking/dns.yaml"]
    assert report.result is not None
    assert report.result.deactivated == ["dns-record"]
    assert (await current(services, "dns-record"))["active"] is False
    assert (await current(services, "kafka-topic"))["active"] is True


async def test_invalid_file_is_excluded_and_the_last_good_version_kept(
    services: Services, sync: GitHubCatalogSync, github: tuple[FakeGitHub, RepoArea]
) -> None:
    _, area = github
    await sync.sync()
    good = await current(services, "kafka-topic")
    broken = example(EXAMPLES["catalog/messaging/kafka.yaml"]).replace("category:", "categroy:", 1)
    sha = area.commit(REPO, "main", {"catalog/messaging/kafka.yaml": broken}, "typo")

    report = await sync.sync()
    assert report.result is not None
    errors = report.result.errors
    assert errors
    assert {e["file"] for e in errors} == {"catalog/messaging/kafka.yaml"}
    assert all(e["line"] >= 1 for e in errors)
    kept = await current(services, "kafka-topic")
    assert kept["current_version_id"] == good["current_version_id"]  # not replaced
    assert kept["active"] is True
    served = await services.catalog.validation_errors()
    assert any(e["source_path"] == "catalog/messaging/kafka.yaml" for e in served)
    (status,) = area.statuses_of(REPO, sha)
    assert status["state"] == "failure"
    assert "excluded" in status["description"]


async def test_rate_limit_defers_the_sync_without_losing_state(
    services: Services, sync: GitHubCatalogSync, github: tuple[FakeGitHub, RepoArea]
) -> None:
    gh, area = github
    await sync.sync()
    area.commit(REPO, "main", {"catalog/networking/dns.yaml": None}, "retire dns")
    gh.rate_limit_remaining = 0
    report = await CatalogProcessor(sync).run_once()  # the processor's cycle
    assert report.deferred_seconds is not None
    assert report.deferred_seconds > 0
    assert "rate limit" in (report.error or "")
    assert (await current(services, "dns-record"))["active"] is True  # nothing half-applied

    gh.rate_limit_remaining = 5000  # the window reset
    report = await sync.sync()
    assert report.error is None
    assert (await current(services, "dns-record"))["active"] is False


async def test_truncated_tree_is_walked_level_by_level(
    services: Services, sync: GitHubCatalogSync, github: tuple[FakeGitHub, RepoArea]
) -> None:
    _, area = github
    area.truncate_trees = True
    report = await sync.sync()
    assert report.error is None
    assert report.fetched == sorted(EXAMPLES)


async def test_requests_keep_the_catalog_version_they_were_submitted_against(
    services: Services, sync: GitHubCatalogSync, github: tuple[FakeGitHub, RepoArea]
) -> None:
    _, area = github
    await sync.sync()
    before = await current(services, "dns-record")
    request_id = await harness.submit(
        services,
        "dns-record",
        {
            "zone": "svc.example.internal",
            "recordName": "api.checkout",
            "recordType": "CNAME",
            "ttl": 300,
            "target": "internal-checkout-alb.eu-west-1.elb.amazonaws.com",
        },
    )
    text = example(EXAMPLES["catalog/networking/dns.yaml"])
    area.commit(
        REPO,
        "main",
        {"catalog/networking/dns.yaml": text.replace("description:", "description: v2.", 1)},
        "v2",
    )
    await sync.sync()
    after = await current(services, "dns-record")
    assert after["current_version_id"] != before["current_version_id"]
    request = await harness.request_row(services, request_id)
    assert request["catalog_version_id"] == before["current_version_id"]  # not the new one
    old = await services.catalog.version(int(request["catalog_version_id"]))
    new = await services.catalog.version(int(after["current_version_id"]))
    assert old.metadata.description != new.metadata.description


async def test_configured_repository_is_synced_by_refresh_and_the_processor(
    database_url: str, github: tuple[FakeGitHub, RepoArea]
) -> None:
    gh, area = github
    settings = Settings.from_env(
        {
            "CATALOG_GITHUB_REPO": REPO,
            "CATALOG_GITHUB_PATH": "catalog",
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_API_URL": gh.base_url,
        }
    )
    opened = await open_services(settings, database_url=database_url)
    try:
        assert opened.catalog_sync is not None
        async with app_client(opened) as client:
            refreshed = await client.post("/api/v1/catalog/refresh")
            assert refreshed.status_code == 200, refreshed.text
            assert refreshed.json()["changed"] is True
            listed = (await client.get("/api/v1/catalog")).json()
        assert {i["id"] for i in listed["items"]} == {
            "database-postgresql-standard",
            "kafka-topic",
            "dns-record",
        }
        # The worker pool runs the catalog processor: one cycle picks up a new commit.
        area.commit(REPO, "main", {"catalog/networking/dns.yaml": None}, "retire dns")
        pool = WorkerPool(opened, Registry())
        stop = asyncio.Event()
        running = asyncio.create_task(pool.run(stop))
        for _ in range(200):
            row = await opened.db.fetch_one(
                None, "SELECT active FROM catalog_items WHERE id = 'dns-record'"
            )
            if row is not None and row["active"] is False:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await running
        assert row is not None
        assert row["active"] is False
    finally:
        await opened.close()


def test_repository_setting_needs_credentials() -> None:
    with pytest.raises(SettingsError, match="GITHUB_TOKEN"):
        Settings.from_env({"CATALOG_GITHUB_REPO": REPO})
    with pytest.raises(SettingsError, match="owner/name"):
        Settings.from_env({"CATALOG_GITHUB_REPO": "nope", "GITHUB_TOKEN": "t"})


async def test_codeowners_from_the_repository_decide_who_may_change_an_item(
    services: Services, sync: GitHubCatalogSync, github: tuple[FakeGitHub, RepoArea]
) -> None:
    _, area = github
    area.commit(
        REPO,
        "main",
        {".github/CODEOWNERS": "* @acme/platform\ncatalog/databases/ @acme/dba\n"},
        "owners",
    )
    report = await sync.sync()
    assert ".github/CODEOWNERS" in report.fetched
    assert report.result is not None
    assert not report.result.errors  # CODEOWNERS is not validated as a catalog item
    settings = CatalogSettings(team="acme/catalog-team")
    dba = Principal(email="d@example.com", teams=("acme/dba",))
    payments = Principal(email="p@example.com", teams=("payments",))

    allowed = await change_permission(sync, settings, dba, "catalog/databases/postgres.yaml")
    assert allowed["may_change"] is True
    assert allowed["owners"] == ["@acme/dba"]
    refused = await change_permission(sync, settings, payments, "catalog/databases/postgres.yaml")
    assert refused["may_change"] is False
    assert "@acme/dba" in refused["reason"]
    schema = await change_permission(sync, settings, dba, "catalog-schema/catalog-item.json")
    assert schema["may_change"] is False
    catalog_team = Principal(email="c@example.com", teams=("acme/catalog-team",))
    schema = await change_permission(sync, settings, catalog_team, "catalog-schema/x.json")
    assert schema["may_change"] is True


async def test_validate_endpoint_reports_the_permission(
    services: Services, sync: GitHubCatalogSync
) -> None:
    async with app_client(services) as client:
        response = await client.post(
            "/api/v1/validate/catalog-item",
            json={"content": example(EXAMPLES["catalog/networking/dns.yaml"]), "path": "x.yaml"},
        )
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is True
    # No synced repository for these services: nobody's CODEOWNERS to consult.
    assert body["permission"]["may_change"] is None


async def test_redis_down_during_sync_serves_from_postgres(
    database_url: str, github: tuple[FakeGitHub, RepoArea]
) -> None:
    gh, _ = github
    settings = Settings.from_env(
        {
            "CATALOG_GITHUB_REPO": REPO,
            "CATALOG_GITHUB_PATH": "catalog",
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_API_URL": gh.base_url,
            "REDIS_URL": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    )
    opened = await open_services(settings, database_url=database_url)
    try:
        assert opened.catalog_sync is not None
        report = await opened.catalog_sync.sync()
        assert report.error is None
        assert report.result is not None
        assert "kafka-topic" in report.result.stored
        async with app_client(opened) as client:
            item = await client.get("/api/v1/catalog/items/kafka-topic")
            ready = await client.get("/api/v1/health/ready")
        assert item.status_code == 200
        assert item.json()["id"] == "kafka-topic"
        assert "cache" in ready.text
    finally:
        await opened.close()
