"""Slash-command parsing: per line, anchored, never inside quotes or code."""

from __future__ import annotations

from bot.slash_commands import parse_commands


def names(body: str) -> list[tuple[str, str]]:
    return [(c.name, c.argument) for c in parse_commands(body)]


def test_commands_are_matched_per_line_with_their_arguments() -> None:
    body = "Thanks!\n/retry provision\r\n/abort   wrong size, sorry  \n/STATUS\n/help"
    assert names(body) == [
        ("retry", "provision"),
        ("abort", "wrong size, sorry"),
        ("status", ""),
        ("help", ""),
    ]


def test_commands_must_start_the_line() -> None:
    assert names("please /retry\n  /retry\nsee /escalate now") == []


def test_quoted_text_and_code_are_ignored() -> None:
    body = (
        "> /retry\n"
        ">/abort quoted\n"
        "```\n/abort in a fence\n```\n"
        "~~~~\n/retry\n```\nstill inside the tilde fence\n~~~~\n"
        "    /escalate indented code\n"
        "`/retry` inline code\n"
        "/escalate real one"
    )
    assert names(body) == [("escalate", "real one")]


def test_unknown_commands_are_reported_as_unknown() -> None:
    [command] = parse_commands("/frobnicate now")
    assert command.name == "frobnicate"
    assert not command.known
    assert parse_commands(None) == []
    assert parse_commands("/ retry") == []
