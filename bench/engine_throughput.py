"""Benchmark: the fulfillment engine, one worker process, four-action chains.

    python3 -m bench.engine_throughput [--requests 600] [--concurrency 4]

Submits ``--requests`` requests for a 4-action ``rest-api`` chain (each action POSTs to an
instant loopback target, the fake REST target in its own uvicorn process, and passes its
output to the next), then runs one worker process (the real WorkerPool: PgQueue, ChainRunner,
RestApiExecutor) until every request is completed. Reports:

* chains completed per second (goal: at least 100);
* per-action engine overhead: a job's wall time (claim, state, render, persist, enqueue next)
  minus the executor call, median and p99;
* baseline, same run: the same number of POSTs sent straight to the target with httpx at the
  same concurrency (the external work alone); the ratio says what the engine adds.

Needs PostgreSQL (BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres; a
scratch database pao_bench_engine is created there). BENCH_PROFILE=<path> writes a cProfile of
the worker's run (wall clock, read with ``python3 -m pstats <path>``) to find where its time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import cProfile
import json
import os
import statistics
import time
from dataclasses import replace
from typing import Any

import httpx

from actions.rest_api import RestApiExecutor, RestApiSettings, SecretResolver
from bench.api_throughput import free_port, start
from orchestrator.engine.executor import ActionResult, ActionRun, Registry
from orchestrator.engine.jobs import RUN_ACTION
from orchestrator.engine.pg_queue import Job
from orchestrator.engine.process import WorkerPool
from orchestrator.identity.principal import Principal
from orchestrator.requests.service import RequestDraft
from orchestrator.runtime import freeze_startup_heap
from orchestrator.services import open_services
from orchestrator.settings import EngineSettings, Settings
from rehearsal.samples import item_document

ACTIONS = ["network", "database", "secrets", "register"]


def fresh_database(admin_url: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS pao_bench_engine WITH (FORCE)")
        conn.execute("CREATE DATABASE pao_bench_engine")
    return psycopg.conninfo.make_conninfo(admin_url, dbname="pao_bench_engine")


def chain() -> list[dict[str, Any]]:
    actions = []
    for n, action_id in enumerate(ACTIONS):
        body: dict[str, Any] = {"name": f"{{{{fields.instanceName}}}}-{action_id}"}
        if n:
            body["after"] = f"{{{{outputs.{ACTIONS[n - 1]}.resource_id}}}}"
        actions.append(
            {
                "id": action_id,
                "type": "rest-api",
                "config": {
                    "method": "POST",
                    "url": "{{environment.TARGET_URL}}/api/v2/resources",
                    "body": body,
                    "outputs": {"resource_id": "id"},
                },
            }
        )
    return actions


JOB_CALLS: contextvars.ContextVar[list[float]] = contextvars.ContextVar("job_calls")


class TimedExecutor:
    def __init__(self, inner: RestApiExecutor) -> None:
        self.inner = inner
        self.calls: list[float] = []

    async def execute(self, action: ActionRun) -> ActionResult:
        started = time.perf_counter()
        try:
            return await self.inner.execute(action)
        finally:
            elapsed = time.perf_counter() - started
            self.calls.append(elapsed)
            JOB_CALLS.get([]).append(elapsed)  # the calls of the job in hand

    async def poll(self, action: ActionRun) -> ActionResult:
        return await self.inner.poll(action)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def baseline(target_url: str, count: int, concurrency: int) -> float:
    """POSTs per second straight to the target (new idempotency key each, like the engine)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async with httpx.AsyncClient() as client:

        async def sender() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                response = await client.post(
                    f"{target_url}/api/v2/resources",
                    json={"name": f"baseline-{n}"},
                    headers={"Idempotency-Key": f"baseline-{n}"},
                )
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


