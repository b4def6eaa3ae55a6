"""`pao rehearse ITEM.yaml`: a catalog item's chain against the simulators (on the test's fresh
database through --database-url, instead of a throw-away embedded one)."""

from __future__ import annotations

import pytest

from orchestrator.cli import main
from tests.integration.serve_process import ROOT

DATABASE_ITEM = ROOT / "examples" / "catalog" / "databases" / "database-postgresql-standard.yaml"
PASSWORD = "Rehearsal-Passw0rd-not-to-be-shown"
FIELDS = [
    "instanceName=orders-db",
    "environment=prod",
    "credentialMode=provided",
    f"adminPassword={PASSWORD}",
]


def rehearse(database_url: str, *extra: str) -> list[str]:
    return [
        "rehearse",
        str(DATABASE_ITEM),
        "--database-url",
        database_url,
        "--fields",
        *FIELDS,
        *extra,
    ]


def test_an_item_rehearses_to_completed_with_secrets_masked(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(rehearse(database_url)) == 0
    output = capsys.readouterr()
    text = output.out + output.err
    assert "== provision (terraform): completed" in text
    assert "== register (rest-api): completed" in text
    assert "request (rendered, secrets masked):" in text
    assert '"master_password": "****"' in text  # the password field, as sent to Terraform
    assert PASSWORD not in text
    assert "simulated response:" in text
    assert '"inventory_id": "rh-' in text  # outputs the simulated REST target answered
    assert "[rehearsal] completed" in text


def test_a_forced_failure_shows_the_cleanup_left_behind(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(rehearse(database_url, "--fail", "register")) == 1
    text = capsys.readouterr().out
    assert "forced failure of register" in text
    assert "== provision (terraform): completed" in text
    assert "== register (rest-api): failed" in text
    assert "[rehearsal] failed" in text
    cleanup = text.split("cleanup the earlier actions leave", 1)[1]
    assert "provision: Queue a destroy run in Terraform Cloud workspace" in cleanup
    assert "rds-prod-orders-db" in cleanup
    assert PASSWORD not in text


def test_usage_errors(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(rehearse(database_url, "--fail", "nope")) == 2
    assert "no action 'nope'" in capsys.readouterr().err
    assert main(["rehearse", str(DATABASE_ITEM), "--database-url", database_url]) == 1
    assert "--fields" in capsys.readouterr().out  # required fields without values are named
