"""Benchmark: GitHub webhook intake and the PR-to-preview latency, with same-run baselines.

1. ``POST /api/v1/github/webhook`` under uvicorn (one worker, no access log) with 50
   connections each sending signed ``pull_request`` deliveries (GitHub's example payload,
   ~24 kB, a new delivery id each): status counts, p50, p99. Goal: 202 with p99 < 50 ms.
   Baseline: ``GET /api/v1/health`` on the same server and connections (the app's floor).
2. From a ``pull_request`` ``opened`` delivery to the preview comment posted on the loopback
   fake GitHub (intake, job claim, router, files, contents, validation, plan, check run,
   comment), in process, repeated; median and p90. Goal: median < 1 s. Baseline: one githubkit
   round trip to the same fake; the ratio says how many round trips' worth the flow costs.
   Built from shipped code only: the simulators of ``rehearsal.sim``, the API app, the bot and
   a ``WorkerPool`` (bench/ imports nothing from tests/).

    python3 -m bench.webhook_intake [--seconds 10] [--connections 50] [--previews 20]

Needs PostgreSQL (BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres;
scratch database pao_bench is created there).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar

from api.app import create_app
from bench.api_throughput import free_port, fresh_database, start
from bench.loadgen import LoadResult, _read_response, build_request, run_load
from bot.app import bot_from_services, make_intake
from bot.settings import BotSettings
from bot.webhook import IntakeResult, WebhookIntake, sign
from orchestrator.engine.executor import Registry
from orchestrator.engine.process import WorkerPool
from orchestrator.github_client import GitHubSettings, github_client
from orchestrator.services import Services, open_services
from orchestrator.settings import Settings
from rehearsal.samples import item_document
from rehearsal.sim.github import FakeGitHub
from rehearsal.sim.github_conversations import ConversationArea
from rehearsal.sim.github_repos import RepoArea

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-webhook-secret"
PAYLOAD = ROOT / "tests" / "fixtures" / "webhooks" / "pull_request.opened.json"


class _LazyIntake:
    """The intake for the app's own services, which exist only once its lifespan started."""

    def __init__(self, app: Litestar, settings: BotSettings) -> None:
        self.app = app
        self.settings = settings
        self.intake: WebhookIntake | None = None

    async def __call__(self, body: bytes, headers: Any) -> IntakeResult:
        if self.intake is None:
            self.intake = make_intake(self.app.state.services, self.settings)
        return await self.intake(body, headers)


def app_factory() -> Litestar:
    """uvicorn factory: the PAO app with the bot's intake (what the entry point provides)."""
    app = create_app(Settings.from_env(os.environ))
    app.state["github_webhook"] = _LazyIntake(app, BotSettings(webhook_secrets=(SECRET,)))
    return app


async def bursts(port: int, make_request: Any, *, connections: int, rounds: int) -> LoadResult:
    """``rounds`` bursts: every connection sends one request at the same moment, then all wait
    for their answers and pause (GitHub delivering a burst of events, e.g. a bulk label)."""
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    started = time.perf_counter()

    async def one(index: int, counter: int) -> None:
        reader, writer = streams[index]
        begin = time.perf_counter()
        writer.write(make_request(index, counter))
        status = await _read_response(reader)
        latencies.append((time.perf_counter() - begin) * 1000)
        statuses[status] = statuses.get(status, 0) + 1

    try:
        for counter in range(rounds):
            await asyncio.gather(*(one(i, counter) for i in range(connections)))
            await asyncio.sleep(0.2)
    finally:
        for _, writer in streams:
            writer.close()
    return LoadResult(len(latencies), time.perf_counter() - started, latencies, statuses)


def intake_load(seconds: float, connections: int) -> None:
    admin = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    env = {
        "DATABASE_URL": fresh_database(admin),
        "LOG_LEVEL": "WARNING",
        "DATABASE_POOL_MAX": "20",
        "PAO_MAX_BODY_BYTES": "1048576",
    }
    port = free_port()
    server = start("bench.webhook_intake:app_factory", port, env)
    body = PAYLOAD.read_bytes()
    signature = sign(SECRET, body)

    def delivery(i: int, n: int) -> bytes:
        return build_request(
            "POST",
            "/api/v1/github/webhook",
            body,
            {
                "X-GitHub-Event": "pull_request",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": signature,
            },
        )

    health = build_request("GET", "/api/v1/health")
    try:
        asyncio.run(run_load(port, delivery, connections=4, seconds=1.0))  # warm up
        base = asyncio.run(
            run_load(port, lambda i, n: health, connections=connections, seconds=seconds / 2)
        )
        hook = asyncio.run(run_load(port, delivery, connections=connections, seconds=seconds))
        base_burst = asyncio.run(
            bursts(port, lambda i, n: health, connections=connections, rounds=20)
        )
        burst = asyncio.run(bursts(port, delivery, connections=connections, rounds=20))
    finally:
        server.terminate()
        server.wait()
    print(f"webhook intake, {len(body)} byte deliveries, {connections} connections")
    print("  bursts of one delivery per connection at once, 20 bursts:")
    print(f"    GET /api/v1/health (baseline): {base_burst.summary()}")
    print(f"    POST /api/v1/github/webhook  : {burst.summary()}")
    print(
        f"    p99 ratio intake / baseline  : {burst.percentile(0.99) / base_burst.percentile(0.99):.2f}"
        f"   (goal: p99 < 50 ms -> {'met' if burst.percentile(0.99) < 50 else 'NOT met'})"
    )
    print("  closed loop (each connection sends again as soon as answered), saturation:")
    print(f"    GET /api/v1/health (baseline): {base.summary()}")
    print(f"    POST /api/v1/github/webhook  : {hook.summary()}")


