"""Comment bodies stay under GitHub's size limit without breaking their Markdown."""

from __future__ import annotations

from bot.comments import COMMENT_LIMIT, PREVIEW_MARKER, PreviewEntry, fit, preview_comment
from bot.plan import PlannedAction


def test_short_bodies_are_untouched() -> None:
    assert fit("hello") == "hello"


def test_long_bodies_are_cut_under_the_limit_with_blocks_closed() -> None:
    body = "<details>\n```json\n" + "\n".join(f'"line {i}": "{"x" * 80}",' for i in range(2000))
    cut = fit(body)
    assert len(cut) <= COMMENT_LIMIT
    assert cut.count("```") % 2 == 0
    assert cut.count("<details>") == cut.count("</details>")
    assert "truncated" in cut


def test_a_huge_plan_still_fits_in_one_preview() -> None:
    plan = [
        PlannedAction(f"a{i}", "rest-api", None, {"config": {"body": "y" * 5000}})
        for i in range(40)
    ]
    entry = PreviewEntry("requests/x.yaml", None, plan=plan)
    body = preview_comment([entry], head_sha="abc123")
    assert body.startswith(PREVIEW_MARKER)
    assert len(body) <= COMMENT_LIMIT
