"""The worker: claims one job at a time and dispatches it by kind.

``run-action`` and ``poll-action`` go to the chain runner, ``cancel-action`` and ``notify`` to
the notifier (whose listeners the faces add), ``escalate`` to the escalation handler; other
kinds (webhook processing) are handlers the faces register at start-up. A handler that raises
gives the job back with a backoff delay; the queue dead-letters it after its last receive.
While a handler runs, a heartbeat keeps the job's lease alive, and every log line carries the
job's correlation id, request id and user (``orchestrator.tracing.job_scope``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence

from orchestrator.engine.backoff import Backoff
from orchestrator.engine.escalation import EscalationHandler
from orchestrator.engine.jobs import CANCEL_ACTION, ESCALATE, NOTIFY, POLL_ACTION, RUN_ACTION
from orchestrator.engine.notifier import Notifier
from orchestrator.engine.pg_queue import DEFAULT_LEASE_SECONDS, Job
from orchestrator.engine.queue import Queue
from orchestrator.engine.runner import ChainRunner
from orchestrator.tracing import job_scope, record_failure

log = logging.getLogger(__name__)

Handler = Callable[[Job], Awaitable[None]]


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    def __init__(
        self,
        queue: Queue,
        runner: ChainRunner,
        worker_id: str | None = None,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        idle_seconds: float = 0.5,
        error_backoff: Backoff | None = None,
        notifier: Notifier | None = None,
        escalation: EscalationHandler | None = None,
    ) -> None:
        self.queue = queue
        self.runner = runner
        self.worker_id = worker_id or default_worker_id()
        self.lease_seconds = lease_seconds
        self.idle_seconds = idle_seconds
        self.error_backoff = error_backoff or Backoff(base_seconds=5.0, cap_seconds=300.0)
        self.notifier = notifier or Notifier(runner.db, runner.registry)
        self.escalation = escalation or EscalationHandler(
            runner.db, runner.catalog, runner.registry, runner.manual_defaults
        )
        self.handlers: dict[str, Handler] = {
            RUN_ACTION: runner.handle_run,
            POLL_ACTION: runner.handle_poll,
            CANCEL_ACTION: self.notifier.handle_cancel,
            NOTIFY: self.notifier.handle_notify,
            ESCALATE: self.escalation.handle,
        }

    def register(self, kind: str, handler: Handler) -> None:
        """Handle jobs of ``kind`` (e.g. a face's ``notify`` jobs) in this worker."""
        self.handlers[kind] = handler

    @property
    def kinds(self) -> Sequence[str]:
        return sorted(self.handlers)

    async def run_once(self) -> bool:
        """Claim and process one job; False when no job was due."""
        job = await self.queue.claim(self.worker_id, self.kinds, self.lease_seconds)
        if job is None:
            return False
        await self.process(job)
        return True

    async def process(self, job: Job) -> None:
        """Run ``job``'s handler with a heartbeat, then complete it (or give it back)."""
        with job_scope(job):  # the job's log context and, with tracing on, its span
            handler = self.handlers[job.kind]
            log.debug("job %s (%s) receive %s", job.id, job.kind, job.receives)
            beat = asyncio.create_task(self._heartbeat(job))
            try:
                await handler(job)
            except Exception as exc:
                record_failure(exc)
                log.exception("job %s (%s) failed on receive %s", job.id, job.kind, job.receives)
                delay = self.error_backoff.delay(job.receives)
                await self.queue.retry_later(job, delay, f"{type(exc).__name__}: {exc}")
                return
            finally:
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat
            await self.queue.complete(job)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Process jobs until ``stop`` is set; sleeps ``idle_seconds`` when the queue is empty."""
        while not stop.is_set():
            try:
                worked = await self.run_once()
            except Exception:
                log.exception("worker %s: claiming a job failed", self.worker_id)
                worked = False
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.idle_seconds)

    async def _heartbeat(self, job: Job) -> None:
        interval = max(1.0, self.lease_seconds / 3.0)
        while True:
            await asyncio.sleep(interval)
            if not await self.queue.heartbeat(job, self.lease_seconds):
                log.warning("worker %s lost the lease of job %s", self.worker_id, job.id)
                return
