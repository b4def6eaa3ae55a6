"""The worker: claims one job at a time and dispatches it by kind.

``run-action`` and ``poll-action`` go to the chain runner, ``cancel-action`` and ``notify`` to
the notifier (whose listeners the faces add), ``escalate`` to the escalation handler; other
kinds (webhook processing) are handlers the faces register at start-up. A handler that raises
gives the job back with a backoff delay; the queue dead-letters it after its last receive.
While a handler runs, a heartbeat keeps the job's lease alive, and every log line carries the
job's correlation id, request id and user (``orchestrator.tracing.job_scope``).

Outages: a receive that fails because the queue's backend did not answer (SQS, PostgreSQL) is
reported to that dependency (``queue.outages``: one log line when it becomes unreachable and
one when it answers again) and the worker waits its backoff before the next try. A heartbeat
that could not reach the backend is tried again with backoff until the lease it last had runs
out (by the worker's clock): only then, or when the backend says another delivery holds the
job, is the lease lost and the heartbeat stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence

from orchestrator.engine.backoff import Backoff
from orchestrator.engine.escalation import EscalationHandler
from orchestrator.engine.jobs import CANCEL_ACTION, ESCALATE, NOTIFY, POLL_ACTION, RUN_ACTION
from orchestrator.engine.notifier import Notifier
from orchestrator.engine.pg_queue import DEFAULT_LEASE_SECONDS, Job
from orchestrator.engine.queue import Queue
from orchestrator.engine.reachability import OUTAGE_BACKOFF
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
        heartbeat_seconds: float | None = None,
        outage_backoff: Backoff = OUTAGE_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``heartbeat_seconds``: between beats (default a third of the lease, at least 1 s);
        ``outage_backoff``: waits after failed receives and beats; ``clock``: the worker's
        clock for when a lease it holds runs out."""
        self.queue = queue
        self.runner = runner
        self.worker_id = worker_id or default_worker_id()
        self.lease_seconds = lease_seconds
        self.idle_seconds = idle_seconds
        self.error_backoff = error_backoff or Backoff(base_seconds=5.0, cap_seconds=300.0)
        self.heartbeat_seconds = (
            heartbeat_seconds if heartbeat_seconds is not None else max(1.0, lease_seconds / 3.0)
        )
        self.outage_backoff = outage_backoff
        self._clock = clock
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
        """Process jobs until ``stop`` is set; sleeps ``idle_seconds`` when the queue is empty,
        and backs off while the queue's backend does not answer (see the module docstring)."""
        unexpected = 0
        while not stop.is_set():
            wait = self.idle_seconds
            try:
                worked = await self.run_once()
                unexpected = 0
            except Exception as exc:
                worked = False
                dependency = self.queue.outages.route(exc)
                if dependency is not None:
                    wait = max(wait, dependency.failed(exc, during="receiving jobs"))
                else:  # not an outage (a bug?): its traceback once, then quieter
                    unexpected += 1
                    if unexpected == 1:
                        log.exception("worker %s: claiming a job failed", self.worker_id)
                    else:
                        log.debug("worker %s: claiming a job failed again: %s", self.worker_id, exc)
                    wait = max(wait, self.outage_backoff.delay(unexpected))
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)

    async def _heartbeat(self, job: Job) -> None:
        """Extend the job's lease every ``heartbeat_seconds`` while its handler runs. A beat
        that fails is tried again with backoff (never later than the lease allows) until the
        lease last granted has run out; a beat the backend answers with "not yours" ends it."""
        held_until = self._clock() + self.lease_seconds  # the claim's lease
        failures = 0
        wait = self.heartbeat_seconds
        while True:
            await asyncio.sleep(wait)
            asked_at = self._clock()
            try:
                extended = await self.queue.heartbeat(job, self.lease_seconds)
            except Exception as exc:
                failures += 1
                dependency = self.queue.outages.route(exc)
                if dependency is not None:
                    dependency.failed(exc, during="extending a lease")
                elif failures == 1:
                    log.warning("job %s: its heartbeat failed: %s", job.id, exc)
                left = held_until - self._clock()
                if left <= 0:
                    log.warning(
                        "worker %s lost the lease of job %s: no heartbeat got through in %gs",
                        self.worker_id,
                        job.id,
                        self.lease_seconds,
                    )
                    return
                # the next try before the lease runs out, and soon enough to leave it a margin
                wait = max(0.01, min(self.outage_backoff.delay(failures), left / 2.0))
                continue
            if not extended:
                log.warning("worker %s lost the lease of job %s", self.worker_id, job.id)
                return
            held_until = asked_at + self.lease_seconds
            failures = 0
            wait = self.heartbeat_seconds
