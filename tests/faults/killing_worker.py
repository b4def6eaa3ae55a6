"""A worker process that SIGKILLs itself at chosen points, for the fault-injection test.

    python -m tests.faults.killing_worker DATABASE_URL TARGET_URL PLAN_FILE [one-job-per-action]

It runs the real engine (PgQueue, ChainRunner, Worker) with the real rest-api executor against
the fake REST target. ``PLAN_FILE`` holds kill points ``{"request", "action", "phase"}``;
phases: ``before-call`` (the action started, the target not called), ``after-call`` (the
target made its side effect, nothing recorded), ``after-record`` (the result committed, the
process dies before going on; this one needs ``one-job-per-action``, where each action is a job
of its own instead of the chain going on in the job in hand). A point is marked used (``<plan>.<n>.used``) just
before the kill, so the next process goes past it. The process exits 0 when no job is left.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from actions.rest_api import RestApiExecutor, RestApiSettings, SecretResolver
from orchestrator.engine.backoff import Backoff
from orchestrator.engine.executor import ActionResult, ActionRun, Registry
from orchestrator.engine.jobs import RUN_ACTION
from orchestrator.engine.pg_queue import Job, PgQueue
from orchestrator.engine.runner import ChainRunner
from orchestrator.engine.worker import Worker
from orchestrator.services import open_services
from orchestrator.settings import Settings

LEASE_SECONDS = 1.5


class KillPlan:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.points: list[dict[str, str]] = json.loads(path.read_text())

    def maybe_die(self, request_id: str, action_id: str, phase: str) -> None:
        for n, point in enumerate(self.points):
            if (point["request"], point["action"], point["phase"]) != (
                request_id,
                action_id,
                phase,
            ):
                continue
            used = self.path.with_name(f"{self.path.name}.{n}.used")
            if used.exists():
                return
            used.write_text("killed")
            os.kill(os.getpid(), signal.SIGKILL)


class Killing:
    """Wraps the real executor; dies around the call where the plan says."""

    def __init__(self, inner: RestApiExecutor, plan: KillPlan) -> None:
        self.inner = inner
        self.plan = plan

    def target(self, action: ActionRun) -> str | None:
        return self.inner.target(action)

    async def execute(self, action: ActionRun) -> ActionResult:
        self.plan.maybe_die(action.request_id, action.action_id, "before-call")
        result = await self.inner.execute(action)
        self.plan.maybe_die(action.request_id, action.action_id, "after-call")
        return result

    async def poll(self, action: ActionRun) -> ActionResult:
        return await self.inner.poll(action)


async def main(database_url: str, target_url: str, plan_path: str, mode: str = "") -> int:
    plan = KillPlan(Path(plan_path))
    services = await open_services(
        Settings.from_env({"CATALOG_LOCAL_PATH": ""}), database_url=database_url
    )
    try:
        executor = RestApiExecutor(
            SecretResolver({}), RestApiSettings(allowed_hosts=frozenset({"127.0.0.1"}))
        )
        queue = PgQueue(services.db)
        runner = ChainRunner(
            services.db,
            services.catalog,
            queue,
            Registry({"rest-api": Killing(executor, plan)}),
            backoff=Backoff(base_seconds=0.0, cap_seconds=0.0),
            template_environment={"TARGET_URL": target_url},
            continue_chains=mode != "one-job-per-action",
        )
        worker = Worker(
            queue,
            runner,
            f"killing-{os.getpid()}",
            lease_seconds=LEASE_SECONDS,
            error_backoff=Backoff(base_seconds=0.0, cap_seconds=0.0),
        )

        async def run_then_maybe_die(job: Job) -> None:
            current = await services.db.fetch_one(
                None,
                "SELECT action_id FROM request_actions WHERE request_id = %(id)s "
                "AND status <> 'completed' ORDER BY position LIMIT 1",
                {"id": job.payload["request_id"]},
            )
            await runner.handle_run(job)
            if current is not None:
                plan.maybe_die(str(job.payload["request_id"]), current["action_id"], "after-record")

        worker.register(RUN_ACTION, run_then_maybe_die)
        idle_rounds = 0
        while idle_rounds < 3 * int(LEASE_SECONDS / 0.05 + 1):
            if await worker.run_once():
                idle_rounds = 0
                continue
            pending = await services.db.fetch_one(
                None, "SELECT count(*) AS n FROM jobs WHERE status IN ('ready', 'running')"
            )
            if pending is not None and pending["n"] == 0:
                return 0
            idle_rounds += 1  # a killed worker's job: its lease expires soon
            await asyncio.sleep(0.05)
        return 3
    finally:
        await services.close()


if __name__ == "__main__":
    args: list[Any] = sys.argv[1:]
    sys.exit(asyncio.run(main(*args)))
