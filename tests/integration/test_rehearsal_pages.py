"""The links a rehearsal prints (``pao requests watch``, the portal) open for a person: a JIRA
ticket's browse link, a Terraform run's and a workflow run's page answer a small HTML page
without any token, showing the simulated object's state, that it is a rehearsal and the
``pao rehearsal`` commands that move it; the APIs behind them still refuse a missing token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from rehearsal.systems import CatalogFacts, Simulators


@dataclass
class Rehearsal:
    sims: Simulators
    base: str
    env: dict[str, str]


@pytest.fixture
def rehearsal() -> Iterator[Rehearsal]:
    sims = Simulators(CatalogFacts(), auto_progress=False)
    with sims.serve() as base:
        yield Rehearsal(sims, base, sims.environment({}))


def assert_page(response: httpx.Response, *texts: str) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-pao-rehearsal"] == "true"
    page = response.text
    assert "Rehearsal." in page
    assert not re.search(r"<script|<link|src=|https?://", page)  # self-contained
    for text in texts:
        assert text in page, (text, page)
    return page


def test_a_jira_browse_link_opens_without_a_token(rehearsal: Rehearsal) -> None:
    auth = ("pao-rehearsal", rehearsal.env["PAO_REHEARSAL_JIRA_TOKEN"])
    created = httpx.post(
        f"{rehearsal.base}/jira/rest/api/2/issue",
        auth=auth,
        json={
            "fields": {
                "project": {"key": "SEC"},
                "issuetype": {"name": "Task"},
                "summary": "Grant <read> access",
                "labels": ["pao"],
            }
        },
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    link = rehearsal.sims.jira.listing()[0]["url"]
    assert link == f"{rehearsal.base}/jira/browse/{key}"

    page = assert_page(
        httpx.get(link),
        f"{key}: Grant &lt;read&gt; access",  # the summary, escaped
        "To Do",
        f"pao rehearsal resolve jira {key}",
        f"pao rehearsal reject jira {key}",
        f"pao rehearsal fail jira {key}",
    )
    assert "Grant <read>" not in page

    # The API keeps JIRA's authentication.
    assert httpx.get(f"{rehearsal.base}/jira/rest/api/2/issue/{key}").status_code == 401
    # Showing the ticket did not move it; a person's decision shows on the page.
    rehearsal.sims.move("jira", key, "resolve")
    page = assert_page(httpx.get(link), "Done", "nothing is left to decide")
    assert "pao rehearsal resolve" not in page
    assert httpx.get(f"{rehearsal.base}/jira/browse/SEC-999").status_code == 404


def test_a_terraform_run_link_opens_without_a_token(rehearsal: Rehearsal) -> None:
    headers = {
        "authorization": f"Bearer {rehearsal.env['PAO_REHEARSAL_TFC_TOKEN']}",
        "content-type": "application/vnd.api+json",
    }
    api = f"{rehearsal.base}/tfc/api/v2"
    workspace = httpx.get(f"{api}/organizations/acme/workspaces/orders-db", headers=headers)
    assert workspace.status_code == 200, workspace.text
    run = httpx.post(
        f"{api}/runs",
        headers=headers,
        json={
            "data": {
                "type": "runs",
                "attributes": {"message": "PAO request 42"},
                "relationships": {
                    "workspace": {
                        "data": {"type": "workspaces", "id": workspace.json()["data"]["id"]}
                    }
                },
            }
        },
    )
    assert run.status_code == 201, run.text
    run_id = run.json()["data"]["id"]
    link = f"{rehearsal.base}/tfc/app/acme/workspaces/orders-db/runs/{run_id}"
    status = rehearsal.sims.terraform.runs[run_id].status

    assert_page(
        httpx.get(link),
        f"Run {run_id}",
        status,
        "orders-db",
        "PAO request 42",
        f"pao rehearsal resolve terraform {run_id}",
    )
    assert rehearsal.sims.terraform.runs[run_id].status == status  # a view is not a poll
    unauthenticated = httpx.get(f"{api}/runs/{run_id}")
    assert unauthenticated.status_code == 401
    assert "invalid or missing API token" in unauthenticated.text

    rehearsal.sims.move("terraform", run_id, "resolve")
    for _ in range(10):  # the run reaches its end through the API's polls, as PAO polls it
        httpx.get(f"{api}/runs/{run_id}", headers=headers)
    final = rehearsal.sims.terraform.runs[run_id].status
    assert final == "applied"
    assert_page(httpx.get(link), "applied", "nothing is left to decide")
    assert (
        httpx.get(f"{rehearsal.base}/tfc/app/acme/workspaces/x/runs/run-9999Fake").status_code
        == 404
    )


def test_a_workflow_run_link_is_the_rehearsals_page(rehearsal: Rehearsal) -> None:
    headers = {"authorization": f"Bearer {rehearsal.env['GITHUB_TOKEN']}"}
    dispatched = httpx.post(
        f"{rehearsal.base}/github/repos/acme/infra/actions/workflows/deploy.yml/dispatches",
        headers=headers,
        json={"ref": "main", "inputs": {"env": "dev"}, "return_run_details": True},
    )
    assert dispatched.status_code == 200, dispatched.text
    run_id = dispatched.json()["workflow_run_id"]
    link = dispatched.json()["html_url"]
    assert link == f"{rehearsal.base}/github/acme/infra/actions/runs/{run_id}"
    shown = httpx.get(
        f"{rehearsal.base}/github/repos/acme/infra/actions/runs/{run_id}", headers=headers
    )
    assert shown.json()["html_url"] == link
    remaining = rehearsal.sims.github.rate_limit_remaining

    assert_page(
        httpx.get(link),
        f"run {run_id}",
        "acme/infra/.github/workflows/deploy.yml",
        "env=dev",
        f"pao rehearsal fail github {run_id}",
    )
    assert rehearsal.sims.github.rate_limit_remaining == remaining  # people do not spend it
    assert (
        httpx.get(f"{rehearsal.base}/github/repos/acme/infra/actions/runs/{run_id}").status_code
        == 401
    )
