"""The README's configuration table lists every variable of orchestrator.settings."""

from __future__ import annotations

from pathlib import Path

from orchestrator.settings import ENVIRONMENT_VARIABLES

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_table() -> None:
    text = README.read_text()
    missing = [name for name, _, _ in ENVIRONMENT_VARIABLES if f"| `{name}` |" not in text]
    assert not missing, f"add these to README.md's Configuration table: {missing}"
