"""When the rehearsal stands in for real systems (issue 18): only `pao serve`, only on the
embedded defaults unless PAO_REHEARSAL=on, and never for a system configured for real."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.settings import EXAMPLE_CATALOG, Settings
from orchestrator.store.embedded import _quiet_pgserver
from rehearsal.systems import CatalogFacts, Simulators
from rehearsal.wiring import simulated_systems

ALL = ("jira", "terraform", "github", "rest")


def test_serve_on_the_embedded_defaults_simulates_everything() -> None:
    assert simulated_systems(Settings.from_env({}), {}, command="serve") == ALL


@pytest.mark.parametrize("command", ["api", "worker"])
def test_api_and_worker_never_rehearse(command: str) -> None:
    settings = Settings.from_env({"PAO_REHEARSAL": "on"})
    assert simulated_systems(settings, {}, command=command) == ()


def test_a_database_url_turns_it_off_unless_asked_for() -> None:
    env = {"DATABASE_URL": "postgresql://db.internal/pao"}
    assert simulated_systems(Settings.from_env(env), env, command="serve") == ()
    env_on = {**env, "PAO_REHEARSAL": "on"}
    assert simulated_systems(Settings.from_env(env_on), env_on, command="serve") == ALL
    off = {"PAO_REHEARSAL": "off"}
    assert simulated_systems(Settings.from_env(off), off, command="serve") == ()


def test_systems_configured_for_real_are_not_simulated() -> None:
    env = {"JIRA_INSTANCES": '{"platform": {}}', "GITHUB_TOKEN": "ghp_x"}
    assert simulated_systems(Settings.from_env(env), env, command="serve") == ("terraform", "rest")


def test_the_environment_points_the_executors_at_the_simulators() -> None:
    facts = CatalogFacts.scan([EXAMPLE_CATALOG])
    assert len(facts.items) == 10  # the packaged example catalog
    sims = Simulators(facts, systems=("jira", "rest"))
    sims.base_url = "http://127.0.0.1:9/rehearsal"
    env = sims.environment({"REST_API_ALLOWED_HOSTS": "inventory.internal"})
    assert {"platform", "security"} <= set(json.loads(env["JIRA_INSTANCES"]))
    assert "TFC_ADDRESS" not in env  # not simulated: left alone
    assert env["REST_API_ALLOWED_HOSTS"] == "inventory.internal,127.0.0.1"
    template = sims.template_environment({"INVENTORY_URL": "https://inventory.internal"})
    assert template["INVENTORY_URL"] == "https://inventory.internal"  # configured wins
    assert template["DNS_API_URL"] == "http://127.0.0.1:9/rehearsal/rest/DNS_API_URL"
    assert sims.describe() == "JIRA, REST targets"


def test_embedded_postgres_chatter_is_debug(caplog: pytest.LogCaptureFixture) -> None:
    _quiet_pgserver()
    chatty = logging.getLogger("pgserver")
    with caplog.at_level(logging.INFO):
        chatty.info("Running commandline: initdb ...")
        chatty.error("Failed postgres command")
    assert [r.levelname for r in caplog.records if r.name == "pgserver"] == ["ERROR"]
    with caplog.at_level(logging.DEBUG):
        chatty.info("Successful postgres command")
    assert "DEBUG" in [r.levelname for r in caplog.records if r.name == "pgserver"]


def test_issue_forms_default_to_the_configured_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing here: the forms come from CATALOG_LOCAL_PATH
    monkeypatch.delenv("CATALOG_LOCAL_PATH", raising=False)
    assert main(["catalog", "issue-forms", "--out", str(tmp_path / "forms")]) == 0
    assert (tmp_path / "forms" / "database-postgresql-standard.yml").exists()
    monkeypatch.setenv("CATALOG_LOCAL_PATH", "")
    assert main(["catalog", "issue-forms", "--out", str(tmp_path / "none")]) == 2
    assert "CATALOG_LOCAL_PATH" in capsys.readouterr().err
