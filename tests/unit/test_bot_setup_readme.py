"""The README's App permissions and events tables say what ``pao bot setup`` checks."""

from __future__ import annotations

import re

from bot.setup import REQUIRED_EVENTS, REQUIRED_PERMISSIONS
from tests.unit.test_templating_engine import ROOT


def test_the_readme_tables_match_what_setup_checks() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    events = set(re.findall(r"^  \| `([a-z_]+)` \| ", text, re.MULTILINE))
    assert events == set(REQUIRED_EVENTS)
    rows = re.findall(r"^  \| ([A-Z][A-Za-z ]+?)(?: \(organization\))? \| (read|write) \|", text,
                      re.MULTILINE)  # fmt: skip
    documented = {name.lower().replace(" ", "_"): level for name, level in rows}
    assert documented == {name: level for name, (level, _) in REQUIRED_PERMISSIONS.items()}
