"""Escalations whose ticket cannot be opened at once, through the real engine (Worker, PgQueue)
and the API on real PostgreSQL, with the real jira-ticket executor against the loopback JIRA
fake: the ticket job retries with backoff on its own (bounded), says "not configured" at once,
and never strands the request: GET /escalation, abort, retry and escalate all answer, and the
request log and metrics show the failure. Time passing is ``make_due``, never a sleep."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from actions.jira.executor import JiraTicketExecutor
from actions.jira.settings import JiraSettings
from actions.secrets import SecretResolver
from bot.comments import status_comment
from orchestrator.engine.backoff import Backoff
from orchestrator.engine.escalation import EscalationHandler
from orchestrator.engine.executor import ActionResult, ActionRun, Completed, Failed, Registry
from orchestrator.engine.jobs import ESCALATE
from orchestrator.engine.metrics import EngineMetrics
from orchestrator.engine.worker import Worker
from orchestrator.services import Services
from tests.fakes.http_fake import Reply
from tests.fakes.jira import FakeJira
from tests.integration.engine_harness import (
    INSTANT,
    drain,
    events,
    item_document,
    jobs_of,
    make_due,
    make_worker,
    request_row,
    store_item,
    submit,
)

pytestmark = pytest.mark.anyio

ITEM_ID = "escalation-item"
USER = "bot@example.com"
API_TOKEN = "jira-Api-T0ken-s3cret"
SEARCH = "/rest/api/2/search"
MANUAL = {"jira": {"instance": "platform", "project": "OPS", "issueType": "Task"}}
PROVISION = {
    "id": "provision",
    "type": "rest-api",
    "config": {"method": "POST", "url": "https://inventory.test/{{fields.instanceName}}"},
}


def jira_down(retry_after: str | None = "600") -> Reply:
    headers = {"Retry-After": retry_after} if retry_after else {}
    return Reply(503, {"errorMessages": ["JIRA is down for maintenance"]}, headers=headers)


class Provision:
    """The request's own action (its external system stands in): fails until ``healthy``."""

    def __init__(self) -> None:
        self.healthy = False

    async def execute(self, action: ActionRun) -> ActionResult:
        if self.healthy:
            return Completed({"id": "db-1"})
        return Failed("HTTP 400: quota exceeded", retryable=False)

    async def poll(self, action: ActionRun) -> ActionResult:
        return Completed({})


@dataclass
class Engine:
    worker: Worker
    provision: Provision
    metrics: EngineMetrics

    def failures(self, reason: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "pao_escalation_failures_total", {"reason": reason}
        )
        return value or 0.0


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    fake = FakeJira(basic={(USER, API_TOKEN)})
    fake.add_project("OPS")
    with fake.serve():
        yield fake


def engine(
    services: Services,
    jira: FakeJira | None,
    *,
    max_attempts: int = 5,
    backoff: Backoff = INSTANT,
) -> Engine:
    """A worker whose ``jira-ticket`` executor reaches ``jira`` (None: no JIRA_INSTANCES)."""
    instances = (
        {
            "platform": {
                "url": jira.base_url,
                "auth": {"type": "basic", "user": USER, "tokenRef": "env:JIRA_TOKEN"},
            }
        }
        if jira is not None
        else {}
    )
    settings = JiraSettings.from_environment(
        {"JIRA_INSTANCES": json.dumps(instances) if instances else "", "JIRA_TIMEOUT": "5"}
    )
    provision = Provision()
    registry = Registry(
        {
            "rest-api": provision,
            "jira-ticket": JiraTicketExecutor(settings, SecretResolver({"JIRA_TOKEN": API_TOKEN})),
        }
    )
    worker = make_worker(services, registry)
    metrics = EngineMetrics(CollectorRegistry())
    handler = EscalationHandler(
        services.db,
        services.catalog,
        registry,
        max_attempts=max_attempts,
        backoff=backoff,
        observer=metrics,
    )
    worker.register(ESCALATE, handler.handle)
    return Engine(worker, provision, metrics)


async def failed_request(services: Services, running: Engine) -> str:
    await store_item(services, item_document(ITEM_ID, [PROVISION], manual=MANUAL))
    request_id = await submit(services, ITEM_ID, {"instanceName": "orders-db"})
    await drain(running.worker)
    assert (await request_row(services, request_id))["status"] == "failed"
    return request_id


