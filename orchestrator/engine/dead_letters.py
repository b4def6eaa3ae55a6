"""What a dead-lettered job does to its request, the same for both queue backends.

A job is dead-lettered after its last allowed receive: its lease ran out each time (the worker
died holding it) or its handler kept raising. The receive budget of a ``run-action`` job counts
per action: when the job goes on with the next action, ``engine_advance`` records the receive
it starts from (``payload.action_receives_from``) and grants ``crash_limit`` more, so a chain
of actions that each crashed once or twice is not killed by the sum. A job dead on an action
fails that action (and the request) with "worker crashed N times while running X".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.engine.jobs import POLL_ACTION, RUN_ACTION
from orchestrator.engine.records import fail_request
from orchestrator.store.database import Connection


def crash_message(job: Mapping[str, Any], reason: str | None, *, crashed: bool = True) -> str:
    """Why ``job`` is dead, in words naming the action it kept failing on; ``crashed``: its
    leases ran out (the worker died), else its handler kept raising."""
    payload = dict(job.get("payload") or {})
    action_id = payload.get("action_id")
    reason = reason or "job dead-lettered"
    if job.get("kind") not in (RUN_ACTION, POLL_ACTION) or not action_id:
        return reason
    since = payload.get("action_receives_from")
    receives = int(job.get("receives") or 0) - (int(since) if isinstance(since, int) else 0)
    what = "worker crashed" if crashed else "job failed"
    return f"{what} {receives} times while running {action_id} ({reason})"


async def fail_for_dead_letter(
    conn: Connection, job: Mapping[str, Any], reason: str | None, *, crashed: bool = True
) -> None:
    """Fail the dead job's request (its open actions failed too) with the reason."""
    if job["request_id"] is None:
        return
    payload = dict(job["payload"] or {})
    message = crash_message(job, reason, crashed=crashed)
    await fail_request(
        conn,
        job["request_id"],
        {
            "reason": "dead-lettered",
            "error": message,
            "job": {"id": int(job["id"]), "kind": job["kind"], "receives": job["receives"]},
            "failed_action": payload.get("action_id"),
        },
        f"job {job['id']} ({job['kind']}) dead-lettered: {message}",
        action_id=payload.get("action_id"),
    )
