"""``failure_text``: every shape of ``error_context`` the core writes reads as one sentence with
the message first and the code, action and location it leaves out, never as a dict."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.requests.failure_text import failure_text

ENGINE = {
    "failed_action": "approval",
    "error": {
        "code": "undefined-variable",
        "message": "action 'approval' at /fulfillment/actions/0/config/description: "
        "'request.user.name' is not defined",
    },
    "partial_resources": {},
    "cleanup": [],
}


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (  # the engine: the message names the action already, the code is added
            ENGINE,
            "action 'approval' at /fulfillment/actions/0/config/description: "
            "'request.user.name' is not defined (code undefined-variable)",
        ),
        (
            {"failed_action": "provision", "error": {"code": "timeout", "message": "no answer"}},
            "no answer (code timeout, action 'provision')",
        ),
        (
            {"error": {"message": "bad field", "pointer": "/config/url"}, "failed_action": None},
            "bad field (at /config/url)",
        ),
        (  # a dead letter: the error is text
            {"reason": "dead-lettered", "error": "job 3 crashed", "failed_action": "provision"},
            "job 3 crashed (dead-lettered, action 'provision')",
        ),
        ({"error": "use the internal zone", "approval": "rejected"}, "use the internal zone"),
        ({"error": {"code": "cancelled"}}, "cancelled"),  # a code alone is the message
        ({"reason": "dead-lettered"}, "dead-lettered"),
        ("plain text", "plain text"),
    ],
)
def test_every_shape_reads_as_a_sentence(context: Any, expected: str) -> None:
    text = failure_text(context)
    assert text == expected
    assert "{" not in text


@pytest.mark.parametrize("context", [None, {}, {"error": None}, {"error": {}}, "  "])
def test_nothing_to_say_is_none(context: Any) -> None:
    assert failure_text(context) is None
