"""Fault injection: worker processes SIGKILLed at every step of a 4-action chain.

Each kill point (action x phase) belongs to its own request; worker processes are started one
after another until no job is left, each dying at the next unused kill point. Every request
must still end completed, and the fake target must have made each resource exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.services import Services
from tests.fakes.rest_target import RestTarget, serve_rest_target
from tests.integration.engine_harness import (
    action_rows,
    item_document,
    request_row,
    store_item,
    submit,
)

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = ["network", "database", "secrets", "register"]
PHASES = ["before-call", "after-call", "after-record"]


@pytest.fixture
def target() -> Iterator[RestTarget]:
    with serve_rest_target() as fake:
        yield fake


def chain() -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = []
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
                    "expectedStatus": [200, 201],
                    "outputs": {"resource_id": "id"},
                },
            }
        )
    return actions


@pytest.mark.parametrize(
    ("mode", "phases"),
    [
        ("one-job-per-action", PHASES),
        ("chain-in-one-job", ["before-call", "after-call"]),
    ],
)
async def test_sigkill_at_every_step_loses_nothing_and_duplicates_nothing(
    services: Services, target: RestTarget, tmp_path: Path, mode: str, phases: list[str]
) -> None:
    await store_item(services, item_document("fault-item", chain()))
    points: list[dict[str, str]] = []
    requests: list[str] = []
    for action_id in ACTIONS:
        for phase in phases:
            request_id = await submit(services, "fault-item", {"instanceName": f"r{len(requests)}"})
            requests.append(request_id)
            points.append({"request": request_id, "action": action_id, "phase": phase})
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(points))

    exits: list[int] = []
    for _ in range(len(points) + 3):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.faults.killing_worker",
                services.database_url,
                target.base_url,
                str(plan),
                mode,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        exits.append(proc.returncode)
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]

    assert exits.count(-signal.SIGKILL) == len(points)  # every kill point was reached
    assert exits[-1] == 0
    for request_id in requests:
        assert (await request_row(services, request_id))["status"] == "completed"
        rows = await action_rows(services, request_id)
        ids = [rows[a]["outputs"]["resource_id"] for a in ACTIONS]
        made = [target.resources[i] for i in ids]
        for n in range(1, len(ACTIONS)):  # outputs flowed along the chain
            assert made[n]["data"]["after"] == ids[n - 1]
    # Exactly one resource per action per request, however often the calls were repeated.
    assert len(target.resources) == len(requests) * len(ACTIONS)
    names = sorted(r["name"] for r in target.resources.values())
    assert len(set(names)) == len(names)
    posts = target.seen("/api/v2/resources", "POST")
    assert len(posts) > len(target.resources)  # the after-call kills did repeat calls