async def decide(
    client: httpx.AsyncClient, request_id: str, decision: str, reason: str = "x"
) -> httpx.Response:
    response = await client.post(
        f"/api/v1/requests/{request_id}/{decision}", json={"reason": reason}
    )
    assert response.status_code < 500, response.text
    return response


async def escalation(client: httpx.AsyncClient, request_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/requests/{request_id}/escalation")
    assert response.status_code == 200, response.text
    assert API_TOKEN not in response.text
    body: dict[str, Any] = response.json()
    return body


async def escalate_jobs(services: Services, request_id: str) -> list[dict[str, Any]]:
    return [
        j
        for j in await jobs_of(services, request_id)
        if j["kind"] == ESCALATE and j["status"] == "ready"
    ]


async def test_jira_down_then_up_opens_the_ticket_without_anyone_acting(
    services: Services, client: httpx.AsyncClient, jira: FakeJira
) -> None:
    running = engine(services, jira)
    request_id = await failed_request(services, running)
    jira.script("GET", SEARCH, jira_down(retry_after="600"))

    response = await decide(client, request_id, "escalate", "quota needs a human")
    assert response.status_code == 202
    await drain(running.worker)

    pending = await escalation(client, request_id)
    assert pending["state"] == "pending", pending
    assert pending["request_status"] == "escalated"
    assert pending["ticket"] is None
    assert pending["attempts"] == 1
    assert "503" in pending["last_error"] or "down" in pending["last_error"]
    assert pending["next_attempt_at"] is not None
    assert pending["summary"].startswith("escalation ticket pending: ")
    assert (None, "escalation_ticket_retrying") in await events(services, request_id)
    assert running.failures("unavailable") == 1
    assert jira.created == 0

    again = await decide(client, request_id, "escalate")
    assert again.status_code == 409
    assert "ticket is pending" in again.json()["detail"]
    assert again.json()["current_status"] == "escalated"

    detail = (await client.get(f"/api/v1/requests/{request_id}")).json()
    assert detail["escalation"]["state"] == "pending"
    assert "Escalation ticket pending: " in status_comment(detail)

    assert await drain(running.worker) == 0  # the next attempt waits for JIRA's Retry-After
    await make_due(services, request_id)  # ... which passes; JIRA is back, nobody acts
    await drain(running.worker)

    created = await escalation(client, request_id)
    assert created["state"] == "created", created
    assert created["ticket"] == "OPS-1"
    assert created["url"]
    assert created["attempts"] == 2
    assert created["last_error"] is None
    assert jira.created == 1
    assert (None, "escalation_ticket_created") in await events(services, request_id)
    assert not await escalate_jobs(services, request_id)

    # With the ticket open the owning team has the request: no retry, no second escalation.
    for decision in ("retry", "escalate"):
        refused = await decide(client, request_id, decision)
        assert refused.status_code == 409
        assert "OPS-1" in refused.json()["detail"]
    aborted = await decide(client, request_id, "abort", "not needed any more")
    assert aborted.status_code == 200
    assert aborted.json()["status"] == "aborted"


async def test_ticket_attempts_are_bounded_then_escalate_again_works(
    services: Services, client: httpx.AsyncClient, jira: FakeJira
) -> None:
    running = engine(services, jira, max_attempts=3, backoff=INSTANT)
    request_id = await failed_request(services, running)
    jira.script("GET", SEARCH, *[jira_down(retry_after=None)] * 3)

    assert (await decide(client, request_id, "escalate")).status_code == 202
    await drain(running.worker)

    failed = await escalation(client, request_id)
    assert (failed["state"], failed["attempts"]) == ("failed", 3), failed
    assert failed["next_attempt_at"] is None
    assert not await escalate_jobs(services, request_id)  # given up: nothing scheduled
    logged = [e for _, e in await events(services, request_id)]
    assert logged.count("escalation_ticket_retrying") == 2
    assert logged.count("escalation_ticket_failed") == 1
    assert running.failures("unavailable") == 3
    assert (await request_row(services, request_id))["status"] == "escalated"

    # JIRA recovered and the operator escalates again: a fresh budget, the ticket opens.
    assert (await decide(client, request_id, "escalate", "JIRA is back")).status_code == 202
    await drain(running.worker)
    created = await escalation(client, request_id)
    assert (created["state"], created["ticket"], created["attempts"]) == ("created", "OPS-1", 1)


async def test_no_jira_configured_says_so_at_once_and_abort_works(
    services: Services, client: httpx.AsyncClient
) -> None:
    running = engine(services, None)
    request_id = await failed_request(services, running)

    assert (await decide(client, request_id, "escalate")).status_code == 202
    await drain(running.worker)

    state = await escalation(client, request_id)
    assert state["state"] == "not_configured", state
    assert state["attempts"] == 1
    assert "unknown JIRA instance 'platform'" in state["last_error"]
    assert "JIRA_INSTANCES" in state["last_error"]
    assert not await escalate_jobs(services, request_id)  # not retried: config must change
    assert running.failures("not_configured") == 1
    assert running.failures("unavailable") == 0
    rows = await services.db.fetch_all(
        None,
        "SELECT event, level, message FROM request_logs WHERE request_id = %(id)s "
        "AND event = 'escalation_ticket_failed'",
        {"id": request_id},
    )
    assert [(r["level"]) for r in rows] == ["error"]
    assert "not configured" in rows[0]["message"]
    detail = (await client.get(f"/api/v1/requests/{request_id}")).json()
    assert "Escalation ticket not configured: unknown JIRA instance" in status_comment(detail)

    aborted = await decide(client, request_id, "abort", "handled by hand")
    assert aborted.status_code == 200
    assert aborted.json()["status"] == "aborted"
    withdrawn = await escalation(client, request_id)
    assert (withdrawn["state"], withdrawn["request_status"]) == ("cancelled", "aborted")
    for decision in ("abort", "retry", "escalate"):
        assert (await decide(client, request_id, decision)).status_code == 409


async def test_abort_while_the_ticket_is_pending_opens_no_ticket(
    services: Services, client: httpx.AsyncClient, jira: FakeJira
) -> None:
    running = engine(services, jira)
    request_id = await failed_request(services, running)
    jira.script("GET", SEARCH, jira_down())
    await decide(client, request_id, "escalate")
    await drain(running.worker)
    assert (await escalation(client, request_id))["state"] == "pending"

    aborted = await decide(client, request_id, "abort", "no longer needed")
    assert aborted.status_code == 200
    await make_due(services, request_id)
    await drain(running.worker)  # the scheduled attempt finds the escalation withdrawn

    assert jira.created == 0
    assert len(jira.seen(SEARCH, "GET")) == 1
    state = await escalation(client, request_id)
    assert (state["state"], state["request_status"]) == ("cancelled", "aborted")


async def test_retry_from_escalated_withdraws_the_pending_ticket(
    services: Services, client: httpx.AsyncClient, jira: FakeJira
) -> None:
    running = engine(services, jira)
    request_id = await failed_request(services, running)
    jira.script("GET", SEARCH, jira_down())
    await decide(client, request_id, "escalate")
    await drain(running.worker)

    running.provision.healthy = True  # the operator fixed the quota
    retried = await decide(client, request_id, "retry")
    assert retried.status_code == 202, retried.text
    await make_due(services, request_id)
    await drain(running.worker)

    request = await request_row(services, request_id)
    assert request["status"] == "completed"
    assert jira.created == 0
    state = await escalation(client, request_id)
    assert (state["state"], state["request_status"]) == ("cancelled", "completed")
    logged = [e for _, e in await events(services, request_id)]
    assert logged.index("escalation_withdrawn") < logged.index("retry_requested")


async def test_escalation_of_an_unknown_or_never_escalated_request_is_404(
    services: Services, client: httpx.AsyncClient
) -> None:
    running = engine(services, None)
    request_id = await failed_request(services, running)
    never = await client.get(f"/api/v1/requests/{request_id}/escalation")
    assert never.status_code == 404
    assert never.headers["content-type"].startswith("application/problem+json")
    missing = await client.get(f"/api/v1/requests/{uuid.uuid4()}/escalation")
    assert missing.status_code == 404
