"""The live event stream of a request (Server-Sent Events) with a real HTTP client against two
API instances on one database: ordering, the end at a terminal state, resuming with
Last-Event-ID, 404 for what the caller may not see, and heartbeats of a quiet stream."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from orchestrator.requests.events import StreamTiming
from orchestrator.services import Services
from orchestrator.settings import Settings
from tests.fakes.loopback import serve_asgi
from tests.samples import FIELDS, ITEM

ROOT = Path(__file__).resolve().parents[2]


def settings(database_url: str) -> Settings:
    return Settings.from_env(
        {"DATABASE_URL": database_url, "CATALOG_LOCAL_PATH": str(ROOT / "examples" / "catalog")}
    )


@pytest.fixture
def two_instances(database_url: str) -> Iterator[tuple[str, str]]:
    with (
        serve_asgi(create_app(settings(database_url)), "pao-api-1", lifespan="on") as first,
        serve_asgi(create_app(settings(database_url)), "pao-api-2", lifespan="on") as second,
    ):
        yield first, second


def read_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse a text/event-stream into events (comments are yielded as heartbeats)."""
    event: dict[str, Any] = {}
    for line in response.iter_lines():
        if line == "":
            if event:
                yield event
            event = {}
        elif line.startswith(":"):
            yield {"event": "comment", "data": line[1:].strip()}
        else:
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")


def submit(url: str) -> str:
    response = httpx.post(f"{url}/api/v1/requests", json={"catalogItem": ITEM, "fields": FIELDS})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_stream_orders_events_ends_at_terminal_state_and_resumes(
    two_instances: tuple[str, str],
) -> None:
    first, second = two_instances
    request_id = submit(first)
    seen: list[dict[str, Any]] = []
    with httpx.stream("GET", f"{first}/api/v1/requests/{request_id}/events", timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for event in read_events(r):
            seen.append(event)
            if event.get("event") == "status" and json.loads(event["data"])["status"] == "queued":
                # decided on the other instance: this one streams it all the same
                abort = httpx.post(
                    f"{second}/api/v1/requests/{request_id}/abort", json={"reason": "stream"}
                )
                assert abort.status_code == 200, abort.text
    kinds = [e.get("event") for e in seen]
    assert kinds[0] == "status"
    assert kinds[-1] == "end"
    assert json.loads(seen[-1]["data"])["status"] == "aborted"
    statuses = [json.loads(e["data"])["status"] for e in seen if e.get("event") == "status"]
    assert statuses == ["queued", "aborted"]
    log_ids = [int(e["id"]) for e in seen if e.get("event") == "log"]
    assert log_ids
    assert log_ids == sorted(set(log_ids)), "log entries in order, each once"
    logs = httpx.get(f"{first}/api/v1/requests/{request_id}/logs").json()["items"]
    assert [entry["id"] for entry in logs] == log_ids, "the stream carries every log entry"

    # resumed after the first entry (as EventSource reconnects): the rest, nothing twice
    with httpx.stream(
        "GET",
        f"{second}/api/v1/requests/{request_id}/events",
        headers={"Last-Event-ID": str(log_ids[0])},
        timeout=30,
    ) as r:
        resumed = list(read_events(r))
    assert [int(e["id"]) for e in resumed if e.get("event") == "log"] == log_ids[1:]
    assert resumed[-1]["event"] == "end"


def test_stream_problems(two_instances: tuple[str, str]) -> None:
    first, _ = two_instances
    missing = httpx.get(f"{first}/api/v1/requests/{uuid.uuid4()}/events")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["correlation_id"]
    request_id = submit(first)
    bad = httpx.get(
        f"{first}/api/v1/requests/{request_id}/events", headers={"Last-Event-ID": "soon"}
    )
    assert bad.status_code == 400
    assert bad.json()["errors"] == [
        {
            "source": "header",
            "parameter": "last-event-id",
            "message": bad.json()["errors"][0]["message"],
        }
    ]
    assert "ParamType" not in bad.text


@pytest.mark.anyio
async def test_a_quiet_stream_sends_heartbeats(
    client: httpx.AsyncClient, services: Services
) -> None:
    response = await client.post("/api/v1/requests", json={"catalogItem": ITEM, "fields": FIELDS})
    assert response.status_code == 201, response.text
    timing = StreamTiming(poll_seconds=0.01, heartbeat_seconds=0.03)
    kinds: list[str] = []
    async for event in services.events.follow(uuid.UUID(response.json()["id"]), timing=timing):
        kinds.append(event.kind)
        if kinds.count("heartbeat") == 2:
            break
    assert kinds[0] == "status"
    assert kinds.count("heartbeat") == 2
