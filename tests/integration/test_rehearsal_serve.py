"""Issue 18's acceptance: `pao serve` started from an empty folder (the example catalog comes
with the package) rehearses JIRA, Terraform Cloud, GitHub Actions and the REST targets, and every
example catalog item, requested with its example request file, reaches `completed`."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import yaml

from orchestrator.services import open_services
from orchestrator.settings import Settings
from tests.integration.serve_process import ROOT, approve_as_approvers, serve

TERMINAL = {"completed", "failed", "aborted", "escalated", "rejected"}


def example_requests() -> dict[str, dict[str, object]]:
    """catalog item id -> fields, from examples/requests/."""
    found: dict[str, dict[str, object]] = {}
    for path in sorted((ROOT / "examples" / "requests").rglob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        found.setdefault(document["catalogItem"], document["fields"])
    return found


def wait_until_settled(base: str, ids: dict[str, str], limit: float = 240.0) -> dict[str, str]:
    """Every request's status once all are terminal (or at the limit: then the test fails
    naming the stragglers; no assertion on how long it took)."""
    deadline = time.monotonic() + limit
    while True:
        states = {
            item: httpx.get(f"{base}/api/v1/requests/{rid}", timeout=10).json()["status"]
            for item, rid in ids.items()
        }
        if all(s in TERMINAL for s in states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def test_every_example_item_completes_in_the_rehearsal(database_url: str, tmp_path: Path) -> None:
    with serve(database_url, tmp_path) as served:
        output = served.output()
        assert (
            "REHEARSAL: simulated JIRA, Terraform Cloud, GitHub Actions, REST targets" in output
        ), output
        catalog = httpx.get(f"{served.url}/api/v1/catalog?limit=200", timeout=10).json()
        items = {entry["id"] for entry in catalog["items"]}
        requests = example_requests()
        assert items
        assert items == set(requests), "each example item needs an example request"
        ids = {}
        for item, fields in requests.items():
            response = httpx.post(
                f"{served.url}/api/v1/requests",
                json={"catalog_item": item, "fields": fields},
                timeout=10,
            )
            assert response.status_code == 201, response.text
            ids[item] = response.json()["id"]
            if response.json()["status"] == "awaiting_approval":  # gated items (issue 21)
                assert approve_as_approvers(database_url, ids[item]) == "approved"
        states = wait_until_settled(served.url, ids)
        failed = {item: state for item, state in states.items() if state != "completed"}
        details = {
            item: httpx.get(f"{served.url}/api/v1/requests/{ids[item]}", timeout=10).json()
            for item in failed
        }
        assert not failed, details

        # What the simulators saw, as a person sees it, every answer marked as a rehearsal.
        answer = httpx.get(f"{served.url}/rehearsal/control", timeout=10)
        assert answer.headers["x-pao-rehearsal"] == "true"
        control = answer.json()
        assert control["rehearsal"] is True
        for system in ("jira", "terraform", "github", "rest"):
            assert control[system], system
        # The approval ticket moved to the item's own completion status (Approved).
        assert any(ticket["status"] == "Approved" for ticket in control["jira"]), control["jira"]
        assert all(run["status"] == "applied" for run in control["terraform"])
        assert all(run["conclusion"] == "success" for run in control["github"])
        logs = httpx.get(
            f"{served.url}/api/v1/requests/{ids['database-postgresql-standard']}/logs", timeout=10
        ).text
        assert "/rehearsal/tfc/" in logs  # every simulated address says it is one


def test_a_person_moves_a_simulated_ticket_and_the_request_follows(
    database_url: str, tmp_path: Path
) -> None:
    """With PAO_REHEARSAL_AUTO=false tickets wait for a person: rejecting the approval ticket
    through the control API fails the request, naming the ticket's status."""
    with serve(database_url, tmp_path, {"PAO_REHEARSAL_AUTO": "false"}) as served:
        fields = example_requests()["access-grant-production"]
        response = httpx.post(
            f"{served.url}/api/v1/requests",
            json={"catalog_item": "access-grant-production", "fields": fields},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        request_id = response.json()["id"]
        assert approve_as_approvers(database_url, request_id) == "approved"
        deadline = time.monotonic() + 60
        tickets: list[dict[str, str]] = []
        while not tickets and time.monotonic() < deadline:
            tickets = httpx.get(f"{served.url}/rehearsal/control", timeout=10).json()["jira"]
            time.sleep(0.3)
        assert tickets, "the approval ticket was never created"
        moved = httpx.post(
            f"{served.url}/rehearsal/control/jira/{tickets[0]['ref']}/reject", timeout=10
        )
        assert moved.status_code == 200, moved.text
        states = wait_until_settled(served.url, {"access": request_id}, limit=60)
        assert states == {"access": "failed"}
        detail = httpx.get(f"{served.url}/api/v1/requests/{request_id}", timeout=10).json()
        assert "Rejected" in str(detail)


@pytest.mark.anyio
async def test_an_empty_catalog_is_a_warning_naming_the_setting(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.from_env({"CATALOG_LOCAL_PATH": str(tmp_path)})
    services = await open_services(settings, database_url=database_url)
    await services.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("CATALOG_LOCAL_PATH" in w and "no valid items" in w for w in warnings), warnings
