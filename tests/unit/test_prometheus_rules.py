"""deploy/prometheus/'s rules are valid (``promtool check rules``) and do what their unit tests
say (``promtool test rules``). promtool comes from Debian's ``prometheus`` package; without it
the test is skipped locally and fails in CI (``CI`` set), where it must run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

RULES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = RULES_DIR / "pao-rules.yml"
RULE_TESTS = RULES_DIR / "pao-rules.test.yml"
INSTALL = "apt-get install -y prometheus"


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"promtool is missing in CI: install it with `{INSTALL}`")
        pytest.skip(f"promtool is not installed (`{INSTALL}`); CI runs this test")
    return path


@pytest.mark.parametrize(
    "command", [["check", "rules", str(RULES)], ["test", "rules", str(RULE_TESTS)]]
)
def test_promtool_accepts_the_rules(command: list[str]) -> None:
    done = subprocess.run(  # a fixed command on files of this repository
        [_promtool(), *command], cwd=RULES_DIR, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_spec_alerts_and_rates_are_defined() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    records = {rule["record"] for rule in rules if "record" in rule}
    assert {
        "pao_request_failure_rate",
        "pao_api_response_time_p95",
        "pao_action_failure_rate",
    } <= records
    alerts = {rule["alert"]: rule for rule in rules if "alert" in rule}
    assert alerts["PaoRequestFailureRateHigh"]["expr"] == "pao_request_failure_rate > 0.05"
    assert alerts["PaoRequestFailureRateHigh"]["for"] == "5m"
    assert alerts["PaoApiResponseTimeHigh"]["expr"] == "pao_api_response_time_p95 > 2"
    assert alerts["PaoApiResponseTimeHigh"]["for"] == "1m"