REPO = "acme/requests"  # the repository GitHub's example payloads name
TOKEN = "ghs_bench_installation_token"
BOT_LOGIN = "pao-bot[bot]"
ITEM_ID = "bench-database"


def bench_item() -> dict[str, Any]:
    """The item the request files ask for: two fields and one REST call (never run: the flow
    ends at the preview)."""
    return item_document(
        ITEM_ID,
        [
            {
                "id": "create",
                "type": "rest-api",
                "config": {
                    "method": "POST",
                    "url": "http://127.0.0.1:9/api/v2/resources",
                    "body": {"name": "db-{{fields.instanceName}}", "size": "{{fields.size}}"},
                    "expectedStatus": [200, 201],
                },
                "retry": {"maxAttempts": 1},
            }
        ],
        fields=[
            {"id": "instanceName", "name": "Instance Name", "type": "string", "required": True},
            {
                "id": "size",
                "name": "Size",
                "type": "select",
                "enum": ["small", "medium", "large"],
                "default": "small",
            },
        ],
    )


async def store_item(services: Services, document: dict[str, Any]) -> None:
    """Validate and store ``document`` through the catalog service, as a sync would."""
    item_id = document["metadata"]["id"]
    report = services.catalog.validator.validate_texts([(f"{item_id}.yaml", json.dumps(document))])
    if report.issues:
        raise SystemExit("the bench item is not valid: " + "; ".join(map(str, report.issues)))
    await services.catalog.store_report(report, git_sha=None)


def pull_request_event(number: int, sha: str) -> dict[str, Any]:
    """GitHub's example ``pull_request`` ``opened`` payload for pull request ``number``."""
    event: dict[str, Any] = json.loads(PAYLOAD.read_text(encoding="utf-8"))
    event["number"] = event["pull_request"]["number"] = number
    event["pull_request"]["head"]["sha"] = sha
    return event


async def preview_latency(rounds: int) -> None:
    """Deliveries through the API app's webhook route to the bot, whose jobs one worker of a
    ``WorkerPool`` (as ``pao worker`` builds it) runs until the preview comment is posted on
    the loopback fake GitHub (``rehearsal.sim``)."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per call to the fake
    admin = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    services = await open_services(Settings.from_env({}), database_url=fresh_database(admin))
    try:
        await store_item(services, bench_item())
        gh = FakeGitHub()
        gh.tokens = {TOKEN}
        talk = ConversationArea(gh, actor=BOT_LOGIN)
        git = RepoArea(gh)
        git.create_repo(REPO, default_branch="main")
        with gh.serve() as base_url:
            client = github_client(GitHubSettings(api_url=base_url, token=TOKEN))
            bot = bot_from_services(
                services, BotSettings(webhook_secrets=(SECRET,), bot_login=BOT_LOGIN), client
            )
            pool = WorkerPool(services, Registry())
            bot.attach(pool.register, pool.listen)
            worker = pool.workers[0]
            app: Any = create_app(services.settings, services=services)
            app.state["github_webhook"] = bot.intake()
            text = (
                f"apiVersion: pao/v1\nkind: ServiceRequest\ncatalogItem: {ITEM_ID}\n"
                "fields:\n  instanceName: orders-db\n  size: medium\n"
            )
            flow: list[float] = []
            trips: list[float] = []
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://pao") as hook:
                for number in range(1, rounds + 1):
                    path = f"requests/r{number}.yaml"
                    sha = git.commit(REPO, f"b{number}", {path: text}, "r")
                    files = [{"filename": path, "status": "added", "sha": sha}]
                    talk.add_pull(REPO, number, head_sha=sha, user="octocat", files=files)
                    body = json.dumps(pull_request_event(number, sha)).encode()
                    begin = time.perf_counter()
                    answer = await hook.post(
                        "/api/v1/github/webhook",
                        content=body,
                        headers={
                            "X-GitHub-Event": "pull_request",
                            "X-GitHub-Delivery": str(uuid.uuid4()),
                            "X-Hub-Signature-256": sign(SECRET, body),
                            "Content-Type": "application/json",
                        },
                    )
                    if answer.status_code != 202:
                        raise SystemExit(f"the delivery was answered {answer.status_code}")
                    while not talk.bot_comments(REPO, number):
                        if not await worker.run_once():
                            raise SystemExit("the preview was not posted")
                    flow.append(time.perf_counter() - begin)
                    begin = time.perf_counter()
                    await client.arequest("GET", "/rate_limit")
                    trips.append(time.perf_counter() - begin)
    finally:
        await services.close()
    median, trip = statistics.median(flow), statistics.median(trips)
    print(f"PR opened -> preview comment posted, {rounds} rounds:")
    print(
        f"  median {median * 1000:.0f} ms  p90 {sorted(flow)[int(0.9 * len(flow))] * 1000:.0f} ms"
    )
    print(f"  one githubkit round trip to the fake (baseline): median {trip * 1000:.1f} ms")
    print(
        f"  ratio: {median / trip:.1f} round trips   (goal: median < 1 s -> {'met' if median < 1 else 'NOT met'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--previews", type=int, default=20)
    args = parser.parse_args()
    intake_load(args.seconds, args.connections)
    asyncio.run(preview_latency(args.previews))


if __name__ == "__main__":
    main()
