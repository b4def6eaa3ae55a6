"""Approval gates through the REST API and the engine (issue 21): nothing is dispatched before
the last stage passes; stages in order, conditions, separation of duties, rejection, expiry,
reset on change, concurrent approvals, abort, the inbox and ``pao_approval_wait_seconds``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from orchestrator.engine.executor import ActionResult, ActionRun, Completed, Registry
from orchestrator.engine.jobs import RUN_ACTION
from orchestrator.engine.metrics import EngineMetrics
from orchestrator.engine.worker import Worker
from orchestrator.identity.principal import Principal
from orchestrator.services import Services, open_services
from orchestrator.settings import Settings
from tests.integration.api_fixtures import TOKEN_ENV, app_client, issue_token
from tests.integration.engine_harness import (
    drain,
    events,
    item_document,
    jobs_of,
    make_worker,
    request_row,
)

pytestmark = pytest.mark.anyio

PEOPLE = {  # name -> (email, teams)
    "alice": ("alice@example.com", ("payments",)),  # the requester
    "carl": ("carl@example.com", ("payments",)),  # reads the request, approves nothing
    "bob": ("bob@example.com", ("search",)),  # neither reads nor approves
    "sam": ("sam@example.com", ("security",)),
    "sue": ("sue@example.com", ("security",)),
    "pat": ("pat@example.com", ("platform",)),
    "selina": ("selina@example.com", ("payments", "security")),  # requester and approver
}
ACTION = {
    "id": "provision",
    "type": "rest-api",
    "config": {"method": "POST", "url": "https://x.test/"},
}
TWO_STAGES = [
    {"name": "security", "teams": ["security"], "expiresAfter": "1d"},
    {"name": "owner", "teams": ["platform"], "when": "fields.instanceName != 'small'"},
]


HUGE = "fields.instanceName == 'huge'"


async def store_items(services: Services, documents: list[dict[str, Any]]) -> None:
    """Store the test items in one catalog report (a report is the whole catalog)."""
    texts = [(f"{d['metadata']['id']}.yaml", json.dumps(d)) for d in documents]
    report = services.catalog.validator.validate_texts(texts)
    assert not report.issues, [str(i) for i in report.issues]
    result = await services.catalog.store_report(report, git_sha=None)
    assert {d["metadata"]["id"] for d in documents} <= set(result.stored)


class Target:
    """The fake REST target: records every call."""

    def __init__(self) -> None:
        self.runs: list[ActionRun] = []

    async def execute(self, action: ActionRun) -> ActionResult:
        self.runs.append(action)
        return Completed({"ok": True})

    async def poll(self, action: ActionRun) -> ActionResult:
        return Completed({"ok": True})


@dataclass
class World:
    services: Services
    client: httpx.AsyncClient
    tokens: dict[str, str]
    target: Target
    worker: Worker
    metrics: EngineMetrics

    def as_(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    async def submit(
        self, item: str, name: str = "alice", instance: str = "orders"
    ) -> dict[str, Any]:
        answer = await self.client.post(
            "/api/v1/requests",
            json={"catalogItem": item, "fields": {"instanceName": instance}},
            headers=self.as_(name),
        )
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def decide(
        self, request_id: str, name: str, verdict: str = "approve", **body: Any
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/requests/{request_id}/{verdict}", json=body or None, headers=self.as_(name)
        )

    async def inbox(self, name: str) -> set[str]:
        answer = await self.client.get("/api/v1/approvals", headers=self.as_(name))
        assert answer.status_code == 200, answer.text
        return {entry["request_id"] for entry in answer.json()["items"]}

    async def run_jobs(self, request_id: str) -> list[dict[str, Any]]:
        return [j for j in await jobs_of(self.services, request_id) if j["kind"] == RUN_ACTION]

    def waits(self, outcome: str, item: str = "gated") -> float:
        value = self.metrics.registry.get_sample_value(
            "pao_approval_wait_seconds_count", {"catalog_item": item, "outcome": outcome}
        )
        return value or 0.0


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    services = await open_services(Settings.from_env(TOKEN_ENV), database_url=database_url)
    try:
        metrics = EngineMetrics(CollectorRegistry())
        documents = []
        for item_id, stages in (
            ("gated", TWO_STAGES),
            ("two-approvals", [{"name": "security", "teams": ["security"], "count": 2}]),
            ("self-ok", [{"name": "security", "teams": ["security"], "allowRequester": True}]),
            ("sometimes", [{"name": "big", "teams": ["security"], "when": HUGE}]),
        ):
            document = item_document(item_id, [ACTION])
            document["approvals"] = stages
            documents.append(document)
        await store_items(services, documents)
        tokens = {name: await issue_token(services.db, e, *t) for name, (e, t) in PEOPLE.items()}
        target = Target()
        worker = make_worker(services, Registry({"rest-api": target}))
        async with app_client(services) as client:
            metrics.observe(services)  # after the app's own metrics took the services
            yield World(services, client, tokens, target, worker, metrics)
    finally:
        await services.close()


async def test_two_stages_then_dispatch_and_nothing_before(world: World) -> None:
    created = await world.submit("gated")
    request_id = created["id"]
    assert created["status"] == "awaiting_approval"
    assert created["approval"]["current_stage"] == "security"
    await drain(world.worker)
    assert world.target.runs == []  # nothing dispatched while awaiting approval
    assert await world.run_jobs(request_id) == []
    assert request_id in await world.inbox("sam")
    assert request_id not in await world.inbox("pat")  # the second stage is not current yet
    assert request_id not in await world.inbox("alice")

    first = await world.decide(request_id, "sam", comment="scope is fine")
    assert first.status_code == 200, first.text
    assert first.json()["outcome"] == "pending"
    assert first.json()["approval"]["current_stage"] == "owner"
    assert first.json()["request"]["status"] == "awaiting_approval"
    await drain(world.worker)
    assert world.target.runs == []
    assert request_id in await world.inbox("pat")
    assert request_id not in await world.inbox("sam")

    second = await world.decide(request_id, "pat")
    assert second.json()["outcome"] == "approved", second.text
    assert second.json()["request"]["status"] == "queued"
    assert world.waits("approved") == 1
    await drain(world.worker)
    assert len(world.target.runs) == 1
    assert (await request_row(world.services, request_id))["status"] == "completed"
    detail = (
        await world.client.get(f"/api/v1/requests/{request_id}", headers=world.as_("alice"))
    ).json()
    stages = {s["name"]: s for s in detail["approval"]["stages"]}
    assert [a["approver"] for a in stages["security"]["approved_by"]] == ["sam@example.com"]
    assert detail["approval"]["outcome"] == "approved"
    logged = [event for _, event in await events(world.services, request_id)]
    assert logged.index("awaiting_approval") < logged.index("approved")
    audit = await world.services.db.fetch_all(
        None,
        "SELECT actor, source FROM audit_logs WHERE table_name = 'approval_decisions' ORDER BY id",
        {},
    )
    assert [(a["actor"], a["source"]) for a in audit] == [
        ("sam@example.com", "api"),
        ("pat@example.com", "api"),
    ]


async def test_a_stage_whose_condition_is_false_is_skipped(world: World) -> None:
    created = await world.submit("gated", instance="small")
    assert created["status"] == "awaiting_approval"  # the security stage still applies
    answer = await world.decide(created["id"], "sam")
    assert answer.json()["outcome"] == "approved"  # owner stage skipped: straight to the queue
    owner = answer.json()["approval"]["stages"][1]
    assert owner["state"] == "skipped"
    assert "condition" in owner["reason"]
    assert answer.json()["request"]["status"] == "queued"


async def test_an_item_whose_every_stage_is_skipped_is_queued_at_once(world: World) -> None:
    created = await world.submit("sometimes")
    assert created["status"] == "queued"
    await drain(world.worker)
    assert len(world.target.runs) == 1


async def test_who_may_not_decide_is_refused(world: World) -> None:
    mine = await world.submit("gated", name="selina")
    refused = await world.decide(mine["id"], "selina")
    assert refused.status_code == 403
    assert "separation of duties" in refused.json()["detail"]
    assert "stage 'security'" in refused.json()["detail"]
    assert "ask another approver of stage 'security': team security" in refused.json()["detail"]
    carl = await world.decide(mine["id"], "carl")  # reads it (same team), approves nothing
    assert carl.status_code == 403
    assert "not among the approvers of stage 'security'" in carl.json()["detail"]
    assert "team security" in carl.json()["detail"]
    bob = await world.decide(mine["id"], "bob")  # may not even know it exists
    assert bob.status_code == 404
    allowed = await world.submit("self-ok", name="selina")
    assert (await world.decide(allowed["id"], "selina")).json()["outcome"] == "approved"


async def test_rejection_needs_a_reason_and_ends_the_request(world: World) -> None:
    request_id = (await world.submit("gated"))["id"]
    missing = await world.decide(request_id, "sam", "reject")
    assert missing.status_code == 422
    blank = await world.decide(request_id, "sam", "reject", reason="  ")
    assert blank.status_code == 422
    rejected = await world.decide(request_id, "sam", "reject", reason="no prod for this team")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["outcome"] == "rejected"
    assert rejected.json()["request"]["status"] == "rejected"
    row = await request_row(world.services, request_id)
    assert row["status"] == "rejected"
    assert "no prod for this team" in row["error_context"]["error"]
    await drain(world.worker)
    assert world.target.runs == []
    assert await world.run_jobs(request_id) == []
    late = await world.decide(request_id, "sue")
    assert late.status_code == 409
    assert world.waits("rejected") == 1


async def test_a_stage_nobody_decided_in_time_expires(world: World) -> None:
    request_id = (await world.submit("gated"))["id"]
    now = dt.datetime.now(dt.UTC)
    assert await world.services.approval_gates.expire_due(now=now) == 0
    ended = await world.services.approval_gates.expire_due(now=now + dt.timedelta(days=2))
    assert ended == 1
    row = await request_row(world.services, request_id)
    assert row["status"] == "rejected"
    assert row["error_context"]["approval"] == "expired"
    gate = await world.services.approval_gates.gate(uuid.UUID(request_id))
    assert gate is not None
    assert gate["outcome"] == "expired"
    assert world.waits("expired") == 1
    assert (await world.decide(request_id, "sam")).status_code == 409
    await drain(world.worker)
    assert world.target.runs == []


async def test_a_changed_request_starts_its_approvals_over(world: World) -> None:
    request_id = (await world.submit("two-approvals"))["id"]
    assert (await world.decide(request_id, "sam")).json()["outcome"] == "pending"
    alice = Principal(email="alice@example.com", teams=("payments",))
    revised = await world.services.approval_gates.revise(
        uuid.UUID(request_id),
        {"instanceName": "orders-v2"},
        alice,
        correlation_id="c",
        source="bot",
    )
    assert revised["fields"]["instanceName"] == "orders-v2"
    assert revised["approval"]["stages"][0]["approved_by"] == []  # sam's yes no longer counts
    assert "approvals_reset" in [e for _, e in await events(world.services, request_id)]
    assert request_id in await world.inbox("sam")  # sam may decide the new revision
    assert (await world.decide(request_id, "sue")).json()["outcome"] == "pending"
    assert (await world.decide(request_id, "sam")).json()["outcome"] == "approved"


async def test_concurrent_approvals(world: World) -> None:
    same = (await world.submit("two-approvals"))["id"]
    twice = await asyncio.gather(world.decide(same, "sam"), world.decide(same, "sam"))
    assert sorted(r.json()["recorded"] for r in twice) == [False, True]
    gate = await world.services.approval_gates.gate(uuid.UUID(same))
    assert gate is not None
    assert len(gate["stages"][0]["approved_by"]) == 1
    assert await world.run_jobs(same) == []

    both = (await world.submit("two-approvals"))["id"]
    answers = await asyncio.gather(world.decide(both, "sam"), world.decide(both, "sue"))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert sorted(a.json()["outcome"] for a in answers) == ["approved", "pending"]
    assert len(await world.run_jobs(both)) == 1  # exactly one first job
    await drain(world.worker)
    assert len(world.target.runs) == 1


async def test_abort_while_awaiting_approval(world: World) -> None:
    request_id = (await world.submit("gated"))["id"]
    aborted = await world.client.post(
        f"/api/v1/requests/{request_id}/abort",
        json={"reason": "not needed"},
        headers=world.as_("alice"),
    )
    assert aborted.status_code == 200, aborted.text
    assert aborted.json()["status"] == "aborted"
    assert request_id not in await world.inbox("sam")
    assert (await world.decide(request_id, "sam")).status_code == 409
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=5)
    assert await world.services.approval_gates.expire_due(now=later) == 0
    await drain(world.worker)
    assert world.target.runs == []


async def test_the_preview_says_who_must_approve(world: World) -> None:
    answer = await world.client.post(
        "/api/v1/validate/request",
        json={"catalogItem": "gated", "fields": {"instanceName": "small"}},
        headers=world.as_("alice"),
    )
    assert answer.status_code == 200, answer.text
    gate = answer.json()["approval"]
    assert gate["required"] is True
    assert [s["state"] for s in gate["stages"]] == ["pending", "skipped"]
    assert gate["stages"][0]["approvers"]["teams"] == ["security"]