async def run(database_url: str, target_url: str, requests: int, concurrency: int) -> None:
    settings = Settings.from_env({"CATALOG_LOCAL_PATH": "", "DATABASE_POOL_MAX": "20"})
    settings = replace(settings, engine=replace(settings.engine, concurrency=concurrency))
    settings = replace(settings, template_environment={"TARGET_URL": target_url})
    services = await open_services(settings, database_url=database_url)
    try:
        document = item_document("bench-chain", chain())
        report = services.catalog.validator.validate_texts([("bench.yaml", json.dumps(document))])
        await services.catalog.store_report(report, git_sha=None)
        principal = Principal(email="bench@example.com", teams=("bench",))
        for n in range(requests):
            await services.requests.submit(
                RequestDraft(catalog_item="bench-chain", fields={"instanceName": f"db{n}"}),
                principal,
                correlation_id=f"bench-{n}",
            )
        executor = TimedExecutor(
            RestApiExecutor(
                SecretResolver({}), RestApiSettings(allowed_hosts=frozenset({"127.0.0.1"}))
            )
        )
        pool = WorkerPool(services, Registry({"rest-api": executor}))
        for worker in pool.workers:
            worker.idle_seconds = 0.01
        freeze_startup_heap()  # as `pao worker` does once its pool is built
        overheads: list[float] = []  # per action: its share of the job's time minus the calls

        async def timed(job: Job) -> None:
            calls: list[float] = []
            JOB_CALLS.set(calls)
            started = time.perf_counter()
            await pool.runner.handle_run(job)
            elapsed = time.perf_counter() - started
            if calls:  # a job may run several actions of the chain
                share = (elapsed - sum(calls)) / len(calls)
                overheads.extend([share] * len(calls))

        pool.register(RUN_ACTION, timed)
        stop = asyncio.Event()

        async def watch() -> None:
            while True:
                row = await services.db.fetch_one(
                    None, "SELECT count(*) AS n FROM requests WHERE status <> 'completed'"
                )
                if row is not None and row["n"] == 0:
                    stop.set()
                    return
                await asyncio.sleep(0.05)

        profile_path = os.environ.get("BENCH_PROFILE")
        profiler = cProfile.Profile() if profile_path else None
        started = time.perf_counter()
        cpu_started = time.process_time()
        if profiler is not None:
            profiler.enable()
        await asyncio.gather(pool.run(stop), watch())
        if profiler is not None:
            profiler.disable()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        if profiler is not None and profile_path:
            profiler.dump_stats(profile_path)
        failed = await services.db.fetch_one(
            None, "SELECT count(*) AS n FROM request_actions WHERE attempts > 1"
        )
    finally:
        await services.close()

    actions_done = requests * len(ACTIONS)
    engine_rate = actions_done / elapsed
    base = await baseline(target_url, actions_done, concurrency)
    print(f"engine: {requests} four-action chains, one worker process, {concurrency} workers")
    print(f"  {requests / elapsed:8.1f} chains/s   ({engine_rate:.0f} actions/s, {elapsed:.2f} s)")
    print(f"  retried actions: {failed['n'] if failed else '?'}")
    print(f"  worker process CPU per action: {cpu / actions_done * 1000:.2f} ms")
    print(
        f"  per-action engine overhead: median {statistics.median(overheads) * 1000:.2f} ms, "
        f"p99 {percentile(overheads, 0.99) * 1000:.2f} ms "
        f"(executor call: median {statistics.median(executor.calls) * 1000:.2f} ms)"
    )
    print(f"baseline: the same {actions_done} POSTs straight to the target: {base:.0f}/s")
    print(f"  ratio engine actions/s / baseline POSTs/s: {engine_rate / base:.2f}")
    print(f"load average: {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=EngineSettings().concurrency,
        help="jobs worked on at once by the worker process (default: PAO's own default)",
    )
    args = parser.parse_args()
    admin = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    database_url = fresh_database(admin)
    port = free_port()
    target = start("bench.rest_target_app:app", port, {})
    try:
        asyncio.run(run(database_url, f"http://127.0.0.1:{port}", args.requests, args.concurrency))
    finally:
        target.terminate()
        target.wait()


if __name__ == "__main__":
    main()
