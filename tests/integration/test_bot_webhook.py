"""Webhook intake through the real route: signatures (with rotation), refusals, ping,
duplicates and redeliveries, and processing by the worker through the real router."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from bot.app import Bot
from bot.webhook import WEBHOOK_JOB, sign
from orchestrator.engine.executor import Registry
from orchestrator.services import Services
from tests.fakes.http_fake import Reply
from tests.integration import bot_harness as h
from tests.integration.engine_harness import drain, make_worker

pytestmark = pytest.mark.anyio


@pytest.fixture
def world() -> Iterator[h.GitHubWorld]:
    with h.fake_github() as fake:
        yield fake


@pytest.fixture
def bot(services: Services, world: h.GitHubWorld) -> Bot:
    return h.make_bot(services, world)


@pytest.fixture
async def hook(services: Services, bot: Bot) -> AsyncIterator[httpx.AsyncClient]:
    async with h.webhook_client(services, bot) as client:
        yield client


async def deliveries(services: Services) -> dict[str, dict[str, object]]:
    rows = await services.db.fetch_all(None, "SELECT * FROM webhook_deliveries")
    return {str(r["delivery_id"]): r for r in rows}


async def webhook_jobs(services: Services) -> list[dict[str, object]]:
    return await services.db.fetch_all(
        None, "SELECT * FROM jobs WHERE kind = %(k)s ORDER BY id", {"k": WEBHOOK_JOB}
    )


async def test_ping_is_answered_and_not_stored(services: Services, hook: httpx.AsyncClient) -> None:
    answer = await h.deliver(hook, "ping", h.payload("ping"), delivery_id="ping-1")
    assert answer.status_code == 200
    assert answer.json()["status"] == "pong"
    assert await deliveries(services) == {}


async def test_signature_failures_are_refused_before_anything_is_stored(
    services: Services, hook: httpx.AsyncClient
) -> None:
    body = h.payload("pull_request.opened")
    wrong = await h.deliver(hook, "pull_request", body, secret="not-the-secret")
    assert wrong.status_code == 401
    assert wrong.headers["content-type"].startswith("application/problem+json")
    raw = b'{"action": "opened"}'
    tampered = await hook.post(
        "/api/v1/github/webhook",
        content=raw + b" ",
        headers={
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": "d-tampered",
            "X-Hub-Signature-256": sign(h.SECRET, raw),
        },
    )
    assert tampered.status_code == 401
    unsigned = await hook.post(
        "/api/v1/github/webhook",
        content=raw,
        headers={"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "d-unsigned"},
    )
    assert unsigned.status_code == 400
    assert "x-hub-signature-256" in unsigned.json()["detail"]
    sha1_only = await hook.post(
        "/api/v1/github/webhook",
        content=raw,
        headers={
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": "d-sha1",
            "X-Hub-Signature-256": "sha1=" + sign(h.SECRET, raw)[7:],
        },
    )
    assert sha1_only.status_code == 401
    assert await deliveries(services) == {}
    assert await webhook_jobs(services) == []


async def test_a_rotated_secret_is_still_accepted(
    services: Services, hook: httpx.AsyncClient
) -> None:
    answer = await h.deliver(
        hook, "pull_request", h.payload("pull_request.labeled"), secret=h.OLD_SECRET
    )
    assert answer.status_code == 202
    assert len(await webhook_jobs(services)) == 1


@pytest.mark.parametrize(
    "event", ["installation", "installation_repositories", "check_run", "workflow_run", "fork"]
)
async def test_events_pao_does_not_handle_are_acknowledged_not_stored(
    services: Services, hook: httpx.AsyncClient, event: str, caplog: pytest.LogCaptureFixture
) -> None:
    """GitHub sends an App ``installation`` events unasked: a 4xx shows as a failed delivery."""
    with caplog.at_level("INFO", logger="bot.webhook"):
        answer = await h.deliver(hook, event, {"action": "created"}, delivery_id=f"d-{event}")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ignored", "event": event, "delivery": f"d-{event}"}
    assert [r.getMessage() for r in caplog.records if r.name == "bot.webhook"] == [
        f"webhook {event} delivery d-{event} ignored: PAO does not handle it"
    ]
    assert await deliveries(services) == {}
    assert await webhook_jobs(services) == []


async def test_bad_bodies_are_refused(services: Services, hook: httpx.AsyncClient) -> None:
    garbage = await h.deliver(hook, "pull_request", b"{not json")
    assert garbage.status_code == 400
    listed = await h.deliver(hook, "pull_request", b"[1, 2]")
    assert listed.status_code == 400
    assert await deliveries(services) == {}


async def test_oversized_bodies_are_refused(services: Services, world: h.GitHubWorld) -> None:
    small = dataclasses.replace(h.SETTINGS, max_body_bytes=2048)
    bot = h.make_bot(services, world, settings=small)
    async with h.webhook_client(services, bot) as client:
        big = h.payload("pull_request.opened")  # ~24 kB, over this intake's limit
        answer = await h.deliver(client, "pull_request", big)
        assert answer.status_code == 413
        ok = await h.deliver(client, "push", {"ref": "refs/heads/main"})
        assert ok.status_code == 202
    assert len(await deliveries(services)) == 1


async def test_duplicates_are_not_processed_twice_and_failed_ones_are_redelivered(
    services: Services, world: h.GitHubWorld, bot: Bot, hook: httpx.AsyncClient
) -> None:
    worker = make_worker(services, Registry())
    bot.register(worker)
    world.talk.add_pull(
        h.REPO, 2, head_sha="ec26c3e57ca3a959ca5aad62de7213c562f8c821", user="Codertocat", files=[]
    )
    files = f"/repos/{h.REPO}/pulls/2/files"
    refused = Reply(403, {"message": "Resource not accessible by integration"})
    world.gh.script("GET", files, refused, refused, refused)  # every receive of the job fails
    body = h.payload("pull_request.opened")

    first = await h.deliver(hook, "pull_request", body, delivery_id="d-1")
    assert first.status_code == 202
    again = await h.deliver(hook, "pull_request", body, delivery_id="d-1")
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert len(await webhook_jobs(services)) == 1

    await drain(worker)
    row = (await deliveries(services))["d-1"]
    assert row["status"] == "failed"
    assert row["attempts"] == 3
    assert "403" in str(row["error"])
    assert len(world.gh.seen(files, "GET")) == 3

    redelivered = await h.deliver(hook, "pull_request", body, delivery_id="d-1")
    assert redelivered.status_code == 202
    await drain(worker)
    row = (await deliveries(services))["d-1"]
    assert row["status"] == "processed"
    assert len(world.gh.seen(files, "GET")) == 4

    after = await h.deliver(hook, "pull_request", body, delivery_id="d-1")
    assert after.json()["status"] == "duplicate"
    assert await drain(worker) == 0
    assert len(world.gh.seen(files, "GET")) == 4


async def test_a_repository_gone_is_one_log_line_not_a_failed_job(
    services: Services,
    world: h.GitHubWorld,
    bot: Bot,
    hook: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = make_worker(services, Registry())
    bot.register(worker)
    files = f"/repos/{h.REPO}/pulls/2/files"  # no such pull request or repository: 404
    with caplog.at_level("INFO"):
        await h.deliver(hook, "pull_request", h.payload("pull_request.opened"), delivery_id="d-g")
        await drain(worker)
    row = (await deliveries(services))["d-g"]
    assert row["status"] == "ignored"
    assert row["attempts"] == 1
    assert len(world.gh.seen(files, "GET")) == 1  # not retried
    warnings = [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert [r.getMessage() for r in warnings] == [
        f"GitHub answers 404 for repository {h.REPO}: delivery d-g (pull_request) dropped"
    ]
    assert not any(r.exc_info for r in caplog.records)
    assert (await services.db.fetch_all(None, "SELECT * FROM jobs WHERE status = 'dead'")) == []


async def test_events_without_handlers_are_marked_ignored(
    services: Services, bot: Bot, hook: httpx.AsyncClient
) -> None:
    worker = make_worker(services, Registry())
    bot.register(worker)
    answer = await h.deliver(
        hook, "pull_request", h.payload("pull_request.labeled"), delivery_id="d-l"
    )
    assert answer.status_code == 202
    await drain(worker)
    assert (await deliveries(services))["d-l"]["status"] == "ignored"


async def test_worker_plugin_wires_the_bot_only_when_github_is_configured(
    services: Services, world: h.GitHubWorld
) -> None:
    from bot.app import worker_plugin
    from orchestrator.engine.process import WorkerPool

    off = WorkerPool(services, Registry())
    worker_plugin(off, services, {})
    assert WEBHOOK_JOB not in off.workers[0].kinds
    assert off.notifier.listeners == []

    on = WorkerPool(services, Registry())
    worker_plugin(on, services, {"GITHUB_TOKEN": h.TOKEN, "GITHUB_API_URL": world.base_url})
    assert all(WEBHOOK_JOB in worker.kinds for worker in on.workers)
    assert len(on.notifier.listeners) == 1
