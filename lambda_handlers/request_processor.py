"""The ``request_processor`` function: an SQS batch from Lambda's event source mapping.

Each record is one job, leased and run exactly as ``pao worker`` does (``SqsQueue.accept``,
then ``Worker.process``: the same runner, notifier, escalation handler and plugins). The reply
lists in ``batchItemFailures`` (the function's event source mapping reports batch item
failures) every record whose message must come back: a job that failed and was given back with
its backoff (its message is hidden for that long), a job not due yet or held by a live
delivery, a message that is no PAO job (it goes to the dead-letter queue after its receives),
and every record not started because the invocation had less than ``PAO_LAMBDA_JOB_SECONDS``
left (made visible again at once, never half-run). A finished job's message was deleted already.
"""

from __future__ import annotations

import time

_IMPORTS_STARTED = time.perf_counter()

import asyncio  # noqa: E402
import contextlib  # noqa: E402
import functools  # noqa: E402
import logging  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from typing import Any  # noqa: E402

from lambda_handlers.runtime import LambdaContext, LambdaRuntime, container  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - _IMPORTS_STARTED

log = logging.getLogger(__name__)


def sqs_message(record: Mapping[str, Any]) -> dict[str, Any]:
    """A Lambda SQS record in ReceiveMessage's shape (what ``SqsQueue.accept`` reads)."""
    return {
        "MessageId": record["messageId"],
        "ReceiptHandle": record["receiptHandle"],
        "Body": record.get("body", ""),
        "Attributes": dict(record.get("attributes") or {}),
    }


class RequestProcessor:
    def __init__(self, runtime: LambdaRuntime) -> None:
        self.runtime = runtime
        self.worker = runtime.pool().workers[0]
        self.queue = runtime.queue()
        self.reserve_ms = runtime.settings.engine.lambda_job_seconds * 1000

    def __call__(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        runtime = self.runtime
        runtime.run(runtime.thaw())
        failures = runtime.run(self.process(event.get("Records") or [], context))
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failures]}

    async def process(
        self, records: Sequence[Mapping[str, Any]], context: LambdaContext
    ) -> list[str]:
        """The message ids of the records to be delivered again."""
        failures: list[str] = []
        try:
            for index, record in enumerate(records):
                if context.get_remaining_time_in_millis() < self.reserve_ms:
                    rest = records[index:]
                    log.info(
                        "%d record(s) returned to the queue: less than %ss of the invocation left",
                        len(rest),
                        self.reserve_ms // 1000,
                    )
                    await self._release(rest)
                    failures += [str(r["messageId"]) for r in rest]
                    break
                if not await self.process_record(record):
                    failures.append(str(record["messageId"]))
        finally:
            await self.runtime.flush()  # the jobs these records enqueued (next actions, notices)
        return failures

    async def process_record(self, record: Mapping[str, Any]) -> bool:
        """Run the record's job; whether its message is done with (deleted)."""
        worker = self.worker
        try:
            accepted = await self.queue.accept(
                sqs_message(record), worker.worker_id, worker.kinds, worker.lease_seconds
            )
            if accepted.job is None:
                return accepted.settled
            await worker.process(accepted.job)  # failures: given back with backoff, logged
            return await self.queue.job_finished(accepted.job.id)
        except Exception:
            log.exception("record %s could not be processed", record.get("messageId"))
            return False

    async def _release(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Make records not started visible again at once (best effort: otherwise they come
        back when the queue's visibility timeout runs out)."""
        client = self.runtime.sqs
        for record in records:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(
                    client.change_message_visibility,
                    QueueUrl=self.runtime.queue_url,
                    ReceiptHandle=record["receiptHandle"],
                    VisibilityTimeout=0,
                )


@functools.cache
def function() -> RequestProcessor:
    started = time.perf_counter()
    built = RequestProcessor(container())
    log.info(
        "request-processor cold start: imports %.2fs, services %.2fs",
        IMPORT_SECONDS,
        time.perf_counter() - started,
    )
    return built


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda's entry point (``lambda_handlers.request_processor.handler``)."""
    return function()(event, context)
